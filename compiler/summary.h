/* summary.h - `dlc --emit=summary`: a model.summary()-style table.
 *
 * One row per named value of the forward graph (in program order) with its
 * shape, the parameters it introduces, its FLOPs per example and its
 * receptive field; totals at the bottom (parameters, FLOPs per training
 * step, activation and intermediate memory). */
#ifndef DLC_SUMMARY_H
#define DLC_SUMMARY_H

#include <stdio.h>
#include "step.h"

void summary_print(FILE *out, const TrainGraph *tg);

#endif
