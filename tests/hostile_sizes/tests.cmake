# Hostile sizes: element counts and dims past their limits, -D values out of
# range, and inlining that multiplies (error goldens: tests/errors/hostile_*.dl).
foreach(dlc_case define inline)
  add_test(NAME hostile_sizes.${dlc_case}
    COMMAND sh ${CMAKE_CURRENT_LIST_DIR}/check.sh $<TARGET_FILE:dlc> ${dlc_case})
  set_tests_properties(hostile_sizes.${dlc_case} PROPERTIES LABELS quick TIMEOUT 60)
endforeach()
