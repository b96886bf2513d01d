#!/usr/bin/env python3
"""Convolutional ops against PyTorch (outputs and every gradient, the input's included) and
finite differences, ahead of time and through `dlc run`; their second derivatives (Newton's
Hessian-vector product) against finite differences and PyTorch's double backward.

usage: cnn_ref.py --dlc DLC --workdir DIR [--jit] [--seed S] [--perturb FACTOR:KEY ...]
                  [--list | --list-groups] [--group G | CASE ...]

Each case is a small program whose loss is sum(y * R), y the op's result and R a random input of
y's shape.  The op's data operand depends on a parameter: `x * s`, x an input of the batch and s a
parameter of x's shape without the batch axis (or a parameter used directly), so that d_s, the
input gradient times x summed over the batch rows fed, is wrong when the op's input gradient is
(0 included, where no window reads the element); its other operands (kernels, biases, scales)
are parameters too.  Cases belong to groups (--list-groups; CTest runs one test, cnn.GROUP,
a group).  Every case runs these ways (trainers with --threads 2):

  c f64    `dlc --dtype f64 -fcheck-memory`, the trainer with --dump-forward --dump-grads
           --gradcheck in one run: the evaluation-mode and training-mode loss and outputs and every
           gradient against PyTorch, then the trainer's central differences, whose gradients come
           from a third pass over arrays that the first two filled with NaN once dead: a kernel
           that leaves part of its result unwritten fails there;
  c f32    `dlc --dtype f32`: the dumps against PyTorch on the same numbers rounded to f32;
  jit f64  with --jit, `dlc run --dtype f64 -fcheck-memory` (the LLVM JIT) as c f64;
  newton f64  the program with `train { optimizer = newton(damping = 1) }` and the loss
           sum(y * R) + 0.5 * sum(y * y) (see newton_program: the y * y term makes every Hessian
           nonzero and puts the parameters into every backward op's incoming gradient), built
           with `dlc --dtype f64 -fcheck-memory`, its trainer with --hvpcheck --dump-hvp on the
           case's parameters and batch: H v along the trainer's random direction against central
           differences of the gradient, and (with PyTorch) against PyTorch's double backward
           (torch.autograd.grad of <grad L, v>) on the same v, every parameter's hv_NAME with the
           f64 tolerance below; max |Hv| must be at least 1e-2 and 1e3 times the check's
           rounding floor.  Max pooling with overlapping windows has no second derivative:
           FIRST_ORDER's cases must be refused by dlc (exit status 1, that error, no internal
           error).  NO_HVPCHECK would list a case finite differences cannot check, with why (it
           lists none).

An element passes when |dlc - torch| <= rtol |torch| + atol, rtol 1e-5 (f64) or 1e-4 (f32), and
atol a fraction of rtol times the tensor's own largest element (1e-3 in f64, 1e-2 in f32): no
absolute floor that small gradients fall under.  A reference that is zero everywhere is an error
(that case would check nothing), and so is a parameter the dumps or the gradient check leave out,
a dump in another type than compiled for, and a gradient whose largest element is under 1e-2 (the
central differences pass anything within 1e-6).  Without PyTorch only the gradient checks run and
the JIT is compared with the trainer; the run then exits 77 (skip), or 1 with DLC_REQUIRE_TORCH=1.

Numbers come from one seed per case, zlib.crc32 of its name unless --seed gives one; the seed is
printed, and a failing case prints the command that reruns it alone.  Max pooling draws values
that are distinct within each plane (no ties, so no kink within a finite-difference step), most of
them negative (a padding that won would show).

The dropout case checks the mask that dlc drew: the outputs are 0 or the input / (1 - p), the kept
fraction within 5 standard deviations of 1 - p, in each half and over the whole tensor, rows not all
alike, the gradient exactly 0 where dropped and (with PyTorch) everything else against a reference
that uses dlc's mask; evaluation mode is the identity; the JIT draws the same mask as the trainer
for the same --seed and another seed draws another mask.

--perturb FACTOR:KEY (repeatable) scales the PyTorch reference of KEY (such as d_s, or hv_K for
the Newton path's H v): the run must then find a mismatch in KEY on every path that compares it
with PyTorch (c f64, c f32 and jit f64; hv_NAME newton f64).  It exits 1 when it finds all of them
and 0 otherwise (a negative test, registered WILL_FAIL, that cannot pass by breaking); 77 without
PyTorch.
"""
import argparse
import os
import re
import subprocess
import sys
import zlib

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "reference"))

TOL = {"f64": 1e-5, "f32": 1e-4}
ATOL_FRACTION = {"f64": 1e-3, "f32": 1e-2}
SKIP = 77


def F():
    import torch.nn.functional as nf
    return nf


def T():
    import torch
    return torch


# ---- generators: (rng, shape) -> float64 array ----

def normal(rng, shape):
    return rng.normal(0, 1, shape)


def distinct(rng, shape):
    """Distinct values in every [H, W] plane, spaced 1 / (H W), about 70% of them negative."""
    import numpy as np
    hw = shape[-1] * shape[-2]
    planes = int(np.prod(shape[:-2], dtype=np.int64))
    a = np.stack([rng.permutation(hw) for _ in range(planes)]).reshape(shape)
    return (a + 0.5 - 0.7 * hw) / hw


def near_one(rng, shape):
    """1 + U(-1e-5, 1e-5): scales distinct values without reordering them."""
    return 1 + rng.uniform(-1e-5, 1e-5, shape)


# ---- the cases ----

class Case:
    def __init__(self, name, group, inputs, params, expr, ref, B=2, rows=None, gen=None, note="", eval_ref=None):
        self.name, self.group, self.expr, self.ref, self.note = name, group, expr, ref, note
        self.eval_ref = eval_ref  # evaluation mode, where it differs (batch norm's running statistics)
        self.inputs = decls(inputs)  # [(name, shape without the batch axis)], R last
        self.params = decls(params)
        self.B = B
        self.rows = rows if rows is not None else B
        self.gen = gen or {}


def decls(text):
    """"x[3,5,6] R[4,5,6]" -> [("x", (3, 5, 6)), ("R", (4, 5, 6))]"""
    out = []
    for m in re.finditer(r"(\w+)\[([\d,\s]*)\]", text):
        out.append((m.group(1), tuple(int(d) for d in m.group(2).split(",") if d.strip())))
    return out


