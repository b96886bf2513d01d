# exit: 1
run --cc false model.dl
