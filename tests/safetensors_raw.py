"""Read a safetensors file with the standard library only (for tests that do not need NumPy).

read(path) -> (metadata dict, {name: (dtype, shape tuple, raw bytes)})
values(raw, dtype) -> tuple of numbers
"""
import json
import struct


def read(path):
    with open(path, "rb") as f:
        data = f.read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    base = 8 + n
    out = {}
    for k, v in header.items():
        if k == "__metadata__":
            continue
        a, b = v["data_offsets"]
        out[k] = (v["dtype"], tuple(v["shape"]), data[base + a:base + b])
    return header.get("__metadata__", {}), out


def values(raw, dtype):
    fmt = {"F32": "f", "F64": "d", "I32": "i"}[dtype]
    return struct.unpack("<%d%s" % (len(raw) // struct.calcsize(fmt), fmt), raw)