CASES = []


def case(*a, **k):
    CASES.append(Case(*a, **k))


def conv(group, name, x, K, y, dl_args, t_kw, bias=True, **k):
    """conv2d(x * s, K[, c], ...) with x [x], kernel K, result y."""
    co = K[0]
    params = "s[%s] K[%s]%s" % (",".join(map(str, x)), ",".join(map(str, K)), " c[%d]" % co if bias else "")
    expr = "conv2d(x * s, K%s%s)" % (", c" if bias else "", ", " + dl_args if dl_args else "")
    case(name, group, "x[%s] R[%s]" % (",".join(map(str, x)), ",".join(map(str, y))), params, expr,
         lambda v: F().conv2d(v.x * v.s, v.K, v.c if bias else None, **t_kw), **k)


# conv2d (group conv): every window option, alone and together, strides that skip input pixels;
# (group conv_layout) both layouts of the forward kernel (output rows of at least one vector, 8
# f64 / 16 f32 lanes, and stride 1 along them; else batch-inner tiles), blocks of 6 channels with a
# remainder, more batch columns than one tile.
conv("conv", "conv_basic", (3, 5, 6), (4, 3, 3, 3), (4, 5, 6), "pad = 1", dict(padding=1))
conv("conv", "conv_stride_pad", (2, 7, 5), (3, 2, 3, 2), (3, 4, 2), "stride = 2, pad = [1, 0]",
     dict(stride=2, padding=(1, 0)), bias=False, note="the last input column is read by no window")
conv("conv", "conv_dilation", (2, 8, 7), (2, 2, 3, 3), (2, 4, 3), "dilation = 2", dict(dilation=2))
conv("conv", "conv_groups", (4, 5, 5), (4, 2, 3, 3), (4, 5, 5), "pad = 1, groups = 2", dict(padding=1, groups=2),
     bias=False)
conv("conv", "conv_depthwise", (3, 6, 6), (3, 1, 3, 3), (3, 3, 3), "stride = 2, pad = 1, groups = 3",
     dict(stride=2, padding=1, groups=3))
conv("conv", "conv_same_5x5", (3, 7, 6), (2, 3, 5, 5), (2, 7, 6), "pad = \"same\"", dict(padding=2), bias=False)
conv("conv", "conv_all", (4, 9, 7), (4, 2, 3, 2), (4, 5, 9), "stride = [2, 1], pad = [1, 2], dilation = [1, 2], groups = 2",
     dict(stride=(2, 1), padding=(1, 2), dilation=(1, 2), groups=2), B=3,
     note="rows of 9 outputs: the row layout in f64, batch-inner in f32")
conv("conv", "conv_partial_batch", (2, 5, 5), (2, 2, 3, 3), (2, 3, 3), "", {}, bias=False, B=4, rows=3)
conv("conv", "conv_stride_gt_kernel", (2, 8, 9), (3, 2, 2, 2), (3, 3, 3), "stride = 3", dict(stride=3),
     note="rows 2, 5, 7 and columns 2, 5, 8 are read by no window: their gradient is 0")
conv("conv", "conv_stride3_dilation2", (3, 10, 11), (4, 3, 3, 3), (4, 4, 4), "stride = 3, pad = 2, dilation = 2",
     dict(stride=3, padding=2, dilation=2))
conv("conv", "conv_stride2_dilation2", (2, 9, 9), (2, 2, 3, 3), (2, 4, 4), "stride = 2, pad = 1, dilation = 2",
     dict(stride=2, padding=1, dilation=2), bias=False)
conv("conv_layout", "conv_wide_rows", (7, 4, 21), (8, 7, 3, 3), (8, 4, 21), "pad = 1", dict(padding=1),
     note="rows of 21: the row layout in f64 and f32, its last vector overlapping; 7 and 8 channels, "
          "blocks of 6 and a remainder")
conv("conv_layout", "conv_wide_rows_stride_h", (3, 7, 18), (5, 3, 3, 3), (5, 3, 18), "stride = [2, 1], pad = [0, 1]",
     dict(stride=(2, 1), padding=(0, 1)), bias=False)
conv("conv_layout", "conv_grouped_wide", (8, 6, 10), (8, 2, 3, 3), (8, 6, 8), "pad = 1, dilation = [1, 2], groups = 4",
     dict(padding=1, dilation=(1, 2), groups=4))
conv("conv_layout", "conv_many_rows", (3, 5, 5), (8, 3, 3, 3), (8, 5, 5), "pad = 1", dict(padding=1), B=40, rows=37,
     note="37 of 40 rows: more batch columns than one tile")
conv("conv_layout", "conv_1x1_stride2", (9, 6, 7), (4, 9, 1, 1), (4, 3, 4), "stride = 2", dict(stride=2),
     note="odd rows and columns are read by no window")
case("flatten_conv_dense", "conv", "x[1,5,5] R[3]", "s[1,5,5] K[2,1,3,3] W[18,3]",
     "relu(flatten(conv2d(x * s, K, stride = 2, pad = 1))) @ W",
     lambda v: T().relu(F().conv2d(v.x * v.s, v.K, stride=2, padding=1).flatten(1)) @ v.W)

# transposed convolution (whose input gradient is a forward convolution) and upsampling
case("conv_transpose_basic", "upsample", "x[2,4,5] R[3,8,10]", "s[2,4,5] K[2,3,3,3] c[3]",
     "conv_transpose2d(x * s, K, c, stride = 2, pad = 1, output_padding = 1)",
     lambda v: F().conv_transpose2d(v.x * v.s, v.K, v.c, stride=2, padding=1, output_padding=1), B=3, rows=2)
case("conv_transpose_dilated", "upsample", "x[3,3,17] R[2,7,19]", "s[3,3,17] K[3,2,2,3]",
     "conv_transpose2d(x * s, K, stride = [2, 1], pad = [0, 1], dilation = 2)",
     lambda v: F().conv_transpose2d(v.x * v.s, v.K, stride=(2, 1), padding=(0, 1), dilation=2))
case("conv_transpose_channels", "upsample", "x[8,3,3] R[7,6,6]", "s[8,3,3] K[8,7,2,2] c[7]",
     "conv_transpose2d(x * s, K, c, stride = 2)",
     lambda v: F().conv_transpose2d(v.x * v.s, v.K, v.c, stride=2))
