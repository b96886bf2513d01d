# Short training runs of the reinforcement-learning examples (the full runs
# next to PyTorch are bench/rl.py): bounds that a model that does not learn
# misses, value iteration's policy from tabular Q-learning, the same bits on
# any thread count.
foreach(case dqn actor_critic qlearn same_bits batch_episodes levels plot)
  add_test(NAME rltrain.${case} COMMAND ${SYSTEM_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/train_test.py ${case}
           --dlc $<TARGET_FILE:dlc> --workdir ${CMAKE_BINARY_DIR}/tests/rltrain/${case})
  set_tests_properties(rltrain.${case} PROPERTIES LABELS "e2e" TIMEOUT 600)
endforeach()
set_tests_properties(rltrain.qlearn rltrain.same_bits rltrain.batch_episodes rltrain.levels rltrain.plot PROPERTIES LABELS "quick;e2e")
set_tests_properties(rltrain.dqn rltrain.actor_critic PROPERTIES LABELS "slow;e2e")
