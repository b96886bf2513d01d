#!/usr/bin/env python3
"""The GAN of examples/gan_moons.dl: step clauses against PyTorch, and a training run.

usage: gan_test.py rounds|train|sn|equal --dlc DLC --workdir DIR

rounds  the example compiled in f64 starts from PyTorch's initial parameters
        (nn.Linear's default initialisation) and runs 10 rounds, each a critic
        step then a generator step, on the same 10 batches of points
        (--no-shuffle) and the same noise z (--noise z=...): every parameter
        and every Adam moment must equal PyTorch's (torch.optim.Adam, the
        generator's loss backpropagated through the updated critic) to 1e-10.
        Then a checkpoint without the generator's Adam state loads with a
        note that names what starts from its initial value.
train   the example trains its 300 epochs at one thread (a few seconds) and
        --sample draws 2,000 points: at least 80% within 0.15 of the moons'
        arcs, 35-65% on the second moon and an MMD^2 to real points of at most
        0.01 (bench/gan_metrics.py's measures; seeds 1-3 give 88-90%, 0.48-0.52
        and 0.0025-0.0044; 300 epochs of 1,000 points instead of 5,000 give
        about 50%).
sn      spectral_norm(W) against torch.nn.utils.spectral_norm (f64): from the
        same weights and power-iteration vectors u and v, three SGD steps give
        the same weights, bias, u and v; then --predict (evaluation: no power
        iteration) gives torch's outputs in eval mode.
equal   examples/wgan_gp_moons.dl (a gradient penalty, a generator every 5 rounds)
        trains 3 epochs: the same bits on 1, 2 and 3 threads, and at -O0 and at
        -O2 -fno-cse -fcheck-memory in f64 (common subexpressions change
        float results legitimately here: D(x) and D(fake) share the broadcast of
        D's bias, whose gradient is then summed in one piece instead of two).
Exit 77 without PyTorch (rounds, sn) unless DLC_REQUIRE_TORCH=1.
"""
import argparse
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..", "..")
EXAMPLE = os.path.join(ROOT, "examples", "gan_moons.dl")
sys.path.insert(0, os.path.join(HERE, "..", "reference"))
sys.path.insert(0, os.path.join(ROOT, "bench"))
B, Z, ROUNDS = 50, 32, 10


def run(cmd, stderr=False):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        print(r.stdout + r.stderr)
        raise SystemExit("FAIL: %s exited with %d" % (" ".join(cmd), r.returncode))
    return r.stderr if stderr else r.stdout


def torch_missing():
    """0 when PyTorch imports; else the test's exit status, having said why:
    77 (skipped), or 1 when DLC_REQUIRE_TORCH=1 says it must run."""
    try:
        import torch  # noqa: F401
    except ImportError:
        msg = "PyTorch not available (install python3-torch)"
        if os.environ.get("DLC_REQUIRE_TORCH") == "1":
            print("FAIL: " + msg)
            return 1
        print("SKIP: " + msg)
        return 77
    return 0


