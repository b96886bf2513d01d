# exit: 2
-D B=2000000000000 model.dl
