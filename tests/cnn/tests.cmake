# Batch norm's running statistics and training/evaluation switch against PyTorch.
add_test(NAME cnn.batch_norm_steps COMMAND ${SYSTEM_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/bn_ref.py
         --dlc $<TARGET_FILE:dlc> --workdir ${CMAKE_BINARY_DIR}/tests/cnn/bn)
set_tests_properties(cnn.batch_norm_steps PROPERTIES LABELS "torch;quick" SKIP_RETURN_CODE 77)
