# Front-end golden tests: every tests/frontend/syntax/NAME.dl must fail with
# exactly the messages in NAME.err; every tests/frontend/ast/NAME.dl must
# parse, and its --emit=ast dump must equal NAME.ast.  New cases are picked
# up when the build re-runs CMake.  To rewrite the goldens after a deliberate
# change:  UPDATE_GOLDEN=1 ctest -R '^frontend\.'  (then review the diff).
file(GLOB dlc_frontend_syntax_cases CONFIGURE_DEPENDS ${CMAKE_CURRENT_LIST_DIR}/syntax/*.dl)
foreach(dlc_case ${dlc_frontend_syntax_cases})
  get_filename_component(dlc_case_name ${dlc_case} NAME_WE)
  add_test(NAME frontend.syntax.${dlc_case_name}
    COMMAND sh ${CMAKE_CURRENT_LIST_DIR}/../golden.sh $<TARGET_FILE:dlc> err ${dlc_case})
  set_tests_properties(frontend.syntax.${dlc_case_name} PROPERTIES LABELS quick)
endforeach()

file(GLOB dlc_frontend_ast_cases CONFIGURE_DEPENDS ${CMAKE_CURRENT_LIST_DIR}/ast/*.dl)
foreach(dlc_case ${dlc_frontend_ast_cases})
  get_filename_component(dlc_case_name ${dlc_case} NAME_WE)
  add_test(NAME frontend.ast.${dlc_case_name}
    COMMAND sh ${CMAKE_CURRENT_LIST_DIR}/../golden.sh $<TARGET_FILE:dlc> ast ${dlc_case})
  set_tests_properties(frontend.ast.${dlc_case_name} PROPERTIES LABELS quick)
endforeach()
