# exit: 1
# setup: printf 'dim B = 4\000\n' >nul.dl
--check nul.dl
