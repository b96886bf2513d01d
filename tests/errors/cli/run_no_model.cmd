# exit: 2
run --check --epochs 1
