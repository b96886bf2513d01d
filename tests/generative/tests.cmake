# The generative examples (autoencoders, VAE): short training runs with a
# bound on the test loss, and the VAE's gradients against PyTorch.
foreach(m ae dae vae)
  add_test(NAME gen.train_${m} COMMAND ${SYSTEM_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/train_short.py ${m}
           --dlc $<TARGET_FILE:dlc> --workdir ${CMAKE_BINARY_DIR}/tests/generative/train_${m})
  set_tests_properties(gen.train_${m} PROPERTIES LABELS "e2e;quick" SKIP_RETURN_CODE 77 TIMEOUT 300)
endforeach()
add_test(NAME gen.vae_grads COMMAND ${SYSTEM_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/vae_grads.py
         --dlc $<TARGET_FILE:dlc> --workdir ${CMAKE_BINARY_DIR}/tests/generative/vae_grads)
set_tests_properties(gen.vae_grads PROPERTIES LABELS "torch;gradcheck;quick" SKIP_RETURN_CODE 77 TIMEOUT 120)
if(DLC_REQUIRE_TORCH)
  set_tests_properties(gen.vae_grads PROPERTIES ENVIRONMENT DLC_REQUIRE_TORCH=1)
endif()
