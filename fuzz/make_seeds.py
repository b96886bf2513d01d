#!/usr/bin/env python3
"""make_seeds.py - write the seed corpora of the loader harnesses.

    python3 fuzz/make_seeds.py        (from anywhere; writes fuzz/corpus/*/)

Each seed is small: a valid file or two for a few variants of the toy
model, and cut and broken copies of them.  The first byte of every seed
picks the toy model (fuzz/fuzz_toy.h); "--next-file--" separates an input's
file from its label's.  The output is the same on every run (no randomness),
so the committed corpus is what this script writes; the compiler's seeds
are the programs of examples/ and tests/ (fuzz/fuzz.cmake names them)."""
import gzip
import json
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
SEP = b"--next-file--"


def cfg(features, outputs, f64=False, classifier=False, bit6=False, bit7=False):
    assert 1 <= features <= 4 and 1 <= outputs <= 4
    return bytes([(features - 1) | (outputs - 1) << 2 | f64 << 4 | classifier << 5 | bit6 << 6 | bit7 << 7])


def write(harness, name, data):
    d = os.path.join(HERE, "corpus", harness)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# ---- IDX: big-endian header, type byte, rank, dims ----
IDX_TYPES = {"u8": (0x08, ">B"), "i8": (0x09, ">b"), "i16": (0x0B, ">h"), "i32": (0x0C, ">i"),
             "f32": (0x0D, ">f"), "f64": (0x0E, ">d")}


def idx(kind, dims, values):
    code, fmt = IDX_TYPES[kind]
    out = bytes([0, 0, code, len(dims)]) + b"".join(struct.pack(">I", d) for d in dims)
    return out + b"".join(struct.pack(fmt, v) for v in values)


def seeds_idx():
    x = idx("u8", [6, 2], [0, 255, 12, 40, 7, 9, 200, 3, 100, 101, 1, 2])
    y = idx("u8", [6], [0, 1, 2, 2, 1, 0])
    c = cfg(2, 3, classifier=True, bit7=True)
    write("idx", "u8_classifier", c + x + SEP + y)
    write("idx", "u8_classifier_standardized", cfg(2, 3, classifier=True, bit6=True) + x + SEP + y)
    write("idx", "u8_inputs_only", c + x)
    write("idx", "gz_classifier", c + gzip.compress(x, mtime=0) + SEP + gzip.compress(y, mtime=0))
    write("idx", "i16_labels", c + x + SEP + idx("i16", [6], [0, 1, 2, 2, 1, 0]))
    write("idx", "i32_labels", c + x + SEP + idx("i32", [6], [2, 1, 0, 0, 1, 2]))
    write("idx", "label_out_of_range", c + x + SEP + idx("i8", [6], [0, 1, 3, -1, 1, 0]))
    xf = idx("f32", [5, 2], [0.5, -1.0, 2.0, 3.5, 1e-3, 7.0, -2.5, 0.0, 4.0, 1.0])
    yf = idx("f32", [5, 1], [1.0, 2.0, -1.0, 0.5, 0.0])
    write("idx", "f32_regression", cfg(2, 1) + xf + SEP + yf)
    write("idx", "f64_regression", cfg(2, 1, f64=True) + idx("f64", [5, 2], [0.25] * 10) + SEP
          + idx("f64", [5, 1], [1.0] * 5))
    write("idx", "rank3_inputs", cfg(4, 1) + idx("u8", [2, 2, 2], range(8)))
    write("idx", "rows_differ", c + x + SEP + idx("u8", [5], [0, 1, 2, 2, 1]))
    write("idx", "truncated_header", c + x[:6])
    write("idx", "truncated_data", c + x[:-3] + SEP + y)


