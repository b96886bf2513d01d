# Optimizer tests.
#  - opt.passes.*: golden --emit=graph / --emit=kernels dumps pinning what each
#    pass does on small graphs (UPDATE_GOLDEN=1 ctest -R '^opt\.passes' rewrites).
#  - opt.equal.*: every example gives the same parameters and loss at -O0, -O2
#    and -O2 -fcheck-memory (dead arena arrays poisoned with NaN) after training.
#  - opt.threads.*: the same bits on 1, 2 and 3 threads (threads_equal.py;
#    threads_batch.py for one batch of a model without a dataset).
file(GLOB dlc_opt_cases CONFIGURE_DEPENDS ${CMAKE_CURRENT_LIST_DIR}/passes/*.dl)
foreach(dlc_case ${dlc_opt_cases})
  get_filename_component(dlc_case_name ${dlc_case} NAME_WE)
  file(STRINGS ${dlc_case} dlc_case_first LIMIT_COUNT 1)
  string(REGEX MATCH "--emit=([a-z]+)" _m "${dlc_case_first}")
  add_test(NAME opt.passes.${dlc_case_name}
    COMMAND sh ${CMAKE_CURRENT_LIST_DIR}/../golden.sh $<TARGET_FILE:dlc> ${CMAKE_MATCH_1} ${dlc_case})
  set_tests_properties(opt.passes.${dlc_case_name} PROPERTIES LABELS quick)
endforeach()

set(OPT_EQUAL ${CMAKE_CURRENT_LIST_DIR}/opt_equal.py)
foreach(ex linreg logreg)
  add_test(NAME opt.equal.${ex} COMMAND ${SYSTEM_PYTHON} ${OPT_EQUAL} --dlc $<TARGET_FILE:dlc>
           --model ${CMAKE_SOURCE_DIR}/examples/${ex}.dl --workdir ${CMAKE_BINARY_DIR}/tests/opt/${ex})
  set_tests_properties(opt.equal.${ex} PROPERTIES LABELS "opt;quick" SKIP_RETURN_CODE 77 TIMEOUT 600)
endforeach()
add_test(NAME opt.memory_targets COMMAND ${SYSTEM_PYTHON} ${OPT_EQUAL} --dlc $<TARGET_FILE:dlc>
         --memory-targets ${CMAKE_SOURCE_DIR}/examples --workdir ${CMAKE_BINARY_DIR}/tests/opt/memory)
set_tests_properties(opt.memory_targets PROPERTIES LABELS "opt;quick")
# the Fashion-MNIST models take minutes at -O0 in f64: label slow
foreach(ex mlp lenet5 convnet_bn)
  add_test(NAME opt.equal.${ex} COMMAND ${SYSTEM_PYTHON} ${OPT_EQUAL} --dlc $<TARGET_FILE:dlc>
           --model ${CMAKE_SOURCE_DIR}/examples/${ex}.dl --workdir ${CMAKE_BINARY_DIR}/tests/opt/${ex})
  set_tests_properties(opt.equal.${ex} PROPERTIES LABELS "opt;slow" SKIP_RETURN_CODE 77 TIMEOUT 900)
endforeach()
# The parallel kernels give the same bits on 1, 2 and 3 threads.
foreach(ex mlp lenet5 convnet_bn)
  add_test(NAME opt.threads.${ex} COMMAND ${SYSTEM_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/threads_equal.py
           --dlc $<TARGET_FILE:dlc> --model ${CMAKE_SOURCE_DIR}/examples/${ex}.dl
           --workdir ${CMAKE_BINARY_DIR}/tests/opt/threads_${ex})
  set_tests_properties(opt.threads.${ex} PROPERTIES LABELS "opt;quick" SKIP_RETURN_CODE 77 TIMEOUT 600)
endforeach()
# The same bits on 1, 2 and 3 threads for one batch of a model without a
# dataset: gathers with duplicate ids, upsampling, transposed convolution.
add_test(NAME opt.threads.gather COMMAND ${SYSTEM_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/threads_batch.py
         --dlc $<TARGET_FILE:dlc> --model ${CMAKE_CURRENT_LIST_DIR}/threads_gather.dl
         --workdir ${CMAKE_BINARY_DIR}/tests/opt/threads_gather)
set_tests_properties(opt.threads.gather PROPERTIES LABELS "opt;quick" TIMEOUT 600)
