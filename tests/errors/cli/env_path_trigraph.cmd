# exit: 1
# setup: mkdir 'envs??' && cp rl_env.dl 'envs??/' && touch 'envs??/env.c'
--check envs??/rl_env.dl
