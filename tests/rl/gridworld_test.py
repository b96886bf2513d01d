#!/usr/bin/env python3
"""The gridworld of runtime/env.c and dlrt_value_iteration, through env_check.

usage: gridworld_test.py moves|slip|outcomes|vi|frozenlake|errors --env-check ENV_CHECK

moves       without slip: moves, walls, edges, a hole (reward 0) and a goal
            (reward 1) ending the episode, checked by hand on one map and
            against this file's own model of the rules over 50 random action
            sequences on three maps; the default map's info (FrozenLake 4x4:
            16 states, 4 actions, 100 steps) and max_steps overriding it.
slip        an open 21x21 map walked with 20,000 random actions at slip 0.3
            and 2/3 (seed 5): on cells with four free neighbours the move
            goes the action's way with probability 1 - slip and to each
            perpendicular side with slip / 2, never backwards (each within 4
            standard errors); the same seed gives the same walk, another seed
            another one.
outcomes    every state and action of three maps at slips 0, 0.2 and 2/3:
            the outcomes equal this file's model (next states merged where
            two directions end in the same cell, probabilities summing to 1),
            none from goals, holes and walls.
vi          value iteration on maps whose values are known by hand: the
            corridor S..G at gamma 0.9 (V = 0.81, 0.9, 1, 0; the greedy
            action right), a tie between two goals, a hole next to the start,
            a wall to go around; and a 5x5 map with slip 0.2 against this
            file's own value iteration (1e-9).
frozenlake  the default map with slip 2/3 and gamma 0.99 against this file's
            value iteration (V, Q to 1e-9 and the same greedy actions); the
            start's value is printed (0.542).
errors      bad maps and slips are refused with messages naming the problem.
"""
import argparse
import random
import subprocess

FROZENLAKE = "S.../.H.H/...H/H..G"
DR = (0, 1, 0, -1)  # 0 left, 1 down, 2 right, 3 up
DC = (-1, 0, 1, 0)


def run(cmd, code=0):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != code:
        print(r.stdout + r.stderr)
        raise SystemExit("FAIL: %s exited with %d, expected %d" % (" ".join(cmd[:6]), r.returncode, code))
    return r.stdout


class Grid:
    """The gridworld's rules, written again from its definition."""

    def __init__(self, m, slip=0.0):
        self.rows = m.split("/")
        self.nr, self.nc = len(self.rows), len(self.rows[0])
        self.cells = "".join(self.rows)
        self.start = self.cells.index("S")
        self.slip = slip

    def move(self, s, a):
        r, c = divmod(s, self.nc)
        r, c = r + DR[a], c + DC[a]
        if 0 <= r < self.nr and 0 <= c < self.nc and self.cells[r * self.nc + c] != "#":
            return r * self.nc + c
        return s

    def terminal(self, s):
        return self.cells[s] in "GH"

    def outcomes(self, s, a):
        """{next: prob} and the rewards, for a non-terminal free cell."""
        if self.terminal(s) or self.cells[s] == "#":
            return {}
        out = {}
        for d, p in (((a + 3) % 4, self.slip / 2), (a, 1 - self.slip), ((a + 1) % 4, self.slip / 2)):
            if p > 0:
                n = self.move(s, d)
                out[n] = out.get(n, 0.0) + p
        return out

    def value_iteration(self, gamma, tol=1e-14):
        S = len(self.cells)
        V = [0.0] * S
        while True:
            Q = [[sum(p * ((1.0 if self.cells[n] == "G" else 0.0) + (0 if self.terminal(n) else gamma * V[n]))
                      for n, p in self.outcomes(s, a).items()) for a in range(4)] for s in range(S)]
            newV = [max(q) for q in Q]
            delta = max(abs(x - y) for x, y in zip(newV, V))
            V = newV
            if delta <= tol:
                return V, Q


def episode(ec, m, slip, seed, actions):
    """(info, start, [(action, state, reward, terminated)])."""
    info, start, steps = None, None, []
    out = run([ec, "gridworld", m, repr(slip), str(seed)] + [str(a) for a in actions])
    for line in out.splitlines():
        f = line.split()
        if f[0] == "info":
            info = dict(zip(f[1::2], (float(v) for v in f[2::2])))
        elif f[0] == "reset":
            start = int(float(f[1]))
        elif f[0] == "step":
            steps.append((int(f[1]), int(float(f[2])), float(f[3]), int(f[4])))
    return info, start, steps