case("upsample_2", "upsample", "x[3,3,4] R[3,6,8]", "s[3,3,4]", "upsample(x * s, 2)",
     lambda v: F().interpolate(v.x * v.s, scale_factor=2, mode="nearest"))
case("upsample_rect", "upsample", "x[2,3,4] R[2,6,12]", "s[2,3,4]", "upsample(x * s, [2, 3])",
     lambda v: F().interpolate(v.x * v.s, scale_factor=(2, 3), mode="nearest"), B=3, rows=2)


def pool(kind, name, x, y, dl_args, t_args, t_kw, **k):
    """max_pool2d / avg_pool2d of x * s, x [x] (per example), result y."""
    gen = {"x": distinct, "s": near_one} if kind == "max" else {}
    fn = (lambda v: F().max_pool2d(v.x * v.s, *t_args, **t_kw)) if kind == "max" else \
         (lambda v: F().avg_pool2d(v.x * v.s, *t_args, **t_kw))
    case(name, kind + "pool", "x[%s] R[%s]" % (",".join(map(str, x)), ",".join(map(str, y))),
         "s[%s]" % ",".join(map(str, x)), "%s_pool2d(x * s, %s)" % (kind, dl_args), fn, gen=gen, **k)


# Pooling: every remainder of the size by the window (windows 2 and 3, along each axis), windows
# that overlap, strides that skip pixels, padding (counted or not by the average).  Max pooling
# without padding takes a fast path whose gradient writes the pixels no window reads as zeros.
for kind in ("max", "avg"):
    for k, (h, w) in [(2, (6, 7)), (2, (7, 6)), (3, (6, 7)), (3, (7, 8)), (3, (8, 6))]:
        pool(kind, "%spool_k%d_%dx%d" % (kind, k, h, w), (2, h, w), (2, h // k, w // k), str(k), (k,), {})
    pool(kind, "%spool_k2_7x7_partial" % kind, (3, 7, 7), (3, 3, 3), "2", (2,), {}, B=3, rows=2)
    pool(kind, "%spool_rect_7x8" % kind, (2, 7, 8), (2, 3, 2), "[2, 3]", ((2, 3),), {})
    pool(kind, "%spool_k3s2_8x7" % kind, (2, 8, 7), (2, 3, 3), "3, stride = 2", (3,), dict(stride=2),
         note="overlapping windows")
    pool(kind, "%spool_k2s3_9x10" % kind, (2, 9, 10), (2, 3, 3), "2, stride = 3", (2,), dict(stride=3),
         note="gaps between the windows")
pool("max", "maxpool_k3s2p1_7x6", (2, 7, 6), (2, 4, 3), "3, stride = 2, pad = 1", (3,), dict(stride=2, padding=1))
pool("max", "maxpool_k2p1_6x7", (2, 6, 7), (2, 4, 4), "2, pad = 1", (2,), dict(padding=1))
pool("max", "maxpool_k2_big", (8, 33, 33), (8, 16, 16), "2", (2,), {}, B=4, rows=3,
     note="enough work for the kernel to split its planes among threads")
for (h, w), (oh, ow) in [((5, 5), (3, 3)), ((6, 7), (3, 4))]:
    for cnt in (1, 0):
        pool("avg", "avgpool_k3s2p1_%s_%dx%d" % ("count" if cnt else "nocount", h, w), (2, h, w), (2, oh, ow),
             "3, stride = 2, pad = 1%s" % ("" if cnt else ", count_pad = 0"), (3,),
             dict(stride=2, padding=1, count_include_pad=bool(cnt)))
case("maxpool_param_7x7", "maxpool", "R[3,3,3]", "A[2,3,7,7]", "max_pool2d(A, 2)",
     lambda v: F().max_pool2d(v.A, 2), gen={"A": distinct}, note="a parameter without the batch axis")
case("avgpool_param_7x7", "avgpool", "R[3,3,2]", "A[2,3,7,7]", "avg_pool2d(A, [3, 2], stride = [2, 3])",
     lambda v: F().avg_pool2d(v.A, (3, 2), stride=(2, 3)), note="a parameter without the batch axis")
case("global_avg_pool", "avgpool", "x[4,5,3] R[4]", "s[4,5,3]", "global_avg_pool(x * s)",
     lambda v: (v.x * v.s).mean(dim=(2, 3)), B=3)

# normalisation
def bn(u, v, eps=1e-5, training=True):
    """Batch norm of u by gamma v.g and beta v.e: batch statistics in training, in evaluation the
    running statistics a trainer starts from (mean 0, variance 1; tests/cnn/bn_ref.py follows them
    through training steps)."""
    c = u.shape[1]
    torch = T()
    return F().batch_norm(u, torch.zeros(c, dtype=u.dtype), torch.ones(c, dtype=u.dtype), v.g, v.e,
                          training=training, eps=eps)


case("batch_norm_4d", "norm", "x[3,4,5] R[3,4,5]", "s[3,4,5] g[3] e[3]", "batch_norm(x * s + 1, g, e)",
     lambda v: bn(v.x * v.s + 1, v), eval_ref=lambda v: bn(v.x * v.s + 1, v, training=False), B=4)
case("batch_norm_4d_partial", "norm", "x[2,3,3] R[2,3,3]", "s[2,3,3] g[2] e[2]", "batch_norm(x * s, g, e, eps = 0.001)",
     lambda v: bn(v.x * v.s, v, 1e-3), eval_ref=lambda v: bn(v.x * v.s, v, 1e-3, False), B=6, rows=5)
case("batch_norm_2d_partial", "norm", "x[5] R[4]", "W[5,4] g[4] e[4]", "batch_norm(x @ W, g, e, eps = 0.001)",
     lambda v: bn(v.x @ v.W, v, 1e-3), eval_ref=lambda v: bn(v.x @ v.W, v, 1e-3, False), B=6, rows=4)
case("layer_norm", "norm", "x[6] R[7]", "W[6,7] g[7] e[7]", "layer_norm(x @ W, g, e)",
     lambda v: F().layer_norm(v.x @ v.W, (7,), v.g, v.e), B=3)
case("layer_norm_4d", "norm", "x[2,3,6] R[2,3,6]", "s[2,3,6] g[6] e[6]", "layer_norm(x * s, g, e)",
     lambda v: F().layer_norm(v.x * v.s, (6,), v.g, v.e), B=3, rows=2)

# pad, slice, concat
case("pad", "shape", "R[4,7]", "A[2,3,4]", "pad(A, [0, 0, 1, 0, 2, 1])", lambda v: F().pad(v.A, (2, 1, 1, 0)))
case("pad_4d", "shape", "x[2,3,4] R[2,6,7]", "s[2,3,4]", "pad(x * s, [0, 0, 0, 0, 1, 2, 2, 1])",
     lambda v: F().pad(v.x * v.s, (2, 1, 1, 2)), B=3, rows=2)
case("slice_concat", "shape", "R[6]", "A[2,5] Bm[2,3]", "concat(slice(A, 1, 1, 4), Bm, axis = 1)",
     lambda v: T().cat([v.A[:, 1:4], v.Bm], dim=1))
case("slice_concat_4d", "shape", "x[2,4,4] R[4,3,2]", "s[2,4,4]",
     "slice(concat(slice(x * s, 2, 1, 4), slice(x * s, 2, 0, 3), axis = 1), 3, -3, -1)",
     lambda v: T().cat([(v.x * v.s)[:, :, 1:4], (v.x * v.s)[:, :, 0:3]], dim=1)[..., -3:-1], B=3,
     note="overlapping slices: their gradients add up")

# dropout: checked against the mask dlc draws (see check_dropout)
DROPOUT_P = {"y": 0.25, "z": 0.5}
case("dropout", "dropout", "x[16] R[128]", "W[16,128] A[32,64] Q[32,64]", None, None, B=8, rows=7)
DROPOUT_SRC = """dim B = 8
input x : [B, 16]
input R : [B, 128]
param W : [16, 128] = normal(0, 1)
param A : [32, 64] = normal(0, 1)
param Q : [32, 64] = normal(0, 1)
output y = dropout(tanh(x @ W), 0.25)
output z = dropout(A, 0.5)
loss sum(y * R) + sum(z * Q)
"""

BY_NAME = {c.name: c for c in CASES}
GROUPS = sorted({c.group for c in CASES})


def program(c):
    if c.name == "dropout":
        return DROPOUT_SRC
    lines = ["dim B = %d" % c.B]
    for k, s in c.inputs:
        lines.append("input %s : [B%s]" % (k, "".join(", %d" % d for d in s)))
    for k, s in c.params:
        lines.append("param %s : [%s] = normal(0, 1)" % (k, ", ".join(str(d) for d in s)))
    lines.append("output y = %s" % c.expr)
    lines.append("loss sum(y * R)")
    return "\n".join(lines) + "\n"


# ---- second order ----

# Every case also builds its program with `train { optimizer = newton(damping = 1) }` in f64 (so
# its loss is differentiated twice), with the loss sum(y * R) + 0.5 * sum(y * y): with sum(y * R)
# alone the Hessian of a case whose result is linear in its parameters (pooling, upsampling, pad,
# slice, concat) is 0, and every backward op's incoming gradient is the constant R, so the second
# derivatives through that operand (conv2d_dx and conv2d_dw in dy, the pooling gradients in dy,
# upsample's gradient) would go unchecked.  The y * y term puts y, and so the parameters, into
# every incoming gradient, and makes the Hessian (J^T J and more) nonzero everywhere.
HVP_DAMPING = "train { optimizer = newton(damping = 1) }"

# Cases dlc refuses to train by Newton: dlc must exit 1 with this error (and no internal error).
FIRST_ORDER = {
    name: r"'newton' needs second derivatives of the loss: max_pool2d with a stride below its window "
          r"is differentiated once only"
    for name in ("maxpool_k3s2_8x7", "maxpool_k3s2p1_7x6")
}

# Cases whose Hessian-vector product finite differences cannot check, with the reason.  None: the
# check's step (1e-5 along a normal direction) moves a max pooling input by at most 3e-5 and
# flatten_conv_dense's ReLU inputs by 1e-4, while the draws (see `distinct`) put a window's
# maximum 9e-4 (maxpool_k2_big, 1089 values a plane) to 1e-2 or more above its runner-up, and no
# ReLU input is within 0.06 of 0: no kink lies within a step.
NO_HVPCHECK = {}

# max |Hv| must be at least this, and this many times the check's rounding floor: else the check
# (|Hv - differences| <= 1e-6 max |Hv| + floor) would pass whatever dlc's Hv is.
HVP_MIN_SCALE = 1e-2
HVP_MIN_OVER_FLOOR = 1e3


def newton_program(c):
    """The case's program trained by Newton: a curvature term 0.5 * sum(o * o) for every output o
    added to its loss, and the train block."""
    src = program(c)
    outs = re.findall(r"^output (\w+) =", src, re.M)
    lines = src.rstrip("\n").split("\n")
    k = [i for i, l in enumerate(lines) if l.startswith("loss ")]
    assert len(k) == 1 and outs, "no single loss line or no output in %s" % c.name
    lines[k[0]] += "".join(" + 0.5 * sum(%s * %s)" % (o, o) for o in outs)
    return "\n".join(lines + [HVP_DAMPING]) + "\n"


def torch_hv(loss_of, P, V):
    """PyTorch's H v by double backward: the gradient of <grad L, v>, from float64 tensors."""
    torch = T()
    tp = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in P.items()}
    L = loss_of(tp)
    ks = list(tp)
    gs = torch.autograd.grad(L, [tp[k] for k in ks], create_graph=True)
    gv = sum((gk * torch.tensor(V[k], dtype=torch.float64).reshape(gk.shape)).sum() for gk, k in zip(gs, ks))
    hs = torch.autograd.grad(gv, [tp[k] for k in ks], allow_unused=True)
    return {"hv_" + k: (h.detach().numpy() if h is not None else 0 * P[k]) for h, k in zip(hs, ks)}


def case_loss(c, I):
    """The Newton program's loss, from PyTorch's parameters (the case's reference op)."""
    torch = T()
    ti = {k: torch.tensor(v, dtype=torch.float64) for k, v in I.items()}

    def loss_of(tp):
        y = c.ref(NS({**tp, **ti}))
        return (y * ti["R"].reshape(y.shape)).sum() + 0.5 * (y * y).sum()
    return loss_of


def newton_path(c, a, d, P, I, have_torch, res, perturb, make_loss=None):
    """Builds the Newton program (f64, -fcheck-memory) and runs `--hvpcheck --dump-hvp` on the
    case's parameters and batch: dlc's H v against central differences of its gradient and, with
    PyTorch, against PyTorch's double backward along the same direction.  A case of FIRST_ORDER
    must be refused instead.  make_loss(dump of --dump-grads) gives PyTorch's loss as a function of
    the parameters (default: case_loss)."""
    import numpy as np
    import st
    name = "newton f64"
    dl = os.path.join(d, c.name + "_newton.dl")
    with open(dl, "w") as f:
        f.write(newton_program(c))
    exe = os.path.join(d, "%s_newton" % c.name)
    if os.path.exists(exe):
        os.remove(exe)
    p = run([a.dlc, dl, "-o", exe, "--dtype", "f64", "-fcheck-memory"], d)
    refused = FIRST_ORDER.get(c.name)
    if refused:
        ok = p.returncode == 1 and "internal error" not in p.stdout and re.search(refused, p.stdout) is not None
        if not ok:
            sys.stdout.write(p.stdout)
        res.check(ok, "%-10s refused by dlc, as it must be (exit status %d): %s"
                  % (name + ":", p.returncode, refused.replace("\\", "")), name + " refused")
        return
    if p.returncode != 0:
        sys.stdout.write(p.stdout)
        res.check(False, "%s: dlc failed to compile %s (exit status %d)" % (name, dl, p.returncode), name)
        return
    if c.name in NO_HVPCHECK:
        print("  skip %-10s %s" % (name + ":", NO_HVPCHECK[c.name]))
        return
    ppath, files = write_data(d, "f64", P, I, np.float64)
    h = os.path.join(d, "hvp_newton.safetensors")
    g = os.path.join(d, "grads_newton.safetensors")
    for path in (h, g):
        if os.path.exists(path):
            os.remove(path)
    r = run([exe, "--threads", "2", "--load", ppath, "--batch-from", files, "--dump-grads", g,
             "--hvpcheck", "--dump-hvp", h], d)
    m = re.search(r"^hvpcheck: (\d+) parameters, max \|Hv - finite differences of the gradient\| (\S+) "
                  r"\((\S+) relative; max \|Hv\| (\S+), rounding floor ([^)]+)\)", r.stdout, re.M)
    nparams = sum(int(np.prod(s, dtype=np.int64)) for _, s in c.params)
    ok = r.returncode == 0 and m is not None and int(m.group(1)) == nparams
    if not ok:
        sys.stdout.write(r.stdout)
    res.check(ok, "%-10s central differences of the gradient: %s" % (
        name + ":", ("%s parameters, max error %s (%s relative), max |Hv| %s, rounding floor %s"
                     % m.groups()) if m else "no hvpcheck line (exit status %d)" % r.returncode), name + " hvpcheck")
    if not m or not os.path.exists(h):
        return
    scale, floor = float(m.group(4)), float(m.group(5))
    res.check(scale >= HVP_MIN_SCALE and scale >= HVP_MIN_OVER_FLOOR * floor,
              "%-10s max |Hv| %.3g: at least %g and %g times the rounding floor %.3g"
              % (name + ":", scale, HVP_MIN_SCALE, HVP_MIN_OVER_FLOOR, floor), name + " hv scale")
    hv = st.load(h)[0]
    dump = st.load(g)[0]
    wrong = ["%s (%s)" % (k, v.dtype) for k, v in hv.items() if v.dtype != np.float64]
    missing = [k for k, _ in c.params if "v_" + k not in hv or "hv_" + k not in hv]
    if wrong or missing:
        what = ["not f64: " + ", ".join(wrong)] if wrong else []
        what += ["missing: " + ", ".join(missing)] if missing else []
        res.check(False, "%-10s --dump-hvp: %s" % (name + ":", "; ".join(what)), name + " dump")
        return
    if have_torch:
        V = {k: np.asarray(hv["v_" + k], dtype=np.float64) for k, _ in c.params}
        want = torch_hv(make_loss(dump) if make_loss else case_loss(c, I), P, V)
        compare_dumps(res, name, "f64", hv, None, want, perturb)


# ---- comparing ----

class NS:
    def __init__(self, d):
        self.__dict__.update(d)


def compare(label, got, want, dtype):
    """(ok, line): every element within rtol |want| + atol, atol from the tensor's own scale."""
    import numpy as np
    got = np.asarray(got, dtype=np.float64)
    want = np.asarray(want, dtype=np.float64)
    if got.size != want.size:
        return False, "%-10s %d elements, expected %s" % (label, got.size, list(want.shape))
    got = got.reshape(want.shape)
    scale = float(np.max(np.abs(want))) if want.size else 0.0
    if not scale > 0:
        return False, "%-10s the reference is 0 everywhere: this comparison would check nothing" % label
    rtol = TOL[dtype]
    atol = rtol * ATOL_FRACTION[dtype] * scale
    err = np.abs(got - want)
    bound = atol + rtol * np.abs(want)
    ratio = np.where(np.isfinite(got), err / bound, np.inf)
    worst = np.unravel_index(int(np.argmax(ratio)), want.shape)
    ok = bool(np.all(ratio <= 1.0))
    line = "%-10s %-14s max %.3g, worst %.3g of tolerance" % (label, str(list(want.shape)), scale, float(ratio[worst]))
    if not ok:
        line += "\n       worst element %s: dlc %.17g, torch %.17g (|diff| %.3g > atol %.3g + rtol %g * |torch|)" % (
            list(map(int, worst)), got[worst], want[worst], err[worst], atol, rtol)
    return ok, line


class Result:
    def __init__(self):
        self.bad = []          # labels of failed checks
        self.mismatch = set()  # (path, key) of mismatches with PyTorch

    def check(self, ok, line, label):
        print("  %s %s" % ("ok  " if ok else "FAIL", line))
        if not ok:
            self.bad.append(label)
        return ok


# ---- running ----

def run(cmd, cwd):
    print("  $ " + " ".join(cmd), flush=True)
    p = subprocess.run(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=300)
    return p


def draw(c, seed):
    import numpy as np
    rng = np.random.default_rng(seed)
    P = {k: np.asarray(c.gen.get(k, normal)(rng, s), dtype=np.float64) for k, s in c.params}
    I = {k: np.asarray(c.gen.get(k, normal)(rng, (c.rows,) + s), dtype=np.float64) for k, s in c.inputs}
    return P, I


def write_data(d, tag, P, I, npdt):
    import numpy as np
    import st
    ppath = os.path.join(d, "params_%s.safetensors" % tag)
    st.save(ppath, {k: v.astype(npdt) for k, v in P.items()})
    files = []
    for k, v in I.items():
        path = os.path.join(d, "%s_%s.npy" % (k, tag))
        np.save(path, v.astype(npdt))
        files.append(path)
    return ppath, ",".join(files)


def torch_want(c, P, I):
    """Loss, y and every d_<param> by torch autograd in float64 (from the numbers given), and the
    evaluation-mode loss and y (fwd:loss, fwd:y)."""
    torch = T()
    tp = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in P.items()}
    ti = {k: torch.tensor(v, dtype=torch.float64) for k, v in I.items()}
    y = c.ref(NS({**tp, **ti}))
    loss = (y * ti["R"].reshape(y.shape)).sum()
    loss.backward()
    want = {"loss": loss.detach().numpy(), "y": y.detach().numpy()}
    for k in P:
        want["d_" + k] = tp[k].grad.numpy()
    with torch.no_grad():
        ye = (c.eval_ref or c.ref)(NS({**tp, **ti}))
        want["fwd:loss"] = (ye * ti["R"].reshape(ye.shape)).sum().numpy()
        want["fwd:y"] = ye.numpy()
    return want


