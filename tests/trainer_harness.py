"""The helpers of the Python tests that compile programs with dlc and run their trainers
(tests/hist, tests/parens, tests/seq2seq, tests/data): configure() once with the dlc binary, the
working directory and a time limit per command; then fail, run and build."""
import os
import subprocess
import sys

_dlc, _workdir, _timeout = None, None, 300


def configure(dlc, workdir, timeout=300):
    global _dlc, _workdir, _timeout
    _dlc, _workdir, _timeout = dlc, workdir, timeout


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def run(cmd, expect_rc=0):
    """cmd in the working directory, its output echoed; fails unless it exits expect_rc."""
    print("$ " + " ".join(cmd))
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                       cwd=_workdir, timeout=_timeout)
    sys.stdout.write(p.stdout)
    if p.returncode != expect_rc:
        fail("exit status %d, expected %d" % (p.returncode, expect_rc))
    return p.stdout


def build(src, name):
    """The program src written to NAME.dl and compiled to the trainer NAME; its path."""
    path = os.path.join(_workdir, name + ".dl")
    with open(path, "w") as f:
        f.write(src)
    exe = os.path.join(_workdir, name)
    run([_dlc, path, "-o", exe])
    return exe
