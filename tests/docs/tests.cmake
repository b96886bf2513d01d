# Every example in docs/language.md is a test.
add_test(NAME docs.examples COMMAND ${SYSTEM_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/doc_examples.py
         $<TARGET_FILE:dlc> ${CMAKE_SOURCE_DIR}/docs/language.md ${CMAKE_BINARY_DIR}/tests/docs)
set_tests_properties(docs.examples PROPERTIES LABELS quick)
# and every example in docs/rl.md
add_test(NAME docs.rl_examples COMMAND ${SYSTEM_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/doc_examples.py
         $<TARGET_FILE:dlc> ${CMAKE_SOURCE_DIR}/docs/rl.md ${CMAKE_BINARY_DIR}/tests/docs_rl)
set_tests_properties(docs.rl_examples PROPERTIES LABELS quick)
