"""cases.py - the table of op-level reference cases for dlc.

Each case is one entry of CASES: a name, a small .dl program whose params
hold the op's operands (so every operand gets a gradient), a PyTorch function
computing the same loss and outputs, generators for params and inputs, and
the number of batch rows to feed.  run_case.py compiles the program, feeds it
the same numbers and compares loss, outputs and every gradient with torch
autograd in float64; in gradcheck mode it runs the trainer's own finite
difference check instead.

Adding a case is one entry:

    ew("mul_row", "a[3] b[B,3]", "a * b", "B,3", lambda v: v.a * v.b),

`ew` builds the usual program: the params, an input R of the output's shape,
`output o = EXPR` and `loss sum(o * (R + 2))`, so gradients are weighted by
random numbers rather than all ones.  `red` does the same for scalar outputs
(`loss o * sum(R + 2)`), and `case` takes a whole program.

Partial batches (rows < B): the trainer leaves the rows past n as zeros, so
a missing row bound only shows when those rows would contribute something
non-zero.  Hence the `R + 2` weights, and partial cases feed their inputs
through exp(x), x + 1, a bias or a loss that is non-zero at 0.  The torch function gets one namespace
`v` holding every param (float64, requires_grad) and input/label (only the
rows fed) by its .dl name, and returns the loss, or (loss, {output: tensor}).

Generators keep values away from kinks: `away` for relu/abs and divisors,
`pos` for log/sqrt/fractional powers, `distinct` for max (no ties).  Params
and inputs default to N(0, 1); labels need `labels(C)`.

This file must import without torch (CTest lists the cases at configure
time, and gradcheck mode needs only numpy), so `torch` and `F` below are
resolved on first use.
"""
import importlib
import textwrap
import zlib

import numpy as np


class _Lazy:
    """A module imported on first attribute access."""

    def __init__(self, name):
        self._name = name
        self._mod = None

    def __getattr__(self, attr):
        if self._mod is None:
            self._mod = importlib.import_module(self._name)
        return getattr(self._mod, attr)


torch = _Lazy("torch")
F = _Lazy("torch.nn.functional")


# ---- generators: (numpy Generator, shape) -> float64 or int32 array ----

def normal(std=1.0, mean=0.0):
    return lambda rng, shape: rng.normal(mean, std, shape)


def pos(lo=0.5, hi=2.0):
    """Uniform in [lo, hi]: for log, sqrt, fractional powers."""
    return lambda rng, shape: rng.uniform(lo, hi, shape)


def away(lo=0.3, hi=1.5):
    """|x| in [lo, hi] with a random sign: for relu, abs and divisors."""
    return lambda rng, shape: rng.choice([-1.0, 1.0], shape) * rng.uniform(lo, hi, shape)


def distinct(spread=3.0):
    """Every element different, at least spread/numel apart: no max ties."""
    def gen(rng, shape):
        n = int(np.prod(shape, dtype=np.int64))
        step = spread / max(n, 1)
        v = (rng.permutation(n) - (n - 1) / 2.0) * step + rng.uniform(-0.2, 0.2, n) * step
        return v.reshape(shape)
    return gen


def probs():
    """Targets of bce, in (0, 1)."""
    return pos(0.05, 0.95)


def labels(classes):
    return lambda rng, shape: rng.integers(0, classes, shape).astype(np.int32)


def const(value):
    return lambda rng, shape: np.full(shape, float(value))


def labels_ignoring(classes, ignore, frac=0.3):
    """Labels in [0, classes), about `frac` of them the ignored label."""
    def gen(rng, shape):
        y = rng.integers(0, classes, shape)
        return np.where(rng.uniform(0, 1, shape) < frac, ignore, y).astype(np.int32)
    return gen


def frozen(c, *names):
    """The params `names` get no gradient (class weights become buffers)."""
    c.frozen = names
    return c


def no_gradcheck(c, why):
    """A case whose gradient is by design not the derivative of its loss (it
    stops gradients): no grad.* test, only the torch references."""
    c.no_gradcheck = why
    return c


def noisy(c, **noise):
    """The case's random tensors by name: NAME=("normal" | "uniform", shape).
    The same values go to the trainer (--noise) and, as v.NAME, to the torch
    function."""
    c.noise = noise
    return c


# ---- the table ----

class Case:
    def __init__(self, name, src, ref, gen=None, rows=None, note="", reject=None, smaller=None):
        self.name = name
        self.src = textwrap.dedent(src).strip() + "\n"
        self.ref = ref
        self.gen = gen or {}
        self.rows = rows      # batch rows fed; None = the whole batch
        self.note = note
        self.reject = reject  # a regex: dlc must reject the program with this error
        self.smaller = smaller  # a dim: -D DIM=rows must give the same numbers
        self.parts = None     # ew and red: what the program is made of (see routed)

    @property
    def seed(self):
        return zlib.crc32(self.name.encode())


def case(name, src, ref, gen=None, rows=None, note="", smaller=None):
    return Case(name, src, ref, gen, rows, note, smaller=smaller)


def _params(decls):
    """'a[B,3] b[3] s[]' -> .dl param lines."""
    out = []
    for d in decls.split():
        name, shape = d.rstrip("]").split("[")
        out.append("param %s : [%s]" % (name, ", ".join(x for x in shape.split(",") if x)))
    return "\n".join(out)


def _program(dims, inputs, params, r_shape, expr, loss):
    dl = ["dim " + d.strip() for d in dims.split(";")]
    if inputs:
        dl.append(inputs)
    dl.append(_params(params))
    dl.append("input R : f32[%s]" % ", ".join(r_shape.split(",")))
    dl.append("output o = " + expr)
    dl.append("loss " + loss)
    return "\n".join(dl)


def ew(name, params, expr, out, ref, gen=None, rows=None, dims="B = 4", inputs="", note=""):
    """o = EXPR of shape OUT; loss sum(o * (R + 2)) with R a random input of
    that shape.  `dims` is "B = 4" or "B = 4; H = 3"; `inputs` declares more
    inputs (before R, so they come first on --batch-from)."""
    def full(v):
        o = ref(v)
        return (o * (v.R + 2)).sum(), {"o": o}
    c = Case(name, _program(dims, inputs, params, out, expr, "sum(o * (R + 2))"), full, gen, rows, note)
    c.parts = dict(scalar=False, params=params, expr=expr, out=out, ref=ref, dims=dims, inputs=inputs)
    return c


def red(name, params, expr, ref, gen=None, rows=None, dims="B = 4", inputs="", note=""):
    """A scalar o = EXPR; loss o * sum(R + 2), R : f32[B]."""
    def full(v):
        o = ref(v)
        return o * (v.R + 2).sum(), {"o": o}
    c = Case(name, _program(dims, inputs, params, "B", expr, "o * sum(R + 2)"), full, gen, rows, note)
    c.parts = dict(scalar=True, params=params, expr=expr, out="B", ref=ref, dims=dims, inputs=inputs)
    return c


def _attention(v):
    def heads(z):
        return z.reshape(-1, 3, 2, 2).permute(0, 2, 1, 3)
    att = torch.softmax(heads(v.x @ v.Wq) @ heads(v.x @ v.Wk).transpose(-1, -2), -1)
    o = (att @ heads(v.x @ v.Wv)).permute(0, 2, 1, 3).reshape(-1, 3, 4)
    return (o.mean(0) * v.C).sum(), {"o": o}


def _xent(z, y):
    return F.cross_entropy(z, y.long())

def _input_grad(f, x):
    """torch.autograd.grad of the scalar f(x) with respect to x, kept in the
    graph (create_graph) so that a loss can differentiate it again."""
    x = x.detach().clone().requires_grad_()
    return torch.autograd.grad(f(x), x, create_graph=True)[0]


def _grad_mlp(v):
    def net(u):
        return torch.tanh(u @ v.W1 + v.b1) @ v.W2
    gx = _input_grad(lambda u: _xent(net(u), v.y), v.x)
    return (gx * (v.R + 2)).sum() + _xent(net(v.x), v.y), {"gx": gx}


def _grad_hidden(v):
    h = torch.tanh(v.x @ v.W1 + v.b1)
    gh = torch.autograd.grad(((h @ v.W2) ** 2).sum(), h, create_graph=True)[0]
    return (gh * (v.R + 2)).sum(), {"gh": gh}


def _gradient_penalty(v):
    def D(u):
        return F.leaky_relu(u @ v.W1 + v.b1, 0.2) @ v.W2 + v.b2
    g = _input_grad(lambda u: D(u).sum(), v.a * v.x + (1 - v.a) * v.z)
    gp = ((g.pow(2).sum(1).sqrt() - 1) ** 2).mean()
    return D(v.z).mean() - D(v.x).mean() + 10 * gp, {"gp": gp}


def _grad_conv_pool(v):
    def net(u):
        return F.avg_pool2d(F.max_pool2d(torch.tanh(F.conv2d(u, v.K)), 2), 2).flatten(1) @ v.W
    gx = _input_grad(lambda u: _xent(net(u), v.y), v.x)
    return _xent(net(v.x), v.y) + (gx ** 2).sum(), {"gx": gx}


def _fgsm(v):
    def net(u):
        return torch.tanh(u @ v.W1 + v.b1) @ v.W2
    xa = (v.x + 0.1 * torch.sign(_input_grad(lambda u: _xent(net(u), v.y), v.x))).detach()
    return _xent(net(xa), v.y), {"xa": xa}



def _nll(z, y):
    return F.nll_loss(z, y.long())


def _bce(z, t):
    return F.binary_cross_entropy_with_logits(z, t)


def _batchnorm_like(v):
    u = v.x * v.g
    c = u - u.mean(0, keepdim=True)
    o = c / torch.sqrt((c * c).mean(0, keepdim=True) + 0.5) * v.s
    return (o * (v.R + 2)).sum(), {"o": o}


def _merge_regroup(v):
    o = torch.exp(v.x * v.w).reshape(-1, 9)
    return (o.reshape(v.x.shape[0], -1) * (v.R + 2)).sum() + o.mean(), {"o": o}


def _conv_merge(v):
    x = v.x.reshape(-1, 3, 5, 5)
    h = F.max_pool2d(torch.relu(F.conv2d(x, v.K, v.c, padding=1)), 2)
    g = F.avg_pool2d(h, 2) + h.mean((2, 3)).reshape(-1, 4, 1, 1)
    return ((g.flatten(1) @ v.W + 1) ** 2).mean()


def _bce_mse_concat(v):
    z = torch.cat([v.x @ v.W, torch.exp(v.x) @ v.W], 0)
    return _bce(z, torch.cat([v.t, v.u], 0)) + F.mse_loss(z.reshape(-1), torch.cat([v.u, v.t], 0).reshape(-1))


def _concat_slice(v):
    o = torch.cat([v.x, torch.exp(v.y), v.x * v.y], 0) @ v.W + v.c
    h = o[v.x.shape[0]:]
    return (h.t() @ h).sum() + o.mean(), {"o": o}


def _argmax_one_hot(v):
    z = v.x @ v.W
    pred, col = z.argmax(1), z.argmax(0)
    h = F.one_hot(pred, 3).double() + F.one_hot(v.y, 3).double() * 2
    loss = _xent(z, v.y) + (F.one_hot(pred, 3) * z).sum() + (F.one_hot(col, v.x.shape[0]) * z.t()).sum()
    return loss, {"pred": pred, "col": col, "h": h}


# ---- recurrences: scan, and the prelude's cells against torch.nn ----

def prefix_mask(lo=1):
    """[B, T] masks of ones then zeros: each row a sequence of length >= lo."""
    def gen(rng, shape):
        b, t = shape
        lens = rng.integers(lo, t + 1, b)
        return (np.arange(t)[None, :] < lens[:, None]).astype(np.float64)
    return gen


def steps_f32(c, factor=10):
    """A recurrence in f32: backpropagation through time adds up rounding over
    the steps, so the absolute tolerance (a fraction of the tensor's largest
    element) is `factor` times the usual one; f64 keeps the usual bound."""
    c.f32_atol = factor
    return c


def saturated_f32(c, floor, why):
    """A case whose f32 gradients f32 arithmetic cannot resolve (sigmoid(a) or tanh(a)
    rounds to 1, so the gradient 1 - y^2 is 0, in PyTorch's f32 as in dlc's): in f32 its
    gradients are held to the absolute `floor` besides their own scale, with the reason
    printed; f64 compares them at their own scale."""
    c.f32_floor = (floor, why)
    return c


def rnn_layer(c, kind, name, i, h):
    """The params of a prelude recurrent layer instance `name` (kind rnn, gru
    or lstm with i inputs and h units), which the program does not declare."""
    g = {"rnn": 1, "gru": 3, "lstm": 4}[kind] * h
    c.layer_params = getattr(c, "layer_params", []) + [
        (name + ".weight_ih_l0", (g, i)), (name + ".weight_hh_l0", (g, h)),
        (name + ".bias_ih_l0", (g,)), (name + ".bias_hh_l0", (g,))]
    return c


def _torch_rnn(kind, v, prefix, x, h0=None, mask=None):
    """torch.nn.RNN/GRU/LSTM (batch_first) with v's weights PREFIX.weight_ih_l0 ...:
    every step's h, or with a mask the final states of the packed sequences."""
    names = ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0")
    w = [getattr(v, prefix + "." + k) for k in names]
    mod = {"rnn": torch.nn.RNN, "gru": torch.nn.GRU, "lstm": torch.nn.LSTM}[kind](
        x.shape[2], w[1].shape[1], batch_first=True).double()
    mod._flat_weights = w  # the module's forward reads its weights from this list
    if mask is not None:
        lens = mask.sum(1).long().cpu()
        packed = torch.nn.utils.rnn.pack_padded_sequence(x, lens, batch_first=True, enforce_sorted=False)
        return mod(packed)[1]
    out = mod(x) if h0 is None else mod(x, h0)
    return out[0]


