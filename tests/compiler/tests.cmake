# Compiler internals tested on their own: the verifier that runs between
# the stages finds broken graphs and memory plans.
set(DLC_COMPILER_TEST_DIR ${CMAKE_CURRENT_LIST_DIR})
add_executable(dlc_test_verify ${DLC_COMPILER_TEST_DIR}/test_verify.c
  ${CMAKE_SOURCE_DIR}/compiler/graph.c ${CMAKE_SOURCE_DIR}/compiler/arena.c
  ${CMAKE_SOURCE_DIR}/compiler/diag.c ${CMAKE_SOURCE_DIR}/compiler/verify.c ${CMAKE_SOURCE_DIR}/compiler/ops_ew.c)
target_include_directories(dlc_test_verify PRIVATE ${CMAKE_SOURCE_DIR}/compiler)
target_compile_options(dlc_test_verify PRIVATE ${DLC_WARN})
target_compile_definitions(dlc_test_verify PRIVATE _POSIX_C_SOURCE=200809L)
target_link_libraries(dlc_test_verify PRIVATE m)
add_test(NAME compiler.verify COMMAND dlc_test_verify)
set_tests_properties(compiler.verify PROPERTIES LABELS quick TIMEOUT 60)

# Mutation testing (tests/mutate.py) runs by hand, for hours; here only its cheap self-test: the
# list of mutations is generated from the sources, every one applies exactly once to this tree
# and every mutated file compiles (-fsyntax-only), so the list cannot go stale unseen.
if(SYSTEM_PYTHON)
  add_test(NAME compiler.mutate_check COMMAND ${SYSTEM_PYTHON} ${CMAKE_SOURCE_DIR}/tests/mutate.py --check
           --cc ${CMAKE_C_COMPILER})
  set_tests_properties(compiler.mutate_check PROPERTIES LABELS quick TIMEOUT 120)
endif()