def vi(ec, m, slip, gamma):
    """env_check vi: (sweeps, V, Q, greedy sets)."""
    V, Q, greedy, sweeps = {}, {}, {}, None
    for line in run([ec, "vi", m, repr(slip), repr(gamma)]).splitlines():
        f = line.split()
        if f[0] == "sweeps":
            sweeps = int(f[1])
        elif f[0] == "V":
            V[int(f[1])] = float(f[2])
        elif f[0] == "Q":
            Q[int(f[1])] = [float(v) for v in f[2:]]
        elif f[0] == "greedy":
            greedy[int(f[1])] = set(int(a) for a in f[2:])
    n = len(V)
    return sweeps, [V[s] for s in range(n)], [Q[s] for s in range(n)], [greedy[s] for s in range(n)]


def check_moves(ec):
    m = "S.#./...H/#..G"  # 3x4: a wall right of 1, a hole at 7, a wall at 8, the goal at 11
    # (actions, expected states after each, final reward, terminated)
    cases = [
        ([0, 3, 2, 2, 1, 1, 0, 2, 2], [0, 0, 1, 1, 5, 9, 9, 10, 11], 1.0),  # edges, walls, the goal
        ([1, 2, 2, 2], [4, 5, 6, 7], 0.0),                                  # into the hole
        ([2, 1, 3, 0, 1, 1, 1], [1, 5, 1, 0, 4, 4, 4], None),               # the wall at 8 from above
    ]
    for actions, want, final in cases:
        _, start, steps = episode(ec, m, 0.0, 1, actions)
        got = [s for _, s, _, _ in steps]
        if start != 0 or got != want:
            raise SystemExit("FAIL: %s from %d: states %s, expected %s" % (actions, start, got, want))
        for i, (_, s, r, t) in enumerate(steps):
            last = i == len(steps) - 1
            if final is not None and last:
                if t != 1 or r != final:
                    raise SystemExit("FAIL: %s: the last step gave reward %g terminated %d" % (actions, r, t))
            elif t or r:
                raise SystemExit("FAIL: %s step %d: reward %g terminated %d" % (actions, i, r, t))
    # against the model: random actions, three maps, no slip
    maps = [m, FROZENLAKE, "..#..G/.S#.../...#H./#....."]
    n = 0
    for k in range(50):
        mp = maps[k % 3]
        g, rng = Grid(mp), random.Random(k)
        actions = [rng.randrange(4) for _ in range(60)]
        _, start, steps = episode(ec, mp, 0.0, k, actions)
        s = g.start
        if start != s:
            raise SystemExit("FAIL: %s: reset to %d, expected %d" % (mp, start, s))
        for i, (a, got, r, t) in enumerate(steps):
            s = g.move(s, a)
            want = (s, 1.0 if g.cells[s] == "G" else 0.0, int(g.terminal(s)))
            if (got, r, t) != want:
                raise SystemExit("FAIL: %s sequence %d step %d: %s, expected %s" % (mp, k, i, (got, r, t), want))
            n += 1
            if t:
                break
        if not steps[-1][3] and len(steps) != len(actions):
            raise SystemExit("FAIL: %s sequence %d stopped early" % (mp, k))
    info = episode(ec, "-", 0.0, 0, [])[0]
    want = {"obs_size": 1, "obs_states": 16, "nactions": 4, "max_steps": 100, "reward_threshold": 0}
    if info != want:
        raise SystemExit("FAIL: default info %s, expected %s" % (info, want))
    out = run([ec, "create", "gridworld", "map=S..G", "max_steps=7"])
    if "obs_states 4 " not in out or "max_steps 7 " not in out:
        raise SystemExit("FAIL: map=S..G max_steps=7: %s" % out)
    print("moves: 3 hand-checked walks and %d steps of 50 random walks as the model says; info as expected" % n)


