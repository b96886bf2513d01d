# exit: 1
--check .
