# End-to-end tests: build trainers, train, checkpoint, bad files.
set(E2E ${CMAKE_CURRENT_LIST_DIR}/e2e.py)
foreach(t mlp_learns checkpoint bad_checkpoints bad_data gd_modes logreg warnings progress_quiet run portable newton newton_cnn
          layers_same_bits token_ids sample profile)
  add_test(NAME e2e.${t} COMMAND ${SYSTEM_PYTHON} ${E2E} ${t} --dlc $<TARGET_FILE:dlc>
           --workdir ${CMAKE_BINARY_DIR}/tests/e2e/${t})
  set_tests_properties(e2e.${t} PROPERTIES LABELS "e2e;quick" SKIP_RETURN_CODE 77 TIMEOUT 300)
endforeach()
add_test(NAME e2e.mlp_epoch COMMAND ${SYSTEM_PYTHON} ${E2E} mlp_epoch --dlc $<TARGET_FILE:dlc>
         --workdir ${CMAKE_BINARY_DIR}/tests/e2e/mlp_epoch)
set_tests_properties(e2e.mlp_epoch PROPERTIES LABELS "e2e;slow" SKIP_RETURN_CODE 77 TIMEOUT 900)
# e2e.jit compiles every example through the LLVM JIT (about a minute): not in the quick
# subset, but not slow either (the sanitizer pass runs it).
add_test(NAME e2e.jit COMMAND ${SYSTEM_PYTHON} ${E2E} jit --dlc $<TARGET_FILE:dlc>
         --workdir ${CMAKE_BINARY_DIR}/tests/e2e/jit)
set_tests_properties(e2e.jit PROPERTIES LABELS "e2e;llvm" SKIP_RETURN_CODE 77 TIMEOUT 600)
add_test(NAME e2e.jit_tiers COMMAND ${SYSTEM_PYTHON} ${E2E} jit_tiers --dlc $<TARGET_FILE:dlc>
         --workdir ${CMAKE_BINARY_DIR}/tests/e2e/jit_tiers)
set_tests_properties(e2e.jit_tiers PROPERTIES LABELS "e2e;llvm" SKIP_RETURN_CODE 77 TIMEOUT 300)
add_test(NAME e2e.jit_cache COMMAND ${SYSTEM_PYTHON} ${E2E} jit_cache --dlc $<TARGET_FILE:dlc>
         --workdir ${CMAKE_BINARY_DIR}/tests/e2e/jit_cache)
set_tests_properties(e2e.jit_cache PROPERTIES LABELS "e2e;llvm;quick" SKIP_RETURN_CODE 77 TIMEOUT 300)