def rounds(a):
    status = torch_missing()
    if status:
        return status
    import numpy as np
    import torch
    import torch.nn.functional as F
    import st
    d = a.workdir
    torch.manual_seed(7)
    nn = torch.nn
    G = nn.Sequential(nn.Linear(Z, 128), nn.ReLU(), nn.Linear(128, 2)).double()
    D = nn.Sequential(nn.Linear(2, 128), nn.LeakyReLU(0.2), nn.Linear(128, 1)).double()
    names = {"G.l1": G[0], "G.l2": G[2], "D.l1": D[0], "D.l2": D[2]}
    params = {}
    for k, mod in names.items():
        params[k + ".W"] = mod.weight.detach().numpy().T.copy()   # dlc's W is [in, out]
        params[k + ".b"] = mod.bias.detach().numpy().copy()
    rng = np.random.default_rng(3)
    x = rng.standard_normal((ROUNDS * B, 2)) * 0.5 + 0.5
    z = rng.standard_normal((ROUNDS, B, Z))
    p0, xs, zs, p1 = (os.path.join(d, f) for f in ("init.safetensors", "x.npy", "z.npy", "out.safetensors"))
    st.save(p0, params)
    np.save(xs, x)
    np.save(zs, z)

    opt_d = torch.optim.Adam(D.parameters(), lr=1e-3)
    opt_g = torch.optim.Adam(G.parameters(), lr=1e-3)
    X, ZZ = torch.from_numpy(x), torch.from_numpy(z)
    for k in range(ROUNDS):
        xb, zb = X[k * B:(k + 1) * B], ZZ[k]
        fake = G(zb)
        d_loss = F.softplus(-D(xb)).mean() + F.softplus(D(fake.detach())).mean()
        opt_d.zero_grad()
        d_loss.backward()
        opt_d.step()
        g_loss = F.softplus(-D(fake)).mean()
        opt_g.zero_grad()
        g_loss.backward()
        opt_g.step()

    exe = os.path.join(d, "gan64")
    run([a.dlc, "--dtype", "f64", EXAMPLE, "-o", exe])
    print(run([exe, "--load", p0, "--train", xs, "--no-shuffle", "--epochs", "1", "--noise", "z=" + zs,
               "--save", p1, "--threads", "1"]).strip())
    got, _ = st.load(p1)
    ok = True
    worst = 0.0
    for k, mod in names.items():
        clause = "critic" if k[0] == "D" else "generator"
        opt = opt_d if k[0] == "D" else opt_g
        for p, ref in (("W", mod.weight), ("b", mod.bias)):
            r = ref.detach().numpy()
            state = opt.state[ref]
            for name, want in ((k + "." + p, r), ("%s.m_%s.%s" % (clause, k, p), state["exp_avg"].numpy()),
                               ("%s.v_%s.%s" % (clause, k, p), state["exp_avg_sq"].numpy())):
                if p == "W":
                    want = want.T
                if name not in got:
                    print("FAIL: %s missing from the checkpoint (has %s)" % (name, sorted(got)))
                    ok = False
                    continue
                err = float(np.max(np.abs(got[name] - want)) / max(float(np.max(np.abs(want))), 1e-300))
                worst = max(worst, err)
                if not err <= 1e-10:
                    print("FAIL: %s: max |dlc - torch| / max |torch| = %.3e" % (name, err))
                    ok = False
    for clause in ("critic", "generator"):
        n = got.get(clause + ".optimizer_step")
        if n is None or float(n.reshape(-1)[0]) != ROUNDS:
            print("FAIL: %s.optimizer_step is %s, expected %d" % (clause, n, ROUNDS))
            ok = False
    print("%d rounds: parameters and Adam moments agree with PyTorch to %.2e (relative to the largest entry)"
          % (ROUNDS, worst))
    p2 = os.path.join(d, "no_generator_state.safetensors")
    st.save(p2, {k: v for k, v in got.items() if not k.startswith("generator.")})
    note = run([exe, "--load", p2, "--eval", "--quiet"], stderr=True)
    print(note.strip())
    if "generator.m_G.l1.W" not in note or "generator.optimizer_step" not in note or "critic." in note:
        print("FAIL: expected a note naming the generator's optimizer state (and nothing of the critic's)")
        ok = False
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


SN = """
dim B = 8
input x : f32[B, 3]
label t : f32[B, 2]
param W : [3, 2] = uniform(-1, 1)
param b : [2]
output o = x @ spectral_norm(W) + b
loss mean((o - t) ^ 2)
train { optimizer = sgd(lr = 0.1) }
"""


