"""generative.py - the autoencoder and the VAE trained by dlc and by PyTorch, side by side.

usage: /usr/bin/python3 bench/generative.py [--dlc build/dlc] [--vae-epochs 1,10]
                                            [--ae-epochs 3] [--threads 1] [--keep DIR]

Trains examples/ae_fmnist.dl for --ae-epochs epochs and examples/vae_fmnist.dl
for the largest of --vae-epochs (resuming from a checkpoint at each smaller
count, so each count gets its test figure) with dlc at --threads threads, and
bench/torch_vae.py (--model ae, vae) with torch.set_num_threads(--threads)
and OpenBLAS pinned likewise, on the same data with the same network,
initialisation distribution, batch (128) and optimizer (Adam 1e-3).  Prints a
table: AE test MSE, VAE test -ELBO (nats/image) after each epoch count, the
VAE's training images/s (the training loop only, on both sides) and its peak
RSS (wait4 on the child process); the speed row is the median of --speed-reps
1-epoch runs of each side, taking turns.  --keep DIR keeps dlc's trainers and
checkpoints (for scripts/ae_pictures.sh).  The reference figures of issue 14
(PyTorch 1.13): AE 0.0127, VAE 262.7 after 1 epoch and 244.4 after 10.
"""
import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def run(cmd):
    """Run cmd; return (stdout, peak RSS in MB of that child)."""
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    out = p.stdout.read()
    _, status, ru = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode != 0:
        sys.exit("%s failed (%d):\n%s" % (" ".join(cmd), p.returncode, out))
    return out, ru.ru_maxrss / 1024.0


def dlc_train(exe, ck, epochs, threads, load=None):
    cmd = [exe, "--epochs", str(epochs), "--threads", str(threads), "--quiet", "--save", ck]
    if load:
        cmd += ["--load", load]
    out, rss = run(cmd)
    m = re.search(r"^train: .* in ([0-9.]+) s, ([0-9.]+) images/s", out, re.M)
    t = re.search(r"^test: loss ([-+0-9.eE]+)", out, re.M)
    if not m or not t:
        sys.exit("unexpected trainer output:\n" + out)
    return float(t.group(1)), float(m.group(1)), rss


def torch_train(model, epochs, threads):
    out, rss = run(["/usr/bin/python3", os.path.join(HERE, "torch_vae.py"), "--model", model,
                    "--epochs", str(epochs), "--threads", str(threads)])
    r = json.loads(out.strip().splitlines()[-1])
    r["peak_rss_mb"] = rss
    return r


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dlc", default=os.path.join(ROOT, "build", "dlc"))
    ap.add_argument("--vae-epochs", default="1,10")
    ap.add_argument("--ae-epochs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--keep", help="keep trainers and checkpoints in this directory")
    ap.add_argument("--no-torch", action="store_true")
    ap.add_argument("--speed-reps", type=int, default=3,
                    help="the speed row: medians of this many 1-epoch VAE runs of each side, taking turns "
                         "(0: the training runs above)")
    a = ap.parse_args()
    counts = sorted(int(e) for e in a.vae_epochs.split(","))
    d = a.keep or tempfile.mkdtemp(prefix="dlc_generative.")
    os.makedirs(d, exist_ok=True)
    rows = []
    try:
        exe = {}
        for m in ("ae", "vae"):
            exe[m] = os.path.join(d, m)
            subprocess.run([a.dlc, os.path.join(ROOT, "examples", m + "_fmnist.dl"), "-o", exe[m]],
                           check=True)
        if a.ae_epochs:
            mse, _, _ = dlc_train(exe["ae"], os.path.join(d, "ae.safetensors"), a.ae_epochs, a.threads)
            ref = None if a.no_torch else torch_train("ae", a.ae_epochs, a.threads)["test"][-1]
            rows.append(("AE(20) test MSE, %d epochs" % a.ae_epochs, "%.5f" % mse,
                         ref and "%.5f" % ref, ref and "%+.1f%%" % (100 * (mse / ref - 1))))
        figs, secs, rss, prev = {}, 0.0, 0.0, None
        for e in counts:
            ck = os.path.join(d, "vae_%d.safetensors" % e)
            figs[e], s, r = dlc_train(exe["vae"], ck, e, a.threads, load=prev)
            secs, rss, prev = secs + s, max(rss, r), ck
        tr = None if a.no_torch else torch_train("vae", counts[-1], a.threads)
        for e in counts:
            ref = tr and tr["test"][e - 1]
            rows.append(("VAE test -ELBO (nats/image), %d epoch%s" % (e, "s" if e > 1 else ""),
                         "%.2f" % figs[e], ref and "%.2f" % ref, ref and "%+.2f%%" % (100 * (figs[e] / ref - 1))))
        ips, tips, how = 60000 * counts[-1] / secs, tr and tr["images_per_s"], ""
        if a.speed_reps:
            d_ips, t_ips = [], []
            for _ in range(a.speed_reps):
                _, s, _ = dlc_train(exe["vae"], os.path.join(d, "vae_speed.safetensors"), 1, a.threads)
                d_ips.append(60000 / s)
                if not a.no_torch:
                    t_ips.append(torch_train("vae", 1, a.threads)["images_per_s"])
            ips, tips = statistics.median(d_ips), t_ips and statistics.median(t_ips)
            how = " (median of %d 1-epoch runs each, taking turns)" % a.speed_reps
        rows.append(("VAE training images/s, %d thread%s%s" % (a.threads, "s" if a.threads > 1 else "", how),
                     "%.0f" % ips, tips and "%.0f" % tips, tips and "%.2fx" % (ips / tips)))
        rows.append(("VAE training peak RSS (MB)", "%.1f" % rss, tr and "%.1f" % tr["peak_rss_mb"],
                     tr and "%.2fx" % (rss / tr["peak_rss_mb"])))
    finally:
        if not a.keep:
            shutil.rmtree(d, ignore_errors=True)
    print("| figure | dlc | PyTorch | dlc vs PyTorch |")
    print("|---|---|---|---|")
    for r in rows:
        print("| %s | %s | %s | %s |" % tuple(x or "-" for x in r))
    return 0


if __name__ == "__main__":
    sys.exit(main())
