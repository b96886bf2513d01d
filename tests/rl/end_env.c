/* end_env.c - loop_env.c whose episodes terminate at their fifth step
 * (rl_train_test.py targets). */
#define END
#include "loop_env.c"
