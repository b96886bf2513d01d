# Recurrent models end to end (see rnn_test.py).
set(RNN_PY ${CMAKE_CURRENT_LIST_DIR}/rnn_test.py)
foreach(t char_lstm code_size tbptt generate parens)
  add_test(NAME rnn.${t} COMMAND ${SYSTEM_PYTHON} ${RNN_PY} ${t} --dlc $<TARGET_FILE:dlc>
           --workdir ${CMAKE_BINARY_DIR}/tests/rnn/${t})
  set_tests_properties(rnn.${t} PROPERTIES LABELS "e2e;quick" SKIP_RETURN_CODE 77 TIMEOUT 300)
endforeach()
set_tests_properties(rnn.char_lstm PROPERTIES LABELS "e2e;slow")
set_tests_properties(rnn.tbptt PROPERTIES LABELS "e2e;quick;torch")
set_tests_properties(rnn.parens PROPERTIES LABELS "e2e;slow")