def sn(a):
    status = torch_missing()
    if status:
        return status
    import numpy as np
    import torch
    import st
    d = a.workdir
    torch.manual_seed(5)
    lin = torch.nn.utils.spectral_norm(torch.nn.Linear(3, 2).double())
    rng = np.random.default_rng(9)
    x = rng.standard_normal((24, 3))
    t = rng.standard_normal((24, 2))
    W0 = lin.weight_orig.detach().numpy().T.copy()
    init = {"W": W0, "b": lin.bias.detach().numpy().copy(),
            "W_sn_u": lin.weight_u.detach().numpy().reshape(2, 1).copy(),
            "W_sn_v": lin.weight_v.detach().numpy().reshape(3, 1).copy()}
    p0, p1, xs, ts, src, exe = (os.path.join(d, f) for f in ("sn0.safetensors", "sn1.safetensors", "x.npy", "t.npy",
                                                             "sn.dl", "sn"))
    st.save(p0, init)
    np.save(xs, x)
    np.save(ts, t)
    with open(src, "w") as f:
        f.write(SN)
    opt = torch.optim.SGD([lin.weight_orig, lin.bias], lr=0.1)
    X, T = torch.from_numpy(x), torch.from_numpy(t)
    for k in range(3):
        loss = ((lin(X[8 * k:8 * k + 8]) - T[8 * k:8 * k + 8]) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    run([a.dlc, "--dtype", "f64", src, "-o", exe])
    run([exe, "--load", p0, "--train", xs + "," + ts, "--no-shuffle", "--epochs", "1", "--save", p1, "--quiet"])
    got, _ = st.load(p1)
    ok = True
    for name, want in (("W", lin.weight_orig.detach().numpy().T), ("b", lin.bias.detach().numpy()),
                       ("W_sn_u", lin.weight_u.numpy().reshape(2, 1)), ("W_sn_v", lin.weight_v.numpy().reshape(3, 1))):
        err = float(np.max(np.abs(got[name] - want)))
        print("%-7s max |dlc - torch| = %.2e" % (name, err))
        ok &= err <= 1e-12
    lin.eval()
    with torch.no_grad():
        want = lin(X[:8]).numpy()
    out = os.path.join(d, "o.npy")
    run([exe, "--load", p1, "--predict", xs, "--predict-out", out])
    err = float(np.max(np.abs(np.load(out)[:8] - want)))
    print("eval    max |dlc - torch| = %.2e" % err)
    ok &= err <= 1e-12
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


def equal(a):
    import numpy as np
    import st
    d = a.workdir
    src = os.path.join(ROOT, "examples", "wgan_gp_moons.dl")
    got = {}
    for tag, flags, threads in (("O2-t1", [], 1), ("O2-t2", [], 2), ("O2-t3", [], 3),
                                ("f64-O0", ["--dtype", "f64", "-O0"], 1),
                                ("f64-O2-nocse", ["--dtype", "f64", "-O2", "-fno-cse", "-fcheck-memory"], 2)):
        exe = os.path.join(d, "wgan_" + tag.split("-t")[0])
        if not os.path.exists(exe):
            run([a.dlc] + flags + ["--cflags", "-ffp-contract=off", src, "-o", exe])
        ck = os.path.join(d, tag + ".safetensors")
        run([exe, "--epochs", "3", "--seed", "3", "--threads", str(threads), "--quiet", "--save", ck])
        got[tag] = st.load(ck)[0]
    ok = True
    for x, y in (("O2-t1", "O2-t2"), ("O2-t1", "O2-t3"), ("f64-O0", "f64-O2-nocse")):
        diff = [k for k in got[x] if not np.array_equal(got[x][k], got[y][k])]
        print("%-7s vs %-13s %s" % (x, y, "the same bits" if not diff else "differ in " + ", ".join(diff)))
        ok &= not diff
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


def train(a):
    import gan_metrics
    import numpy as np
    d = a.workdir
    exe, ck, s = (os.path.join(d, f) for f in ("gan", "gan.safetensors", "samples.npy"))
    run([a.dlc, EXAMPLE, "-o", exe])
    print(run([exe, "--threads", "1", "--quiet", "--save", ck]).strip())
    run([exe, "--load", ck, "--sample", "2000", "--sample-out", s])
    m = gan_metrics.metrics(np.load(s))
    print(m)
    ok = m["near_arcs"] >= 0.8 and 0.35 <= m["second_moon"] <= 0.65 and m["mmd2"] <= 0.01
    print("PASS" if ok else "FAIL: expected >= 80%% of the samples near the arcs, 35-65%% on the second moon, "
          "MMD^2 <= 0.01")
    return 0 if ok else 1


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=["rounds", "train", "sn", "equal"])
    ap.add_argument("--dlc", required=True)
    ap.add_argument("--workdir", required=True)
    a = ap.parse_args()
    os.makedirs(a.workdir, exist_ok=True)
    return {"rounds": rounds, "train": train, "sn": sn, "equal": equal}[a.what](a)


if __name__ == "__main__":
    sys.exit(main())