class Path:
    def __init__(self, name, dtype, cmd, gradcheck):
        self.name, self.dtype, self.cmd, self.gradcheck = name, dtype, cmd, gradcheck


def paths(c, a, d, src):
    """Writes the program and builds the trainers: the paths, and each dtype's NumPy type."""
    import numpy as np
    dl = os.path.join(d, c.name + ".dl")
    with open(dl, "w") as f:
        f.write(src)
    out = []
    for dtype, extra in (("f64", ["-fcheck-memory"]), ("f32", [])):
        exe = os.path.join(d, "%s_%s" % (c.name, dtype))
        if os.path.exists(exe):
            os.remove(exe)
        p = run([a.dlc, dl, "-o", exe, "--dtype", dtype] + extra, d)
        if p.returncode != 0:
            sys.stdout.write(p.stdout)
            raise RuntimeError("dlc failed to compile %s in %s (exit status %d)" % (dl, dtype, p.returncode))
        out.append(Path("c " + dtype, dtype, [exe, "--threads", "2"], dtype == "f64"))
    if a.jit:
        out.append(Path("jit f64", "f64", [a.dlc, "run", "--dtype", "f64", "-fcheck-memory", dl, "--threads", "2"], True))
    return out, {"f64": np.float64, "f32": np.float32}


