# exit: 1
--cc false -o model model.dl
