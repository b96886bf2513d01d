# Hostile names and text: C injection through strings, the model's path and a
# user environment's path; reserved prefixes; names the emitter makes; and every
# C keyword and C library name as a DSL name (hostile_names.names: AOT and JIT
# over about 1,700 names, a few minutes).
set(HOSTILE_NAMES ${CMAKE_CURRENT_LIST_DIR}/hostile_names.py)
foreach(t trigraph path envpath prefix clash names)
  add_test(NAME hostile_names.${t} COMMAND ${SYSTEM_PYTHON} ${HOSTILE_NAMES} ${t} --dlc $<TARGET_FILE:dlc>
           --workdir ${CMAKE_BINARY_DIR}/tests/hostile_names/${t} --runtime ${CMAKE_SOURCE_DIR}/runtime)
  if(t STREQUAL "names")
    set_tests_properties(hostile_names.${t} PROPERTIES LABELS "slow" TIMEOUT 900)
  else()
    set_tests_properties(hostile_names.${t} PROPERTIES LABELS "quick" TIMEOUT 300)
  endif()
endforeach()
