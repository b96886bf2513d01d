# Reinforcement-learning environments (runtime/env.c, runtime/dlrt_env.h):
# env_check drives them from the command line; CartPole against
# bench/rl_envs.py, the gridworld's moves, slips and value iteration, and
# the user environment of docs/rl-environments.md compiled and run.
set(DLC_RL_TEST_DIR ${CMAKE_CURRENT_LIST_DIR})
add_executable(rl_env_check ${DLC_RL_TEST_DIR}/env_check.c)
target_link_libraries(rl_env_check PRIVATE dlrt)
target_compile_options(rl_env_check PRIVATE ${DLC_WARN})

add_test(NAME rl.cartpole COMMAND ${SYSTEM_PYTHON} ${DLC_RL_TEST_DIR}/cartpole_test.py
         --env-check $<TARGET_FILE:rl_env_check>)
set_tests_properties(rl.cartpole PROPERTIES LABELS quick TIMEOUT 120)
foreach(what moves slip outcomes vi frozenlake errors)
  add_test(NAME rl.gridworld_${what} COMMAND ${SYSTEM_PYTHON} ${DLC_RL_TEST_DIR}/gridworld_test.py ${what}
           --env-check $<TARGET_FILE:rl_env_check>)
  set_tests_properties(rl.gridworld_${what} PROPERTIES LABELS quick TIMEOUT 120)
endforeach()
add_test(NAME rl.doc_example COMMAND ${SYSTEM_PYTHON} ${DLC_RL_TEST_DIR}/doc_example_test.py
         --doc ${CMAKE_SOURCE_DIR}/docs/rl-environments.md --runtime ${CMAKE_SOURCE_DIR}/runtime
         --dlrt $<TARGET_FILE:dlrt> --cc ${CMAKE_C_COMPILER} --workdir ${CMAKE_BINARY_DIR}/tests/rl/doc_example
         "--sanitize=${DLC_SAN_STR}")
set_tests_properties(rl.doc_example PROPERTIES LABELS quick TIMEOUT 120)

# Training in an environment (runtime/rl.c, rl_train_test.py): the policy
# gradient of one episode against PyTorch's (f64: REINFORCE, the
# actor-critic example, plain returns), REINFORCE on CartPole above a bound
# that --lr 0 misses, the same lines on a second run and on 2 threads
# (tests/rltrain trains DQN and actor-critic), runtime and build errors, a
# user environment trained to its optimum, truncated CartPole episodes,
# tabular Q-learning's table against Q* and value iteration's summary of its
# map, target networks, done and hyper schedules against recurrences worked
# out by hand, the policy's action draws against their probabilities, and
# --save and --load.
foreach(what grads train same errors walk short qlearn vstart targets schedules draws load)
  add_test(NAME rl.${what} COMMAND ${SYSTEM_PYTHON} ${DLC_RL_TEST_DIR}/rl_train_test.py ${what}
           --dlc $<TARGET_FILE:dlc> --workdir ${CMAKE_BINARY_DIR}/tests/rl/${what})
  set_tests_properties(rl.${what} PROPERTIES LABELS "e2e;quick" SKIP_RETURN_CODE 77 TIMEOUT 300)
endforeach()
set_tests_properties(rl.grads PROPERTIES LABELS "torch;e2e;quick")
if(DLC_REQUIRE_TORCH)
  set_tests_properties(rl.grads PROPERTIES ENVIRONMENT DLC_REQUIRE_TORCH=1)
endif()
# Defects of the RL runtime and compiler these tests catch (they fail until
# fixed): trainer flags an RL run silently ignores (trainer.c rl_main);
# policies that read batch statistics compiled for one observation (sema.c
# rl_rollout); "up to (no limit) 0 steps" (rl.c check_fit) and an RL
# program's --help without its flags (trainer.c usage).
foreach(what flags batchstats messages)
  add_test(NAME rl.${what} COMMAND ${SYSTEM_PYTHON} ${DLC_RL_TEST_DIR}/rl_train_test.py ${what}
           --dlc $<TARGET_FILE:dlc> --workdir ${CMAKE_BINARY_DIR}/tests/rl/${what})
  set_tests_properties(rl.${what} PROPERTIES LABELS "e2e;quick" TIMEOUT 300)
endforeach()
