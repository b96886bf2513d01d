# Hostile data, checkpoint and JIT-cache files against the loaders (issue 19):
# IDX sizes that overflow, checkpoint metadata out of range, safetensors
# headers of many names or names with NUL, NaN and infinities in the data,
# temporaries of killed saves, and cache entries that are links, FIFOs or
# directories.
set(HOSTILE_LOADERS_PY ${CMAKE_CURRENT_LIST_DIR}/hostile_loaders.py)
foreach(t idx_dims ckpt_meta st_many_keys st_nul_key nonfinite stale_temps)
  add_test(NAME hostile_loaders.${t} COMMAND ${SYSTEM_PYTHON} ${HOSTILE_LOADERS_PY} ${t}
           --dlc $<TARGET_FILE:dlc> --workdir ${CMAKE_BINARY_DIR}/tests/hostile_loaders/${t})
  set_tests_properties(hostile_loaders.${t} PROPERTIES LABELS "e2e;quick" TIMEOUT 300)
endforeach()
add_test(NAME hostile_loaders.jit_cache COMMAND ${SYSTEM_PYTHON} ${HOSTILE_LOADERS_PY} jit_cache
         --dlc $<TARGET_FILE:dlc> --workdir ${CMAKE_BINARY_DIR}/tests/hostile_loaders/jit_cache)
set_tests_properties(hostile_loaders.jit_cache PROPERTIES LABELS "e2e;llvm;quick" SKIP_RETURN_CODE 77
                     TIMEOUT 600)
