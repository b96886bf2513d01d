# exit: 2
--dtype f16 model.dl
