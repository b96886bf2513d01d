# exit: 1
run --cc ./garbage_cc.sh model.dl
