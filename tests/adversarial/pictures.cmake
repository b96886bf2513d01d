# scripts/adversarial_pictures.sh: fgsm_lenet.dl trained 100 steps, its
# clean and FGSM test images drawn as a PNG of the expected size (7 s of CPU:
# compiling the C at -O1 takes most of it).
add_test(NAME adv.pictures COMMAND ${SYSTEM_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/pictures_test.py
         --dlc $<TARGET_FILE:dlc> --workdir ${CMAKE_BINARY_DIR}/tests/adversarial/pictures)
set_tests_properties(adv.pictures PROPERTIES LABELS "e2e;slow" SKIP_RETURN_CODE 77 TIMEOUT 120)
