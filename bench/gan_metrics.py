#!/usr/bin/python3
"""Sample metrics for generative models of the two moons (GANs: examples/gan_moons.dl and its twin).

usage: /usr/bin/python3 bench/gan_metrics.py SAMPLES.npy [--noise 0.05] [--seed 1000]
                                             [--real N] [--near 0.15] [--width 0.1] [--real-grid]
       /usr/bin/python3 bench/gan_metrics.py --self-test

SAMPLES.npy holds N points [N, 2].  The arcs are the noise-free curves of scikit-learn's
make_moons: the upper arc (cos t, sin t) and the lower arc (1 - cos t, 0.5 - sin t), t in
[0, pi]; a point's distance to an arc is computed in closed form (exact; --self-test checks it
against 20,000 points of each arc).  Prints one JSON line:

  near_arcs         fraction of the samples within --near (Euclidean, <=) of either arc
  second_moon       fraction of the samples whose nearest arc is the lower (second) one
  second_moon_near  the same among the samples within --near of an arc
  mmd2              MMD^2 between the samples and --real fresh moons (default N of them, with
                    the same --noise, drawn with RandomState(--seed)), unbiased estimator
                    (U-statistic: the terms k(x_i, x_i) left out); its expectation is 0 when
                    the samples follow the moons' distribution
  mmd2_real         the same between two independent draws of --real fresh moons (the second
                    with RandomState(--seed + 1)): what a perfect sampler gets
  mmd2_biased, mmd2_real_biased   the biased estimator (V-statistic: those terms included),
                    whose expectation for two samples of one distribution is about
                    (1/m + 1/n) (1 - E k(x, x')) > 0: 0.00092 for 2,000 against 2,000 moons
                    of noise 0.05

The kernel is k(a, b) = exp(-|a - b|^2 / (2 w^2)) with w = --width (0.1).  The fresh moons are
independent draws of the distribution that make_moons samples: half of them on each moon, t
uniform in [0, pi], plus noise (moons_iid).  make_moons itself spaces t evenly, and such a set
against another one (--real-grid) is not two independent samples: the unbiased real-vs-real
figure comes out at -2 E[k(e, e')] / n instead of 0 (e, e' two noise vectors; -0.0007 for
2,000 points of noise 0.05), and every mmd2 is lowered by half that.

As a module: arc_distance(p), nearest_arc(p), near_arcs(p), mmd2(x, y, width, unbiased),
make_moons(n, noise, rng) (scikit-learn's make_moons, shuffle included, bit for bit with a
numpy RandomState; no scikit-learn needed), moons_iid(n, noise, rng) and metrics(samples, ...),
which returns the dict above.
"""
import argparse
import json
import sys

import numpy as np


def make_moons(n, noise, rng):
    """scikit-learn's make_moons(n, shuffle=True, noise=noise, random_state=rng): the same points
    in the same order for the same numpy RandomState.  Returns (X [n, 2] float64, y [n] int)."""
    n_out = n // 2
    n_in = n - n_out
    t_out = np.linspace(0, np.pi, n_out)
    t_in = np.linspace(0, np.pi, n_in)
    x = np.vstack([np.append(np.cos(t_out), 1 - np.cos(t_in)),
                   np.append(np.sin(t_out), 1 - np.sin(t_in) - 0.5)]).T
    y = np.hstack([np.zeros(n_out, dtype=np.intp), np.ones(n_in, dtype=np.intp)])
    idx = np.arange(n)
    rng.shuffle(idx)
    x, y = x[idx], y[idx]
    if noise is not None:
        x = x + rng.normal(scale=noise, size=x.shape)
    return x, y


def moons_iid(n, noise, rng):
    """n independent points of the two moons' distribution: the first n // 2 on the upper arc,
    the rest on the lower, at t uniform in [0, pi], plus noise * N on each coordinate.
    Returns (X [n, 2] float64, y [n] int)."""
    n_out = n // 2
    y = np.hstack([np.zeros(n_out, dtype=np.intp), np.ones(n - n_out, dtype=np.intp)])
    t = rng.uniform(0.0, np.pi, size=n)
    x = np.stack([np.where(y == 0, np.cos(t), 1 - np.cos(t)), np.where(y == 0, np.sin(t), 0.5 - np.sin(t))], 1)
    if noise is not None:
        x = x + rng.normal(scale=noise, size=x.shape)
    return x, y