def torch_params(c, *groups):
    """The params of prelude layer instances, which the program does not
    declare: groups of (kind, name, sizes...), kind "mha" (d), "block" (d, ff)
    or "linear" (i, o, PyTorch's layout)."""
    ps = []
    for kind, name, *n in groups:
        if kind == "linear":
            ps += [(name + ".weight", (n[1], n[0])), (name + ".bias", (n[1],))]
        elif kind == "mha":
            d = n[0]
            ps += [(name + ".in_proj_weight", (3 * d, d)), (name + ".in_proj_bias", (3 * d,)),
                   (name + ".out_proj.weight", (d, d)), (name + ".out_proj.bias", (d,))]
        elif kind == "block":
            d, ff = n
            ps += [(name + ".self_attn.in_proj_weight", (3 * d, d)), (name + ".self_attn.in_proj_bias", (3 * d,)),
                   (name + ".self_attn.out_proj.weight", (d, d)), (name + ".self_attn.out_proj.bias", (d,)),
                   (name + ".linear1.weight", (ff, d)), (name + ".linear1.bias", (ff,)),
                   (name + ".linear2.weight", (d, ff)), (name + ".linear2.bias", (d,)),
                   (name + ".norm1.weight", (d,)), (name + ".norm1.bias", (d,)),
                   (name + ".norm2.weight", (d,)), (name + ".norm2.bias", (d,))]
    c.layer_params = getattr(c, "layer_params", []) + ps
    return c


def _with_weights(mod, v, prefix):
    """A torch module (float64, training mode) whose parameters are v's
    tensors PREFIX.NAME (the state dict's keys), so gradients reach them."""
    mod = mod.double().train()
    for key, _ in list(mod.named_parameters()):
        *path, leaf = key.split(".")
        owner = mod
        for part in path:
            owner = getattr(owner, part)
        delattr(owner, leaf)
        setattr(owner, leaf, getattr(v, prefix + "." + key))
    return mod


def _attn_masks(v, t):
    """torch's masks for dlc's causal(t) and padding mask v.m [n, t] (1 = a
    token): attn_mask True where a query may not look, key_padding_mask True
    at padding."""
    causal = torch.triu(torch.ones(t, t, dtype=torch.bool), 1)
    return causal, v.m < 0.5


def _torch_mha(v, prefix, x, nh):
    mod = _with_weights(torch.nn.MultiheadAttention(x.shape[2], nh, batch_first=True), v, prefix)
    causal, pad = _attn_masks(v, x.shape[1])
    return mod(x, x, x, attn_mask=causal, key_padding_mask=pad, need_weights=False)[0]


def _torch_block(v, prefix, x, nh, ff):
    mod = _with_weights(torch.nn.TransformerEncoderLayer(x.shape[2], nh, ff, dropout=0.0, activation="gelu",
                                                         batch_first=True, norm_first=True), v, prefix)
    causal, pad = _attn_masks(v, x.shape[1])
    return mod(x, src_mask=causal, src_key_padding_mask=pad)


