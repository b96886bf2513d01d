/* toy_model.h - a hand-written model for testing the runtime.
 *
 * A linear layer pred = x W + b with either a squared-error loss (linear
 * regression, float labels) or softmax cross-entropy (i32 class labels),
 * trained by SGD with momentum.  It is what the compiler would generate for
 * the smallest model, written by hand, with the shapes chosen at run time so
 * one test binary can build several variants (one at a time). */
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
} toy_config;

/* Build the toy (replacing any previous one) and return its descriptor.
 * Tensor order: W, b, x, y, pred, v_W, v_b. */
const dlrt_model *toy_build(const toy_config *c);
void toy_free(void);

#endif
