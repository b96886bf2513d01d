# exit: 2
--check
