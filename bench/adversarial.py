"""adversarial.py - LeNet-5 under FGSM and PGD-10, and the GAN on the two moons: dlc and PyTorch.

usage: /usr/bin/python3 bench/adversarial.py [--dlc build/dlc] [--seeds 1,2,3] [--threads 2]
                                              [--what figures,gan,speed] [--no-twin]

figures  examples/fgsm_lenet.dl trains 3 epochs per seed (SGD 0.05 momentum 0.9, PyTorch's
         default initialisation), then --eval --set eps=E gives the clean accuracy, FGSM at
         eps .02/.05/.1/.2 and PGD-10 at .05/.1; examples/advtrain_lenet.dl likewise (clean
         and FGSM at .1).  bench/torch_fgsm.py (and --adv-train) runs the same seeds.
gan      examples/gan_moons.dl and cgan_moons.dl train their 300 epochs per seed and draw
         2,000 samples; bench/gan_metrics.py scores them (share within 0.15 of the arcs,
         share on the second moon, MMD^2 with an RBF kernel of width 0.1);
         bench/torch_gan_moons.py runs the same GAN (--n 5000 --fresh: 5,000 points drawn
         anew every epoch, as dlc's moons(...) does).
speed    at one thread, taking turns, 3 times each: one FGSM evaluation of the 10,000 test
         images (bench/models/fgsm_eval.dl, the process's wall time, loading included, against
         torch_fgsm.py --time's evaluation loop) and one GAN epoch (the trainer's own time over
         30 epochs of 5,000 points, against the twin's time per epoch).  Medians and ratios.
Prints a table per part and one JSON line with everything.
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
FGSM_EPS = (0.02, 0.05, 0.1, 0.2)
PGD_EPS = (0.05, 0.1)


def run(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit("%s failed (%d):\n%s%s" % (" ".join(cmd), r.returncode, r.stdout, r.stderr))
    return r.stdout


def scalars(out):
    m = re.search(r"^test: ((?:[\w.]+ [-+0-9.eE]+(?:, )?)+)$", out, re.M)
    return {k: float(v) for k, v in (p.split() for p in m.group(1).split(", "))} if m else {}


def clean_acc(out):
    m = re.search(r"^test: loss [-+0-9.eE]+, accuracy ([0-9.]+)%", out, re.M)
    return float(m.group(1)) / 100 if m else scalars(out).get("acc")


def compile_(dlc, src, exe):
    run([dlc, src, "-o", exe])
    return exe


def dlc_figures(dlc, work, seed, threads):
    exe = compile_(dlc, os.path.join(ROOT, "examples", "fgsm_lenet.dl"), os.path.join(work, "fgsm"))
    ck = os.path.join(work, "fgsm%d.st" % seed)
    run([exe, "--seed", str(seed), "--threads", str(threads), "--quiet", "--save", ck])
    r = {}
    for eps in FGSM_EPS:
        out = run([exe, "--load", ck, "--eval", "--quiet", "--threads", str(threads), "--set", "eps=%g" % eps])
        s = scalars(out)
        r["clean"] = clean_acc(out)
        r["fgsm_%g" % eps] = s["acc_fgsm"]
        if eps in PGD_EPS:
            r["pgd_%g" % eps] = s["acc_pgd"]
    adv = compile_(dlc, os.path.join(ROOT, "examples", "advtrain_lenet.dl"), os.path.join(work, "adv"))
    ck = os.path.join(work, "adv%d.st" % seed)
    out = run([adv, "--seed", str(seed), "--threads", str(threads), "--quiet", "--save", ck])
    s = scalars(out)
    r["adv_clean"], r["adv_fgsm_0.1"] = s["acc"], s["acc_fgsm"]
    return r


def twin_figures(seed, threads):
    py = "/usr/bin/python3"
    tw = os.path.join(HERE, "torch_fgsm.py")
    a = json.loads(run([py, tw, "--seed", str(seed), "--threads", str(threads)]).strip().splitlines()[-1])
    b = json.loads(run([py, tw, "--seed", str(seed), "--threads", str(threads), "--adv-train"]).strip().splitlines()[-1])
    return a, b


def figures(args, work):
    rows = {}
    for seed in args.seeds:
        d = dlc_figures(args.dlc, work, seed, args.threads)
        rows.setdefault("dlc", []).append(d)
        print("dlc   seed %d: %s" % (seed, json.dumps(d)), flush=True)
        if args.twin:
            a, b = twin_figures(seed, args.threads)
            rows.setdefault("torch", []).append({"plain": a, "adv": b})
            print("torch seed %d: %s | %s" % (seed, json.dumps(a), json.dumps(b)), flush=True)
    keys = ["clean"] + ["fgsm_%g" % e for e in FGSM_EPS] + ["pgd_%g" % e for e in PGD_EPS] + ["adv_clean", "adv_fgsm_0.1"]
    mean = {k: statistics.mean(r[k] for r in rows["dlc"]) for k in keys}
    tmean = {}
    if rows.get("torch"):
        tk = {"clean": ("plain", "clean_acc"), "adv_clean": ("adv", "clean_acc"), "adv_fgsm_0.1": ("adv", "fgsm_0.1")}
        for k in keys:
            part, key = tk.get(k, ("plain", k.replace("pgd_", "pgd10_")))
            tmean[k] = statistics.mean(r[part][key] for r in rows["torch"])
    print("\n| figure | dlc (mean of %d seeds) | PyTorch twin |" % len(args.seeds))
    print("|---|---|---|")
    for k in keys:
        print("| %s | %.1f%% | %s |" % (k, 100 * mean[k], "%.1f%%" % (100 * tmean[k]) if k in tmean else "-"))
    return {"dlc": rows.get("dlc"), "torch": rows.get("torch"), "dlc_mean": mean, "torch_mean": tmean}


def gan(args, work):
    import numpy as np
    import gan_metrics
    res = {}
    for name in ("gan_moons", "cgan_moons"):
        exe = compile_(args.dlc, os.path.join(ROOT, "examples", name + ".dl"), os.path.join(work, name))
        for seed in args.seeds:
            ck, s = os.path.join(work, "%s%d.st" % (name, seed)), os.path.join(work, "%s%d.npy" % (name, seed))
            run([exe, "--seed", str(seed), "--threads", "1", "--quiet", "--save", ck])
            run([exe, "--load", ck, "--seed", str(seed), "--sample", "2000", "--sample-out", s])
            if name == "gan_moons":
                m = gan_metrics.metrics(np.load(s))
            else:   # samples of the upper moon, then of the lower one
                up, lo = np.load(s), np.load(s[:-4] + ".samples_1.npy")
                m = gan_metrics.metrics(np.concatenate([up[:1000], lo[:1000]]))
                m["on_asked_moon"] = float((np.mean(gan_metrics.nearest_arc(up) == 0) +
                                            np.mean(gan_metrics.nearest_arc(lo) == 1)) / 2)
            res.setdefault(name, []).append(m)
            print("%-10s seed %d: near %.3f, second moon %.3f, MMD^2 %.4f (biased %.4f)%s" % (
                name, seed, m["near_arcs"], m["second_moon"], m["mmd2"], m["mmd2_biased"],
                ", on the moon asked for %.3f" % m["on_asked_moon"] if "on_asked_moon" in m else ""), flush=True)
    if args.twin:
        for seed in args.seeds:
            out = run(["/usr/bin/python3", os.path.join(HERE, "torch_gan_moons.py"), "--seed", str(seed),
                       "--threads", "1", "--n", "5000", "--fresh"])
            t = json.loads(out.strip().splitlines()[-1])
            res.setdefault("torch", []).append(t)
            print("torch      seed %d: %s" % (seed, json.dumps(t)), flush=True)
    return res


def speed(args, work):
    exe = compile_(args.dlc, os.path.join(HERE, "models", "fgsm_eval.dl"), os.path.join(work, "fgsm_eval"))
    gexe = compile_(args.dlc, os.path.join(ROOT, "examples", "gan_moons.dl"), os.path.join(work, "gan_speed"))
    ck = os.path.join(work, "speed.st")
    run([exe, "--steps", "200", "--threads", "1", "--quiet", "--save", ck])
    ev, tev, gep, tgep = [], [], [], []
    for _ in range(3):
        t0 = time.perf_counter()
        run([exe, "--load", ck, "--eval", "--quiet", "--threads", "1"])
        ev.append(time.perf_counter() - t0)
        out = run(["/usr/bin/python3", os.path.join(HERE, "torch_fgsm.py"), "--threads", "1", "--epochs", "0",
                   "--time"])
        tev.append(json.loads(out.strip().splitlines()[-1])["fgsm_0.1_eval_time_s"])
        out = run([gexe, "--threads", "1", "--quiet", "--epochs", "30"])
        m = re.search(r"^train: (\d+) epochs?, .* in ([0-9.]+) s", out, re.M)
        gep.append(float(m.group(2)) / int(m.group(1)))
        out = run(["/usr/bin/python3", os.path.join(HERE, "torch_gan_moons.py"), "--threads", "1", "--epochs", "30",
                   "--n", "5000", "--fresh"])
        tgep.append(json.loads(out.strip().splitlines()[-1])["s_per_epoch"])
    r = {"fgsm_eval_s": statistics.median(ev), "torch_fgsm_eval_s": statistics.median(tev),
         "gan_epoch_s": statistics.median(gep), "torch_gan_epoch_s": statistics.median(tgep)}
    r["fgsm_eval_speedup"] = r["torch_fgsm_eval_s"] / r["fgsm_eval_s"]
    r["gan_epoch_speedup"] = r["torch_gan_epoch_s"] / r["gan_epoch_s"]
    print("\n| 1 thread, medians of 3 | dlc | PyTorch 1.13 | dlc speed-up |")
    print("|---|---|---|---|")
    print("| FGSM evaluation of the test set | %.2f s | %.2f s | %.2fx |" % (
        r["fgsm_eval_s"], r["torch_fgsm_eval_s"], r["fgsm_eval_speedup"]))
    print("| GAN epoch (5,000 points, batch 50) | %.2f ms | %.2f ms | %.2fx |" % (
        1e3 * r["gan_epoch_s"], 1e3 * r["torch_gan_epoch_s"], r["gan_epoch_speedup"]))
    return r


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dlc", default=os.path.join(ROOT, "build", "dlc"))
    ap.add_argument("--seeds", default="1,2,3")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--what", default="figures,gan,speed")
    ap.add_argument("--no-twin", dest="twin", action="store_false")
    args = ap.parse_args()
    args.seeds = [int(s) for s in args.seeds.split(",")]
    out = {}
    with tempfile.TemporaryDirectory(prefix="dlc-adv-") as work:
        for part in args.what.split(","):
            out[part] = {"figures": figures, "gan": gan, "speed": speed}[part](args, work)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
