# exit: 2
-D B model.dl
