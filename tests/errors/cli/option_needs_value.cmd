# exit: 2
model.dl -o
