# exit: 2
model.dl rl_env.dl