# The trainer's gradient check passes an element within 1e-6 + 1e-4 |gradient|: a gradient whose
# largest element is not well above 1e-6 would pass it whatever its value.
GRADCHECK_MIN_SCALE = 1e-2


def run_path(p, d, ppath, files, res, params, extra=()):
    """Runs the path's trainer: returns (training-mode dump, evaluation-mode dump) or None."""
    import numpy as np
    import st
    tag = p.name.replace(" ", "_")
    g = os.path.join(d, "grads_%s.safetensors" % tag)
    f = os.path.join(d, "forward_%s.safetensors" % tag)
    for path in (g, f):
        if os.path.exists(path):
            os.remove(path)
    cmd = p.cmd + ["--load", ppath, "--batch-from", files, "--dump-forward", f, "--dump-grads", g] + list(extra)
    if p.gradcheck:
        cmd.append("--gradcheck")
    r = run(cmd, d)
    if p.cmd[1:2] == ["run"] and not re.search(r"compiled in [0-9.]+ s \(LLVM [0-9.]+ JIT", r.stdout):
        sys.stdout.write(r.stdout)
        res.check(False, "%s: dlc run did not say that its LLVM JIT compiled the model" % p.name, p.name)
        return None
    if p.gradcheck:
        checked = set(re.findall(r"^gradcheck ([\w.]+):", r.stdout, re.M))
        missing = [k for k in params if k not in checked]
        ok = r.returncode == 0 and "gradcheck: passed" in r.stdout and not missing
        if not ok:
            sys.stdout.write(r.stdout)
        res.check(ok, "%-10s central differences%s" % (p.name + ":", " (not reported: %s)" % ", ".join(missing)
                                                        if missing else ""), p.name + " gradcheck")
        if not os.path.exists(g):
            return None
    elif r.returncode != 0:
        sys.stdout.write(r.stdout)
        res.check(False, "%s: the trainer failed (exit status %d)" % (p.name, r.returncode), p.name)
        return None
    got, fwd = st.load(g)[0], st.load(f)[0]
    want_dt = np.dtype(np.float64 if p.dtype == "f64" else np.float32)
    wrong = ["%s (%s)" % (k, v.dtype) for k, v in list(got.items()) + list(fwd.items()) if v.dtype != want_dt]
    if wrong:
        res.check(False, "%-8s dumped as another type than %s: %s" % (p.name, p.dtype, ", ".join(wrong)), p.name + " dtype")
    if p.gradcheck:
        small = ["d_%s (%.2g)" % (k, float(np.max(np.abs(got["d_" + k])))) for k in params
                 if "d_" + k in got and not float(np.max(np.abs(got["d_" + k]))) >= GRADCHECK_MIN_SCALE]
        if small:
            res.check(False, "%-8s gradients too small for the finite-difference check to mean anything: %s"
                      % (p.name, ", ".join(small)), p.name + " gradient scale")
    return got, fwd


