# exit: 1
--check no_such_model.dl