def _upper_arc_distance(q):
    """Distance of q [N, 2] to the upper unit half circle (cos t, sin t), t in [0, pi]: |r - 1|
    above the x axis (the nearest point of the circle lies on the arc), else the nearer end."""
    r = np.hypot(q[:, 0], q[:, 1])
    ends = np.minimum(np.hypot(q[:, 0] - 1, q[:, 1]), np.hypot(q[:, 0] + 1, q[:, 1]))
    return np.where(q[:, 1] >= 0, np.abs(r - 1), ends)


def arc_distances(p):
    """[N, 2] distances of each point of p [N, 2] to the upper arc (column 0) and the lower arc
    (column 1).  The lower arc (1 - cos t, 0.5 - sin t) is the upper one turned by pi about
    (0.5, 0.25)."""
    p = np.asarray(p, dtype=np.float64)
    return np.stack([_upper_arc_distance(p), _upper_arc_distance(np.array([1.0, 0.5]) - p)], axis=1)


def arc_distance(p):
    """Distance of each point of p [N, 2] to the nearer of the two arcs."""
    return arc_distances(p).min(axis=1)


def nearest_arc(p):
    """0 where a point's nearest arc is the upper (first) moon, 1 where it is the lower one."""
    d = arc_distances(p)
    return (d[:, 1] < d[:, 0]).astype(np.intp)


def near_arcs(p, d=0.15):
    return float(np.mean(arc_distance(p) <= d))


