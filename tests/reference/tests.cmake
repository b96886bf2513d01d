# Op-level correctness tests: every case in tests/reference/cases.py is
# compiled by dlc and checked three ways:
#   ref.f64.CASE   loss, outputs and gradients vs PyTorch autograd (rtol 1e-5)
#   ref.f32.CASE   the same in f32 (rtol 1e-4)                     [torch]
#   grad.CASE      the trainer's own --gradcheck in f64            [gradcheck]
#   jit.grad.CASE  the same through `dlc run` (LLVM JIT builds)    [llvm, gradcheck]
#   hvp.CASE       Hessian-vector products vs finite differences   [gradcheck]
# The case list comes from `run_case.py --list` at configure time, so a new
# case is one entry in cases.py (CMake re-runs when that file changes).
# Without PyTorch the ref.* tests are skipped (exit 77) with a message; set
# DLC_REQUIRE_TORCH=1 in the environment, or configure with
# -DDLC_REQUIRE_TORCH=ON, to make them fail instead (CI).  One case by hand:
#   /usr/bin/python3 tests/reference/run_case.py CASE --dlc build/dlc --dtype f32
option(DLC_REQUIRE_TORCH "Fail, rather than skip, the PyTorch reference tests when PyTorch is missing" OFF)

set(dlc_ref_dir ${CMAKE_CURRENT_LIST_DIR})
set(dlc_ref_work ${CMAKE_BINARY_DIR}/tests/reference)
set(dlc_ref_run ${dlc_ref_dir}/run_case.py --dlc $<TARGET_FILE:dlc>)
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS
  ${dlc_ref_dir}/cases.py ${dlc_ref_dir}/run_case.py)
if(DLC_REQUIRE_TORCH)
  set(dlc_ref_env DLC_REQUIRE_TORCH=1)
else()
  set(dlc_ref_env "")
endif()

set(dlc_ref_cases "")
if(SYSTEM_PYTHON)
  execute_process(COMMAND ${SYSTEM_PYTHON} ${dlc_ref_dir}/run_case.py --list
    OUTPUT_VARIABLE dlc_ref_list ERROR_VARIABLE dlc_ref_err RESULT_VARIABLE dlc_ref_rc)
  if(dlc_ref_rc EQUAL 0)
    string(REGEX MATCHALL "[A-Za-z0-9_]+" dlc_ref_cases "${dlc_ref_list}")
  else()
    message(WARNING "tests/reference: `run_case.py --list` failed (${dlc_ref_rc}): ${dlc_ref_err}")
  endif()
endif()

if(NOT dlc_ref_cases)
  # No interpreter (or no NumPy): say so as a failing test rather than
  # silently registering nothing.
  add_test(NAME ref.harness COMMAND sh -c
    "echo 'tests/reference needs /usr/bin/python3 with NumPy (python3-numpy); `run_case.py --list` did not run'; exit 1")
  set_tests_properties(ref.harness PROPERTIES LABELS "torch;gradcheck;quick")
  return()
endif()

# A per-test helper: torch tests skip with 77 and may require torch.
function(dlc_ref_torch_test name)
  add_test(NAME ${name} COMMAND ${SYSTEM_PYTHON} ${ARGN} --workdir ${dlc_ref_work}/${name})
  set_tests_properties(${name} PROPERTIES LABELS "torch;quick" SKIP_RETURN_CODE 77 TIMEOUT 120)
  if(dlc_ref_env)
    set_tests_properties(${name} PROPERTIES ENVIRONMENT ${dlc_ref_env})
  endif()
endfunction()

# The PyTorch side of every ref.* case, f64 and f32, computed in one process
# before them (importing PyTorch takes longer than most cases): the fixture
# dlc_torch_refs.  Each case still draws its own numbers and uses the stored
# reference only when its key (harness, case, dtype, numbers) matches; run by
# hand, run_case.py computes its own.
set(dlc_ref_stored ${dlc_ref_work}/torch-refs)
add_test(NAME ref.torch_refs COMMAND ${SYSTEM_PYTHON} ${dlc_ref_dir}/run_case.py --write-torch-refs ${dlc_ref_stored})
set_tests_properties(ref.torch_refs PROPERTIES LABELS "torch;quick" TIMEOUT 300 FIXTURES_SETUP dlc_torch_refs)
set(dlc_ref_run_stored ${dlc_ref_run} --torch-refs ${dlc_ref_stored})

foreach(c ${dlc_ref_cases})
  dlc_ref_torch_test(ref.f64.${c} ${dlc_ref_run_stored} ${c} --dtype f64 --mode torch)
  dlc_ref_torch_test(ref.f32.${c} ${dlc_ref_run_stored} ${c} --dtype f32 --mode torch)
  set_tests_properties(ref.f64.${c} ref.f32.${c} PROPERTIES FIXTURES_REQUIRED dlc_torch_refs)
endforeach()
# every case but those whose gradient stops by design (cases.no_gradcheck)
execute_process(COMMAND ${SYSTEM_PYTHON} ${dlc_ref_dir}/run_case.py --list-gradcheck
  OUTPUT_VARIABLE dlc_ref_glist RESULT_VARIABLE dlc_ref_grc)
