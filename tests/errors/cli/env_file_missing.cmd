# exit: 1
--check rl_env.dl
