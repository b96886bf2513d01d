# reverse_words(...): the trainer's words against bench/seq2seq_data.py, the generator's
# documented definition re-implemented in Python (error goldens: tests/errors/reverse_words_*.dl).
add_test(NAME seq2seq.words COMMAND ${SYSTEM_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/seq2seq_test.py words
         --dlc $<TARGET_FILE:dlc> --workdir ${CMAKE_BINARY_DIR}/tests/seq2seq/words)
set_tests_properties(seq2seq.words PROPERTIES LABELS "e2e;quick" TIMEOUT 120)
# The short version of bench/seq2seq.py: 150 steps of examples/seq2seq_attention.dl (seed 1,
# 2 threads, the program's constant rate): 97.8% of the held-out words exactly after them
# (32% after 50 steps, 89% after 100), 99.5% of their letters; the bounds are 50% and 80%, and
# --predict's greedy decoding must agree with the trainer's figure.  About 30 s on this 2-core
# machine: labelled slow, out of the quick subset and the sanitizer pass (seq2seq.words reads the
# words there).
add_test(NAME seq2seq.bench_short COMMAND ${SYSTEM_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/seq2seq_test.py train
         --steps 150 --min-exact 0.5 --min-letters 0.8 --dlc $<TARGET_FILE:dlc>
         --workdir ${CMAKE_BINARY_DIR}/tests/seq2seq/bench_short)
set_tests_properties(seq2seq.bench_short PROPERTIES LABELS "e2e;slow" TIMEOUT 300)
# bench/seq2seq.py cut short: 150 steps of dlc and of its PyTorch twin on the same words and
# batches (the cosine schedule of the full run, stopped early), each at least 50% exact
# (dlc 94.2%, the twin 96.3% with seed 1: the cosine rate barely below 2e-3 by then); skipped
# (77) without PyTorch.  About 60 s.
add_test(NAME seq2seq.twin_short COMMAND ${SYSTEM_PYTHON} ${CMAKE_SOURCE_DIR}/bench/seq2seq.py
         --dlc $<TARGET_FILE:dlc> --seeds 1 --steps 150 --samples 0 --min-exact 0.5)
set_tests_properties(seq2seq.twin_short PROPERTIES LABELS "torch;e2e;slow" SKIP_RETURN_CODE 77 TIMEOUT 600)
