# examples/realnvp_moons.dl, the Real NVP flow: gradients against the PyTorch twin
# (bench/torch_realnvp.py), the f64 gradient check, the inverse against the forward map,
# the picture script (scripts/flow_pictures.sh) and a short training run with a bound.
foreach(mode torch gradcheck inverse picture train)
  add_test(NAME flow.realnvp.${mode} COMMAND ${SYSTEM_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/flow_test.py
           --dlc $<TARGET_FILE:dlc> --workdir ${CMAKE_BINARY_DIR}/tests/flow ${mode})
endforeach()
set_tests_properties(flow.realnvp.torch PROPERTIES LABELS "torch;quick" SKIP_RETURN_CODE 77)
set_tests_properties(flow.realnvp.gradcheck PROPERTIES LABELS "gradcheck;quick")
set_tests_properties(flow.realnvp.inverse PROPERTIES LABELS "e2e;quick")
set_tests_properties(flow.realnvp.picture PROPERTIES LABELS "quick" SKIP_RETURN_CODE 77)
set_tests_properties(flow.realnvp.train PROPERTIES LABELS "e2e;slow")