def _kernel_sum(a, b, width, skip_diagonal):
    """Sum of k(a_i, b_j) over i, j (i != j when skip_diagonal; a is b then), in blocks."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    g = -0.5 / (width * width)
    bb = (b * b).sum(axis=1)
    total = 0.0
    step = 1024
    for i in range(0, a.shape[0], step):
        ai = a[i:i + step]
        d2 = (ai * ai).sum(axis=1)[:, None] + bb[None, :] - 2.0 * ai @ b.T
        k = np.exp(g * np.maximum(d2, 0.0))
        if skip_diagonal:
            rows = np.arange(ai.shape[0])
            k[rows, i + rows] = 0.0
        total += k.sum()
    return total


def mmd2(x, y, width=0.1, unbiased=True):
    """Squared maximum mean discrepancy between samples x [m, 2] and y [n, 2] with the RBF kernel
    exp(-|a - b|^2 / (2 width^2)); unbiased: the U-statistic (can be slightly negative), else the
    V-statistic."""
    m, n = len(x), len(y)
    if unbiased:
        kxx = _kernel_sum(x, x, width, True) / (m * (m - 1))
        kyy = _kernel_sum(y, y, width, True) / (n * (n - 1))
    else:
        kxx = _kernel_sum(x, x, width, False) / (m * m)
        kyy = _kernel_sum(y, y, width, False) / (n * n)
    return kxx + kyy - 2.0 * _kernel_sum(x, y, width, False) / (m * n)


def metrics(samples, noise=0.05, seed=1000, n_real=None, near=0.15, width=0.1, grid=False):
    """The metrics of the module docstring for samples [N, 2]; grid: the real points from
    make_moons (t evenly spaced) instead of moons_iid."""
    s = np.asarray(samples, dtype=np.float64)
    if s.ndim != 2 or s.shape[1] != 2:
        raise ValueError("samples must be [N, 2], got %s" % (s.shape,))
    n_real = n_real or len(s)
    draw = make_moons if grid else moons_iid
    real = draw(n_real, noise, np.random.RandomState(seed))[0]
    real2 = draw(n_real, noise, np.random.RandomState(seed + 1))[0]
    dist = arc_distances(s)
    is_near = dist.min(axis=1) <= near
    second = dist[:, 1] < dist[:, 0]
    return {
        "samples": len(s),
        "near_arcs": float(is_near.mean()),
        "second_moon": float(second.mean()),
        "second_moon_near": float(second[is_near].mean()) if is_near.any() else float("nan"),
        "mmd2": mmd2(s, real, width, True),
        "mmd2_real": mmd2(real2, real, width, True),
        "mmd2_biased": mmd2(s, real, width, False),
        "mmd2_real_biased": mmd2(real2, real, width, False),
        "real": n_real, "real_points": "make_moons" if grid else "iid", "noise": noise, "near": near,
        "width": width, "real_seed": seed,
    }


def self_test():
    """The closed-form distances against 20,000 points of each arc, make_moons against
    scikit-learn's when it is installed, and the two MMD estimators against direct sums."""
    rng = np.random.RandomState(0)
    p = np.concatenate([rng.uniform([-2.0, -1.5], [3.0, 2.0], size=(1000, 2)),
                        make_moons(500, 0.05, rng)[0]])
    t = np.linspace(0, np.pi, 20000)
    arcs = [np.stack([np.cos(t), np.sin(t)], 1), np.stack([1 - np.cos(t), 0.5 - np.sin(t)], 1)]
    dense = np.concatenate([np.stack([np.sqrt(((p[i:i + 100, None, :] - a[None]) ** 2).sum(-1)).min(1)
                                      for a in arcs], 1) for i in range(0, len(p), 100)])
    exact = arc_distances(p)
    # Every point of an arc lies within half a step (pi / 2 / 19999) of one of the dense points.
    assert np.all(exact <= dense + 1e-12), "closed form above a dense sample"
    assert np.max(dense - exact) <= np.pi / 2 / 19999, np.max(dense - exact)
    for a in arcs:
        assert np.max(arc_distance(a)) < 1e-12
    x = rng.normal(size=(50, 2))
    y = rng.normal(size=(40, 2)) + 0.3
    k = lambda a, b: np.exp(-((a[:, None, :] - b[None, :, :]) ** 2).sum(-1) / (2 * 0.1 ** 2))
    kxx, kyy, kxy = k(x, x), k(y, y), k(x, y)
    u = ((kxx.sum() - np.trace(kxx)) / (50 * 49) + (kyy.sum() - np.trace(kyy)) / (40 * 39)
         - 2 * kxy.mean())
    v = kxx.mean() + kyy.mean() - 2 * kxy.mean()
    assert abs(mmd2(x, y, 0.1, True) - u) < 1e-12 and abs(mmd2(x, y, 0.1, False) - v) < 1e-12
    try:
        from sklearn.datasets import make_moons as sk_moons
    except ImportError:
        print("gan_metrics: scikit-learn not installed, make_moons not compared")
    else:
        for n, noise in ((1000, 0.05), (2001, 0.1), (7, None)):
            a = make_moons(n, noise, np.random.RandomState(3))
            b = sk_moons(n, noise=noise, random_state=np.random.RandomState(3))
            assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1]), (n, noise)
    print("gan_metrics: self-test passed")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("samples", nargs="?", help=".npy file of samples [N, 2]")
    ap.add_argument("--noise", type=float, default=0.05, help="noise of the real moons (default 0.05)")
    ap.add_argument("--seed", type=int, default=1000, help="RandomState seed of the real moons (default 1000)")
    ap.add_argument("--real", type=int, help="number of real points (default: as many as the samples)")
    ap.add_argument("--near", type=float, default=0.15)
    ap.add_argument("--width", type=float, default=0.1)
    ap.add_argument("--real-grid", action="store_true", help="real points from make_moons (t evenly spaced)")
    ap.add_argument("--self-test", action="store_true")
    a = ap.parse_args()
    if a.self_test:
        self_test()
        return 0
    if not a.samples:
        ap.error("give SAMPLES.npy or --self-test")
    print(json.dumps(metrics(np.load(a.samples), a.noise, a.seed, a.real, a.near, a.width, a.real_grid)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
