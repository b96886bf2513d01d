# exit: 1
-o no_such_dir/model.c model.dl
