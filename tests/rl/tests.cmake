# Reinforcement-learning environments (runtime/env.c, runtime/dlrt_env.h):
# env_check drives them from the command line; CartPole against
# bench/rl_envs.py, the gridworld's moves, slips and value iteration.
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
