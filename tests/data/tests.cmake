# Data features: validation splits and --early-stop, split(...), the 2-D
# generators, and the scikit-learn examples (short runs; the PyTorch twin's
# full comparison is slow).
set(DATA_PY ${CMAKE_CURRENT_LIST_DIR}/data.py)
foreach(t early_stop split generators moons sklearn_examples)
  add_test(NAME data.${t} COMMAND ${SYSTEM_PYTHON} ${DATA_PY} ${t} --dlc $<TARGET_FILE:dlc>
           --workdir ${CMAKE_BINARY_DIR}/tests/data/${t})
  set_tests_properties(data.${t} PROPERTIES LABELS "e2e;quick" SKIP_RETURN_CODE 77 TIMEOUT 300)
endforeach()
# dlc and PyTorch trained side by side, the short version: 2 seeds each, within 5 accuracy
# points (one test example of iris is 3.3).  The benchmark (docs/examples.md) runs 20 seeds,
# the Adam examples within 1 point (bench/sklearn_twin.py --dlc build/dlc --seeds 20); the
# Newton-CG twin is held to dlc's steps instead (below), its mean being one diverged run away.
add_test(NAME data.sklearn_twin COMMAND ${SYSTEM_PYTHON} ${CMAKE_SOURCE_DIR}/bench/sklearn_twin.py
         --dlc $<TARGET_FILE:dlc> --seeds 2 --max-gap 5)
set_tests_properties(data.sklearn_twin PROPERTIES LABELS "torch;slow" SKIP_RETURN_CODE 77 TIMEOUT 900)
# Newton-CG on the digits CNN against its PyTorch twin, short: from dlc's initial parameters one
# epoch in file order gives the same steps on both sides (losses and parameters within 1e-8),
# and 3 epochs with seed 1 reach 80% test accuracy on each side.
add_test(NAME data.sklearn_twin_newton COMMAND ${SYSTEM_PYTHON} ${CMAKE_SOURCE_DIR}/bench/sklearn_twin.py
         --dlc $<TARGET_FILE:dlc> --only digits_newton --seeds 1 --epochs 3 --min-acc 80)
set_tests_properties(data.sklearn_twin_newton PROPERTIES LABELS "torch;quick" SKIP_RETURN_CODE 77 TIMEOUT 300)