def check_slip(ec):
    size = 21
    rows = [["."] * size for _ in range(size)]
    rows[0][0], rows[0][1], rows[1][0] = "G", "#", "#"  # a goal walled off: the walk never ends
    rows[size // 2][size // 2] = "S"
    m = "/".join("".join(r) for r in rows)
    g = Grid(m)
    rng = random.Random(3)
    actions = [rng.randrange(4) for _ in range(20000)]
    for slip in (0.3, 2.0 / 3.0):
        _, start, steps = episode(ec, m, slip, 5, actions)
        if len(steps) != len(actions):
            raise SystemExit("FAIL: slip %g: %d steps of %d" % (slip, len(steps), len(actions)))
        counts, s, n = [0, 0, 0, 0], start, 0  # the action's way, (a+3)%4, (a+1)%4, backwards
        for a, nxt, r, t in steps:
            moved = {g.move(s, d): d for d in range(4)}
            if len(moved) == 4 and s not in moved:  # four free neighbours
                d = moved.get(nxt)
                if d is None:
                    raise SystemExit("FAIL: slip %g: %d to %d is no move" % (slip, s, nxt))
                counts[[a, (a + 3) % 4, (a + 1) % 4, (a + 2) % 4].index(d)] += 1
                n += 1
            s = nxt
        want = [1 - slip, slip / 2, slip / 2, 0.0]
        for k in range(4):
            p = want[k]
            se = (p * (1 - p) / n) ** 0.5
            if abs(counts[k] / n - p) > 4 * se + (0 if p > 0 else 1e-12):
                raise SystemExit("FAIL: slip %g: frequencies %s of %d, expected %s" % (slip, counts, n, want))
        print("slip %.4f: %d interior moves: %s (expected %s)" %
              (slip, n, " ".join("%.4f" % (c / n) for c in counts), " ".join("%.4f" % p for p in want)))
    a = episode(ec, m, 0.3, 5, actions[:300])[2]
    b = episode(ec, m, 0.3, 5, actions[:300])[2]
    c = episode(ec, m, 0.3, 6, actions[:300])[2]
    if a != b or a == c:
        raise SystemExit("FAIL: the same seed should give the same walk, another seed another one")
    print("slip: seed 5 twice the same walk, seed 6 another")


def check_outcomes(ec):
    n = 0
    for m in ("S.#./...H/#..G", FROZENLAKE, "S/./G", "G#S"):
        for slip in (0.0, 0.2, 2.0 / 3.0):
            g = Grid(m, slip)
            for s in range(len(g.cells)):
                for a in range(4):
                    lines = run([ec, "outcomes", m, repr(slip), str(s), str(a)]).splitlines()
                    got = {}
                    for line in lines[1:]:
                        f = line.split()
                        nxt = int(f[1])
                        if nxt in got:
                            raise SystemExit("FAIL: %s state %d action %d: %d listed twice" % (m, s, a, nxt))
                        got[nxt] = (float(f[2]), float(f[3]), int(f[4]))
                    want = g.outcomes(s, a)
                    if set(got) != set(want):
                        raise SystemExit("FAIL: %s slip %g state %d action %d: next states %s, expected %s" %
                                         (m, slip, s, a, sorted(got), sorted(want)))
                    for nxt, (p, r, t) in got.items():
                        if abs(p - want[nxt]) > 1e-15 or r != (1.0 if g.cells[nxt] == "G" else 0.0) \
                                or t != int(g.terminal(nxt)):
                            raise SystemExit("FAIL: %s slip %g state %d action %d: %d has %s" %
                                             (m, slip, s, a, nxt, (p, r, t)))
                    if got and abs(sum(p for p, _, _ in got.values()) - 1) > 1e-15:
                        raise SystemExit("FAIL: %s state %d action %d: probabilities sum to %r" % (m, s, a, got))
                    n += 1
    print("outcomes: %d (map, slip, state, action) as the model says" % n)


def expect_vi(ec, m, gamma, V, greedy, slip=0.0):
    _, gv, _, gg = vi(ec, m, slip, gamma)
    if max(abs(x - y) for x, y in zip(gv, V)) > 1e-12 or len(gv) != len(V):
        raise SystemExit("FAIL: %s gamma %g: V %s, expected %s" % (m, gamma, gv, V))
    for s, want in greedy.items():
        if gg[s] != want:
            raise SystemExit("FAIL: %s gamma %g: greedy at %d %s, expected %s" % (m, gamma, s, gg[s], want))


def check_vi(ec):
    expect_vi(ec, "S..G", 0.9, [0.81, 0.9, 1.0, 0.0], {0: {2}, 1: {2}, 2: {2}, 3: {0, 1, 2, 3}})
    # two goals at the same distance: left and right tie at the start
    expect_vi(ec, "G.S.G", 0.9, [0, 1.0, 0.9, 1.0, 0], {1: {0}, 2: {0, 2}, 3: {2}})
    # a hole to the left of the start is worth 0 and ends the episode
    expect_vi(ec, "HS.G", 0.5, [0, 0.5, 1.0, 0], {1: {2}, 2: {2}})
    # a wall in the way: around it (S at 0, # at 1, goal at 2; the path 0 3 4 5 2)
    expect_vi(ec, "S#G/...", 0.9, [0.9 ** 3, 0, 0, 0.9 ** 2, 0.9, 1.0],
              {0: {1}, 3: {2}, 4: {2}, 5: {3}})
    m = "S...#/.#.H./..H../#...G/...H."
    g = Grid(m, 0.2)
    V, Q = g.value_iteration(0.95)
    sweeps, cv, cq, cg = vi(ec, m, 0.2, 0.95)
    err = max(max(abs(x - y) for x, y in zip(cv, V)),
              max(abs(x - y) for qa, qb in zip(cq, Q) for x, y in zip(qa, qb)))
    if err > 1e-9:
        raise SystemExit("FAIL: %s slip 0.2: V %s, expected %s" % (m, cv, V))
    print("vi: four hand-worked maps exact; %s slip 0.2 gamma 0.95 to %.2g of the model's (%d sweeps)" %
          (m, err, sweeps))


def check_frozenlake(ec):
    g = Grid(FROZENLAKE, 2.0 / 3.0)
    V, Q = g.value_iteration(0.99)
    sweeps, cv, cq, cg = vi(ec, "-", 2.0 / 3.0, 0.99)
    err = max(max(abs(x - y) for x, y in zip(cv, V)),
              max(abs(x - y) for qa, qb in zip(cq, Q) for x, y in zip(qa, qb)))
    if err > 1e-9:
        raise SystemExit("FAIL: FrozenLake: V %s, expected %s" % (cv, V))
    greedy = [set(a for a in range(4) if q[a] >= max(q) - 1e-9) for q in Q]
    if greedy != cg:
        raise SystemExit("FAIL: FrozenLake: greedy %s, expected %s" % (cg, greedy))
    if not 0.5 < cv[0] < 0.6:
        raise SystemExit("FAIL: FrozenLake: V(start) = %g" % cv[0])
    print("frozenlake: slip 2/3 gamma 0.99: V(start) = %.6f (model %.6f), %d sweeps, V and Q within %.2g, "
          "greedy %s" % (cv[0], V[0], sweeps, err, [sorted(x) for x in cg]))


def check_errors(ec):
    cases = [
        (["map=S.x./...G"], "unknown character 'x' at row 1, column 3"),
        (["map=S.../..\t.G"], "unknown character 0x09 at row 2, column 3"),
        (["map=S.../..G"], "row 2 has 3 cells but row 1 has 4"),
        (["map=S..G/"], "row 2 has 0 cells but row 1 has 4"),
        (["map=..../...G"], "no start 'S'"),
        (["map=S.../.S.G"], "two starts 'S' (row 1, column 1 and row 2, column 2)"),
        (["map=S.../...H"], "no goal 'G'"),
        (["map="], "gridworld map is empty"),
        (["map=/"], "gridworld map is empty"),
        (["map=S" + "." * 4095 + "G"], "too large: more than 4096 cells"),
        (["map=" + "/".join(["S" + "." * 63] + ["." * 64] * 62 + ["." * 63 + "G"]), "slip=1"],
         "slip must be in [0, 1), got 1"),
        (["slip=-0.1"], "slip must be in [0, 1), got -0.1"),
        (["slip=nan"], "slip must be in [0, 1), got nan"),
        (["max_steps=-5"], "max_steps must be positive, got -5"),
    ]
    for args, msg in cases:
        out = run([ec, "create", "gridworld"] + args, code=1)
        if not out.startswith("error: ") or msg not in out:
            raise SystemExit("FAIL: gridworld %s: %r, expected %r" % (args[0][:40], out, msg))
    # the largest map taken: 64x64
    big = "/".join(["S" + "." * 63] + ["." * 64] * 62 + ["." * 63 + "G"])
    if "obs_states 4096 " not in run([ec, "create", "gridworld", "map=" + big]):
        raise SystemExit("FAIL: a 64x64 map was not taken")
    print("errors: %d bad configurations refused with their messages; a 64x64 map taken" % len(cases))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("what", choices=["moves", "slip", "outcomes", "vi", "frozenlake", "errors"])
    ap.add_argument("--env-check", required=True)
    args = ap.parse_args()
    {"moves": check_moves, "slip": check_slip, "outcomes": check_outcomes, "vi": check_vi,
     "frozenlake": check_frozenlake, "errors": check_errors}[args.what](args.env_check)
    print("PASS")


if __name__ == "__main__":
    main()
