# Semantic-error goldens: every tests/errors/NAME.dl must fail (exit 1) with
# exactly the messages in NAME.err.  UPDATE_GOLDEN=1 ctest -R '^errors\.'
# rewrites them (review the diff).
file(GLOB dlc_error_cases CONFIGURE_DEPENDS ${CMAKE_CURRENT_LIST_DIR}/*.dl)
foreach(dlc_case ${dlc_error_cases})
  get_filename_component(dlc_case_name ${dlc_case} NAME_WE)
  add_test(NAME errors.${dlc_case_name}
    COMMAND sh ${CMAKE_CURRENT_LIST_DIR}/../golden.sh $<TARGET_FILE:dlc> err ${dlc_case})
  set_tests_properties(errors.${dlc_case_name} PROPERTIES LABELS quick)
endforeach()

# Command-line goldens: each cli/NAME.cmd runs dlc with its arguments (usage
# errors, files it cannot read or write, C compilers that fail) and its
# stderr must equal cli/NAME.err; UPDATE_GOLDEN=1 ctest -R '^errors\.cli\.'
# rewrites them.
file(GLOB dlc_cli_cases CONFIGURE_DEPENDS ${CMAKE_CURRENT_LIST_DIR}/cli/*.cmd)
foreach(dlc_case ${dlc_cli_cases})
  get_filename_component(dlc_case_name ${dlc_case} NAME_WE)
  add_test(NAME errors.cli.${dlc_case_name}
    COMMAND sh ${CMAKE_CURRENT_LIST_DIR}/cli.sh $<TARGET_FILE:dlc> ${dlc_case_name})
  set_tests_properties(errors.cli.${dlc_case_name} PROPERTIES LABELS quick TIMEOUT 60)
endforeach()

# Every message the front end and the driver can print has a golden above
# (or in tests/frontend): tests/diag_coverage.py lists the uncovered ones.
add_test(NAME errors.coverage COMMAND ${SYSTEM_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/../diag_coverage.py
         --root ${CMAKE_SOURCE_DIR})
set_tests_properties(errors.coverage PROPERTIES LABELS quick)
