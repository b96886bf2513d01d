# exit: 1
# setup: mkdir model.c
-o model.c model.dl