string(REGEX MATCHALL "[A-Za-z0-9_]+" dlc_ref_grad_cases "${dlc_ref_glist}")
foreach(c ${dlc_ref_grad_cases})
  add_test(NAME grad.${c} COMMAND ${SYSTEM_PYTHON} ${dlc_ref_run} ${c} --dtype f64 --mode gradcheck
    --workdir ${dlc_ref_work}/grad.${c})
  set_tests_properties(grad.${c} PROPERTIES LABELS "gradcheck;quick" TIMEOUT 60)
endforeach()

# Second order: every case's loss differentiated twice (trained by Newton),
# its Hessian-vector product against finite differences of the gradient
# (hvp.CASE, f64), or refused by dlc where cases.FIRST_ORDER says so.
execute_process(COMMAND ${SYSTEM_PYTHON} ${dlc_ref_dir}/run_case.py --list-hvpcheck
  OUTPUT_VARIABLE dlc_ref_hlist RESULT_VARIABLE dlc_ref_hrc)
string(REGEX MATCHALL "[A-Za-z0-9_]+" dlc_ref_hvp_cases "${dlc_ref_hlist}")
foreach(c ${dlc_ref_hvp_cases})
  add_test(NAME hvp.${c} COMMAND ${SYSTEM_PYTHON} ${dlc_ref_run} ${c} --dtype f64 --mode hvpcheck
    --workdir ${dlc_ref_work}/hvp.${c})
  set_tests_properties(hvp.${c} PROPERTIES LABELS "gradcheck;quick" TIMEOUT 60)
endforeach()

# The batch axis through reshapes and concats: route.ROUTE runs every case
# of cases.ROUTED for that route (each op case fed a partial batch through a
# concat or a reshape of the batch axis) in one process: each must match
# PyTorch in f64, or be rejected by dlc with the error it expects.  Each
# compiles about a hundred trainers, so they are labelled slow (out of the
# quick subset and of the sanitizer run).  One case by hand:
# run_case.py route.cat.mul_outer --dlc build/dlc
foreach(r cat merge regroup mix)
  dlc_ref_torch_test(route.${r} ${dlc_ref_run} --routed ${r})
  set_tests_properties(route.${r} PROPERTIES LABELS "torch;slow;route" TIMEOUT 900)
endforeach()

# The same f64 gradient checks through `dlc run` (its in-process LLVM JIT),
# when this dlc has one: jit.grad.CASE [llvm, gradcheck].  They share one
# JIT cache in the build tree.
if(DLC_JIT_STATUS MATCHES "^on")
  foreach(c ${dlc_ref_grad_cases})
    add_test(NAME jit.grad.${c} COMMAND ${SYSTEM_PYTHON} ${dlc_ref_run} ${c} --dtype f64 --mode gradcheck --via-jit
      --workdir ${dlc_ref_work}/jit.grad.${c})
    set_tests_properties(jit.grad.${c} PROPERTIES LABELS "llvm;gradcheck" TIMEOUT 120
      ENVIRONMENT "DLC_JIT_CACHE_DIR=${CMAKE_BINARY_DIR}/tests/jit-cache")
  endforeach()
endif()

# Is PyTorch there at all?  Skips without it; fails with DLC_REQUIRE_TORCH.
dlc_ref_torch_test(ref.torch_available ${dlc_ref_dir}/run_case.py --check-torch)

# Negative tests: the checks must be able to fail.  In these runs only a
# detected mismatch exits 1 (so WILL_FAIL passes); a harness or build error
# exits 0 and fails the test.
#  - a gradient 2e-5 off (twice the f64 tolerance) must be caught,
#  - a loss 2e-4 off in f32, and an output 1e-3 off,
#  - a relu at exactly 0 must fail the trainer's finite-difference check.
dlc_ref_torch_test(ref.negative.grad_off_2e-5 ${dlc_ref_run_stored} add_row_rhs --dtype f64 --perturb 1.00002:d_b)
dlc_ref_torch_test(ref.negative.loss_off_f32 ${dlc_ref_run_stored} cross_entropy --dtype f32 --perturb 1.0002:loss)
dlc_ref_torch_test(ref.negative.output_off ${dlc_ref_run_stored} softmax --dtype f64 --perturb 1.001:o)
set_tests_properties(ref.negative.grad_off_2e-5 ref.negative.loss_off_f32 ref.negative.output_off
  PROPERTIES WILL_FAIL TRUE FIXTURES_REQUIRED dlc_torch_refs)
add_test(NAME grad.negative.relu_kink COMMAND ${SYSTEM_PYTHON} ${dlc_ref_run} neg_relu_kink --mode gradcheck
  --negative --workdir ${dlc_ref_work}/grad.negative.relu_kink)
set_tests_properties(grad.negative.relu_kink PROPERTIES LABELS "gradcheck;quick" WILL_FAIL TRUE TIMEOUT 60)
