/* toy_model.h - a hand-written model for testing the runtime.
 *
 * A linear layer pred = x W + b with either a squared-error loss (linear
 * regression, float labels) or softmax cross-entropy (i32 class labels),
 * trained by SGD with momentum, optionally with dropout on its inputs.  It
 * is what the compiler would generate for the smallest model, written by
 * hand, with the shapes chosen at run time so one test binary can build
 * several variants (one at a time). */
#ifndef TOY_MODEL_H
#define TOY_MODEL_H

#include "dlrt.h"

typedef struct toy_config {
	int features;        /* F: x is (B, F) */
	int outputs;         /* K: pred is (B, K); the classes of a classifier */
	int batch;           /* B */
	dlrt_dtype dtype;    /* DLRT_F32 or DLRT_F64 */
	int classifier;      /* softmax cross-entropy with i32 labels (B) */
	int broken_grad;     /* make dW wrong, so a gradient check must fail */
	int no_state;        /* leave out the momentum buffers */
	double input_scale;
	/* In training mode (gradients, train_step), drop each input element with
	 * probability 1/2 (and double the rest), by a hash of the model's random
	 * key: a model whose results depend on dlrt_step_key. */
	int dropout;
	/* Test hook for --check-numerics: after train_step number poison_step
	 * (1-based, counted from toy_reset), element poison_index of each
	 * tensor named in poison_what (TOY_POISON_* bits) is set to
	 * poison_value. */
	int poison_step, poison_what, poison_index;
	double poison_value;
} toy_config;

enum {
	TOY_POISON_LOSS = 1, TOY_POISON_PRED = 2, TOY_POISON_DW = 4, TOY_POISON_W = 8,
	TOY_POISON_VW = 16,
};

/* Build the toy (replacing any previous one) and return its descriptor.
 * Tensor order: W, b, x, y, pred, v_W, v_b. */
const dlrt_model *toy_build(const toy_config *c);
void toy_free(void);
/* Start counting train_step calls again (the tests do it before every run
 * of dlrt_main; toy_build does it too). */
void toy_reset(void);
/* The learning rates train_step was called with since toy_reset (the
 * first TOY_MAX_LRS of them); *n is set to how many steps there were. */
#define TOY_MAX_LRS 4096
const double *toy_lrs(int *n);

#endif
