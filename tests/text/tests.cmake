# Character-level text: vocab(...), text(...) batches, bits per character,
# the vocabulary in checkpoints; a bigram model trained on a corpus the test
# writes, one short run on fortunes, and a PyTorch twin of the batches.
set(TEXT_PY ${CMAKE_CURRENT_LIST_DIR}/text_test.py)
foreach(t train fortunes twin errors)
  add_test(NAME text.${t} COMMAND ${SYSTEM_PYTHON} ${TEXT_PY} ${t} --dlc $<TARGET_FILE:dlc>
           --workdir ${CMAKE_BINARY_DIR}/tests/text/${t})
  set_tests_properties(text.${t} PROPERTIES LABELS "e2e;quick" SKIP_RETURN_CODE 77 TIMEOUT 300)
endforeach()
set_tests_properties(text.twin PROPERTIES LABELS "e2e;quick;torch")
