/* schedule.c - learning-rate schedules of the trainer (--lr-schedule, --warmup).
 *
 * The learning rate of a step is a pure function of the step's global index
 * t (0-based, counted from the start of the first run, so a resumed run
 * picks up the curve where it left it) and of the epoch e (0-based) it
 * belongs to:
 *
 *     lr(t, e) = warmup(t) * base(t, e)
 *
 *     constant  base = lr
 *     step      base = lr * gamma^floor(e / step_size)     torch StepLR
 *     exp       base = lr * gamma^e                         torch ExponentialLR
 *     cosine    base = lr_min + (lr - lr_min) * (1 + cos(pi * t / T)) / 2
 *                                                           torch CosineAnnealingLR,
 *               stepped after every batch with T_max = T, the planned steps of
 *               the whole run: epochs x steps per epoch (--steps, which stops a
 *               run early, does not change the curve: so that a run stopped
 *               by it and resumed gets the learning rates of one that was not)
 *     warmup(t) = 1/N + (1 - 1/N) * min(t, N) / N           torch LinearLR(
 *               start_factor=1/N, end_factor=1, total_iters=N), stepped
 *               after every batch; 1 when N = 0
 *
 * Each formula is the closed form of the torch scheduler beside it (which
 * computes the same curve recursively); with a warm-up the two factors
 * multiply, as torch's ChainedScheduler does. */
#include "dlrt_internal.h"

#include <math.h>

double dlrt_schedule_lr(const dlrt_lr_schedule *s, int64_t step, int64_t epoch)
{
	double lr = s->lr;
	switch (s->kind) {
	case DLRT_LR_CONSTANT:
		break;
	case DLRT_LR_STEP:
		lr *= pow(s->gamma, (double)(epoch / (s->step_size > 0 ? s->step_size : 1)));
		break;
	case DLRT_LR_EXP:
		lr *= pow(s->gamma, (double)epoch);
		break;
	case DLRT_LR_COSINE:
		if (s->total_steps > 0) {
			double t = (double)(step < s->total_steps ? step : s->total_steps);
			lr = s->lr_min + (s->lr - s->lr_min) *
			                     (1 + cos(3.14159265358979323846 * t / (double)s->total_steps)) / 2;
		}
		break;
	}
	if (s->warmup > 0) {
		double n = (double)s->warmup;
		double t = (double)(step < s->warmup ? step : s->warmup);
		lr *= 1 / n + (1 - 1 / n) * t / n;
	}
	return lr;
}

const char *dlrt_schedule_name(dlrt_lr_kind k)
{
	switch (k) {
	case DLRT_LR_CONSTANT: return "constant";
	case DLRT_LR_STEP: return "step";
	case DLRT_LR_EXP: return "exp";
	case DLRT_LR_COSINE: return "cosine";
	}
	return "?";
}
