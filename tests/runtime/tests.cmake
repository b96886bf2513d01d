# Runtime (libdlrt) tests: a hand-written toy model driven through dlrt_main,
# and the loaders, checkpoints and gradient checks fed good and broken files.
set(DLRT_TEST_DIR ${CMAKE_CURRENT_LIST_DIR})

add_library(dlrt_toy_model STATIC ${DLRT_TEST_DIR}/toy_model.c)
target_link_libraries(dlrt_toy_model PUBLIC dlrt)
target_compile_options(dlrt_toy_model PRIVATE ${DLC_WARN})

add_executable(dlrt_toy ${DLRT_TEST_DIR}/toy_main.c)
target_link_libraries(dlrt_toy PRIVATE dlrt_toy_model)
target_compile_options(dlrt_toy PRIVATE ${DLC_WARN})

add_executable(dlrt_tests ${DLRT_TEST_DIR}/test_runtime.c)
target_link_libraries(dlrt_tests PRIVATE dlrt_toy_model ZLIB::ZLIB m)
target_compile_options(dlrt_tests PRIVATE ${DLC_WARN})
target_compile_definitions(dlrt_tests PRIVATE _POSIX_C_SOURCE=200809L
  DLRT_SOURCE_DIR="${CMAKE_SOURCE_DIR}")

foreach(t rng init init_torch npy idx csv gather safetensors flags train checkpoint dump gradcheck classifier
          mutations log schedule numerics predict resume threads)
  add_test(NAME runtime.${t} COMMAND dlrt_tests ${t})
  set_tests_properties(runtime.${t} PROPERTIES LABELS quick TIMEOUT 120)
endforeach()

# scripts/plot_log.sh on logs the toy writes (skipped without gnuplot).
add_test(NAME runtime.plot_log COMMAND dlrt_tests plot)
set_tests_properties(runtime.plot_log PROPERTIES LABELS quick SKIP_RETURN_CODE 77 TIMEOUT 120)

# Loads the real Fashion-MNIST files when they are installed (skipped otherwise).
add_test(NAME runtime.fmnist_load COMMAND dlrt_tests fmnist)
set_tests_properties(runtime.fmnist_load PROPERTIES LABELS quick SKIP_RETURN_CODE 77 TIMEOUT 120)

# The toy as a program of its own, the way a compiled model runs.
add_test(NAME runtime.toy_help COMMAND dlrt_toy --help)
set_tests_properties(runtime.toy_help PROPERTIES LABELS quick PASS_REGULAR_EXPRESSION "usage: .* \\[flags\\]")
add_test(NAME runtime.toy_bad_flag COMMAND dlrt_toy --bogus)
set_tests_properties(runtime.toy_bad_flag PROPERTIES LABELS quick WILL_FAIL TRUE)
add_test(NAME runtime.toy_dump_hvp_alone COMMAND dlrt_toy --dump-hvp hvp.safetensors)
set_tests_properties(runtime.toy_dump_hvp_alone PROPERTIES LABELS quick
                     PASS_REGULAR_EXPRESSION "--dump-hvp is for --hvpcheck")
add_test(NAME runtime.toy_gradcheck COMMAND dlrt_toy --gradcheck)
set_tests_properties(runtime.toy_gradcheck PROPERTIES LABELS quick PASS_REGULAR_EXPRESSION "gradcheck: passed")

# The micro-kernels of dlrt_kernels.h on their own, against naive loops: float
# and double, each with the compiler's default vectors, this CPU's
# (-march=native, as trainers are built) and plain C11 (-DDLC_NO_VECTORS).
include(CheckCCompilerFlag)
check_c_compiler_flag(-march=native DLC_CC_MARCH_NATIVE)
foreach(type f32 f64)
  foreach(vec default native novec)
    if(vec STREQUAL "native" AND NOT DLC_CC_MARCH_NATIVE)
      continue()
    endif()
    set(name kernels_${type})
    if(NOT vec STREQUAL "default")
      set(name ${name}_${vec})
    endif()
    add_executable(dlrt_${name} ${DLRT_TEST_DIR}/test_kernels.c)
    target_include_directories(dlrt_${name} PRIVATE ${CMAKE_SOURCE_DIR}/runtime)
    target_link_libraries(dlrt_${name} PRIVATE m)
    target_compile_options(dlrt_${name} PRIVATE ${DLC_WARN})
    if(type STREQUAL "f64")
      target_compile_definitions(dlrt_${name} PRIVATE TEST_F64)
    endif()
    if(vec STREQUAL "native")
      target_compile_options(dlrt_${name} PRIVATE -march=native -ffp-contract=fast)
    elseif(vec STREQUAL "novec")
      target_compile_definitions(dlrt_${name} PRIVATE DLC_NO_VECTORS)
    endif()
    add_test(NAME runtime.${name} COMMAND dlrt_${name})
    set_tests_properties(runtime.${name} PROPERTIES LABELS quick TIMEOUT 120)
  endforeach()
endforeach()
