# Adversarial examples (examples/fgsm_lenet.dl, advtrain_lenet.dl): `hyper`
# and --set, FGSM and PGD-10 accuracies against PyTorch on the same
# parameters, and short trainings with bounds.
add_test(NAME adv.flags COMMAND ${SYSTEM_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/adv_test.py flags
         --dlc $<TARGET_FILE:dlc> --workdir ${CMAKE_BINARY_DIR}/tests/adversarial/flags)
set_tests_properties(adv.flags PROPERTIES LABELS "e2e;quick" TIMEOUT 120)
add_test(NAME adv.torch COMMAND ${SYSTEM_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/adv_test.py torch
         --dlc $<TARGET_FILE:dlc> --workdir ${CMAKE_BINARY_DIR}/tests/adversarial/torch)
set_tests_properties(adv.torch PROPERTIES LABELS "torch;e2e;slow" SKIP_RETURN_CODE 77 TIMEOUT 600)
add_test(NAME adv.train COMMAND ${SYSTEM_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/adv_test.py train
         --dlc $<TARGET_FILE:dlc> --workdir ${CMAKE_BINARY_DIR}/tests/adversarial/train)
set_tests_properties(adv.train PROPERTIES LABELS "e2e;slow" SKIP_RETURN_CODE 77 TIMEOUT 600)
if(DLC_REQUIRE_TORCH)
  set_tests_properties(adv.torch PROPERTIES ENVIRONMENT DLC_REQUIRE_TORCH=1)
endif()
# scripts/adversarial_pictures.sh: fgsm_lenet.dl trained 100 steps, its
# clean and FGSM test images drawn as a PNG of the expected size (7 s of CPU:
# compiling the C at -O1 takes most of it).
add_test(NAME adv.pictures COMMAND ${SYSTEM_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/pictures_test.py
         --dlc $<TARGET_FILE:dlc> --workdir ${CMAKE_BINARY_DIR}/tests/adversarial/pictures)
set_tests_properties(adv.pictures PROPERTIES LABELS "e2e;slow" SKIP_RETURN_CODE 77 TIMEOUT 120)
# Step clauses and spectral_norm (gan_test.py): 10 GAN rounds and three
# spectral-norm steps against PyTorch, and the same bits across threads and
# optimization levels.
foreach(what rounds sn)
  add_test(NAME adv.gan_${what} COMMAND ${SYSTEM_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/gan_test.py ${what}
           --dlc $<TARGET_FILE:dlc> --workdir ${CMAKE_BINARY_DIR}/tests/adversarial/gan_${what})
  set_tests_properties(adv.gan_${what} PROPERTIES LABELS "torch;quick" SKIP_RETURN_CODE 77 TIMEOUT 300)
  if(DLC_REQUIRE_TORCH)
    set_tests_properties(adv.gan_${what} PROPERTIES ENVIRONMENT DLC_REQUIRE_TORCH=1)
  endif()
endforeach()
add_test(NAME adv.gan_equal COMMAND ${SYSTEM_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/gan_test.py equal
         --dlc $<TARGET_FILE:dlc> --workdir ${CMAKE_BINARY_DIR}/tests/adversarial/gan_equal)
set_tests_properties(adv.gan_equal PROPERTIES LABELS "opt;slow" TIMEOUT 600)
# scripts/gan_pictures.sh: gan_moons.dl and cgan_moons.dl drawn after 5 and 10
# epochs, a PNG of two panels each, and the chunked training's checkpoint equal
# to one run's (about 4 s of CPU, most of it compiling the C at -O1).
add_test(NAME adv.gan_pictures COMMAND ${SYSTEM_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/gan_pictures_test.py
         --dlc $<TARGET_FILE:dlc> --workdir ${CMAKE_BINARY_DIR}/tests/adversarial/gan_pictures)
set_tests_properties(adv.gan_pictures PROPERTIES LABELS "e2e;slow" SKIP_RETURN_CODE 77 TIMEOUT 120)
# The GAN's full training (300 epochs of 5,000 points, 20 s at one thread),
# scored with bench/gan_metrics.py.
add_test(NAME adv.gan_train COMMAND ${SYSTEM_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/gan_test.py train
         --dlc $<TARGET_FILE:dlc> --workdir ${CMAKE_BINARY_DIR}/tests/adversarial/gan_train)
set_tests_properties(adv.gan_train PROPERTIES LABELS "e2e;slow" TIMEOUT 900)
# examples/dcgan_fmnist.dl: three rounds against PyTorch (f64, batch 4), and
# 20 training steps with samples of the right shape and range.
add_test(NAME adv.dcgan_rounds COMMAND ${SYSTEM_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/dcgan_test.py rounds
         --dlc $<TARGET_FILE:dlc> --workdir ${CMAKE_BINARY_DIR}/tests/adversarial/dcgan_rounds)
set_tests_properties(adv.dcgan_rounds PROPERTIES LABELS "torch;gradcheck;quick" SKIP_RETURN_CODE 77 TIMEOUT 120)
add_test(NAME adv.dcgan_train COMMAND ${SYSTEM_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/dcgan_test.py train
         --dlc $<TARGET_FILE:dlc> --workdir ${CMAKE_BINARY_DIR}/tests/adversarial/dcgan_train)
set_tests_properties(adv.dcgan_train PROPERTIES LABELS "e2e;quick" SKIP_RETURN_CODE 77 TIMEOUT 120)
if(DLC_REQUIRE_TORCH)
  set_tests_properties(adv.dcgan_rounds PROPERTIES ENVIRONMENT DLC_REQUIRE_TORCH=1)
endif()
