#!/usr/bin/env python3
"""The user environment of docs/rl-environments.md compiles, links and behaves.

usage: doc_example_test.py --doc MD --runtime DIR --dlrt LIBDLRT [--cc CC] --workdir DIR
                           [--sanitize FLAGS]

The one C block of the document that defines dlrt_user_env (a random walk
on cells 0..6) is written out and compiled with CC -std=c11 -Wall -Wextra
-Werror -pedantic -c -I RUNTIME, then linked with tests/rl/user_env_main.c
and libdlrt.  The program's info must be 7 states and 2 actions; a map and a
slip of 0.6 are refused with the example's messages.  With slip 0.25 and
gamma 1 value iteration must give the gambler's-ruin probabilities
(1 - (1/3)^i) / (1 - (1/3)^6) of reaching cell 6 by always stepping right
(1e-12), a greedy "right" in every inner cell, and 4,000 episodes of that
policy (seeds 1..4000) a mean return within 4 standard errors of V(3); the
same seed twice gives the same episode.
"""
import argparse
import os
import re
import subprocess

HERE = os.path.dirname(os.path.abspath(__file__))


def run(cmd, code=0):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != code:
        print(r.stdout + r.stderr)
        raise SystemExit("FAIL: %s exited with %d, expected %d" % (" ".join(cmd), r.returncode, code))
    return r.stdout


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--doc", required=True)
    ap.add_argument("--runtime", required=True)
    ap.add_argument("--dlrt", required=True)
    ap.add_argument("--cc", default="cc")
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--sanitize", default="", help="the flags libdlrt was built with under sanitizers")
    args = ap.parse_args()
    os.makedirs(args.workdir, exist_ok=True)

    with open(args.doc) as f:
        blocks = re.findall(r"^```c\n(.*?)^```$", f.read(), re.S | re.M)
    user = [b for b in blocks if "dlrt_user_env =" in b]
    if len(user) != 1:
        raise SystemExit("FAIL: %d C blocks of %s define dlrt_user_env, expected 1" % (len(user), args.doc))
    src = os.path.join(args.workdir, "walk.c")
    with open(src, "w") as f:
        f.write(user[0])
    obj = os.path.join(args.workdir, "walk.o")
    flags = ["-std=c11", "-Wall", "-Wextra", "-Werror", "-pedantic"]
    run([args.cc] + flags + args.sanitize.split() + ["-c", "-I", args.runtime, src, "-o", obj])
    exe = os.path.join(args.workdir, "walk")
    run([args.cc] + flags + args.sanitize.split() + ["-I", args.runtime, os.path.join(HERE, "user_env_main.c"), obj, args.dlrt,
                             "-lz", "-lpthread", "-lm", "-o", exe])
    print("the example compiles with %s %s -c and links with libdlrt" % (args.cc, " ".join(flags)))

    out = run([exe, "create", "-", "0.25"])
    if "class walk obs_size 1 obs_states 7 nactions 2 max_steps 100" not in out:
        raise SystemExit("FAIL: info: %s" % out)
    for m, slip, msg in (("S..G", "0", "walk takes no map"), ("-", "0.6", "walk: slip must be in [0, 0.5), got 0.6")):
        out = run([exe, "create", m, slip], code=1)
        if out.strip() != "error: " + msg:
            raise SystemExit("FAIL: map %s slip %s: %r" % (m, slip, out))

    V, greedy, res = {}, {}, None
    for line in run([exe, "run", "0.25", "1", "4000", "1"]).splitlines():
        f = line.split()
        if f[0] == "V":
            V[int(f[1])] = float(f[2])
        elif f[0] == "greedy":
            greedy[int(f[1])] = [int(a) for a in f[2:]]
        elif f[0] == "episodes":
            res = (int(f[1]), float(f[3]), int(f[5]))
        elif f[0] == "repeat" and f[1] != "same":
            raise SystemExit("FAIL: the same seed gave another episode")
    r = 1.0 / 3.0
    want = [0.0] + [(1 - r ** i) / (1 - r ** 6) for i in range(1, 6)] + [0.0]
    got = [V[s] for s in range(7)]
    if max(abs(x - y) for x, y in zip(got, want)) > 1e-12:
        raise SystemExit("FAIL: V %s, expected %s" % (got, want))
    if any(greedy[s] != [1] for s in range(1, 6)):
        raise SystemExit("FAIL: greedy %s" % greedy)
    n, total, steps = res
    p = want[3]
    se = (p * (1 - p) / n) ** 0.5
    if abs(total / n - p) > 4 * se:
        raise SystemExit("FAIL: mean return %.4f over %d episodes, V(3) = %.4f" % (total / n, n, p))
    print("walk: V = %s as the gambler's ruin says; %d episodes: mean return %.4f (V(3) %.4f), %.2f steps"
          % (" ".join("%.6f" % v for v in got), n, total / n, p, steps / n))
    print("PASS")


if __name__ == "__main__":
    main()
