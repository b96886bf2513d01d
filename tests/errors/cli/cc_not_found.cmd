# exit: 1
--cc ./no_such_cc -o model model.dl
