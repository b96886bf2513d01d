# Batch norm's running statistics and training/evaluation switch against PyTorch.
add_test(NAME cnn.batch_norm_steps COMMAND ${SYSTEM_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/bn_ref.py
         --dlc $<TARGET_FILE:dlc> --workdir ${CMAKE_BINARY_DIR}/tests/cnn/bn)
set_tests_properties(cnn.batch_norm_steps PROPERTIES LABELS "torch;quick" SKIP_RETURN_CODE 77)

# Every convolutional op (cnn_ref.py): cnn.GROUP runs each case of the group, in one process, as
# an f64 trainer (dumps against PyTorch, then its gradient check), an f32 trainer (dumps against
# PyTorch), where dlc has the LLVM JIT `dlc run` in f64 (as the f64 trainer), and its program
# trained by Newton in f64 (--hvpcheck: H v against finite differences of the gradient and
# PyTorch's double backward; the overlapping max pooling cases must be refused instead).  Every
# op's input gradient is compared, through a parameter its data operand depends on.  Each case's seed
# is crc32 of its name; a failing case prints the command that reruns it alone, such as
#   /usr/bin/python3 tests/cnn/cnn_ref.py --dlc build/dlc --workdir /tmp/cnn --jit maxpool_k3_7x8
# Without PyTorch a group runs the gradient checks (and compares the JIT with the trainer), then
# skips (77), or fails with DLC_REQUIRE_TORCH=1.
set(dlc_cnn_jit "")
if(DLC_JIT_STATUS MATCHES "^on")
  set(dlc_cnn_jit --jit)
endif()
set(dlc_cnn_env "DLC_JIT_CACHE_DIR=${CMAKE_BINARY_DIR}/tests/jit-cache")
if(DLC_REQUIRE_TORCH)
  list(APPEND dlc_cnn_env DLC_REQUIRE_TORCH=1)
endif()
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${CMAKE_CURRENT_LIST_DIR}/cnn_ref.py)
execute_process(COMMAND ${SYSTEM_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/cnn_ref.py --list-groups
                OUTPUT_VARIABLE dlc_cnn_groups OUTPUT_STRIP_TRAILING_WHITESPACE)
foreach(g ${dlc_cnn_groups})
  add_test(NAME cnn.${g} COMMAND ${SYSTEM_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/cnn_ref.py --dlc $<TARGET_FILE:dlc>
           --workdir ${CMAKE_BINARY_DIR}/tests/cnn/${g} ${dlc_cnn_jit} --group ${g})
  set_tests_properties(cnn.${g} PROPERTIES LABELS "torch;gradcheck;quick" SKIP_RETURN_CODE 77 TIMEOUT 600
                       ENVIRONMENT "${dlc_cnn_env}")
endforeach()

# The comparisons can fail: a convolution's input gradient 0.1% off (d_s of conv_basic, the
# reference scaled by 1.001) must be caught on every path, and so must its kernel's H v 0.1% off
# (hv_K) on the Newton path.  Only mismatches caught everywhere exit 1.
add_test(NAME cnn.negative.conv_dx_off COMMAND ${SYSTEM_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/cnn_ref.py
         --dlc $<TARGET_FILE:dlc> --workdir ${CMAKE_BINARY_DIR}/tests/cnn/negative ${dlc_cnn_jit}
         --perturb 1.001:d_s --perturb 1.001:hv_K conv_basic)
set_tests_properties(cnn.negative.conv_dx_off PROPERTIES LABELS "torch;quick" WILL_FAIL TRUE SKIP_RETURN_CODE 77
                     ENVIRONMENT "${dlc_cnn_env}")
