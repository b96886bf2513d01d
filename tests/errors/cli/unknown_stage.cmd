# exit: 2
--emit=tokens model.dl
