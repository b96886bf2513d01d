# Transformers end to end (see attention_test.py).
set(ATTENTION_PY ${CMAKE_CURRENT_LIST_DIR}/attention_test.py)
foreach(t char_gpt generate)
  add_test(NAME attention.${t} COMMAND ${SYSTEM_PYTHON} ${ATTENTION_PY} ${t} --dlc $<TARGET_FILE:dlc>
           --workdir ${CMAKE_BINARY_DIR}/tests/attention/${t})
  set_tests_properties(attention.${t} PROPERTIES LABELS "e2e;quick" SKIP_RETURN_CODE 77 TIMEOUT 300)
endforeach()
set_tests_properties(attention.char_gpt attention.generate PROPERTIES LABELS "e2e;slow")
