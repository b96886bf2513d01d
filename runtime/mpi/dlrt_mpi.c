/* dlrt_mpi.c - the MPI transport of data-parallel training (libdlrt_mpi).
 *
 * Built only where MPI is (mpicc, Open MPI); a trainer links it when dlc
 * --mpi builds it (the generated main() calls dlrt_mpi_main under
 * -DDLRT_MPI).  Everything else of data-parallel training is dist.c's and
 * the trainer's: this file gives them MPI_Allreduce, MPI_Allgather and the
 * rules of a run of several processes:
 *  - start-up: every rank must run the same model (dlrt_model_hash) with the
 *    same flags, else all ranks stop with an error naming the first that
 *    differs;
 *  - rank 0 alone prints and writes files (checkpoints, logs); the others'
 *    standard output goes to /dev/null, their errors still show, prefixed
 *    with the rank;
 *  - a rank that fails stops every rank (MPI_Abort), so that none waits
 *    forever in a collective; a rank killed outright is mpirun's to report,
 *    which stops the others. */
#include <mpi.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dlrt_internal.h"

/* the biggest message: MPI counts are int */
#define CHUNK ((int64_t)1 << 28)

static int mpi_sum(void *buf, int64_t count, dlrt_dtype t)
{
	MPI_Datatype dt = t == DLRT_F64 ? MPI_DOUBLE : MPI_FLOAT;
	size_t es = t == DLRT_F64 ? 8 : 4;
	for (int64_t off = 0; off < count; off += CHUNK) {
		int c = (int)(count - off < CHUNK ? count - off : CHUNK);
		if (MPI_Allreduce(MPI_IN_PLACE, (char *)buf + (size_t)off * es, c, dt, MPI_SUM, MPI_COMM_WORLD) !=
		    MPI_SUCCESS)
			return -1;
	}
	return 0;
}

static int mpi_gather(const void *mine, void *all, int64_t bytes)
{
	int size;
	MPI_Comm_size(MPI_COMM_WORLD, &size);
	if (bytes <= INT_MAX)
		return MPI_Allgather(mine, (int)bytes, MPI_BYTE, all, (int)bytes, MPI_BYTE, MPI_COMM_WORLD) ==
		               MPI_SUCCESS ? 0 : -1;
	/* larger: one rank's block at a time */
	for (int r = 0; r < size; r++) {
		char *dst = (char *)all + (size_t)r * (size_t)bytes;
		int rank;
		MPI_Comm_rank(MPI_COMM_WORLD, &rank);
		if (r == rank)
			memcpy(dst, mine, (size_t)bytes);
		for (int64_t off = 0; off < bytes; off += CHUNK)
			if (MPI_Bcast(dst + off, (int)(bytes - off < CHUNK ? bytes - off : CHUNK), MPI_BYTE, r,
			              MPI_COMM_WORLD) != MPI_SUCCESS)
				return -1;
	}
	return 0;
}

int dlrt_mpi_main(const dlrt_model *m, int argc, char **argv)
{
	static dlrt_dist d;
	uint64_t mine[2], *all;
	int rc;
	if (MPI_Init(&argc, &argv) != MPI_SUCCESS) {
		fprintf(stderr, "%s: error: MPI_Init failed\n", m->name);
		return 1;
	}
	MPI_Comm_rank(MPI_COMM_WORLD, &d.rank);
	MPI_Comm_size(MPI_COMM_WORLD, &d.size);
	d.sum = mpi_sum;
	d.gather = mpi_gather;
	dlrt_set_rank_label(d.size > 1 ? d.rank : -1);

	/* the same model and the same flags on every rank */
	mine[0] = dlrt_model_hash(m);
	mine[1] = 0xcbf29ce484222325ULL;
	for (int i = 1; i < argc; i++)
		mine[1] = dlrt_fnv1a(mine[1], argv[i], strlen(argv[i]) + 1); /* with its NUL: where it ends */
	all = malloc((size_t)d.size * sizeof mine);
	if (!all || MPI_Allgather(mine, (int)sizeof mine, MPI_BYTE, all, (int)sizeof mine, MPI_BYTE, MPI_COMM_WORLD) !=
	            MPI_SUCCESS) {
		dlrt_error("cannot compare the ranks' models");
		MPI_Abort(MPI_COMM_WORLD, 1);
	}
	for (int r = 1; r < d.size; r++)
		if (all[2 * r] != all[0] || all[2 * r + 1] != all[1]) {
			if (d.rank == 0)
				dlrt_error("rank %d runs %s than rank 0 (model %s, %s); every rank must run the same "
				           "trainer with the same flags", r,
				           all[2 * r] != all[0] ? "another model" : "other flags", m->name,
				           all[2 * r] != all[0] ? "compiled from another program or with other dims"
				                                : "compare the command lines");
			free(all);
			MPI_Finalize();
			return 1;
		}
	free(all);

	if (d.rank != 0 && !freopen("/dev/null", "w", stdout)) {
		dlrt_error("cannot send standard output to /dev/null");
		MPI_Abort(MPI_COMM_WORLD, 1);
	}
	dlrt_dist_now = &d;
	rc = dlrt_main(m, argc, argv);
	dlrt_dist_now = NULL;
	fflush(stdout);
	if (rc != 0 && d.size > 1) {
		fprintf(stderr, "%s: rank %d failed (exit status %d): stopping all %d ranks\n", m->name, d.rank, rc,
		        d.size);
		fflush(stderr);
		MPI_Abort(MPI_COMM_WORLD, rc);
	}
	MPI_Finalize();
	return rc;
}
