/* model.h - the model as the back end sees it.
 *
 * sema builds it from the program; the stages after it (step, schedule,
 * memory plan, the C printer, the summary) read it and nothing of the front
 * end: the forward graph with its named tensors, the loss and outputs in
 * training and evaluation mode, the state updates of a training step, and
 * what the train block says (optimizer, epochs, data). */
#ifndef DLC_MODEL_H
#define DLC_MODEL_H

#include "graph.h"
#include "optim.h"

typedef enum DataKind { DATA_NONE = 0, DATA_IDX, DATA_CSV, DATA_NPY, DATA_SPLIT, DATA_GEN, DATA_TEXT } DataKind;

/* 2-D generators, numbered as the runtime's dlrt_generator. */
typedef enum GenKind { GEN_MOONS = 1, GEN_CIRCLES, GEN_GAUSSIANS, GEN_SPIRAL, GEN_CHECKERBOARD, GEN_PARENS,
                       GEN_HIST, GEN_WORDS } GenKind;

typedef struct DataSpec {
	DataKind kind;
	int nfiles;
	const char *files[8];
	int csv_header;
	int standardize;        /* data only: standardise the input features */
	double split;           /* DATA_SPLIT: the fraction held out */
	int64_t split_seed;
	GenKind gen;            /* DATA_GEN and its parameters */
	int64_t gen_n, gen_k;
	double gen_noise, gen_factor, gen_radius, gen_std, gen_turns;
	int64_t seq;            /* DATA_TEXT: characters per sequence; files[0] is its glob */
	SrcLoc loc;             /* DATA_TEXT: the text(...) call */
	/* parens(...): bracket kinds, string lengths, the fraction of negatives
	 * and whether they are near misses (1) or random strings (0); and
	 * where the call is, for the check against the model's inputs */
	int64_t gen_pairs, gen_min_len, gen_max_len, gen_near_miss;
	double gen_negatives;
	SrcLoc gen_loc;
	/* hist(...): the tokens' vocabulary (gen_max_len is the length, 0 for
	 * the input's until it is resolved) */
	int64_t gen_vocab;
	/* reverse_words(...): the word list (files[0] is not used: a generator
	 * has no files), the set (0 training, 1 test, 2 validation) and the
	 * shares of the words held out for the test and validation sets; the
	 * lengths are gen_min_len..gen_max_len, gen_n how many (0 all) */
	const char *gen_file;
	int64_t gen_part;
	double gen_test_share, gen_valid_share;
} DataSpec;

typedef struct Output {
	const char *name;
	NodeId node;
	int hidden;          /* not declared; kept for accuracy */
	int data_free;       /* computed from params and random draws alone (samples):
	                        not computed by a training step; the trainer's --sample */
	int eval_only;       /* not needed by training (not the training accuracy's,
	                        not a carry's next value): not computed by a training
	                        step; forward() and gradients() compute it */
	SrcLoc loc;          /* where it is declared (0: a hidden output) */
} Output;

/* One `name = step(loss, params = [...], optimizer = ..., every = K)` of the
 * train block: its own loss, parameters, optimizer (and optimizer state,
 * named NAME.m_W...) and entry point; a training round runs the steps in
 * order, each every K-th round. */
typedef struct StepClause {
	const char *name;
	NodeId loss;
	uint8_t *params;        /* per tensor: this step trains it */
	OptimSpec opt;
	int every;
	SrcLoc loc;
} StepClause;

/* Reinforcement learning (`env = ...` in the train block): the environment,
 * how its experience becomes training batches, and the policy.  Tensor
 * indices are -1 where a role is not bound. */
typedef enum RolloutKind { ROLLOUT_NONE = 0, ROLLOUT_EPISODE, ROLLOUT_REPLAY } RolloutKind;
typedef enum EnvKind { ENV_NONE = 0, ENV_CARTPOLE, ENV_GRIDWORLD, ENV_USER } EnvKind;
/* A hyper-parameter that follows a schedule over environment steps t:
 * exponential end + (start - end) exp(-t / steps), or linear from start to
 * end over steps, then end. */
typedef struct HyperSchedule {
	int tensor;             /* the hyper's tensor */
	int linear;
	double start, end, steps;
} HyperSchedule;
typedef struct RLSpec {
	EnvKind env;
	const char *env_file;   /* ENV_USER: the C file, an absolute path */
	const char *map;        /* gridworld */
	double slip;
	int64_t max_steps;      /* 0: the environment's own limit */
	RolloutKind rollout;
	/* the model's tensors each role fills: observations and actions
	 * (both kinds), discounted returns (episode), rewards, next
	 * observations and terminations (replay) */
	int obs, action, returns, reward, next_obs, done;
	int policy;             /* index into outputs: the action output */
	double gamma;
	int normalize;          /* episode: returns standardised over the batch */
	int batch_episodes;     /* episode: episodes per update */
	int64_t capacity;       /* replay: transitions kept */
	int64_t start;          /* replay: transitions gathered before the first update */
	int64_t episodes;
	/* target networks: dst[i]'s params follow src[i]'s (tensor indices, in
	 * pairs), by Polyak averaging with tau after every update, or copied
	 * every `every` updates (tau 1) */
	int ntargets;
	int *target_dst, *target_src;
	double tau;
	int64_t target_every;
	HyperSchedule *schedules;
	int nschedules;
	SrcLoc loc;
} RLSpec;

typedef struct Model {
	const char *name;       /* C identifier derived from the file name */
	/* A second model printed into the same C file (a character model's
	 * generator, compiled again for batch 1 and one step): the prefix of
	 * its array and kernel names; and, in the first model, the name of
	 * that model (its descriptor is NAME_model), or NULL */
	const char *name_prefix;
	const char *generator;
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
	int uses_rng;           /* dropout, random tensors: the step needs a random key */
	int nrandom;            /* random tensors (OP_RANDOM nodes' index i[2] runs over them) */
	int accuracy_output;    /* index into outputs, or -1 */
	int accuracy_label;     /* tensor index, or -1 */
	/* dims, for the generated file's header */
	const char **dim_names;
	int64_t *dim_values;
	int ndims;
	/* the train block */
	OptimSpec opt;
	int epochs;
	DataSpec train_data, test_data, valid_data;
	const char *data_dir;
	double byte_scale;
	int64_t steps;          /* `steps = N`: the trainer's default --steps (0: none) */
	/* step clauses (0: one loss, one optimizer: `loss` and `optimizer`);
	 * with them, loss and opt are the first clause's */
	StepClause *clauses;
	int nclauses;
	/* `dim V = vocab("glob")`: the distinct bytes of the corpus, increasing
	 * (byte vocab[i] has id i); nvocab 0 without */
	const unsigned char *vocab;
	int nvocab;
	RLSpec rl;
	/* The policy of an RL model: the program compiled again for batch 1
	 * (its descriptor is NAME_model); in that model, policy_only is set:
	 * its entry points compute the action output alone, gradients() in
	 * training mode (dropout, sampling) and forward() in evaluation mode
	 * (the greedy action). */
	const char *policy;
	int policy_only;
} Model;

#endif
