# Batch norm's running statistics and training/evaluation switch against PyTorch.
add_test(NAME cnn.batch_norm_steps COMMAND ${SYSTEM_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/bn_ref.py
         --dlc $<TARGET_FILE:dlc> --workdir ${CMAKE_BINARY_DIR}/tests/cnn/bn)
set_tests_properties(cnn.batch_norm_steps PROPERTIES LABELS "torch;quick" SKIP_RETURN_CODE 77)

# Every convolutional op: PyTorch reference (f64 and f32) and f64 gradient check.
execute_process(COMMAND ${SYSTEM_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/cnn_ref.py --list
                OUTPUT_VARIABLE dlc_cnn_cases OUTPUT_STRIP_TRAILING_WHITESPACE)
foreach(c ${dlc_cnn_cases})
  foreach(dt f64 f32)
    add_test(NAME cnn.ref.${dt}.${c} COMMAND ${SYSTEM_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/cnn_ref.py
             --dlc $<TARGET_FILE:dlc> --workdir ${CMAKE_BINARY_DIR}/tests/cnn --dtype ${dt} --mode torch ${c})
    set_tests_properties(cnn.ref.${dt}.${c} PROPERTIES LABELS "torch;quick" SKIP_RETURN_CODE 77)
  endforeach()
  add_test(NAME cnn.grad.${c} COMMAND ${SYSTEM_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/cnn_ref.py
           --dlc $<TARGET_FILE:dlc> --workdir ${CMAKE_BINARY_DIR}/tests/cnn --dtype f64 --mode gradcheck ${c})
  set_tests_properties(cnn.grad.${c} PROPERTIES LABELS "gradcheck;quick")
endforeach()