# ---- .npy: magic, version, little-endian header length, dict ----
def npy(descr, shape, payload, version=1, fortran=False):
    shp = "(" + ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"
    head = "{'descr': '%s', 'fortran_order': %s, 'shape': %s, }" % (descr, fortran, shp)
    pre = 10 if version == 1 else 12
    pad = (-(pre + len(head) + 1)) % 64
    head = (head + " " * pad + "\n").encode()
    lenfmt = "<H" if version == 1 else "<I"
    return b"\x93NUMPY" + bytes([version, 0]) + struct.pack(lenfmt, len(head)) + head + payload


def seeds_npy():
    c = cfg(2, 3, classifier=True)
    x = npy("<f4", [4, 2], struct.pack("<8f", 0.5, 1.0, -1.0, 2.0, 3.0, 0.0, 1.5, -0.5))
    y = npy("<i4", [4], struct.pack("<4i", 0, 2, 1, 2))
    write("npy", "f32_classifier", c + x + SEP + y)
    write("npy", "f32_inputs_only", c + x)
    write("npy", "i64_labels", c + x + SEP + npy("<i8", [4], struct.pack("<4q", 0, 2, 1, 2)))
    write("npy", "u8_inputs", cfg(2, 3, classifier=True, bit7=True) + npy("|u1", [4, 2], bytes(range(8)))
          + SEP + y)
    write("npy", "f64_regression", cfg(2, 1, f64=True, bit6=True) + npy("<f8", [3, 2], struct.pack("<6d", *range(6)))
          + SEP + npy("<f8", [3, 1], struct.pack("<3d", 1, 2, 3)))
    write("npy", "version2", c + npy("<f4", [4, 2], bytes(32), version=2) + SEP + y)
    write("npy", "big_endian", c + npy(">f4", [4, 2], bytes(32)) + SEP + y)
    write("npy", "fortran_order", c + npy("<f4", [4, 2], bytes(32), fortran=True) + SEP + y)
    write("npy", "scalar", c + npy("<f4", [], bytes(4)))
    write("npy", "wrong_row_size", c + npy("<f4", [2, 4], bytes(32)) + SEP + y)
    write("npy", "truncated_data", c + x[:-5] + SEP + y)
    write("npy", "truncated_header", c + x[:20])
    write("npy", "label_out_of_range", c + x + SEP + npy("<i4", [4], struct.pack("<4i", 0, 3, -1, 2)))


# ---- CSV: x's columns, then y's ----
def seeds_csv():
    c = cfg(2, 3, classifier=True)
    rows = b"0.5,1.5,2\n-1,2e3,0\n3.25,-0.125,1\n7,8,2\n"
    write("csv", "classifier", c + rows)
    write("csv", "classifier_header", cfg(2, 3, classifier=True, bit6=True) + b"a,b,label\n" + rows)
    write("csv", "regression", cfg(2, 1, f64=True) + b"1,2,3\n4,5,6\n7,8,9\n")
    write("csv", "crlf_spaces", c + b" 0.5 , 1.5 ,2\r\n-1, 2, 0\r\n\r\n")
    write("csv", "no_final_newline", c + b"1,2,0\n3,4,1")
    write("csv", "nonfinite", cfg(2, 1) + b"nan,1,2\ninf,-inf,0\n")
    write("csv", "too_few_columns", c + b"1,2\n3,4,1\n")
    write("csv", "label_not_integer", c + b"1,2,0.5\n")
    write("csv", "label_out_of_range", c + b"1,2,3\n1,2,-1\n")
    write("csv", "header_only", cfg(2, 3, classifier=True, bit6=True) + b"a,b,c\n")
    write("csv", "garbage", c + b"1,2,x\n\x00\xff,,\n")
    write("csv", "gz", c + gzip.compress(rows, mtime=0))


# ---- safetensors checkpoints of the toy model ----
def toy_tensors(features, outputs, f64=False, state=True):
    ts = [("W", [features, outputs]), ("b", [outputs])]
    if state:
        ts += [("v_W", [features, outputs]), ("v_b", [outputs])]
    return [(n, "F64" if f64 else "F32", s) for n, s in ts]


