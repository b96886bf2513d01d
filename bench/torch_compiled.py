#!/usr/bin/env python3
"""W-MLP and W-LeNet through torch.compile (PyTorch 2): the models of
torch_mlp.py and torch_lenet.py, wrapped by torch.compile and run by the
same loop (fmnist_common.run).  The compiled module is warmed up on both
batch sizes (64 and the last, 32) before the timed loop, as a user's second
epoch would find it.  Prints one JSON line.

PyTorch 2 installs from PyPI into a virtual environment, for the benchmark
only (bench/README.md, "Modern anchors"):

usage: VENV/bin/python torch_compiled.py mlp|lenet [--threads N] [--epochs E] [--seed S]
"""
import sys

which = sys.argv.pop(1) if len(sys.argv) > 1 and sys.argv[1] in ("mlp", "lenet") else None
if which is None:
    sys.exit("usage: torch_compiled.py mlp|lenet [fmnist_common flags]")

import fmnist_common  # noqa: E402  (sets the thread environment before torch loads)
from fmnist_common import torch  # noqa: E402

if which == "mlp":
    from torch_mlp import make_model
    shape, desc = (784,), "W-MLP"
else:
    from torch_lenet import make_model
    shape, desc = (1, 28, 28), "W-LeNet"


def compiled_model():
    model = torch.compile(make_model())
    # compile ahead: the full batch and the last partial one, forward and backward
    for b in (64, 32):
        model(torch.zeros((b,) + shape)).sum().backward()
    model.zero_grad(set_to_none=True)
    return model


if __name__ == "__main__":
    real_print = print

    def relabel(*a, **k):
        # the JSON line says which system ran
        if a and isinstance(a[0], str) and a[0].startswith("{"):
            a = (a[0].replace("-eager\"", "-compile\"", 1),) + a[1:]
        real_print(*a, **k)

    fmnist_common.print = relabel
    fmnist_common.run(compiled_model, shape, desc)
