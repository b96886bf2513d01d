# The chapter-2 teaching tools (tests/teach/teach.sh): programs without data,
# --trace, --dot values and gradients, --grad numeric, --grad-sweep, the
# expression-swell line of --stats.
foreach(c fxyz_dot fxyz_steps rosenbrock grad_numeric grad_sweep swell)
  add_test(NAME teach.${c} COMMAND sh ${CMAKE_CURRENT_LIST_DIR}/teach.sh $<TARGET_FILE:dlc>
           ${CMAKE_BINARY_DIR}/tests/teach ${c})
  set_tests_properties(teach.${c} PROPERTIES LABELS quick)
endforeach()