def _composed_attention(v, nh):
    """softmax(q k^T / sqrt(e) masked) v by hand, heads split and merged."""
    n, t, d = v.x.shape
    def split(z):
        return z.reshape(n, t, nh, d // nh).transpose(1, 2)
    q, k, w = split(v.x @ v.Wq), split(v.x @ v.Wk), split(v.x @ v.Wv)
    causal, pad = _attn_masks(v, t)
    bad = causal[None, None] | pad[:, None, None, :]
    s = (q @ k.transpose(-1, -2) / (d // nh) ** 0.5).masked_fill(bad, float("-inf"))
    p = torch.softmax(s, -1)
    o = (p @ w).transpose(1, 2).reshape(n, t, d)
    return ((o * (v.R + 2)).sum(), {"o": o, "p": p})


def _unrolled(v):
    """The scan case by hand: two carries, two sequences, in reverse."""
    h, c = torch.zeros(v.x.shape[0], 3, dtype=torch.float64), v.c0.expand(v.x.shape[0], 3)
    hs = [None] * v.x.shape[1]
    for t in reversed(range(v.x.shape[1])):
        h, c = torch.tanh(v.x[:, t] @ v.U + h @ v.W + c * v.s[:, t:t + 1]), c * 0.5 + h
        hs[t] = h
    o = torch.stack(hs, 1)
    return (o * (v.R + 2)).sum() + (c * v.K).sum(), {"o": o}


def _scan_context(v):
    """A scan whose body reads values from outside the loop: a per-example context computed
    from a param (ctx), and a param used elementwise (g)."""
    ctx = torch.tanh(v.x0 @ v.V)
    h = torch.zeros(v.x.shape[0], 3, dtype=torch.float64)
    hs = []
    for t in range(v.x.shape[1]):
        h = torch.tanh(v.x[:, t] @ v.U + h * v.g + ctx * h + ctx)
        hs.append(h)
    o = torch.stack(hs, 1)
    return (o * (v.R + 2)).sum(), {"o": o}


def _bahdanau(v):
    """examples/seq2seq_attention.dl's decoder by hand: at each step the additive attention of
    the state s over the encoder's states hs (score v . tanh(s Wa + hs Ua), softmax over the
    unmasked positions), then torch's own GRU cell on [x_t, context]."""
    uh = v.hs @ v.Ua
    s, c = v.s0, torch.zeros_like(v.s0)
    ss, cs = [], []
    for t in range(v.x.shape[1]):
        e = torch.tanh(uh + (s @ v.Wa).unsqueeze(1)) @ v.va
        a = torch.softmax(e.masked_fill(v.m < 0.5, float("-inf")), 1)
        c = (a.unsqueeze(1) @ v.hs).squeeze(1)
        s = torch.gru_cell(torch.cat([v.x[:, t], c], 1), s, getattr(v, "dec.weight_ih_l0"),
                           getattr(v, "dec.weight_hh_l0"), getattr(v, "dec.bias_ih_l0"), getattr(v, "dec.bias_hh_l0"))
        ss.append(s)
        cs.append(c)
    o = torch.cat([torch.stack(ss, 1), torch.stack(cs, 1)], 2)
    return (o * (v.R + 2)).sum(), {"o": o}


def _scan_no_batch(v):
    """A scan without a batch axis: its sequence and its weights are params."""
    h = torch.zeros(2, 3, dtype=torch.float64)
    hs = []
    for t in range(v.S.shape[1]):
        h = torch.tanh(v.S[:, t] @ v.U + h @ v.W)
        hs.append(h)
    o = torch.stack(hs, 1)
    return (o * o).sum() + (v.R * v.R).sum(), {"o": o}


# Cases whose loss dlc differentiates once only: `--mode hvpcheck` expects dlc to refuse
# Newton on them with an error matching the pattern (and no internal error).
FIRST_ORDER = {
    "scan_unrolled": "'newton' needs second derivatives, and the model has a 'scan'",
    "scan_context": "'newton' needs second derivatives, and the model has a 'scan'",
    "scan_no_batch": "'newton' needs second derivatives, and the model has a 'scan'",
    "scan_rnn_torch": "'newton' needs second derivatives, and the model has a 'scan'",
    "scan_gru_torch": "'newton' needs second derivatives, and the model has a 'scan'",
    "scan_lstm_torch": "'newton' needs second derivatives, and the model has a 'scan'",
    "scan_lstm_mask_torch": "'newton' needs second derivatives, and the model has a 'scan'",
    "attention_fused": "'newton' needs second derivatives of the loss: the fused attention \\(attention\\(\\.\\.\\., fused = 1\\)\\) is differentiated once only",
    "attention_fused_wide": "'newton' needs second derivatives of the loss: the fused attention \\(attention\\(\\.\\.\\., fused = 1\\)\\) is differentiated once only",
    "attention_fused_causal": "'newton' needs second derivatives of the loss: the fused attention \\(attention\\(\\.\\.\\., fused = 1\\)\\) is differentiated once only",
    "attention_fused_masked_rows": "'newton' needs second derivatives of the loss: the fused attention \\(attention\\(\\.\\.\\., fused = 1\\)\\) is differentiated once only",
    "mha_fused_torch": "'newton' needs second derivatives of the loss: the fused attention \\(attention\\(\\.\\.\\., fused = 1\\)\\) is differentiated once only",
    "transformer_block_fused_torch": "'newton' needs second derivatives of the loss: the fused attention \\(attention\\(\\.\\.\\., fused = 1\\)\\) is differentiated once only",
    "scan_bahdanau_torch": "'newton' needs second derivatives, and the model has a 'scan'",
    "grad_input": "'newton' needs second derivatives of the loss: the gradient of cross_entropy is differentiated once only",
    "grad_conv_pool": "'newton' needs second derivatives of the loss: the gradient of cross_entropy is differentiated once only",
}

# Cases whose Hessian-vector product finite differences cannot check (`--list-hvpcheck` leaves
# them out): the reason for each.
NO_HVPCHECK = {
    "maximum_tie": "ties: the gradient jumps at the point drawn, so its differences measure the jump",
    "sigmoid_large": "saturated: the curvature (1e-12) is below the rounding of the gradient over the step "
                     "(sigmoid(a) near 1 loses its low bits)",
    "tanh_large": "saturated: 1 - tanh(a)^2 cancels, and its rounding over the step exceeds the curvature (1e-13)",
}

CASES = [
    ew("bcast_unit_axis", "K[3]", "x * K", "B,1,3", lambda v: v.x * v.K, inputs="input x : f32[B, 1, 3]", rows=3,
       note="a broadcast over an axis next to one of size 1: the loops over [B, 1, 3] merge B with 1, not with 3"),
    case("scan_unrolled", """
        dim B = 5
        dim T = 4
        input x : f32[B, T, 2]
        input s : f32[B, T]
        input R : f32[B, T, 3]
        param U : [2, 3]
        param W : [3, 3]
        param c0 : [3]
        param K : [3]
        def cell(state, inp) {
          h, c = state
          xt, st = inp
          return (tanh(xt @ U + h @ W + c * reshape(st, [B, 1])), c * 0.5 + h)
        }
        hs, cs = scan(cell, (x, s), init = (zeros([B, 3]), zeros([B, 3]) + c0), reverse = 1)
        output o = hs
        loss sum(o * (R + 2)) + sum(slice(cs, 1, 0, 1) * K)
        """, _unrolled, rows=3,
        note="scan with two carries and two sequences, in reverse, against the same loop unrolled"),
    steps_f32(case("scan_context", """
        dim B = 5
        dim T = 4
        input x : f32[B, T, 2]
        input x0 : f32[B, 2]
        input R : f32[B, T, 3]
        param U : [2, 3]
        param V : [2, 3]
        param g : [3]
        ctx = tanh(x0 @ V)
        def cell(h, xt) = tanh(xt @ U + h * g + ctx * h + ctx)
        hs = scan(cell, x, init = zeros([B, 3]))
        output o = hs
        loss sum(o * (R + 2))
        """, _scan_context, rows=3,
        note="a scan body reading a per-example context and a param from outside the loop")),
    case("scan_no_batch", """
        dim B = 3
        input R : f32[B, 3]
        param S : [2, 4, 2]
        param U : [2, 3]
        param W : [3, 3]
        def cell(h, xt) = tanh(xt @ U + h @ W)
        hs = scan(cell, S, init = zeros([2, 3]))
        output o = hs
        loss sum(hs * hs) + sum(R * R)
        """, _scan_no_batch,
        note="a scan without a batch axis: the weights' gradients summed over the steps in carries of "
             "the backward loop (no stacked product over steps and rows)"),
    steps_f32(rnn_layer(case("scan_rnn_torch", """
        dim B = 5
        input x : f32[B, 4, 3]
        input R : f32[B, 4, 5]
        rnn = RNN(3, 5)
        output o = rnn(x)
        loss sum(o * (R + 2))
        """, lambda v: (((o := _torch_rnn("rnn", v, "rnn", v.x)) * (v.R + 2)).sum(), {"o": o}), rows=3,
        note="the prelude's RNN against torch.nn.RNN with the same weights"), "rnn", "rnn", 3, 5)),
    steps_f32(rnn_layer(case("scan_gru_torch", """
        dim B = 4
        input x : f32[B, 5, 3]
        input R : f32[B, 5, 4]
        param h0 : [B, 4]
        gru = GRU(3, 4)
        output o = gru(x, h0)
        loss sum(o * (R + 2))
        """, lambda v: (((o := _torch_rnn("gru", v, "gru", v.x, v.h0[None, :v.x.shape[0]])) * (v.R + 2)).sum(), {"o": o}),
        note="the prelude's GRU from a given state against torch.nn.GRU"), "gru", "gru", 3, 4)),
    steps_f32(rnn_layer(case("scan_lstm_torch", """
        dim B = 5
        input x : f32[B, 4, 3]
        input R : f32[B, 4, 4]
        lstm = LSTM(3, 4)
        output o = lstm(x)
        loss sum(o * (R + 2))
        """, lambda v: (((o := _torch_rnn("lstm", v, "lstm", v.x)) * (v.R + 2)).sum(), {"o": o}), rows=2,
        note="the prelude's LSTM against torch.nn.LSTM with the same weights"), "lstm", "lstm", 3, 4)),
    steps_f32(rnn_layer(case("scan_lstm_mask_torch", """
        dim B = 5
        dim T = 6
        input x : f32[B, T, 3]
        input m : f32[B, T]
        param K : [4]
        param C : [4]
        lstm = LSTM(3, 4)
        hs, cs = lstm.states(x, mask = m)
        loss sum(reshape(slice(hs, 1, T - 1, T), [B, 4]) * exp(K)) + sum(reshape(slice(cs, 1, T - 1, T), [B, 4]) * C)
        """, lambda v: (lambda hc: (hc[0][0] * torch.exp(v.K)).sum() + (hc[1][0] * v.C).sum())(
            _torch_rnn("lstm", v, "lstm", v.x, mask=v.m)),
        gen={"m": prefix_mask()}, rows=4,
        note="sequences of different lengths: the mask holds the state, as packed sequences do"),
        "lstm", "lstm", 3, 4)),
    steps_f32(rnn_layer(case("scan_bahdanau_torch", """
        dim B = 5
        dim S = 6
        dim T = 4
        input hs : f32[B, S, 4]
        input m : f32[B, S]
        input x : f32[B, T, 2]
        input s0 : f32[B, 4]
        input R : f32[B, T, 8]
        param Wa : [4, 3]
        param Ua : [4, 3]
        param va : [3]
        dec = GRU(2 + 4, 4)
        uh = hs @ Ua
        def attend(s) {
          e = reshape(tanh(uh + reshape(s @ Wa, [B, 1, 3])) @ reshape(va, [3, 1]), [B, S])
          a = softmax(where(m, e, -inf))
          return reshape(reshape(a, [B, 1, S]) @ hs, [B, 4])
        }
        def step(state, xt) {
          s, c = state
          c2 = attend(s)
          return (dec.step(s, dec.project(concat(xt, c2, axis = 1))), c2)
        }
        ss, cs = scan(step, x, init = (s0, zeros([B, 4])))
        output o = concat(ss, cs, axis = 2)
        loss sum(o * (R + 2))
        """, _bahdanau, gen={"m": prefix_mask()}, rows=3,
        note="the Bahdanau decoder of examples/seq2seq_attention.dl: a scan whose body attends over "
             "per-example encoder states and their projection computed before the loop, with a "
             "padding mask, against the loop by hand with torch.gru_cell"),
        "gru", "dec", 6, 4)),
    # -- attention and transformer blocks --
    case("attention_composed", """
        dim B = 5
        dim T = 6
        dim D = 8
        input x : f32[B, T, D]
        input m : f32[B, T]
        input R : f32[B, T, D]
        param Wq : [D, D]
        param Wk : [D, D]
        param Wv : [D, D]
        mask = causal(T) * reshape(m, [B, 1, 1, T])
        s = heads(x @ Wq, 2) @ transpose(heads(x @ Wk, 2), -1, -2) / sqrt(D / 2)
        output p = softmax(where(mask, s, -inf))
        output o = merge_heads(p @ heads(x @ Wv, 2))
        loss sum(o * (R + 2))
        """, lambda v: _composed_attention(v, 2), gen={"m": prefix_mask()}, rows=3,
        note="attention written out: heads, q k^T, causal and padding masks with -inf, softmax, merge"),
    case("attention_builtin", """
        dim B = 5
        dim T = 6
        dim D = 8
        input x : f32[B, T, D]
        input m : f32[B, T]
        input R : f32[B, T, D]
        param Wq : [D, D]
        param Wk : [D, D]
        param Wv : [D, D]
        output o = merge_heads(attention(heads(x @ Wq, 2), heads(x @ Wk, 2), heads(x @ Wv, 2),
                                         causal(T) * reshape(m, [B, 1, 1, T])))
        loss sum(o * (R + 2))
        """, lambda v: (lambda r: (r[0], {"o": r[1]["o"]}))(_composed_attention(v, 2)),
        gen={"m": prefix_mask()}, rows=3,
        note="attention(q, k, v, mask) against the same attention written out in torch"),
    case("attention_fused", """
        dim B = 5
        dim T = 6
        dim D = 8
        input x : f32[B, T, D]
        input m : f32[B, T]
        input R : f32[B, T, D]
        param Wq : [D, D]
        param Wk : [D, D]
        param Wv : [D, D]
        output o = merge_heads(attention(heads(x @ Wq, 2), heads(x @ Wk, 2), heads(x @ Wv, 2),
                                         causal(T) * reshape(m, [B, 1, 1, T]), fused = 1))
        loss sum(o * (R + 2))
        """, lambda v: (lambda r: (r[0], {"o": r[1]["o"]}))(_composed_attention(v, 2)),
        gen={"m": prefix_mask()}, rows=3,
        note="the fused attention op (no [T, T] weights stored) against the attention written out in torch"),
    case("attention_fused_causal", """
        dim B = 5
        dim T = 6
        dim D = 8
        input x : f32[B, T, D]
        input m : f32[B, T]
        input R : f32[B, T, D]
        param Wq : [D, D]
        param Wk : [D, D]
        param Wv : [D, D]
        output o = merge_heads(attention(heads(x @ Wq, 2), heads(x @ Wk, 2), heads(x @ Wv, 2),
                                         reshape(m, [B, 1, 1, T]), causal = 1, fused = 1))
        loss sum(o * (R + 2))
        """, lambda v: (lambda r: (r[0], {"o": r[1]["o"]}))(_composed_attention(v, 2)),
        gen={"m": prefix_mask()}, rows=3,
        note="the fused attention with causal = 1 (keys after the query skipped) and a padding mask"),
    case("attention_fused_wide", """
        dim B = 3
        dim T = 2
        dim D = 40
        input x : f32[B, T, D]
        input m : f32[B, T]
        input R : f32[B, T, D]
        param Wq : [D, D]
        param Wk : [D, D]
        param Wv : [D, D]
        output o = merge_heads(attention(heads(x @ Wq, 2), heads(x @ Wk, 2), heads(x @ Wv, 2),
                                         causal(T) * reshape(m, [B, 1, 1, T]), fused = 1))
        loss sum(o * (R + 2))
        """, lambda v: (lambda r: (r[0], {"o": r[1]["o"]}))(_composed_attention(v, 2)),
        gen={"m": prefix_mask()}, rows=2,
        note="the fused attention with heads of 20 features: products in 8 lanes and a tail of 4 (two "
             "tokens: with more, the f32 draws of this width lose the tolerance in the composed form too)"),
    case("attention_fused_masked_rows", """
        dim B = 4
        input x : f32[B, 3, 4]
        input R : f32[B, 3, 5]
        param Wq : [4, 4]
        param V : [3, 5]
        param U : [4, 5]
        M = less(reshape(arange(3), [1, 3]), reshape(arange(3), [3, 1]))   # keys before the query
        output o = attention(x @ Wq, x, x @ U + V, M, scale = 0.7, fused = 1)
        loss sum(o * (R + 2))
        """, lambda v: (lambda o: ((o * (v.R + 2)).sum(), {"o": o}))(torch.nan_to_num(
            torch.softmax((v.x @ v.Wq @ v.x.transpose(-1, -2) * 0.7).masked_fill(
                torch.tensor([[1, 1, 1], [0, 1, 1], [0, 0, 1]], dtype=torch.bool), float("-inf")), -1)) @
            (v.x @ v.U + v.V)),
        rows=3, note="the fused attention: a query with every key masked gets zeros; E != F; a scale given"),
    case("attention_masked_rows", """
        dim B = 4
        input x : f32[B, 3, 4]
        input R : f32[B, 3, 4]
        param Wq : [4, 4]
        param V : [3, 4]
        M = less(reshape(arange(3), [1, 3]), reshape(arange(3), [3, 1]))   # keys before the query
        output o = attention(x @ Wq, x, x + V, M)
        loss sum(o * (R + 2))
        """, lambda v: (lambda o: ((o * (v.R + 2)).sum(), {"o": o}))(torch.nan_to_num(
            torch.softmax((v.x @ v.Wq @ v.x.transpose(-1, -2) / 2).masked_fill(
                torch.tensor([[1, 1, 1], [0, 1, 1], [0, 0, 1]], dtype=torch.bool), float("-inf")), -1)) @ (v.x + v.V)),
        rows=3, note="a query with every key masked gets zeros, not NaN (torch's NaN set to 0)"),
    torch_params(case("mha_torch", """
        dim B = 5
        dim T = 6
        dim D = 8
        input x : f32[B, T, D]
        input m : f32[B, T]
        input R : f32[B, T, D]
        attn = MultiheadAttention(D, 2)
        output o = attn(x, causal(T) * reshape(m, [B, 1, 1, T]))
        loss sum(o * (R + 2))
        """, lambda v: (lambda o: ((o * (v.R + 2)).sum(), {"o": o}))(_torch_mha(v, "attn", v.x, 2)),
        gen={"m": prefix_mask()}, rows=3,
        note="the prelude's MultiheadAttention against torch.nn.MultiheadAttention, causal and padding masks"),
        ("mha", "attn", 8)),
    torch_params(case("mha_fused_torch", """
        dim B = 5
        dim T = 6
        dim D = 8
        input x : f32[B, T, D]
        input m : f32[B, T]
        input R : f32[B, T, D]
        attn = MultiheadAttention(D, 2, fused = 1)
        output o = attn(x, causal(T) * reshape(m, [B, 1, 1, T]))
        loss sum(o * (R + 2))
        """, lambda v: (lambda o: ((o * (v.R + 2)).sum(), {"o": o}))(_torch_mha(v, "attn", v.x, 2)),
        gen={"m": prefix_mask()}, rows=3,
        note="MultiheadAttention(fused = 1) against torch.nn.MultiheadAttention, causal and padding masks"),
        ("mha", "attn", 8)),
    torch_params(case("transformer_block_fused_torch", """
        dim B = 4
        dim T = 5
        dim D = 8
        input x : f32[B, T, D]
        input m : f32[B, T]
        input R : f32[B, T, D]
        blk = TransformerBlock(D, 4, 12, fused = 1)
        output o = blk(x, causal(T) * reshape(m, [B, 1, 1, T]))
        loss sum(o * (R + 2))
        """, lambda v: (lambda o: ((o * (v.R + 2)).sum(), {"o": o}))(_torch_block(v, "blk", v.x, 4, 12)),
        gen={"m": prefix_mask()}, rows=3,
        note="TransformerBlock(fused = 1) against torch.nn.TransformerEncoderLayer(norm_first=True, gelu)"),
        ("block", "blk", 8, 12)),
    torch_params(case("transformer_block_torch", """
        dim B = 4
        dim T = 5
        dim D = 8
        input x : f32[B, T, D]
        input m : f32[B, T]
        input R : f32[B, T, D]
        blk = TransformerBlock(D, 4, 12)
        output o = blk(x, causal(T) * reshape(m, [B, 1, 1, T]))
        loss sum(o * (R + 2))
        """, lambda v: (lambda o: ((o * (v.R + 2)).sum(), {"o": o}))(_torch_block(v, "blk", v.x, 4, 12)),
        gen={"m": prefix_mask()}, rows=3,
        note="the prelude's TransformerBlock against torch.nn.TransformerEncoderLayer(norm_first=True, gelu)"),
        ("block", "blk", 8, 12)),
    ew("sinusoidal", "a[6,8]", "a * sinusoidal(6, 8)", "6,8",
       lambda v: v.a * torch.stack([torch.sin(torch.arange(6.)[:, None] * 10000 ** (-torch.arange(0, 8, 2.) / 8)),
                                    torch.cos(torch.arange(6.)[:, None] * 10000 ** (-torch.arange(0, 8, 2.) / 8))],
                                   -1).reshape(6, 8).double()),
    # -- elementwise binary ops, numpy broadcasting both ways --
    ew("add_same", "a[B,3] b[B,3]", "a + b", "B,3", lambda v: v.a + v.b),
    ew("add_row_rhs", "a[B,3] b[3]", "a + b", "B,3", lambda v: v.a + v.b),
    ew("add_row_lhs", "a[3] b[B,3]", "a + b", "B,3", lambda v: v.a + v.b),
    ew("sub_col_rhs", "a[B,3] b[B,1]", "a - b", "B,3", lambda v: v.a - v.b),
    ew("sub_col_lhs", "a[B,1] b[B,3]", "a - b", "B,3", lambda v: v.a - v.b),
    ew("sub_scalar_param", "a[B,3] s[]", "s - a * s", "B,3", lambda v: v.s - v.a * v.s),
    ew("mul_outer", "a[B,1] b[1,5]", "a * b", "B,5", lambda v: v.a * v.b),
    ew("mul_row_lhs_odd", "a[5] b[B,5]", "a * b", "B,5", lambda v: v.a * v.b, dims="B = 7"),
    ew("mul_rank3_bcast", "a[B,3,4] b[3,1] c[4]", "a * b + c", "B,3,4", lambda v: v.a * v.b + v.c,
       dims="B = 3"),
    ew("div_same", "a[B,3] b[B,3]", "a / b", "B,3", lambda v: v.a / v.b, gen={"b": away()}),
    ew("div_col_rhs", "a[B,3] b[B,1]", "a / b", "B,3", lambda v: v.a / v.b, gen={"b": away()}),
    ew("div_row_lhs", "a[3] b[B,3]", "a / b", "B,3", lambda v: v.a / v.b, gen={"b": away()}),
    ew("const_arith", "a[B,3]", "2 - 3 * a + a / 4 - 0.5", "B,3", lambda v: 2 - 3 * v.a + v.a / 4 - 0.5),
    ew("const_rdiv", "b[B,3]", "1.5 / b + b * 2", "B,3", lambda v: 1.5 / v.b + v.b * 2, gen={"b": away()}),
    ew("add_rank4_bcast", "a[2,3,1,4] b[3,5,1]", "a + b", "2,3,5,4", lambda v: v.a + v.b),
    ew("fanout", "a[B,3]", "a * a + exp(a) * a - a", "B,3", lambda v: v.a * v.a + torch.exp(v.a) * v.a - v.a),
    ew("cse_square", "a[B,3] b[3]", "(a + b) * (a + b) - (b + a)", "B,3",
       lambda v: (v.a + v.b) * (v.a + v.b) - (v.b + v.a)),
    ew("fold_identities", "a[B,3] b[3]", "(a * 1 + 0) / 1 - (0 - b) * 1 + - -a - a * 0", "B,3",
       lambda v: (v.a * 1 + 0) / 1 - (0 - v.b) * 1 + v.a - v.a * 0, note="algebraic folding must keep values"),
    ew("fold_reassoc", "a[B,3]", "(a * 2) * 3 + (a + 1) + 2 - a / 4 / 2", "B,3",
       lambda v: (v.a * 2) * 3 + (v.a + 1) + 2 - v.a / 4 / 2),
    ew("neg", "a[B,3] b[B,3]", "-a * b", "B,3", lambda v: -v.a * v.b),
    ew("neg_expr", "a[B,3] b[3]", "-(a - b)", "B,3", lambda v: -(v.a - v.b)),

    # -- matmul and transpose --
    ew("matmul", "a[4,3] b[3,5]", "a @ b", "4,5", lambda v: v.a @ v.b),
    ew("matmul_odd", "a[7,5] b[5,3]", "a @ b", "7,3", lambda v: v.a @ v.b),
    ew("matmul_vec", "a[B,6] b[6,1]", "a @ b", "B,1", lambda v: v.a @ v.b, dims="B = 5"),
    ew("matmul_chain", "a[4,3] b[3,5] c[5,2]", "a @ b @ c", "4,2", lambda v: v.a @ v.b @ v.c),
    ew("matmul_func", "a[4,3] b[3,5]", "matmul(a, b)", "4,5", lambda v: v.a @ v.b),
    ew("matmul_k19", "a[5,19] b[19,3]", "a @ b", "5,3", lambda v: v.a @ v.b,
       note="inner size past the kernel's unroll by 8, with a remainder"),
    ew("matmul_big", "a[6,17] b[17,11]", "a @ b", "6,11", lambda v: v.a @ v.b),
    ew("matmul_ta_k19", "a[19,3] b[19,4]", "transpose(a) @ b", "3,4", lambda v: v.a.t() @ v.b),
    ew("matmul_tb_k9", "a[3,9] b[4,9]", "a @ transpose(b)", "3,4", lambda v: v.a @ v.b.t()),
    ew("matmul_self", "a[4,4]", "a @ a", "4,4", lambda v: v.a @ v.a),
    ew("matmul_gram", "a[5,3]", "transpose(a) @ a", "3,3", lambda v: v.a.t() @ v.a),
    ew("matmul_ta_tb", "a[5,3] b[4,5]", "transpose(a) @ transpose(b)", "3,4", lambda v: v.a.t() @ v.b.t()),
    ew("transpose_twice", "a[3,4] b[3,4]", "transpose(transpose(a)) * b", "3,4", lambda v: v.a * v.b),
    ew("transpose", "a[3,4]", "transpose(a)", "4,3", lambda v: v.a.t()),
    ew("matmul_ta", "a[5,3] b[5,4]", "transpose(a) @ b", "3,4", lambda v: v.a.t() @ v.b),
    ew("matmul_tb", "a[3,5] b[4,5]", "a @ transpose(b)", "3,4", lambda v: v.a @ v.b.t()),
    ew("matmul_tab", "a[5,3] b[4,5]", "transpose(b @ a)", "3,4", lambda v: (v.b @ v.a).t()),

    # -- batched matmul (leading axes broadcast as torch.matmul), 1-D operands --
    ew("matmul_batched", "a[B,2,3,4] b[4,5]", "a @ b", "B,2,3,5", lambda v: v.a @ v.b, dims="B = 3"),
    ew("matmul_batched_both", "a[B,3,4] b[B,4,2]", "a @ b", "B,3,2", lambda v: v.a @ v.b, dims="B = 3"),
    ew("matmul_bcast_one", "a[B,3,4] b[1,4,5]", "a @ b", "B,3,5", lambda v: v.a @ v.b, dims="B = 3"),
    ew("matmul_bcast_both", "a[2,1,3,4] b[5,4,2]", "a @ b", "2,5,3,2", lambda v: v.a @ v.b),
    ew("matmul_bcast_left2d", "a[3,4] b[2,4,5]", "a @ b", "2,3,5", lambda v: v.a @ v.b),
    ew("matmul_batched_k19", "a[2,5,19] b[2,19,7]", "a @ b", "2,5,7", lambda v: v.a @ v.b),
    ew("matmul_batched_ta", "a[2,4,3] b[2,4,5]", "transpose(a, 1, 2) @ b", "2,3,5",
       lambda v: v.a.transpose(1, 2) @ v.b),
    ew("matmul_batched_tb", "a[3,2,4] b[5,4]", "a @ transpose(b)", "3,2,5", lambda v: v.a @ v.b.t()),
    ew("matmul_batched_tab", "a[2,4,3] b[2,5,4]", "transpose(a, -1, -2) @ permute(b, [0, 2, 1])", "2,3,5",
       lambda v: v.a.transpose(1, 2) @ v.b.permute(0, 2, 1)),
    ew("matmul_batched_gram", "a[2,5,3]", "transpose(a, 1, 2) @ a", "2,3,3", lambda v: v.a.transpose(1, 2) @ v.a),
    ew("matmul_batched_rows", "a[3,50,30] b[30,70]", "a @ b", "3,50,70", lambda v: v.a @ v.b,
       note="150 rows of A in one product: more than one block of rows, in parallel"),
    ew("matmul_batched_par", "a[4,20,30] b[4,30,40]", "a @ b", "4,20,40", lambda v: v.a @ v.b,
       note="enough work for the products to run in parallel"),
    ew("matmul_mat_vec", "a[B,3,4] b[4]", "a @ b", "B,3", lambda v: v.a @ v.b),
    ew("matmul_vec_mat", "a[4] b[B,4,3]", "a @ b", "B,3", lambda v: v.a @ v.b),
    ew("matmul_vec_2d", "a[4] b[4,3]", "matmul(a, b)", "3", lambda v: v.a @ v.b),
    red("matmul_dot", "a[5] b[5]", "a @ b", lambda v: v.a @ v.b),
    ew("matmul_batched_chain", "a[2,3,4] b[4,5] c[2,5,2]", "a @ b @ c", "2,3,2", lambda v: v.a @ v.b @ v.c),

    # -- transpose and permute on any rank --
    ew("transpose_axes", "a[2,3,4] b[4,3,2]", "transpose(a, 0, 2) * b", "4,3,2", lambda v: v.a.transpose(0, 2) * v.b),
    ew("transpose_neg_axes", "a[B,3,4]", "transpose(a, -1, -3)", "4,3,B", lambda v: v.a.transpose(-1, -3)),
    ew("permute3", "a[B,2,3]", "permute(a, [2, 0, 1])", "3,B,2", lambda v: v.a.permute(2, 0, 1)),
    ew("permute4", "a[2,3,4,5]", "permute(a, [3, 1, 0, 2])", "5,3,2,4", lambda v: v.a.permute(3, 1, 0, 2)),
    ew("permute_twice", "a[2,3,4] b[3,4,2]", "permute(permute(a, [2, 0, 1]), [2, 0, 1]) * b", "3,4,2",
       lambda v: v.a.permute(2, 0, 1).permute(2, 0, 1) * v.b),
    ew("permute_expr", "a[2,3,4] b[4]", "exp(permute(a * b, [1, 2, 0]))", "3,4,2",
       lambda v: torch.exp((v.a * v.b).permute(1, 2, 0))),

    ew("pad_rank5", "a[2,1,2,1,3]", "pad(a, [0, 1, 1, 0, 0, 0, 1, 1, 0, 2])", "3,2,2,3,5",
       lambda v: F.pad(v.a, (0, 2, 1, 1, 0, 0, 1, 0, 0, 1))),

    # -- concat of any number of tensors --
    ew("concat3", "a[B,2] b[B,3] c[B,1]", "concat(a, b, c, axis = 1)", "B,6",
       lambda v: torch.cat([v.a, v.b, v.c], 1)),
    ew("concat4_axis0", "a[1,3] b[2,3] c[3,3] d[1,3]", "concat(a, b, c, d)", "7,3",
       lambda v: torch.cat([v.a, v.b, v.c, v.d], 0)),
    ew("concat3_rank3_mid", "a[2,1,4] b[2,3,4] c[2,2,4]", "concat(a, b, c, axis = -2)", "2,6,4",
       lambda v: torch.cat([v.a, v.b, v.c], -2)),
    ew("concat_repeated", "a[B,2] b[B,3]", "concat(a, b, a * a, axis = 1)", "B,7",
       lambda v: torch.cat([v.a, v.b, v.a * v.a], 1)),

    # -- reshape and flatten --
    ew("reshape", "a[B,6] c[2,1]", "reshape(a, [B, 2, 3]) * c", "B,2,3",
       lambda v: v.a.reshape(-1, 2, 3) * v.c),
    ew("reshape_infer_mid", "a[B,6]", "reshape(a, [B, -1, 2])", "B,3,2", lambda v: v.a.reshape(-1, 3, 2)),
    ew("reshape_infer_first", "a[4,6]", "reshape(a, [-1, 8])", "3,8", lambda v: v.a.reshape(-1, 8)),
    ew("flatten", "a[B,2,3] b[6]", "flatten(a) * b", "B,6", lambda v: v.a.flatten(1) * v.b),

    # -- reductions --
    red("sum_all", "a[B,3]", "sum(a * a)", lambda v: (v.a * v.a).sum()),
    ew("sum_axis0", "a[B,3,4]", "sum(a, axis=0)", "3,4", lambda v: v.a.sum(0)),
    ew("sum_axis1", "a[B,3,4]", "sum(a, axis=1)", "B,4", lambda v: v.a.sum(1)),
    ew("sum_axis_neg1", "a[B,3,4]", "sum(a, axis=-1)", "B,3", lambda v: v.a.sum(-1)),
    ew("sum_keepdims", "a[B,3,4]", "sum(a, axis=1, keepdims=1)", "B,1,4", lambda v: v.a.sum(1, keepdim=True)),
    ew("sum_keepdims_bcast", "a[B,5]", "a * sum(a, axis=-1, keepdims=1)", "B,5",
       lambda v: v.a * v.a.sum(-1, keepdim=True)),
    ew("sum_all_keepdims", "a[B,3]", "a * sum(a, keepdims=1)", "B,3", lambda v: v.a * v.a.sum().reshape(1, 1)),
    ew("mean_positional_args", "a[B,3,4]", "mean(a, 1, 1)", "B,1,4", lambda v: v.a.mean(1, keepdim=True)),
    red("mean_all", "a[B,3]", "mean(a)", lambda v: v.a.mean()),
    ew("mean_axis0", "a[B,5]", "mean(a, axis=0)", "5", lambda v: v.a.mean(0)),
    ew("mean_axis_neg2", "a[B,3,4]", "mean(a, axis=-2)", "B,4", lambda v: v.a.mean(-2)),
    ew("mean_keepdims_axis0", "a[B,5]", "a - mean(a, axis=0, keepdims=1)", "B,5",
       lambda v: v.a - v.a.mean(0, keepdim=True)),
    ew("sum_keepdims_and_not", "a[B,3]", "sum(a, axis=1, keepdims=1) * sum(a, axis=1)", "B,B",
       lambda v: v.a.sum(1, keepdim=True) * v.a.sum(1), note="[B,1] * [B] broadcasts to [B,B]"),
    ew("normalize_rows", "a[B,5]", "a / sum(a, axis=1, keepdims=1)", "B,5",
       lambda v: v.a / v.a.sum(1, keepdim=True), gen={"a": pos(0.5, 2)}),
    ew("mean_all_keepdims", "a[B,3]", "a - mean(a, keepdims=1)", "B,3", lambda v: v.a - v.a.mean()),
    ew("max_all_keepdims", "a[B,3]", "a * max(a, keepdims=1)", "B,3", lambda v: v.a * v.a.max(),
       gen={"a": distinct()}),
    ew("row_norm", "a[B,5]", "sqrt(sum(a * a, axis=1))", "B", lambda v: (v.a * v.a).sum(1).sqrt()),
    red("max_all", "a[B,3]", "max(a)", lambda v: v.a.max(), gen={"a": distinct()}),
    ew("max_axis0", "a[B,5]", "max(a, axis=0)", "5", lambda v: v.a.max(0).values, gen={"a": distinct()}),
    ew("max_axis1_rank3", "a[B,3,4]", "max(a, axis=1)", "B,4", lambda v: v.a.max(1).values,
       gen={"a": distinct()}),
    ew("max_keepdims_neg1", "a[B,5]", "a - max(a, axis=-1, keepdims=1)", "B,5",
       lambda v: v.a - v.a.max(-1, keepdim=True).values, gen={"a": distinct()}),

    # -- unary ops --
    ew("exp", "a[B,3]", "exp(a)", "B,3", lambda v: torch.exp(v.a)),
    ew("log", "a[B,3]", "log(a)", "B,3", lambda v: torch.log(v.a), gen={"a": pos(0.2, 3)}),
    ew("sqrt", "a[B,3]", "sqrt(a)", "B,3", lambda v: torch.sqrt(v.a), gen={"a": pos(0.2, 3)}),
    ew("abs", "a[B,3]", "abs(a)", "B,3", lambda v: torch.abs(v.a), gen={"a": away()}),
    ew("relu", "a[B,5]", "relu(a)", "B,5", lambda v: torch.relu(v.a), gen={"a": away(0.1)}),
    ew("sigmoid", "a[B,3]", "sigmoid(a)", "B,3", lambda v: torch.sigmoid(v.a), gen={"a": normal(2)}),
    ew("tanh", "a[B,3]", "tanh(a)", "B,3", lambda v: torch.tanh(v.a), gen={"a": normal(1.5)}),
    ew("pow_int3", "a[B,3]", "pow(a, 3)", "B,3", lambda v: v.a ** 3),
    ew("pow_frac", "a[B,3]", "pow(a, 1.5)", "B,3", lambda v: v.a ** 1.5, gen={"a": pos(0.2, 3)}),
    ew("pow_neg", "a[B,3]", "pow(a, -2)", "B,3", lambda v: v.a ** -2, gen={"a": away(0.5)}),
    ew("pow_one", "a[B,3]", "pow(a, 1)", "B,3", lambda v: v.a ** 1),
    ew("pow_neg_half", "a[B,3]", "a ^ -0.5", "B,3", lambda v: v.a ** -0.5, gen={"a": pos(0.2, 3)}),
    ew("pow_zero", "a[B,3] b[B,3]", "pow(a, 0) * b", "B,3", lambda v: v.a ** 0 * v.b),
    ew("caret_sq", "a[B,3] b[3]", "(a - b) ^ 2", "B,3", lambda v: (v.a - v.b) ** 2),
    ew("caret_half", "a[B,3]", "a ^ 0.5", "B,3", lambda v: v.a ** 0.5, gen={"a": pos(0.2, 3)}),
    ew("caret_neg_prec", "a[B,3]", "-a ^ 2 + 1", "B,3", lambda v: -(v.a ** 2) + 1),

    saturated_f32(ew("sigmoid_large", "a[B,4]", "sigmoid(a)", "B,4", lambda v: torch.sigmoid(v.a),
                     gen={"a": away(20, 60)}, note="saturated: no overflow, gradients about 0"),
                  1e-7, "sigmoid(a) is 1 in f32 past a = 17"),
    saturated_f32(ew("tanh_large", "a[B,4]", "tanh(a)", "B,4", lambda v: torch.tanh(v.a), gen={"a": away(10, 400)}),
                  1e-7, "tanh(a) is 1 in f32 past a = 9"),
    # the tails before saturation: gradients from 1e-7 to 1e-3 that f64 must get to 1e-5 of
    # their own size (f32 resolves 1 - y^2 to about 1e-7 only)
    saturated_f32(ew("sigmoid_tail", "a[B,4]", "sigmoid(a)", "B,4", lambda v: torch.sigmoid(v.a),
                     gen={"a": away(8, 16)}), 1e-7, "1 - sigmoid(a) has f32's absolute rounding, 6e-8"),
    saturated_f32(ew("tanh_tail", "a[B,4]", "tanh(a)", "B,4", lambda v: torch.tanh(v.a), gen={"a": away(4, 8)}),
                  2e-6, "1 - tanh(a)^2 carries f32's rounding of tanh(a) near 1, 1.2e-7, times the upstream gradient"),
    ew("erf", "a[B,5]", "erf(a)", "B,5", lambda v: torch.erf(v.a), gen={"a": normal(1.5)}),
    ew("sin", "a[B,5]", "sin(a)", "B,5", lambda v: torch.sin(v.a), gen={"a": normal(3)}),
    ew("cos", "a[B,5]", "cos(a)", "B,5", lambda v: torch.cos(v.a), gen={"a": normal(3)}),
    ew("gelu", "a[B,5]", "gelu(a)", "B,5", lambda v: F.gelu(v.a), gen={"a": normal(2)}),
    ew("gelu_matmul", "a[B,4] w[4,3] u[3,2]", "gelu(a @ w) @ u", "B,2", lambda v: F.gelu(v.a @ v.w) @ v.u,
       note="the gradient's gelu' mask runs in the epilogue of a matrix product"),
    ew("softplus", "a[B,5]", "softplus(a)", "B,5", lambda v: F.softplus(v.a), gen={"a": normal(4)}),
    ew("softplus_large", "a[B,4]", "softplus(a)", "B,4", lambda v: F.softplus(v.a), gen={"a": away(21, 60)},
       note="past the threshold 20: x itself, or log1p(exp(x)) for large negative x"),
    ew("leaky_relu", "a[B,5]", "leaky_relu(a)", "B,5", lambda v: F.leaky_relu(v.a), gen={"a": away(0.1)}),
    ew("leaky_relu_slope", "a[B,5]", "leaky_relu(a, 0.2)", "B,5", lambda v: F.leaky_relu(v.a, 0.2),
       gen={"a": away(0.1)}),
    ew("leaky_relu_negative", "a[B,5]", "leaky_relu(a, negative_slope = -0.5)", "B,5",
       lambda v: F.leaky_relu(v.a, -0.5), gen={"a": away(0.1)}, note="the mask from the input"),

    # -- softmax and log_softmax --
    saturated_f32(ew("softmax_large", "a[B,5]", "softmax(a)", "B,5", lambda v: F.softmax(v.a, -1),
                     gen={"a": normal(300)}, note="needs the max subtracted: exp overflows past 88 (f32) or 709 (f64)"),
                  1e-7, "softmax's small probabilities are exp(a - max) rounded in f32"),
    ew("softmax_peaked", "a[B,5]", "softmax(a)", "B,5", lambda v: F.softmax(v.a, -1), gen={"a": normal(6)},
       note="peaked rows: probabilities and gradients down to 1e-10, held to their own size in f64"),
    ew("log_softmax_large", "a[B,5]", "log_softmax(a, axis=0)", "B,5", lambda v: F.log_softmax(v.a, 0),
       gen={"a": normal(300)}),
    ew("softmax", "a[B,5]", "softmax(a)", "B,5", lambda v: F.softmax(v.a, -1), gen={"a": normal(2)}),
    ew("softmax_axis0", "a[B,5]", "softmax(a, axis=0)", "B,5", lambda v: F.softmax(v.a, 0),
       gen={"a": normal(2)}),
    ew("softmax_rank3_axis1", "a[B,3,4]", "softmax(a, axis=1)", "B,3,4", lambda v: F.softmax(v.a, 1),
       dims="B = 2"),
    ew("softmax_size1", "a[B,1] b[B,1]", "softmax(a) * b", "B,1", lambda v: F.softmax(v.a, -1) * v.b),
    ew("log_softmax", "a[B,5]", "log_softmax(a)", "B,5", lambda v: F.log_softmax(v.a, -1),
       gen={"a": normal(2)}),
    ew("log_softmax_axis0", "a[B,5]", "log_softmax(a, axis=0)", "B,5", lambda v: F.log_softmax(v.a, 0)),
    ew("log_softmax_rank3_neg2", "a[B,3,4]", "log_softmax(a, axis=-2)", "B,3,4",
       lambda v: F.log_softmax(v.a, -2), dims="B = 2"),

    # -- comparisons, selection, bounds --
    ew("where", "c[B,4] a[B,4] b[4]", "where(greater(c, 0), a, exp(b))", "B,4",
       lambda v: torch.where(v.c > 0, v.a, torch.exp(v.b)), gen={"c": away()}),
    ew("compare", "a[B,4] b[B,4]", "where(less(a, b), a * 2, b) + greater_equal(a, b) * a + less_equal(a, 0.5)",
       "B,4", lambda v: torch.where(v.a < v.b, v.a * 2, v.b) + (v.a >= v.b) * v.a + (v.a <= 0.5),
       gen={"a": distinct(), "b": lambda r, s: distinct()(r, s) + 0.01}),
    ew("partial_where_matmul", "W[5,3] b[3]", "where(c, x @ W, b)", "B,3",
       lambda v: torch.where(v.c != 0, v.x @ v.W, v.b), dims="B = 5",
       inputs="input x : f32[B, 5]\ninput c : f32[B, 3]", rows=3,
       gen={"c": lambda r, s: r.integers(0, 2, s).astype(np.float64)},
       note="the selection runs in the product's epilogue; rows past n would add b"),
    red("partial_where_fold", "a[3]", "sum(where(x, a, a) + where(1, exp(a), x))",
        lambda v: ((v.a + torch.exp(v.a)) * torch.ones_like(v.x)).sum(), dims="B = 5",
        inputs="input x : f32[B, 3]", rows=2, note="folded to one operand, the sum still counts n rows"),
    ew("maximum_minimum", "a[B,4] b[4]", "maximum(a, b) - minimum(a, 2 * b)", "B,4",
       lambda v: torch.maximum(v.a, v.b) - torch.minimum(v.a, 2 * v.b), gen={"a": distinct(), "b": distinct(0.7)}),
    ew("maximum_tie", "a[B,3] b[B,3]", "maximum(a, b) * 2 + minimum(a, b)", "B,3",
       lambda v: torch.maximum(v.a, v.b) * 2 + torch.minimum(v.a, v.b), gen={"a": const(0.5), "b": const(0.5)},
       note="equal operands: each gets half of the gradient, as in torch"),
    ew("clamp", "a[B,5]", "clamp(a, min = -0.5, max = 0.8) + clamp(a, max = 0) * clamp(a, min = 0.3)", "B,5",
       lambda v: torch.clamp(v.a, -0.5, 0.8) + torch.clamp(v.a, max=0) * torch.clamp(v.a, min=0.3)),
    ew("sign", "a[B,4] b[B,4]", "sign(a) * b", "B,4", lambda v: torch.sign(v.a) * v.b, gen={"a": away()}),
    ew("elu", "a[B,5]", "elu(a) + elu(a, alpha = 0.5) * a", "B,5", lambda v: F.elu(v.a) + F.elu(v.a, 0.5) * v.a,
       gen={"a": normal(2)}),
    ew("elu_large", "a[B,4]", "elu(a, 2)", "B,4", lambda v: F.elu(v.a, 2.0), gen={"a": away(30, 800)},
       note="e^x overflows past 88 (f32) or 709 (f64): not in the gradient of the positive side"),
    ew("log_sigmoid", "a[B,5]", "log_sigmoid(a)", "B,5", lambda v: F.logsigmoid(v.a), gen={"a": normal(3)}),
    ew("log_sigmoid_large", "a[B,4]", "log_sigmoid(a)", "B,4", lambda v: F.logsigmoid(v.a), gen={"a": away(30, 800)},
       note="log(sigmoid(x)) would be log(0) for large negative x"),

    # -- logsumexp, var, std; reductions over several axes --
    ew("logsumexp", "a[B,5]", "logsumexp(a, axis = 1)", "B", lambda v: torch.logsumexp(v.a, 1),
       gen={"a": normal(300)}, note="max-shifted: exp overflows past 88 (f32) or 709 (f64)"),
    ew("logsumexp_axes", "a[B,3,4]", "logsumexp(a, [0, 2], keepdims = 1) + logsumexp(a)", "1,3,1",
       lambda v: torch.logsumexp(v.a, (0, 2), keepdim=True) + torch.logsumexp(v.a, (0, 1, 2)), dims="B = 3"),
    ew("var_std", "a[B,5]", "var(a, 1) + std(a, axis = 1, correction = 0) * var(a, -1, correction = 2)", "B",
       lambda v: v.a.var(1) + v.a.std(1, unbiased=False) * v.a.var(-1, correction=2)),
    ew("var_std_axes", "a[B,3,4]", "var(a, [0, 2], keepdims = 1) + std(a, axis = [2, 1], keepdims = 1)", "B,3,1",
       lambda v: v.a.var((0, 2), keepdim=True) + v.a.std((1, 2), keepdim=True), dims="B = 3"),
    ew("reduce_axes", "a[B,3,4]", "sum(a, [0, 2]) + mean(a, axis = [2, 0]) * max(a, [-1, 0])", "3",
       lambda v: v.a.sum((0, 2)) + v.a.mean((0, 2)) * torch.amax(v.a, (0, 2)), gen={"a": distinct()}, dims="B = 3"),
    ew("reduce_axes_keepdims", "a[B,3,4]", "a - mean(a, [1, 2], keepdims = 1) + max(a, [1, 2], keepdims = 1)",
       "B,3,4", lambda v: v.a - v.a.mean((1, 2), keepdim=True) + torch.amax(v.a, (1, 2), keepdim=True),
       gen={"a": distinct()}),
    case("partial_logsumexp_axis0", """
        dim B = 6
        input x : f32[B, 4]
        param a : [4]
        param c : [4]
        output o = logsumexp(x * a - 3, axis = 0)
        loss sum(o * c)
        """, lambda v: (((o := torch.logsumexp(v.x * v.a - 3, 0)) * v.c).sum(), {"o": o}), rows=3,
        gen={"a": pos(0.5, 1.5)}, note="rows past n would add exp(-3 - max) each"),
    case("partial_var_std_axes", """
        dim B = 5
        input x : f32[B, 3, 4]
        param a : [3, 4]
        param c : [3]
        output o = var(x * a, axis = [0, 2]) + std(exp(x) * a, axis = [2, 0])
        loss sum(o * c)
        """, lambda v: (((o := (v.x * v.a).var((0, 2)) + (torch.exp(v.x) * v.a).std((0, 2))) * v.c).sum(), {"o": o}),
        rows=3, note="the count is 4 n; the deviations of rows past n are not summed"),
    case("partial_reduce_axes", """
        dim B = 5
        input x : f32[B, 3, 4]
        param a : [3, 4]
        param c : [3]
        output o = sum(exp(x) * a, [0, 2]) + max(x * a, axis = [2, 0]) - mean(x * a, [2, 0])
        loss sum(o * c)
        """, lambda v: (((o := (torch.exp(v.x) * v.a).sum((0, 2)) + torch.amax(v.x * v.a, (0, 2))
                          - (v.x * v.a).mean((0, 2))) * v.c).sum(), {"o": o}), rows=2,
        gen={"x": lambda r, s: distinct()(r, s) - 3, "a": pos(0.5, 1.5)},
        note="every value present is negative, so a padding row of zeros would win the max"),

    # -- argmax and one_hot: integers, no gradient --
    case("argmax_one_hot", """
        dim B = 5
        input x : f32[B, 4]
        label y : i32[B]
        param W : [4, 3]
        z = x @ W
        output pred = argmax(z, 1)
        output col = argmax(z, axis = 0)
        output h = one_hot(pred, 3) + one_hot(y, 3) * 2
        loss cross_entropy(z, y) + sum(one_hot(pred, 3) * z) + sum(one_hot(col, B) * transpose(z))
        """, lambda v: _argmax_one_hot(v), rows=3,
        gen={"x": lambda r, s: r.normal(-3, 1, s), "W": pos(0.5, 1.5), "y": labels(3)},
        note="argmax along the batch axis stops at n: padding rows of zeros would win"),

    # -- losses --
    case("mse", """
        dim B = 4
        input R : f32[B, 1]
        param a : [B, 3]
        param b : [B, 3]
        loss mse(a, b) * sum(R)
        """, lambda v: F.mse_loss(v.a, v.b) * v.R.sum()),
    case("mse_rank3", """
        dim B = 3
        input t : f32[B, 2, 5]
        param a : [B, 2, 5]
        loss mse(a, t)
        """, lambda v: F.mse_loss(v.a, v.t)),
    case("bce", """
        dim B = 4
        input R : f32[B]
        param z : [B, 3]
        param t : [B, 3] = uniform(0, 1)
        loss bce(z, t) * sum(R)
        """, lambda v: _bce(v.z, v.t) * v.R.sum(), gen={"z": normal(2), "t": probs()}),
    case("bce_input_target", """
        dim B = 5
        input t : f32[B, 3]
        param z : [B, 3]
        loss bce(z, t)
        """, lambda v: _bce(v.z, v.t), gen={"z": normal(2), "t": probs()}),
    case("cross_entropy", """
        dim B = 4
        label y : i32[B]
        param z : [B, 5]
        loss cross_entropy(z, y)
        """, lambda v: _xent(v.z, v.y), gen={"z": normal(2), "y": labels(5)}),
    case("cross_entropy_large", """
        dim B = 4
        label y : i32[B]
        param z : [B, 5]
        loss cross_entropy(z, y)
        """, lambda v: _xent(v.z, v.y), gen={"z": normal(300), "y": labels(5)}),
    case("bce_large", """
        dim B = 4
        input t : f32[B, 3]
        param z : [B, 3]
        loss bce(z, t)
        """, lambda v: _bce(v.z, v.t), gen={"z": away(30, 900), "t": probs()},
        note="log(1 + exp(-|z|)) must not overflow"),
    case("cross_entropy_matmul", """
        dim B = 6
        label y : i32[B]
        param a : [B, 4]
        param W : [4, 7]
        loss cross_entropy(a @ W, y)
        """, lambda v: _xent(v.a @ v.W, v.y), gen={"y": labels(7)}),
    case("nll_log_softmax", """
        dim B = 4
        label y : i32[B]
        param z : [B, 5]
        output p = log_softmax(z)
        loss nll(p, y)
        """, lambda v: (_nll(p := F.log_softmax(v.z, -1), v.y), {"p": p}),
        gen={"z": normal(2), "y": labels(5)}),
    case("nll_log_of_softmax", """
        dim B = 4
        label y : i32[B]
        param z : [B, 5]
        loss nll(log(softmax(z)), y) * 0.5
        """, lambda v: _nll(torch.log(F.softmax(v.z, -1)), v.y) * 0.5, gen={"y": labels(5)}),
    case("output_forms", """
        dim B = 4
        input x : f32[B, 3]
        label y : i32[B]
        param W : [3, 4]
        z = x @ W
        output z
        output W
        output lp = log_softmax(z)
        loss cross_entropy(z, y) + nll(lp, y)
        """, lambda v: (_xent(z := v.x @ v.W, v.y) + _nll(lp := F.log_softmax(z, -1), v.y),
                        {"z": z, "W": v.W, "lp": lp}), gen={"y": labels(4)},
        note="`output NAME` of a value and of a param; one label used by two losses"),
    case("batch_of_one", """
        dim B = 1
        input x : f32[B, 3]
        label y : i32[B]
        param W : [3, 4]
        loss cross_entropy(x @ W, y) - mean(x @ W)
        """, lambda v: _xent(v.x @ v.W, v.y) - (v.x @ v.W).mean(), gen={"y": labels(4)}),
    case("nll_raw", """
        dim B = 5
        label y : i32[B]
        param z : [B, 3]
        loss nll(z * z, y)
        """, lambda v: _nll(v.z * v.z, v.y), gen={"y": labels(3)}),

    # -- loss options: cross_entropy over [N, ..., C] with class weights, an
    # ignored label and label smoothing; reduction "sum"; the regression,
    # KL and Gaussian losses (partial batches: the mean over the rows fed) --
    frozen(case("cross_entropy_nd_options", """
        dim B = 5
        input x : f32[B, 3, 2]
        label y : i32[B, 3]
        param W : [2, 4]
        param w : [4]
        loss cross_entropy(exp(x) @ W, y, weight = w, ignore_index = 2, label_smoothing = 0.1)
        """, lambda v: F.cross_entropy((torch.exp(v.x) @ v.W).permute(0, 2, 1), v.y, weight=v.w.detach(),
                                       ignore_index=2, label_smoothing=0.1),
        rows=3, gen={"y": labels(4), "w": pos()}), "w"),
    frozen(case("cross_entropy_ignore_sum", """
        dim B = 6
        input x : f32[B, 3]
        label y : i32[B]
        param W : [3, 5]
        param w : [5]
        z = x @ W + 1
        loss cross_entropy(z, y, ignore_index = -100, reduction = "sum") + nll(log_softmax(z), y, w, -100) + cross_entropy(z, y, ignore_index = -100, label_smoothing = 0.2, reduction = "sum", weight = w)
        """, lambda v: (F.cross_entropy(z := v.x @ v.W + 1, v.y, reduction="sum")
                        + F.nll_loss(F.log_softmax(z, -1), v.y, v.w.detach())
                        + F.cross_entropy(z, v.y, v.w.detach(), label_smoothing=0.2, reduction="sum")),
        rows=4, gen={"y": labels_ignoring(5, -100), "w": pos()}), "w"),
    case("regression_losses", """
        dim B = 5
        input x : f32[B, 3]
        input t : f32[B, 3]
        param W : [3, 3]
        param c : [3]
        p = x @ W + c
        loss l1(p, t) + smooth_l1(p, t, beta = 0.5) + huber(p, t, delta = 0.7, reduction = "sum") + smooth_l1(p, t) + mse(p, t, reduction = "sum") + bce(p, sigmoid(t), reduction = "sum")
        """, lambda v: (F.l1_loss(p := v.x @ v.W + v.c, v.t) + F.smooth_l1_loss(p, v.t, beta=0.5)
                        + F.huber_loss(p, v.t, delta=0.7, reduction="sum") + F.smooth_l1_loss(p, v.t)
                        + F.mse_loss(p, v.t, reduction="sum")
                        + F.binary_cross_entropy_with_logits(p, torch.sigmoid(v.t), reduction="sum")),
        rows=3, gen={"t": normal(2)}),
    case("kl_div_gaussian_nll", """
        dim B = 6
        input x : f32[B, 4]
        input t : f32[B, 4]
        param W : [4, 4]
        param V : [4, 4]
        param U : [4, 4]
        param u : [4]
        lp = log_softmax(x @ W)
        loss kl_div(lp, softmax(x @ V), reduction = "batchmean") + kl_div(lp, log_softmax(t), log_target = 1) + gaussian_nll(x @ W, t, exp(x @ U), full = 1) + gaussian_nll(x @ V, t, exp(x @ u), reduction = "sum")
        """, lambda v: (F.kl_div(lp := F.log_softmax(v.x @ v.W, -1), F.softmax(v.x @ v.V, -1), reduction="batchmean")
                        + F.kl_div(lp, F.log_softmax(v.t, -1), log_target=True, reduction="mean")
                        + F.gaussian_nll_loss(v.x @ v.W, v.t, torch.exp(v.x @ v.U), full=True)
                        + F.gaussian_nll_loss(v.x @ v.V, v.t, torch.exp(v.x @ v.u), reduction="sum")),
        rows=4),

    # -- partial batches: fewer rows than B; reductions count only those --
    ew("partial_mul_bcast", "a[3] b[1,3]", "x * a - b", "B,3", lambda v: v.x * v.a - v.b,
       dims="B = 5", inputs="input x : f32[B, 3]", rows=2),
    ew("partial_matmul", "W[3,4] c[4]", "x @ W + c", "B,4", lambda v: v.x @ v.W + v.c,
       dims="B = 5", inputs="input x : f32[B, 3]", rows=3),
    ew("partial_flatten", "W[6,2]", "flatten(exp(x)) @ W", "B,2", lambda v: torch.exp(v.x).flatten(1) @ v.W,
       dims="B = 4", inputs="input x : f32[B, 2, 3]", rows=3),
    ew("partial_reshape", "c[2,1]", "reshape(exp(x), [B, 2, 3]) * c", "B,2,3",
       lambda v: torch.exp(v.x).reshape(-1, 2, 3) * v.c, dims="B = 5", inputs="input x : f32[B, 6]", rows=3),
    ew("partial_div", "a[3]", "a / x", "B,3", lambda v: v.a / v.x, dims="B = 5", inputs="input x : f32[B, 3]",
       rows=3, gen={"x": away()},
       note="padding rows divide by zero: they must be ignored"),
    ew("partial_matmul_bax1", "W[4,3]", "transpose(W @ transpose(exp(x)))", "B,4",
       lambda v: (v.W @ torch.exp(v.x).t()).t(),
       dims="B = 6", inputs="input x : f32[B, 3]", rows=4, note="the batch axis is a matmul's columns"),
    red("partial_mean_all_rank3", "a[3]", "mean(x * a + a)", lambda v: (v.x * v.a + v.a).mean(),
        dims="B = 5", inputs="input x : f32[B, 2, 3]", rows=2),
    red("partial_sum_all_transposed", "a[3]", "sum(exp(transpose(x * a)))",
        lambda v: torch.exp((v.x * v.a).t()).sum(), dims="B = 6", inputs="input x : f32[B, 3]", rows=4),
    ew("partial_mean_all_keepdims", "a[3]", "exp(x * a) - mean(exp(x * a), keepdims=1)", "B,3",
       lambda v: torch.exp(v.x * v.a) - torch.exp(v.x * v.a).mean(), dims="B = 6",
       inputs="input x : f32[B, 3]", rows=4),
    red("partial_mean_all", "a[3]", "mean(x * a + a)", lambda v: (v.x * v.a + v.a).mean(),
        dims="B = 6", inputs="input x : f32[B, 3]", rows=3),
    red("partial_mean_bias", "a[3] b[3]", "mean(x * a + b)", lambda v: (v.x * v.a + v.b).mean(),
        dims="B = 6", inputs="input x : f32[B, 3]", rows=3,
        note="d_b sums an adjoint that is a pure broadcast of the mean's: only n rows may count"),
    case("partial_sum_axis0_bias", """
        dim B = 6
        input x : f32[B, 3]
        param a : [3]
        param b : [1, 3]
        param c : [3]
        output o = sum(x * a + b, axis=0)
        loss sum(o * c)
        """, lambda v: (((o := (v.x * v.a + v.b).sum(0)) * v.c).sum(), {"o": o}), rows=4),
    red("partial_sum_all_exp", "a[3]", "sum(exp(x * a))", lambda v: torch.exp(v.x * v.a).sum(),
        dims="B = 6", inputs="input x : f32[B, 3]", rows=4,
        note="rows past n must not contribute exp(0) = 1"),
    red("partial_max_all", "a[3]", "max(x + a)", lambda v: (v.x + v.a).max(),
        dims="B = 6", inputs="input x : f32[B, 3]", rows=2, gen={"x": lambda r, s: distinct(6)(r, s) - 6,
                                                                 "a": distinct(0.5)}),
    case("partial_sum_axis0", """
        dim B = 6
        input x : f32[B, 3]
        param a : [3]
        param c : [3]
        output o = sum(exp(x * a), axis=0)
        loss sum(o * c)
        """, lambda v: (((o := torch.exp(v.x * v.a).sum(0)) * v.c).sum(), {"o": o}), rows=4),
    case("partial_mean_axis0_keepdims", """
        dim B = 6
        input x : f32[B, 3]
        param a : [3]
        param c : [1, 3]
        output o = mean(exp(x * a), axis=0, keepdims=1)
        loss sum(o * c)
        """, lambda v: (((o := torch.exp(v.x * v.a).mean(0, keepdim=True)) * v.c).sum(), {"o": o}),
        rows=3),
    case("partial_mean_transposed_axis1", """
        dim B = 6
        input x : f32[B, 3]
        param a : [3]
        param c : [3]
        output o = mean(exp(transpose(x * a)), axis=1)
        loss sum(o * c)
        """, lambda v: (((o := torch.exp((v.x * v.a).t()).mean(1)) * v.c).sum(), {"o": o}), rows=4,
        note="the batch axis is axis 1 after the transpose"),
    ew("partial_mean_rank3_axis0", "a[2,3]", "mean(x * a + a, axis=0, keepdims=1) * x", "B,2,3",
       lambda v: (v.x * v.a + v.a).mean(0, keepdim=True) * v.x, dims="B = 5", inputs="input x : f32[B, 2, 3]",
       rows=3),
    ew("partial_mean_axis1", "a[3]", "mean(x * a + a, axis=1)", "B", lambda v: (v.x * v.a + v.a).mean(1),
       dims="B = 5", inputs="input x : f32[B, 3]", rows=3),
    case("partial_max_axis0", """
        dim B = 6
        input x : f32[B, 4]
        param a : [4]
        param c : [4]
        output o = max(x * a, axis=0)
        loss sum(o * c)
        """, lambda v: (((o := (v.x * v.a).max(0).values) * v.c).sum(), {"o": o}), rows=3,
        gen={"x": lambda r, s: distinct()(r, s) - 3, "a": pos(0.5, 1.5)},
        note="every value present is negative, so a padding row of zeros would win"),
    case("partial_softmax_axis0", """
        dim B = 6
        input x : f32[B, 4]
        input R : f32[B, 4]
        param a : [4]
        output o = softmax(x * a, axis=0)
        loss sum(o * (R + 2))
        """, lambda v: (((o := F.softmax(v.x * v.a, 0)) * (v.R + 2)).sum(), {"o": o}), rows=4,
        note="the softmax normalises over the rows present only"),
    case("partial_log_softmax_axis0", """
        dim B = 6
        input x : f32[B, 4]
        input R : f32[B, 4]
        param a : [4]
        output o = log_softmax(x * a, axis=0)
        loss sum(o * (R + 2))
        """, lambda v: (((o := F.log_softmax(v.x * v.a, 0)) * (v.R + 2)).sum(), {"o": o}), rows=3),
    case("partial_log_softmax", """
        dim B = 5
        input x : f32[B, 3]
        input R : f32[B, 4]
        param W : [3, 4]
        output o = log_softmax(x @ W)
        loss sum(o * (R + 2))
        """, lambda v: (((o := F.log_softmax(v.x @ v.W, -1)) * (v.R + 2)).sum(), {"o": o}), rows=2),
    ew("partial_matmul_batched", "W[4,5] c[5]", "exp(x) @ W + c", "B,3,5",
       lambda v: torch.exp(v.x) @ v.W + v.c, dims="B = 5", inputs="input x : f32[B, 3, 4]", rows=3),
    ew("partial_matmul_bcast", "a[1,4,5]", "exp(x) @ a", "B,3,5",
       lambda v: torch.exp(v.x) @ v.a, dims="B = 5", inputs="input x : f32[B, 3, 4]", rows=2,
       note="a's gradient sums the batch of products over the valid rows"),
    ew("partial_matmul_batched_both", "W[4,4]", "(exp(x) @ W) @ transpose(exp(x), 1, 2)", "B,3,3",
       lambda v: (torch.exp(v.x) @ v.W) @ torch.exp(v.x).transpose(1, 2), dims="B = 4",
       inputs="input x : f32[B, 3, 4]", rows=3),
    ew("partial_matmul_vec", "a[4]", "exp(x) @ a", "B,3", lambda v: torch.exp(v.x) @ v.a,
       dims="B = 5", inputs="input x : f32[B, 3, 4]", rows=4),
    red("partial_vec_matmul", "c[3]", "sum((sum(exp(x), axis = 1) @ (exp(x) * c)) * c)",
        lambda v: ((torch.exp(v.x).sum(1) @ (torch.exp(v.x) * v.c)) * v.c).sum(), dims="B = 5",
        inputs="input x : f32[B, 3]", rows=3, note="a vector over the batch times a matrix: contracts over the batch"),
    red("partial_permute", "c[3,1,4]", "sum(permute(exp(x), [1, 0, 2]) * c)",
        lambda v: (torch.exp(v.x).permute(1, 0, 2) * v.c).sum(), dims="B = 5", inputs="input x : f32[B, 3, 4]",
        rows=3, note="the batch axis moves to axis 1"),
    red("partial_permute_mean", "c[4] d[4,3]", "sum(mean(permute(exp(x) * c, [2, 0, 1]), axis = 1) * d)",
        lambda v: ((torch.exp(v.x) * v.c).permute(2, 0, 1).mean(1) * v.d).sum(), dims="B = 5",
        inputs="input x : f32[B, 3, 4]", rows=2),
    red("partial_transpose_axes", "c[4,1,1]", "sum(exp(transpose(x, 0, 2)) * c)",
        lambda v: (torch.exp(v.x.transpose(0, 2)) * v.c).sum(), dims="B = 5", inputs="input x : f32[B, 3, 4]",
        rows=3),
    case("partial_permute_matmul", """
        dim B = 6
        input x : f32[B, 3, 4]
        input y : f32[B, 2]
        param w : [2]
        param C : [3, 4, 2]
        output o = permute(exp(x), [1, 2, 0]) @ (exp(y) * w)
        loss sum(o * C)
        """, lambda v: (((o := torch.exp(v.x).permute(1, 2, 0) @ (torch.exp(v.y) * v.w)) * v.C).sum(), {"o": o}),
        rows=4, note="a batched product that contracts over the batch axis"),
    case("partial_attention", """
        dim B = 5
        dim T = 3
        input x : f32[B, T, 4]
        param Wq : [4, 4]
        param Wk : [4, 4]
        param Wv : [4, 4]
        param C : [T, 4]
        def heads(z) = permute(reshape(z, [B, T, 2, 2]), [0, 2, 1, 3])
        att = softmax(heads(x @ Wq) @ transpose(heads(x @ Wk), -1, -2))
        output o = reshape(permute(att @ heads(x @ Wv), [0, 2, 1, 3]), [B, T, 4])
        loss sum(mean(o, axis = 0) * C)
        """, lambda v: _attention(v), rows=3, note="two-head self-attention: reshape, permute, batched products"),
    ew("partial_concat3", "c[3]", "concat(exp(x), x * c, x + 1, axis = 1)", "B,9",
       lambda v: torch.cat([torch.exp(v.x), v.x * v.c, v.x + 1], 1), dims="B = 5",
       inputs="input x : f32[B, 3]", rows=3),
    ew("partial_concat3_rank3", "c[2]", "concat(exp(x), x * c, exp(x) * c, axis = -1)", "B,3,6",
       lambda v: torch.cat([torch.exp(v.x), v.x * v.c, torch.exp(v.x) * v.c], -1), dims="B = 4",
       inputs="input x : f32[B, 3, 2]", rows=2),
    case("partial_xt_matmul", """
        dim B = 6
        input x : f32[B, 3]
        param W : [3, 2]
        param C : [3, 2]
        output o = transpose(x + 1) @ (x @ W + 1)
        loss sum(o * C)
        """, lambda v: (((o := (v.x + 1).t() @ (v.x @ v.W + 1)) * v.C).sum(), {"o": o}), rows=4,
        note="a matmul that contracts over the batch axis"),
    case("partial_xt_matmul_k13", """
        dim B = 20
        input x : f32[B, 3]
        param W : [3, 2]
        param C : [3, 2]
        output o = transpose(exp(x)) @ (x @ W + 1)
        loss sum(o * C)
        """, lambda v: (((o := torch.exp(v.x).t() @ (v.x @ v.W + 1)) * v.C).sum(), {"o": o}), rows=13,
        note="13 of 20 rows: the unrolled inner loop stops at n"),
    case("partial_one_row", """
        dim B = 5
        input x : f32[B, 3]
        input t : f32[B, 3]
        param a : [3]
        loss mse(x * a, t) + mean(exp(x * a))
        """, lambda v: F.mse_loss(v.x * v.a, v.t) + torch.exp(v.x * v.a).mean(), rows=1),
    case("partial_mse", """
        dim B = 6
        input x : f32[B, 3]
        input t : f32[B, 2]
        param W : [3, 2]
        param c : [2]
        loss mse(x @ W + c, t)
        """, lambda v: F.mse_loss(v.x @ v.W + v.c, v.t), rows=4),
    case("partial_bce", """
        dim B = 6
        input x : f32[B, 3]
        input t : f32[B, 2]
        param W : [3, 2]
        param c : [2]
        loss bce(x @ W + c, t)
        """, lambda v: _bce(v.x @ v.W + v.c, v.t), rows=3, gen={"t": probs()}),
    case("partial_bce_param_target", """
        dim B = 6
        input x : f32[B, 3]
        param W : [3, 2]
        param V : [3, 2]
        loss bce(x @ W, sigmoid(x @ V))
        """, lambda v: _bce(v.x @ v.W, torch.sigmoid(v.x @ v.V)), rows=4,
        note="the target depends on a param, so it gets a gradient too"),
    case("partial_mse_rank3", """
        dim B = 5
        input x : f32[B, 2, 3]
        param a : [2, 3]
        param b : [3]
        loss mse(x * a, x * 0 + b)
        """, lambda v: F.mse_loss(v.x * v.a, v.x * 0 + v.b), rows=2),
    case("partial_cross_entropy", """
        dim B = 5
        input x : f32[B, 3]
        label y : i32[B]
        param W : [3, 4]
        loss cross_entropy(x @ W, y)
        """, lambda v: _xent(v.x @ v.W, v.y), rows=2, gen={"y": labels(4)}),
    case("partial_nll", """
        dim B = 6
        input x : f32[B, 3]
        label y : i32[B]
        param W : [3, 4]
        output lp = log_softmax(x @ W)
        loss nll(lp, y)
        """, lambda v: (_nll(lp := F.log_softmax(v.x @ v.W, -1), v.y), {"lp": lp}), rows=3,
        gen={"y": labels(4)}),

    # -- partial batches through reshapes and concats of the batch axis --
    case("partial_reshape_flat_mean", """
        dtype f64
        dim B = 4
        input x : [B, 2]
        param w : [2]
        loss mean(reshape(x * w + 1, [-1]))
        """, lambda v: (v.x * v.w + 1).reshape(-1).mean(), rows=2,
        note="[B, 2] to [2B]: the batch stays the leading factor, 2n elements hold data", smaller="B"),
    case("partial_reshape_merge_regroup", """
        dim B = 4
        input x : f32[B, 3, 6]
        input R : f32[B, 18]
        param w : [6]
        output o = reshape(exp(x * w), [-1, 9])
        loss sum(reshape(o, [B, -1]) * (R + 2)) + mean(o)
        """, lambda v: _merge_regroup(v), rows=3,
        note="[B, 3, 6] to [2B, 9] and back: 2n rows of 9 hold data", smaller="B"),
    case("partial_concat_mean", """
        dtype f64
        dim B = 4
        input x : [B, 2]
        param w : [2]
        loss mean(concat(x * w + 1, exp(x * w), axis = 0))
        """, lambda v: torch.cat([v.x * v.w + 1, torch.exp(v.x * v.w)], 0).mean(), rows=2,
        note="the second part follows the n rows of the first", smaller="B"),
    case("partial_concat_sum", """
        dtype f64
        dim B = 4
        input x : [B, 2]
        param w : [2]
        loss sum(concat(x * w, x * w, axis = 0) + 1)
        """, lambda v: (torch.cat([v.x * v.w, v.x * v.w], 0) + 1).sum(), rows=2, smaller="B"),
    case("partial_concat_slice_matmul", """
        dim B = 5
        input x : f32[B, 3]
        input y : f32[B, 3]
        param W : [3, 2]
        param c : [2]
        output o = concat(x, exp(y), x * y, axis = 0) @ W + c
        h = slice(o, 0, B, 3 * B)
        loss sum(transpose(h) @ h) + mean(o)
        """, lambda v: _concat_slice(v), rows=3,
        note="three parts; a slice at multiples of B; a contraction over 3n rows", smaller="B"),
    case("partial_conv_merge", """
        dim B = 4
        input x : f32[B, 6, 5, 5]
        param K : [4, 3, 3, 3]
        param c : [4]
        param W : [4, 2]
        h = max_pool2d(relu(conv2d(reshape(x, [-1, 3, 5, 5]), K, c, pad = 1)), 2)
        g = avg_pool2d(h, 2) + reshape(global_avg_pool(h), [-1, 4, 1, 1])
        loss mean((flatten(g) @ W + 1) ^ 2)
        """, lambda v: _conv_merge(v), rows=3, smaller="B",
        note="[B, 6, 5, 5] to [2B, 3, 5, 5]: convolution and pooling over 2n images"),
    case("partial_bce_mse_concat", """
        dim B = 5
        input x : f32[B, 3]
        input t : f32[B, 2]
        input u : f32[B, 2]
        param W : [3, 2]
        z = concat(x @ W, exp(x) @ W, axis = 0)
        loss bce(z, concat(t, u, axis = 0)) + mse(reshape(z, [-1]), reshape(concat(u, t, axis = 0), [-1]))
        """, lambda v: _bce_mse_concat(v), rows=2, gen={"t": probs(), "u": probs()}, smaller="B"),

    # -- gathers (integer ids), transposed convolution, upsampling --
    case("take_ids", """
        dim B = 5
        input tok : i32[B, 3]
        input R : f32[B, 3, 4]
        param E : [6, 4]
        output o = take(E, tok)
        loss sum(o * (R + 2))
        """, lambda v: (((o := v.E[v.tok]) * (v.R + 2)).sum(), {"o": o}), rows=3, gen={"tok": labels(6)},
        smaller="B", note="9 ids of 6 rows: duplicates accumulate; rows past n (ids 0) must add nothing"),
    case("embedding_label_const", """
        dim B = 6
        input x : f32[B, 3]
        label y : i32[B]
        param E : [4, 3]
        param W : [3, 3]
        param C : [3, 3]
        output o = x * embedding(y, tanh(E @ W)) + take(E, 2)
        loss mean(o ^ 2) + sum(take(E, [1, 1, 3]) * C)
        """, lambda v: (((o := v.x * torch.tanh(v.E @ v.W)[v.y] + v.E[2]) ** 2).mean()
                        + (v.E[[1, 1, 3]] * v.C).sum(), {"o": o}), rows=4, gen={"y": labels(4)},
        note="label ids into a computed table; ids known at compile time are slices"),
    case("conv_transpose2d", """
        dim B = 3
        input x : f32[B, 2, 4, 5]
        input R : f32[B, 3, 8, 10]
        param a : [2, 1, 1]
        param K : [2, 3, 3, 3]
        param c : [3]
        output o = conv_transpose2d(x * a + 1, K, c, stride = 2, pad = 1, output_padding = 1)
        loss sum(o * (R + 2))
        """, lambda v: (((o := F.conv_transpose2d(v.x * v.a + 1, v.K, v.c, stride=2, padding=1, output_padding=1))
                         * (v.R + 2)).sum(), {"o": o}), rows=2),
    case("conv_transpose2d_dilated", """
        dim B = 2
        input x : f32[B, 3, 3, 17]
        input R : f32[B, 2, 7, 19]
        param a : [3, 1, 1]
        param K : [3, 2, 2, 3]
        output o = conv_transpose2d(tanh(x * a), K, stride = [2, 1], pad = [0, 1], dilation = 2)
        loss sum(o * (R + 2))
        """, lambda v: (((o := F.conv_transpose2d(torch.tanh(v.x * v.a), v.K, stride=(2, 1), padding=(0, 1),
                                                  dilation=2)) * (v.R + 2)).sum(), {"o": o})),
    case("upsample", """
        dim B = 3
        input x : f32[B, 2, 3, 4]
        input R : f32[B, 2, 6, 12]
        param a : [2, 1, 1]
        output o = upsample(x * a + 1, [2, 3])
        loss sum(o * (R + 2))
        """, lambda v: (((o := F.interpolate(v.x * v.a + 1, scale_factor=(2, 3), mode="nearest")) * (v.R + 2)).sum(),
                        {"o": o}), rows=2),

    # -- random tensors, fed from files (--noise), and stop_gradient --
    noisy(case("randn_reparam", """
        dim B = 4
        input x : f32[B, 3]
        param mu : [3]
        param lv : [3]
        eps = randn([B, 3])
        output o = (x + mu) + exp(0.5 * lv) * eps
        loss sum(o * o) + sum(exp(lv) - lv)
        """, lambda v: (lambda o: ((o * o).sum() + (v.lv.exp() - v.lv).sum(), {"o": o}))(
            (v.x + v.mu) + torch.exp(0.5 * v.lv) * v.eps[:v.x.shape[0]]), rows=3,
        note="the reparameterisation trick; one row of noise per example"),
        eps=("normal", (4, 3))),
    noisy(case("rand_bernoulli", """
        dim B = 4
        input x : f32[B, 3]
        param a : [3]
        u = rand([B, 3])
        keep = bernoulli(sigmoid(a) + 0 * x)
        output o = (x + a) * keep + u * a
        loss sum(o * (x + 2))
        """, lambda v: (lambda o: ((o * (v.x + 2)).sum(), {"o": o}))(
            (v.x + v.a) * (v.random2[:v.x.shape[0]] < torch.sigmoid(v.a)).double()
            + v.u[:v.x.shape[0]] * v.a), rows=3,
        note="bernoulli(p) is 1 where a uniform draw is below p; no gradient through the draw"),
        u=("uniform", (4, 3)), random2=("uniform", (4, 3))),
    no_gradcheck(case("stop_gradient", """
        dim B = 4
        input x : f32[B, 3]
        param a : [3]
        param w : [3, 3]
        h = tanh(x @ w + a)
        output o = h * stop_gradient(h) + stop_gradient(a) * a
        loss sum(o * (x + 2))
        """, lambda v: (lambda h: (lambda o: ((o * (v.x + 2)).sum(), {"o": o}))(
            h * h.detach() + v.a.detach() * v.a))(torch.tanh(v.x @ v.w + v.a)), rows=3,
        note="stop_gradient is torch's detach"),
        "finite differences see through stop_gradient; the torch references check it"),
    # -- small models --
    case("mlp_cross_entropy", """
        dim B = 8
        dim H = 6
        input x : f32[B, 5]
        label y : i32[B]
        param W1 : [5, H] = he_normal
        param b1 : [H] = zeros
        param W2 : [H, 3] = xavier_uniform
        param b2 : [3] = zeros
        h = relu(x @ W1 + b1)
        z = h @ W2 + b2
        output p = softmax(z)
        loss cross_entropy(z, y)
        """, lambda v: (_xent(z := torch.relu(v.x @ v.W1 + v.b1) @ v.W2 + v.b2, v.y), {"p": F.softmax(z, -1)}),
        rows=6, gen={"y": labels(3)}),
    case("logistic_regression_bce", """
        dim B = 8
        input x : f32[B, 4]
        input t : f32[B, 1]
        param w : [4, 1] = zeros
        param b : [1] = zeros
        z = x @ w + b
        output p = sigmoid(z)
        loss bce(z, t)
        """, lambda v: (_bce(z := v.x @ v.w + v.b, v.t), {"p": torch.sigmoid(z)}),
        gen={"t": probs()}),
    case("linear_regression_mse", """
        dim B = 8
        input x : f32[B, 3]
        label t : f32[B, 2]
        param W : [3, 2]
        param b : [2]
        output yhat = x @ W + b
        loss mse(yhat, t)
        """, lambda v: (F.mse_loss(yh := v.x @ v.W + v.b, v.t), {"yhat": yh}), rows=5),
    case("mlp_tanh_nll_def", """
        dim B = 7
        input x : f32[B, 4]
        label y : i32[B]
        param W1 : [4, 5]
        param b1 : [5]
        param W2 : [5, 3]
        def dense(u, W, b) = u @ W + b
        h = tanh(dense(x, W1, b1))
        loss nll(log_softmax(dense(h, W2, 0)), y) + 0.01 * sum(W1 * W1)
        """, lambda v: _nll(F.log_softmax(torch.tanh(v.x @ v.W1 + v.b1) @ v.W2, -1), v.y)
        + 0.01 * (v.W1 * v.W1).sum(), rows=5, gen={"y": labels(3)}),
    case("batchnorm_like", """
        dim B = 6
        input x : f32[B, 3]
        input R : f32[B, 3]
        param g : [3]
        param s : [3]
        u = x * g
        c = u - mean(u, axis=0, keepdims=1)
        v = mean(c * c, axis=0, keepdims=1)
        output o = c / sqrt(v + 0.5) * s
        loss sum(o * (R + 2))
        """, lambda v: _batchnorm_like(v), rows=4),
    # -- grad(f, x): gradients as values, differentiated again by the loss --
    case("grad_input", """
        dim B = 5
        input x : f32[B, 4]
        label y : i32[B]
        input R : f32[B, 4]
        param W1 : [4, 6]
        param b1 : [6]
        param W2 : [6, 3]
        def net(u) = tanh(u @ W1 + b1) @ W2
        output gx = grad(cross_entropy(net(x), y), x)
        loss sum(gx * (R + 2)) + cross_entropy(net(x), y)
        """, _grad_mlp, rows=3, gen={"y": labels(3)},
        note="torch.autograd.grad with create_graph=True, and the loss's gradient through it"),
    case("grad_hidden", """
        dim B = 4
        input x : f32[B, 3]
        input R : f32[B, 5]
        param W1 : [3, 5]
        param b1 : [5]
        param W2 : [5, 2]
        h = tanh(x @ W1 + b1)
        output gh = grad(sum((h @ W2) ^ 2), h)
        loss sum(gh * (R + 2))
        """, _grad_hidden, rows=3, note="with respect to a value computed in the program"),
    case("grad_penalty", """
        dim B = 6
        input x : f32[B, 2]
        input z : f32[B, 2]
        input a : f32[B, 1]
        param W1 : [2, 8]
        param b1 : [8]
        param W2 : [8, 1]
        param b2 : [1]
        def D(u) = leaky_relu(u @ W1 + b1, 0.2) @ W2 + b2
        xh = a * x + (1 - a) * z
        g = grad(sum(D(xh)), xh)
        output gp = mean((sqrt(sum(g ^ 2, axis = 1)) - 1) ^ 2)
        loss mean(D(z)) - mean(D(x)) + 10 * gp
        """, _gradient_penalty, rows=4, gen={"a": pos(0, 1)},
        note="WGAN-GP's gradient penalty (create_graph=True in PyTorch)"),
    case("grad_conv_pool", """
        dim B = 3
        input x : f32[B, 1, 6, 6]
        label y : i32[B]
        param K : [2, 1, 3, 3]
        param W : [2, 3]
        def net(u) = flatten(avg_pool2d(max_pool2d(tanh(conv2d(u, K)), 2), 2)) @ W
        output gx = grad(cross_entropy(net(x), y), x)
        loss cross_entropy(net(x), y) + sum(gx ^ 2)
        """, _grad_conv_pool, rows=2, gen={"y": labels(3), "x": distinct()},
        note="second order through convolution, max and average pooling"),
    case("grad_fgsm", """
        dim B = 5
        input x : f32[B, 4]
        label y : i32[B]
        param W1 : [4, 6]
        param b1 : [6]
        param W2 : [6, 3]
        def net(u) = tanh(u @ W1 + b1) @ W2
        output xa = x + 0.1 * sign(grad(cross_entropy(net(x), y), x))
        loss cross_entropy(net(xa), y)
        """, _fgsm, rows=4, gen={"y": labels(3)}, note="FGSM: sign has no gradient, so none flows through the attack"),
]


# Cases that must FAIL (negative tests, registered with WILL_FAIL): a relu at
# exactly 0 has analytic gradient step(0) = 0 but a central difference of 1/2.
NEGATIVE = [
    ew("neg_relu_kink", "a[B,3]", "relu(a)", "B,3", lambda v: torch.relu(v.a), gen={"a": const(0)}),
]


# ---- the batch axis through reshapes and concats: every op case again ----
#
# routed(c, route) rebuilds an ew/red case so that a partial batch flows
# through its op after a reshape or concat of the batch axis.  The batch is
# N examples (N even) and the case's B becomes 2N: each operand [B, ...] that
# the case declares as a param or input is computed from new inputs,
#   cat      concat(X_1 * X_s, X_2 * X_s, axis = 0)     X_1, X_2 : [N, ...]
#   merge    reshape(X_m * X_s, [-1, ...])               X_m : [N, 2, ...]
# (X_s : [...] a param, so the operand still gets a gradient), and so is R.
# N / 2 rows are fed.  Then the weighted output o * (R + 2) is summed as it
# is (cat), after reshape(..., [-1]) (merge), after reshape(..., [-1, 2M])
# with M its elements per row, which regroups the rows into the examples
# (regroup, from merged operands), or after reshape(..., [-1, 4M]) (mix, from
# concatenated ones): rows of two examples' data, which a partial batch has
# no value for (these two only where the output has a batch axis).  Each case must match PyTorch on the rows fed, or be
# rejected by dlc with the expected error: mix whenever the output has a
# batch axis, and the ops whose result would have two batch axes.

ROUTES = ("cat", "merge", "regroup", "mix")
_TWO_BATCH_AXES = {"sum_keepdims_and_not"}  # [B, 1] * [B]: an outer product of the batch


def _decls(text):
    """'a[B,3] b[3] s[]' -> [(name, ['B', '3']), ...]"""
    out = []
    for d in text.split():
        name, shape = d.rstrip("]").split("[")
        out.append((name, [x.strip() for x in shape.split(",") if x.strip()]))
    return out


def _input_decls(text):
    """'input x : f32[B, 3]' lines -> [(name, ['B', '3']), ...]"""
    import re
    return [(m.group(1), [x.strip() for x in m.group(2).split(",") if x.strip()])
            for m in re.finditer(r"input\s+(\w+)\s*:\s*\w*\s*\[([^\]]*)\]", text)]


def routed(c, route):
    p = c.parts
    dims = [d.strip() for d in p["dims"].split(";")]
    env = {}
    for d in dims:
        k, v = d.split("=")
        env[k.strip()] = int(eval(v, {"__builtins__": {}}, dict(env)))
    n = env["B"] + env["B"] % 2
    env["N"] = n
    env["B"] = 2 * n

    def num(shape):
        return tuple(int(eval(x, {"__builtins__": {}}, dict(env))) for x in shape)

    params = _decls(p["params"])
    operands = [(name, shape[1:], True) for name, shape in params if shape[:1] == ["B"]]
    operands += [(name, shape[1:], False) for name, shape in _input_decls(p["inputs"]) if shape[:1] == ["B"]]
    if not operands:
        return None
    out = [x.strip() for x in p["out"].split(",") if x.strip()]
    if "B" in out[1:]:
        return None  # the routes weight and regroup outputs whose batch axis is the first
    out_batch = out[:1] == ["B"]
    if route in ("regroup", "mix") and not out_batch:
        return None  # the rows of a value without a batch axis
    if out_batch:
        operands.append(("R", out[1:], False))
    pre = "cat" if route in ("cat", "mix") else "merge"

    dl = ["dim N = %d" % n, "dim B = 2 * N"] + ["dim " + d for d in dims if d.split("=")[0].strip() != "B"]
    values = []
    gen = dict(c.gen)
    for name, rest, scaled in operands:
        shp = ", ".join(["N"] + (["2"] if pre == "merge" else []) + rest)
        srcs = [name + "_1", name + "_2"] if pre == "cat" else [name + "_m"]
        for s_ in srcs:
            dl.append("input %s : f32[%s]" % (s_, shp))
            if name in gen:
                gen[s_] = gen[name]
        scale = " * %s_s" % name if scaled else ""
        if pre == "cat":
            values.append("%s = concat(%s_1%s, %s_2%s, axis = 0)" % (name, name, scale, name, scale))
        else:
            values.append("%s = reshape(%s_m%s, [%s])" % (name, name, scale, ", ".join(["-1"] + rest)))
        if scaled:
            gen[name + "_s"] = pos(0.8, 1.25)
    for name, shape in params:
        if shape[:1] != ["B"]:
            dl.append("param %s : [%s]" % (name, ", ".join(shape)))
    for name, rest, scaled in operands:
        if scaled:
            dl.append("param %s_s : [%s]" % (name, ", ".join(rest)))
    if not out_batch:
        dl.append("param R : [%s]" % ", ".join(out))
    dl += values
    dl.append("output o = " + p["expr"])
    w = "(R + 2)" if p["scalar"] else "o * (R + 2)"
    m = 1
    for x in num(out[1:]):
        m *= x
    post = {"cat": w, "merge": "reshape(%s, [-1])" % w, "regroup": "reshape(%s, [-1, %d])" % (w, 2 * m),
            "mix": "reshape(%s, [-1, %d])" % (w, 4 * m)}[route]
    dl.append("loss " + ("o * sum(%s)" if p["scalar"] else "sum(%s)") % post)

    def ref(v):
        ns = dict(v.__dict__)
        for name, rest, scaled in operands:
            s_ = ns[name + "_s"] if scaled else 1
            if pre == "cat":
                ns[name] = torch.cat([ns[name + "_1"] * s_, ns[name + "_2"] * s_], 0)
            else:
                ns[name] = (ns[name + "_m"] * s_).reshape((-1,) + num(rest))
        o = p["ref"](_NS(ns))
        t = (ns["R"] + 2) if p["scalar"] else o * (ns["R"] + 2)
        if route != "cat":
            t = t.reshape(-1) if route == "merge" else t.reshape(-1, (2 if route == "regroup" else 4) * m)
        return (o * t.sum() if p["scalar"] else t.sum()), {"o": o}

    reject = None
    if c.name in _TWO_BATCH_AXES:
        reject = r"would run over the batch along two axes"
    elif route == "mix" and out_batch:
        reject = r"'reshape' from .* would mix the examples of the batch"
    return Case("route.%s.%s" % (route, c.name), "\n".join(dl), ref, gen, n // 2,
                "%s route of %s" % (route, c.name), reject)


class _NS:
    def __init__(self, d):
        self.__dict__.update(d)


ROUTED = [r for c in CASES if c.parts for r in (routed(c, k) for k in ROUTES) if r is not None]


def get(name):
    for c in CASES + NEGATIVE + ROUTED:
        if c.name == name:
            return c
    return None
