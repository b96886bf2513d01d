# exit: 2
--target=x86 model.dl
