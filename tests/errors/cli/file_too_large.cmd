# exit: 1
# setup: truncate -s 600M huge.dl
--check huge.dl
