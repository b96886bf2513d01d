# exit: 1
run --cc ./empty_cc.sh model.dl