def compare_dumps(res, pname, dtype, got, fwd, want, perturb):
    """Training-mode loss, outputs and gradients (from got), and the evaluation-mode loss and
    outputs (from fwd, want's keys fwd:NAME)."""
    for label in want:
        dump, key = (fwd, label[4:]) if label.startswith("fwd:") else (got, label)
        w = want[label]
        if perturb and label in perturb:
            w = w * perturb[label]
        if key not in dump:
            res.check(False, "%s %s: not in the dump" % (pname, label), pname + " " + label)
            continue
        ok, line = compare(label, dump[key], w, dtype)
        if not res.check(ok, "%-8s %s" % (pname, line), pname + " " + label):
            res.mismatch.add((pname, label))


def run_case(c, a, seed, have_torch, perturb):
    import numpy as np
    res = Result()
    d = os.path.join(a.workdir, c.name)
    os.makedirs(d, exist_ok=True)
    print("case %s (group %s): seed %d, %d of %d batch rows%s" % (c.name, c.group, seed, c.rows, c.B,
                                                                  "; " + c.note if c.note else ""), flush=True)
    if c.name == "dropout":
        return check_dropout(c, a, d, seed, have_torch, res, perturb)
    P, I = draw(c, seed)
    ps, dts = paths(c, a, d, program(c))
    dumps = {}
    for p in ps:
        npdt = dts[p.dtype]
        ppath, files = write_data(d, p.dtype, P, I, npdt)
        got = run_path(p, d, ppath, files, res, [k for k, _ in c.params])
        if got is None:
            continue
        dumps[p.name] = got
        if have_torch:
            # the reference from the numbers dlc had (rounded to f32 for f32)
            want = torch_want(c, {k: v.astype(npdt).astype(np.float64) for k, v in P.items()},
                              {k: v.astype(npdt).astype(np.float64) for k, v in I.items()})
            compare_dumps(res, p.name, p.dtype, got[0], got[1], want, perturb)
    if not have_torch and "jit f64" in dumps and "c f64" in dumps:
        g, f = dumps["c f64"]
        want = {k: g[k] for k in g if k in ("loss", "y") or k.startswith("d_")}
        want.update({"fwd:" + k: f[k] for k in ("loss", "y")})
        compare_dumps(res, "jit~c", "f64", dumps["jit f64"][0], dumps["jit f64"][1], want, None)
    newton_path(c, a, d, P, I, have_torch, res, perturb)
    return res


