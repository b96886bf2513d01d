/* nan_reward_env.c - nan_env.c whose fourth step returns a NaN reward
 * (rl_train_test.py errors). */
#define NAN_REWARD
#include "nan_env.c"
