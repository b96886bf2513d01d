#!/usr/bin/env python3
"""Regenerate the small datasets of the linear and logistic regression examples.

linreg.csv: 200 rows "x1,x2,x3,t" with t = 2 x1 - 3 x2 + 0.5 x3 + 1 + noise(0.1).
logreg.csv: 200 rows "x1,x2,t" with t = 1 when 1.5 x1 - 2 x2 + 0.25 + noise > 0, else 0.
Uses only the standard library so the files can be rebuilt anywhere.
"""
import os
import random

here = os.path.dirname(os.path.abspath(__file__))
rng = random.Random(20261127)

with open(os.path.join(here, "linreg.csv"), "w") as f:
    f.write("x1,x2,x3,t\n")
    for _ in range(200):
        x = [rng.uniform(-1, 1) for _ in range(3)]
        t = 2 * x[0] - 3 * x[1] + 0.5 * x[2] + 1 + rng.gauss(0, 0.1)
        f.write(",".join("%.6f" % v for v in x + [t]) + "\n")

with open(os.path.join(here, "logreg.csv"), "w") as f:
    f.write("x1,x2,t\n")
    for _ in range(200):
        x = [rng.gauss(0, 1) for _ in range(2)]
        t = 1 if 1.5 * x[0] - 2 * x[1] + 0.25 + rng.gauss(0, 0.5) > 0 else 0
        f.write("%.6f,%.6f,%d\n" % (x[0], x[1], t))
