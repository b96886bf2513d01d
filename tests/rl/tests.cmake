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
         --dlrt $<TARGET_FILE:dlrt> --cc ${CMAKE_C_COMPILER} --workdir ${CMAKE_BINARY_DIR}/tests/rl/doc_example)
set_tests_properties(rl.doc_example PROPERTIES LABELS quick TIMEOUT 120)