def safetensors(tensors, meta, pad=True):
    header = {}
    if meta is not None:
        header["__metadata__"] = meta
    data = b""
    for name, dtype, shape in tensors:
        n = 1
        for d in shape:
            n *= d
        size = 8 if dtype == "F64" else 4
        fmt = "<%d%s" % (n, "d" if dtype == "F64" else "f")
        blob = struct.pack(fmt, *[0.25 * (i + 1) for i in range(n)])
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + n * size]}
        data += blob
    text = json.dumps(header, separators=(",", ":")).encode()
    if pad:
        text += b" " * ((-(8 + len(text))) % 8)
    return struct.pack("<Q", len(text)) + text + data


def meta(epoch=3, step=120, seed=42, vocab=None, model="toy_classifier"):
    m = {"format": "dlc", "model": model, "epoch": str(epoch), "step": str(step), "seed": str(seed)}
    if vocab is not None:
        m["vocab"] = vocab
    return m


def seeds_checkpoint():
    c = cfg(2, 3, classifier=True)
    good = safetensors(toy_tensors(2, 3), meta())
    write("checkpoint", "classifier", c + good)
    write("checkpoint", "f64", cfg(3, 2, f64=True) + safetensors(toy_tensors(3, 2, f64=True), meta(model="toy_linear")))
    write("checkpoint", "no_state", cfg(2, 3, classifier=True, bit6=True)
          + safetensors(toy_tensors(2, 3, state=False), meta()))
    write("checkpoint", "state_missing", c + safetensors(toy_tensors(2, 3, state=False), meta()))
    write("checkpoint", "vocab", cfg(2, 3, classifier=True, bit7=True)
          + safetensors(toy_tensors(2, 3), meta(vocab="616263")))
    write("checkpoint", "vocab_differs", cfg(2, 3, classifier=True, bit7=True)
          + safetensors(toy_tensors(2, 3), meta(vocab="616264")))
    write("checkpoint", "no_metadata", c + safetensors(toy_tensors(2, 3), None))
    write("checkpoint", "wrong_shape", c + safetensors(toy_tensors(3, 2), meta()))
    write("checkpoint", "truncated_data", c + good[:-7])
    write("checkpoint", "truncated_header", c + good[:40])
    write("checkpoint", "unpadded", c + safetensors(toy_tensors(2, 3), meta(), pad=False))
    bad = bytearray(good)
    bad[8 + good[8:].index(b'"data_offsets":[0,') + 16] = ord("9")
    write("checkpoint", "overlapping_offsets", c + bytes(bad))


def seeds_ckpt_meta():
    c = cfg(2, 3, classifier=True)
    write("ckpt_meta", "dlc", c + json.dumps(meta(), separators=(",", ":")).encode())
    write("ckpt_meta", "vocab", cfg(2, 3, classifier=True, bit7=True)
          + json.dumps(meta(vocab="616263")).encode())
    write("ckpt_meta", "empty", c + b"{}")
    write("ckpt_meta", "nested", c + b'{"a":[1,-2.5e-3,{"b":null}],"c":true,"d":false,"epoch":"7"}')
    write("ckpt_meta", "escapes", c + b'{"model":"t\\u00e9\\n\\"q\\"","step":"\\u0031\\u0032","vocab":"61"}')
    write("ckpt_meta", "surrogates", c + b'{"m":"\\ud83d\\ude00","n":"\\udc00"}')
    write("ckpt_meta", "big_numbers", c + b'{"epoch":"99999999999999999999999","step":"-5","seed":"18446744073709551616"}')
    write("ckpt_meta", "not_an_object", c + b'[1,2,3]')
    write("ckpt_meta", "unterminated", c + b'{"epoch":"3')


if __name__ == "__main__":
    seeds_idx()
    seeds_npy()
    seeds_csv()
    seeds_checkpoint()
    seeds_ckpt_meta()
