# Data-parallel training under mpirun (tests/mpi/mpi_test.py): P ranks
# against one process after 20 steps (exact mode: the same bytes as
# --shards P; MPI_Allreduce in f64: within 1e-6), checkpoints that move
# between the two, a killed or failing rank that stops every rank within a
# bound, ranks of different models or flags refused, dlc run under mpirun.
# Without MPI in this build the cases skip (fail under DLC_NO_SKIPS).
set(DLC_MPI_TEST ${CMAKE_CURRENT_LIST_DIR}/mpi_test.py)
if(TARGET dlrt_mpi AND MPIEXEC_EXECUTABLE)
  set(DLC_MPIRUN ${MPIEXEC_EXECUTABLE})
else()
  set(DLC_MPIRUN "")
endif()
foreach(spec "exact;mlp;2" "exact;mlp;3" "exact;lenet5;2" "exact;lenet5;3" "reduce;mlp;2" "reduce;mlp;3"
             "reduce;lenet5;2" "reduce;lenet5;3" "resume;mlp;2" "resume;lenet5;3" "killed;mlp;2"
             "fails;mlp;2" "mismatch;mlp;2" "run;mlp;2" "refused;convnet_bn;2" "refused;sum_loss;2")
  list(GET spec 0 case)
  list(GET spec 1 model)
  list(GET spec 2 np)
  set(name mpi.${case}.${model}.np${np})
  add_test(NAME ${name} COMMAND ${SYSTEM_PYTHON} ${DLC_MPI_TEST} --dlc $<TARGET_FILE:dlc> --mpirun "${DLC_MPIRUN}"
           --case ${case} --model ${model} --np ${np} --workdir ${CMAKE_BINARY_DIR}/tests/mpi/${name})
  # LeNet-5's cases are slow (the sanitizer pass runs the MLP's, the same code paths)
  if(model STREQUAL "lenet5")
    set_tests_properties(${name} PROPERTIES LABELS "mpi;slow" TIMEOUT 300 SKIP_RETURN_CODE 77)
  else()
    set_tests_properties(${name} PROPERTIES LABELS "quick;mpi" TIMEOUT 300 SKIP_RETURN_CODE 77)
  endif()
endforeach()

# The benchmark's short run (bench/mpi.py): 200 steps of W-MLP and W-LeNet on
# 1 and 2 threads, 2 ranks and PyTorch DDP; each above 70% test accuracy.
add_test(NAME mpi.bench_short COMMAND ${SYSTEM_PYTHON} ${CMAKE_SOURCE_DIR}/bench/mpi.py --dlc $<TARGET_FILE:dlc>
         --mpirun "${DLC_MPIRUN}" --steps 200 --reps 1 --min-accuracy 0.7
         --workdir ${CMAKE_BINARY_DIR}/tests/mpi/bench_short --results ${CMAKE_BINARY_DIR}/tests/mpi/bench_short)
set_tests_properties(mpi.bench_short PROPERTIES LABELS "mpi;torch;slow" TIMEOUT 600)

# --shards 3 on every example (tests/mpi/shards_examples.py): in f64, what the
# whole batch trains in 3 steps, or refused with the reason.
add_test(NAME mpi.shards_examples COMMAND ${SYSTEM_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/shards_examples.py
         $<TARGET_FILE:dlc> ${CMAKE_BINARY_DIR}/tests/mpi/shards_examples)
set_tests_properties(mpi.shards_examples PROPERTIES LABELS "e2e;slow" TIMEOUT 900)
