# Fuzzing (docs/fuzzing.md): libFuzzer harnesses for the compiler's front
# end through emission and for each data and checkpoint loader.
#
# -DDLC_FUZZ=ON (clang only): the harnesses link libFuzzer, and they and the
# compiler and runtime code they call are built with
# -fsanitize=fuzzer-no-link,address,undefined (the rest of the build is
# unchanged).  Off (the default): the same harnesses get fuzz/replay_main.c's
# main() instead, which runs files through them once.  Either way the test
# fuzz.replay.NAME replays fuzz/corpus/NAME and fuzz/crashes/NAME; with
# DLC_FUZZ, fuzz.run.NAME (label fuzz) fuzzes each for DLC_FUZZ_SECONDS.
#
# Included from the top-level CMakeLists.txt, beside the dlc target whose
# generated parser, lexer and prelude the compiler harness compiles too.
set(DLC_FUZZ_DIR ${CMAKE_SOURCE_DIR}/fuzz)
set(DLC_FUZZ_SECONDS 20 CACHE STRING "Seconds each harness fuzzes in the tests labelled fuzz")
set(DLC_FUZZ_HARNESSES compile idx csv npy checkpoint ckpt_meta)

if(DLC_FUZZ)
  if(NOT CMAKE_C_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "-DDLC_FUZZ=ON needs clang's libFuzzer: configure with CC=clang "
                        "(Debian: apt-get install clang libclang-rt-14-dev)")
  endif()
  set(DLC_FUZZ_CFLAGS -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined
                      -fno-omit-frame-pointer -g)
  set(DLC_FUZZ_LFLAGS -fsanitize=fuzzer,address,undefined)
  # the runtime again, instrumented
  add_library(dlrt_fuzz STATIC ${DLRT_SOURCES})
  target_include_directories(dlrt_fuzz PUBLIC ${CMAKE_SOURCE_DIR}/runtime)
  target_compile_definitions(dlrt_fuzz PRIVATE _POSIX_C_SOURCE=200809L)
  target_compile_options(dlrt_fuzz PRIVATE ${DLC_WARN} ${DLC_FUZZ_CFLAGS})
  target_link_libraries(dlrt_fuzz PUBLIC ZLIB::ZLIB Threads::Threads m)
  set(DLC_FUZZ_DLRT dlrt_fuzz)
  set(DLC_FUZZ_MAIN)
  message(STATUS "dlc: fuzzing harnesses: libFuzzer (${DLC_FUZZ_SECONDS} s each in the tests labelled fuzz)")
else()
  set(DLC_FUZZ_CFLAGS)
  set(DLC_FUZZ_LFLAGS)
  set(DLC_FUZZ_DLRT dlrt)
  set(DLC_FUZZ_MAIN ${DLC_FUZZ_DIR}/replay_main.c)
endif()

# The compiler without its command line (driver.c).
set(DLC_FUZZ_FRONT_SOURCES ${DLC_SOURCES})
list(FILTER DLC_FUZZ_FRONT_SOURCES EXCLUDE REGEX "/driver\\.c$")
add_library(dlc_fuzz_front STATIC ${DLC_FUZZ_FRONT_SOURCES} ${CMAKE_BINARY_DIR}/gen/prelude.c
  ${BISON_dlc_parser_OUTPUTS} ${FLEX_dlc_lexer_OUTPUTS})
target_include_directories(dlc_fuzz_front PUBLIC ${CMAKE_SOURCE_DIR}/compiler ${CMAKE_BINARY_DIR}/gen)
target_compile_definitions(dlc_fuzz_front PRIVATE _POSIX_C_SOURCE=200809L DLC_VERSION="${PROJECT_VERSION}")
target_compile_options(dlc_fuzz_front PRIVATE ${DLC_WARN} ${DLC_FUZZ_CFLAGS})
target_link_libraries(dlc_fuzz_front PUBLIC ${DLC_FUZZ_DLRT} m)

foreach(h ${DLC_FUZZ_HARNESSES})
  add_executable(fuzz_${h} ${DLC_FUZZ_DIR}/fuzz_${h}.c ${DLC_FUZZ_DIR}/fuzz_util.c ${DLC_FUZZ_MAIN})
  target_include_directories(fuzz_${h} PRIVATE ${DLC_FUZZ_DIR})
  target_compile_definitions(fuzz_${h} PRIVATE _POSIX_C_SOURCE=200809L)
  target_compile_options(fuzz_${h} PRIVATE ${DLC_WARN} ${DLC_FUZZ_CFLAGS})
  target_link_options(fuzz_${h} PRIVATE ${DLC_FUZZ_LFLAGS})
  if(h STREQUAL "compile")
    target_link_libraries(fuzz_${h} PRIVATE dlc_fuzz_front)
  else()
    # the loaders' model: tests/runtime's toy, built with the harness's flags
    target_sources(fuzz_${h} PRIVATE ${CMAKE_SOURCE_DIR}/tests/runtime/toy_model.c)
    target_include_directories(fuzz_${h} PRIVATE ${CMAKE_SOURCE_DIR}/tests/runtime)
    target_link_libraries(fuzz_${h} PRIVATE ${DLC_FUZZ_DLRT} m)
  endif()

  # Every seed and every past crash, once (the compiler's seeds are the
  # examples and the programs of the tests, good and bad).
  set(dirs ${DLC_FUZZ_DIR}/corpus/${h} ${DLC_FUZZ_DIR}/crashes/${h})
  set(seed_dirs)
  if(h STREQUAL "compile")
    foreach(d examples tests/errors tests/frontend/syntax tests/frontend/ast tests/opt/passes tests/rl)
      list(APPEND dirs "${CMAKE_SOURCE_DIR}/${d}:*.dl")
      list(APPEND seed_dirs ${CMAKE_SOURCE_DIR}/${d})
    endforeach()
  endif()
  add_test(NAME fuzz.replay.${h} COMMAND sh ${DLC_FUZZ_DIR}/replay.sh $<TARGET_FILE:fuzz_${h}> ${dirs})
  set_tests_properties(fuzz.replay.${h} PROPERTIES LABELS quick TIMEOUT 600 ENVIRONMENT DLC_VERIFY=1)

  if(DLC_FUZZ)
    # A short campaign from the seeds, its finds in the build tree.
    set(work ${CMAKE_BINARY_DIR}/fuzz/${h})
    set(dict)
    if(h STREQUAL "compile")
      set(dict -dict=${DLC_FUZZ_DIR}/dl.dict)
    endif()
    add_test(NAME fuzz.run.${h}
      COMMAND sh -c "mkdir -p '${work}/corpus' '${work}/artifacts' && exec \"$0\" \"$@\""
        $<TARGET_FILE:fuzz_${h}> ${dict} -max_total_time=${DLC_FUZZ_SECONDS} -timeout=10 -rss_limit_mb=2048
        -close_fd_mask=3 -print_final_stats=1 -artifact_prefix=${work}/artifacts/
        ${work}/corpus ${DLC_FUZZ_DIR}/corpus/${h} ${seed_dirs})
    set_tests_properties(fuzz.run.${h} PROPERTIES LABELS fuzz TIMEOUT 300)
  endif()
endforeach()
