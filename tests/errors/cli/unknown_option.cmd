# exit: 2
--frobnicate model.dl
