# hist(...): the trainer's sequences against bench/hist_data.py, the generator's documented
# definition re-implemented in Python (error goldens: tests/errors/hist_*.dl); and
# examples/hist_transformer.dl trained briefly must count the tokens of held-out sequences.
add_test(NAME hist.draws COMMAND ${SYSTEM_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/hist_test.py draws
         --dlc $<TARGET_FILE:dlc> --workdir ${CMAKE_BINARY_DIR}/tests/hist/draws)
set_tests_properties(hist.draws PROPERTIES LABELS "e2e;quick" TIMEOUT 120)
# 600 steps of examples/hist_transformer.dl (seed 1; about 98% after them, 43% after the
# first 100, 39% for the most frequent count): at least 95% of the test positions.
add_test(NAME hist.train COMMAND ${SYSTEM_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/hist_test.py train
         --epochs 6 --min-acc 95 --dlc $<TARGET_FILE:dlc> --workdir ${CMAKE_BINARY_DIR}/tests/hist/train)
set_tests_properties(hist.train PROPERTIES LABELS "e2e;quick" TIMEOUT 300)
