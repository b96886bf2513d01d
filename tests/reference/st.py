"""st.py - a small NumPy-only reader and writer for safetensors files.

Layout (huggingface.co/docs/safetensors): an 8-byte little-endian header
length N, then N bytes of JSON

    {"__metadata__": {...}, "W": {"dtype": "F64", "shape": [3, 5],
                                  "data_offsets": [0, 120]}, ...}

then the raw little-endian tensor data; offsets count from the end of the
header.  This is what dlc trainers read with --load and write with
--dump-grads / --dump-forward, so the reference tests need no `safetensors`
package.
"""
import json
import struct

import numpy as np

_DTYPES = {
    "F64": np.dtype("<f8"),
    "F32": np.dtype("<f4"),
    "I32": np.dtype("<i4"),
    "I64": np.dtype("<i8"),
    "U8": np.dtype("u1"),
}
_NAMES = {v: k for k, v in _DTYPES.items()}


def save(path, tensors, metadata=None):
    """Write {name: ndarray} (f32, f64, i32, i64 or u8) to `path`."""
    header = {}
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    blobs, off = [], 0
    for name, arr in tensors.items():
        arr = np.asarray(arr, order="C")  # (ascontiguousarray would make 0-d 1-d)
        dt = arr.dtype.newbyteorder("<") if arr.dtype.byteorder == ">" else arr.dtype
        if dt not in _NAMES:
            raise ValueError("st.save: %s has unsupported dtype %s" % (name, arr.dtype))
        raw = arr.astype(dt.newbyteorder("<"), copy=False).tobytes()
        header[name] = {"dtype": _NAMES[dt], "shape": list(arr.shape),
                        "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)  # data starts on an 8-byte boundary
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for raw in blobs:
            f.write(raw)


def load(path):
    """Read a safetensors file: returns ({name: ndarray}, metadata dict)."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 8:
        raise ValueError("%s: shorter than the 8-byte header length" % path)
    (n,) = struct.unpack("<Q", data[:8])
    if 8 + n > len(data):
        raise ValueError("%s: header length %d runs past the end of the file" % (path, n))
    header = json.loads(data[8:8 + n].decode())
    body = data[8 + n:]
    meta = header.pop("__metadata__", {}) or {}
    out = {}
    for name, h in header.items():
        dt = _DTYPES.get(h["dtype"])
        if dt is None:
            raise ValueError("%s: tensor %s has unsupported dtype %s" % (path, name, h["dtype"]))
        a, b = h["data_offsets"]
        shape = tuple(h["shape"])
        count = int(np.prod(shape, dtype=np.int64))
        if not 0 <= a <= b <= len(body) or b - a != count * dt.itemsize:
            raise ValueError("%s: tensor %s: bad data_offsets %r for %s%s" % (path, name, h["data_offsets"],
                                                                            h["dtype"], list(shape)))
        out[name] = np.frombuffer(body, dtype=dt, count=count, offset=a).reshape(shape).copy()
    return out, meta
