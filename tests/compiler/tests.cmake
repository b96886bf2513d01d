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
