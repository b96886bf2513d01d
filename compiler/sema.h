/* sema.h - semantic analysis: from the AST to the model's forward graph.
 *
 * Resolves names (dims, tensors, values, user functions), evaluates dims,
 * inlines user functions, checks shapes (numpy broadcasting), element types
 * and call signatures, and builds the forward graph: the loss, the declared
 * outputs and the model's tensors.  Every user mistake is reported through
 * the Diag with its location; analysis goes on after an error so that one
 * run reports several. */
#ifndef DLC_SEMA_H
#define DLC_SEMA_H

#include "ast.h"
#include "graph.h"
#include "optim.h"

/* A `-D NAME=VALUE` from the command line. */
typedef struct DimDefine {
	const char *name;
	int64_t value;
	int used;
} DimDefine;

typedef enum DataKind { DATA_NONE = 0, DATA_IDX, DATA_CSV, DATA_NPY } DataKind;

typedef struct DataSpec {
	DataKind kind;
	int nfiles;
	const char *files[8];
	int csv_header;
} DataSpec;

typedef struct Output {
	const char *name;
	NodeId node;
	int hidden;          /* not declared; kept for accuracy */
} Output;

typedef struct Model {
	const char *name;       /* C identifier derived from the file name */
	const char *source;
	Graph *g;
	NodeId loss;            /* 0 if the program has no loss */
	SrcLoc loss_loc;
	Output *outputs;
	int noutputs;
	/* Evaluation mode (dropout off, batch norm on running statistics): the
	 * same loss and outputs built again; equal to the training-mode nodes
	 * when the model has no mode-dependent op. */
	NodeId eval_loss;
	NodeId *eval_outputs;
	/* Updates of non-trained state in a training step (batch norm's running
	 * statistics): ASSIGN nodes. */
	NodeId *state_updates;
	int nstate_updates;
	int uses_rng;           /* dropout: the step needs a random key */
	int accuracy_output;    /* index into outputs, or -1 */
	int accuracy_label;     /* tensor index, or -1 */
	/* dims, for the generated file's header */
	const char **dim_names;
	int64_t *dim_values;
	int ndims;
	/* the train block */
	OptimSpec opt;
	int epochs;
	DataSpec train_data, test_data;
	const char *data_dir;
	double byte_scale;
} Model;

/* `dtype` is the element type unless the program says otherwise (or
 * force_dtype is set, which overrides the program). */
Model *sema_build(Arena *a, Diag *d, const AstProgram *p, DimDefine *defs, int ndefs,
                  DType dtype, int force_dtype, int fold, int cse);

#endif
