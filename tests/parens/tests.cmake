# parens(...): the trainer's strings against bench/parens_data.py, the generator's documented
# definition re-implemented in Python (error goldens: tests/errors/parens_*.dl).
add_test(NAME parens.draws COMMAND ${SYSTEM_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/parens_test.py
         --dlc $<TARGET_FILE:dlc> --workdir ${CMAKE_BINARY_DIR}/tests/parens)
set_tests_properties(parens.draws PROPERTIES LABELS "e2e;quick" TIMEOUT 120)
