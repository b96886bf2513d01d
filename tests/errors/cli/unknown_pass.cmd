# exit: 2
-fno-vectorize model.dl
