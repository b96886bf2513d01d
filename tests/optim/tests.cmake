# Optimizers against torch.optim: 20 full-batch steps, f64, 1e-5 relative
# (1e-10 for amsgrad and clip_value, which also check that they acted).
execute_process(COMMAND ${SYSTEM_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/optim_ref.py --list
                OUTPUT_VARIABLE dlc_optim_cases OUTPUT_STRIP_TRAILING_WHITESPACE)
foreach(c ${dlc_optim_cases})
  add_test(NAME optim.${c} COMMAND ${SYSTEM_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/optim_ref.py
           --dlc $<TARGET_FILE:dlc> --workdir ${CMAKE_BINARY_DIR}/tests/optim ${c})
  set_tests_properties(optim.${c} PROPERTIES LABELS "torch;quick" SKIP_RETURN_CODE 77)
endforeach()