# ---- dropout ----

def check_mask(res, pname, name, y, t, p):
    """y: dlc's training-mode output, t: its input (dlc's evaluation-mode output).  Returns the mask."""
    import numpy as np
    y = np.asarray(y, dtype=np.float64)
    t = np.asarray(t, dtype=np.float64).reshape(y.shape)
    kept = y != 0
    n = y.size
    ok = bool(np.all(t != 0))
    res.check(ok, "%-8s %s: its input has no zeros (so a zero output means dropped)" % (pname, name), pname + " " + name)
    scaled = np.abs(y[kept] - t[kept] / (1 - p)) <= 1e-4 * np.abs(t[kept] / (1 - p))
    res.check(bool(np.all(scaled)), "%-8s %s: every kept value is its input / (1 - %g) (%d of %d not)"
              % (pname, name, p, int(np.sum(~scaled)), int(kept.sum())), pname + " " + name + " scale")
    for part, m in (("all", kept.reshape(-1)), ("first half", kept.reshape(-1)[:n // 2]),
                    ("second half", kept.reshape(-1)[n // 2:])):
        k, sd = int(m.sum()), (m.size * p * (1 - p)) ** 0.5
        ok = abs(k - m.size * (1 - p)) <= 5 * sd
        res.check(ok, "%-8s %s: %s: %d of %d kept, %.4f (1 - p = %g, 5 sd = %.4f)"
                  % (pname, name, part, k, m.size, k / m.size, 1 - p, 5 * sd / m.size),
                  pname + " " + name + " fraction " + part)
    rows = kept.reshape(kept.shape[0], -1)
    res.check(bool(np.any(rows != rows[:1])), "%-8s %s: the rows' masks differ" % (pname, name),
              pname + " " + name + " rows")
    return kept


def dropout_loss(I):
    """The Newton program's loss for PyTorch, with the masks of dlc's training-mode outputs (a dump
    of --dump-grads): dlc must draw the same masks in its gradients and its H v."""
    import numpy as np
    torch = T()
    ti = {k: torch.tensor(v, dtype=torch.float64) for k, v in I.items()}

    def make_loss(dump):
        my = torch.tensor(np.asarray(dump["y"]) != 0, dtype=torch.float64).reshape(ti["R"].shape)
        mz = torch.tensor(np.asarray(dump["z"]) != 0, dtype=torch.float64)

        def loss_of(tp):
            ty = torch.tanh(ti["x"] @ tp["W"]) * my / (1 - DROPOUT_P["y"])
            tz = tp["A"] * mz.reshape(tp["A"].shape) / (1 - DROPOUT_P["z"])
            return (ty * ti["R"]).sum() + (tz * tp["Q"]).sum() + 0.5 * (ty * ty).sum() + 0.5 * (tz * tz).sum()
        return loss_of
    return make_loss


def check_dropout(c, a, d, seed, have_torch, res, perturb):
    import numpy as np
    P, I = draw(c, seed)
    ps, dts = paths(c, a, d, program(c))
    masks = {}
    for p in ps:
        npdt = dts[p.dtype]
        ppath, files = write_data(d, p.dtype, P, I, npdt)
        got = run_path(p, d, ppath, files, res, [k for k, _ in c.params])
        if got is None:
            continue
        g, f = got
        Pr = {k: v.astype(npdt).astype(np.float64) for k, v in P.items()}
        Ir = {k: v.astype(npdt).astype(np.float64) for k, v in I.items()}
        t = np.tanh(Ir["x"] @ Pr["W"])
        # evaluation mode: the identity (checked against NumPy here, PyTorch below)
        ok, line = compare("fwd:z", f["z"], Pr["A"], p.dtype)
        res.check(ok, "%-8s %s (evaluation mode: the identity)" % (p.name, line), p.name + " fwd:z")
        ok, line = compare("fwd:y", f["y"], t, p.dtype)
        res.check(ok, "%-8s %s (evaluation mode: the identity)" % (p.name, line), p.name + " fwd:y")
        my = check_mask(res, p.name, "y", g["y"], f["y"], DROPOUT_P["y"])
        mz = check_mask(res, p.name, "z", g["z"], f["z"], DROPOUT_P["z"])
        masks[p.name] = (my, mz)
        # the gradient of the dropped elements is exactly zero, the others' Q / (1 - p)
        dA = np.asarray(g["d_A"], dtype=np.float64).reshape(mz.shape)
        res.check(bool(np.all(dA[~mz] == 0)), "%-8s d_A is exactly 0 where z was dropped (%d elements)"
                  % (p.name, int((~mz).sum())), p.name + " d_A zero")
        ok, line = compare("d_A kept", dA[mz], Pr["Q"][mz] / (1 - DROPOUT_P["z"]), p.dtype)
        res.check(ok, "%-8s %s (Q / (1 - p))" % (p.name, line), p.name + " d_A kept")
        if have_torch:
            torch = T()
            tp = {k: torch.tensor(v, requires_grad=True) for k, v in Pr.items()}
            ti = {k: torch.tensor(v) for k, v in Ir.items()}
            ty = torch.tanh(ti["x"] @ tp["W"]) * torch.tensor(my) / (1 - DROPOUT_P["y"])
            tz = tp["A"] * torch.tensor(mz) / (1 - DROPOUT_P["z"])
            loss = (ty * ti["R"]).sum() + (tz * tp["Q"]).sum()
            loss.backward()
            want = {"loss": loss.detach().numpy(), "y": ty.detach().numpy(), "z": tz.detach().numpy()}
            want.update({"d_" + k: tp[k].grad.numpy() for k in tp})
            compare_dumps(res, p.name, p.dtype, g, None, want, None)
    # the same seed, the same masks (the JIT and the trainer); another seed, other masks
    if "c f64" in masks and "jit f64" in masks:
        same = all(np.array_equal(x, y) for x, y in zip(masks["c f64"], masks["jit f64"]))
        res.check(same, "the JIT drew the trainer's masks (the same --seed)", "jit masks")
    p64 = [p for p in ps if p.name == "c f64"][0]
    ppath, files = write_data(d, "f64", P, I, np.float64)
    got = run_path(Path("seed 2", "f64", p64.cmd, False), d, ppath, files, res, [], ["--seed", "2"])
    if got is not None and "c f64" in masks:
        my2 = np.asarray(got[0]["y"]) != 0
        mz2 = np.asarray(got[0]["z"]) != 0
        res.check(not np.array_equal(my2, masks["c f64"][0]) and not np.array_equal(mz2, masks["c f64"][1]),
                  "--seed 2 draws other masks (y: %d of %d elements differ)" % (int((my2 != masks["c f64"][0]).sum()),
                                                                                my2.size), "seed masks")
    newton_path(c, a, d, P, I, have_torch, res, perturb, dropout_loss(I))
    return res


# ---- main ----

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("cases", nargs="*", metavar="CASE")
    ap.add_argument("--dlc")
    ap.add_argument("--workdir")
    ap.add_argument("--list", action="store_true", help="print the case names, one a line")
    ap.add_argument("--list-groups", action="store_true", help="print the groups, separated by ';'")
    ap.add_argument("--group", help="run every case of this group")
    ap.add_argument("--jit", action="store_true", help="also run each case through `dlc run` (the LLVM JIT)")
    ap.add_argument("--seed", type=int, help="the seed of every case run (default: crc32 of the case's name)")
    ap.add_argument("--perturb", metavar="FACTOR:KEY", action="append", default=[],
                    help="scale the PyTorch reference of KEY (repeatable): exit 1 only if every path that "
                         "compares KEY finds the mismatch")
    a = ap.parse_args()
    if a.list:
        print("\n".join(c.name for c in CASES))
        return 0
    if a.list_groups:
        print(";".join(GROUPS))
        return 0
    if not a.dlc or not a.workdir:
        ap.error("give --dlc and --workdir")
    a.dlc = os.path.abspath(a.dlc)
    a.workdir = os.path.abspath(a.workdir)
    todo = [c for c in CASES if c.group == a.group] if a.group else []
    for name in a.cases:
        if name not in BY_NAME:
            ap.error("no case %r (see --list)" % name)
        todo.append(BY_NAME[name])
    if not todo:
        ap.error("give a --group (%s) or case names" % ", ".join(GROUPS))
    try:
        import torch  # noqa: F401
        have_torch = True
    except ImportError:
        have_torch = False
        print("PyTorch not available (install python3-torch): gradient checks only%s"
              % (", and the JIT against the trainer" if a.jit else ""))
    perturb = {}
    for arg in a.perturb:
        factor, _, key = arg.partition(":")
        perturb[key] = float(factor)
        if not have_torch:
            print("SKIP: --perturb compares with PyTorch")
            return SKIP
    failed = []
    for c in todo:
        seed = a.seed if a.seed is not None else zlib.crc32(c.name.encode())
        try:
            res = run_case(c, a, seed, have_torch, perturb)
        except Exception as e:  # a harness or build error is a failure too
            import traceback
            traceback.print_exc()
            res = Result()
            res.bad.append("error: %s" % e)
        if res.bad:
            failed.append((c, seed, res))
            print("FAIL %s: %s" % (c.name, ", ".join(res.bad)))
        else:
            print("ok   %s" % c.name)
    print("%d cases, %d failed; paths: c f64 (-fcheck-memory, with --gradcheck), c f32%s, newton f64 "
          "(--hvpcheck); %s"
          % (len(todo), len(failed), ", jit f64" if a.jit else "",
             "against PyTorch" if have_torch else "PyTorch missing: finite differences only"))
    for c, seed, res in failed:
        print("rerun %s: %s %s --dlc %s --workdir %s --seed %d%s%s %s" % (
            c.name, sys.executable, os.path.abspath(__file__), a.dlc, a.workdir, seed, " --jit" if a.jit else "",
            "".join(" --perturb " + p for p in a.perturb), c.name))
    if perturb:
        # every path that compares a key with PyTorch must have caught its perturbation: H v
        # (hv_NAME) the Newton path, the others the trainers' paths
        caught = len(failed) == len(todo)
        for key, factor in perturb.items():
            want_paths = {"newton f64"} if key.startswith("hv_") else \
                {p for p in ("c f64", "c f32", "jit f64") if p != "jit f64" or a.jit}
            ok = len(failed) == len(todo) and all(all((p, key) in res.mismatch for p in want_paths)
                                                  for _, _, res in failed)
            print("perturbed %s by %g: %s" % (key, factor, "caught on every path" if ok else "NOT caught"))
            caught = caught and ok
        return 1 if caught else 0
    if failed:
        return 1
    if not have_torch:
        if os.environ.get("DLC_REQUIRE_TORCH", "") not in ("", "0"):
            print("FAIL: PyTorch not available and DLC_REQUIRE_TORCH is set")
            return 1
        return SKIP
    return 0


if __name__ == "__main__":
    sys.exit(main())
