"""The only way values cross between the grader and student code: plain data, safely decoded.

A value is encoded into a JSON tree (numbers, strings, tagged containers) plus raw byte
buffers for tensors and arrays.  Decoding parses JSON and copies bytes into fresh tensors or
arrays: it never unpickles, never imports, and never calls a method of an object the student
made, so whatever comes back cannot run code or lie about itself (an ``__eq__`` that is always
true, a tensor subclass that fools ``allclose``).  Anything that is not plain data is refused
with a message that says what was returned and what to return instead.

Allowed: None, bool, int, float, complex, str, bytes, list, tuple, dict (keys of the scalar
kinds or tuples of them), ``torch.Tensor`` and ``numpy.ndarray`` of bool, integer, float or
complex dtype, NumPy scalars of those dtypes, ``torch.dtype``, ``numpy.dtype`` and
``torch.Size``.  Everything is checked by exact type, so subclasses are refused too.
"""

from __future__ import annotations

import json
import re
import struct
from typing import Any, Final

MAGIC: Final = b"GRT1"
MAX_DEPTH: Final = 64
MAX_NODES: Final = 1_000_000
MAX_BYTES: Final = 1 << 30
_NUMPY_DTYPE = re.compile(r"^[<>|=][biufc]\d{1,2}$")
_TORCH_DTYPES: Final = {
    "bool", "uint8", "int8", "int16", "int32", "int64", "uint16", "uint32", "uint64",
    "float16", "bfloat16", "float32", "float64", "complex64", "complex128",
}  # fmt: skip


class UnsupportedValue(TypeError):
    """A value that is not plain data; ``path`` says where in the value it was (``result[1]``)."""

    def __init__(self, path: str, found: str) -> None:
        super().__init__(
            f"{path} is {found}, which cannot be graded; return tensors, arrays, numbers, "
            "strings or lists/tuples/dicts of them"
        )
        self.path = path
        self.found = found


class MalformedMessage(ValueError):
    """Bytes that are not a well-formed transport message (truncated, oversized, tampered with)."""


Buffer = bytes | bytearray | memoryview


def encode(value: object, *, name: str = "result") -> bytes:
    """Encode ``value`` as a transport message; raises UnsupportedValue for non-plain data."""
    return b"".join(encode_parts(value, name=name))


def encode_parts(value: object, *, name: str = "result") -> list[Buffer]:
    """``encode``'s message as the pieces it is made of, for a sender that writes them one after
    another: a tensor's or array's bytes are a view of its own memory, not a copy (a week-5
    sampler returns megabytes, and every copy of them costs page faults in a fresh sandbox).
    The value must not change until the pieces are sent."""
    encoder = _Encoder()
    tree = encoder.node(value, name, 0)
    header = json.dumps(tree, separators=(",", ":"), allow_nan=True).encode("utf-8")
    return [MAGIC, struct.pack("<Q", len(header)), header, *encoder.buffers]


def decode(message: Buffer) -> Any:
    """Decode a transport message into fresh plain values; raises MalformedMessage."""
    message = memoryview(message).cast("B")
    if len(message) > MAX_BYTES + (1 << 20) or len(message) < 12 or bytes(message[:4]) != MAGIC:
        raise MalformedMessage("not a transport message")
    (header_len,) = struct.unpack("<Q", message[4:12])
    if 12 + header_len > len(message):
        raise MalformedMessage("truncated header")
    try:
        tree = json.loads(bytes(message[12 : 12 + header_len]).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise MalformedMessage(f"unreadable header: {exc}") from None
    try:
        return _Decoder(message[12 + header_len :]).node(tree, 0)
    except (ValueError, TypeError, KeyError, AttributeError, OverflowError, RecursionError) as exc:
        if isinstance(exc, MalformedMessage):
            raise
        raise MalformedMessage(f"malformed value: {exc}") from None


def roundtrip(value: object, *, name: str = "result") -> Any:
    """``decode(encode(value))``: the copy a value becomes by crossing."""
    return decode(encode(value, name=name))


class _Encoder:
    def __init__(self) -> None:
        self.buffers: list[Buffer] = []
        self.offset = 0
        self.nodes = 0

    def node(self, value: Any, path: str, depth: int) -> Any:
        self.nodes += 1
        if depth > MAX_DEPTH or self.nodes > MAX_NODES:
            raise UnsupportedValue(path, "nested too deeply or too large")
        kind = type(value)
        if value is None or kind in (bool, str):
            return value
        if kind is int:
            if value.bit_length() > 4096:
                raise UnsupportedValue(path, "an integer with more than 4096 bits")
            return {"i": str(value)}
        if kind is float:
            return {"f": float.hex(value)}  # exact, and NaN/inf survive
        if kind is complex:
            return {"c": [float.hex(value.real), float.hex(value.imag)]}
        if kind in (list, tuple):
            items = [self.node(v, f"{path}[{i}]", depth + 1) for i, v in enumerate(value)]
            return {"L" if kind is list else "T": items}
        if kind is dict:
            return {"D": [self._item(k, v, path, depth) for k, v in value.items()]}
        if kind is bytes:
            return {"B": self._buffer(value)}
        return self._array_like(value, kind, path)

    def _item(self, key: object, value: object, path: str, depth: int) -> list[Any]:
        if type(key) not in (str, int, float, bool, tuple) and key is not None:
            raise UnsupportedValue(f"a key of {path}", _describe(key))
        return [self.node(key, f"{path} key", depth + 1), self.node(value, f"{path}[{key!r}]", depth + 1)]

    def _buffer(self, data: Buffer) -> list[int]:
        """Append ``data`` (bytes, or a flat byte view: its len is its size) to the message."""
        if self.offset + len(data) > MAX_BYTES:
            raise UnsupportedValue("the value", f"larger than {MAX_BYTES >> 20} MiB")
        self.buffers.append(data)
        self.offset += len(data)
        return [self.offset - len(data), len(data)]

    def _array_like(self, value: object, kind: type, path: str) -> Any:
        module = kind.__module__.split(".")[0]
        if module == "torch":
            return self._torch(value, kind, path)
        if module == "numpy":
            return self._numpy(value, kind, path)
        raise UnsupportedValue(path, _describe(value))

    def _torch(self, value: Any, kind: type, path: str) -> Any:
        import torch

        if kind is torch.dtype:
            return {"tdtype": str(value).removeprefix("torch.")}
        if kind is torch.Size:
            return {"size": [int(n) for n in value]}
        if kind not in (torch.Tensor, torch.nn.Parameter):
            raise UnsupportedValue(path, _describe(value))
        dtype = str(value.dtype).removeprefix("torch.")
        if dtype not in _TORCH_DTYPES or value.layout != torch.strided or value.is_quantized:
            raise UnsupportedValue(path, f"a tensor of dtype {dtype} and layout {value.layout}")
        flat = value.detach().cpu().resolve_conj().resolve_neg().contiguous().reshape(-1)
        raw = memoryview(flat.view(torch.uint8).numpy()) if flat.numel() else b""
        return {"tensor": dtype, "shape": list(value.shape), "buf": self._buffer(raw)}

    def _numpy(self, value: Any, kind: type, path: str) -> Any:
        import numpy as np

        if kind is np.ndarray or isinstance(value, np.generic):
            dtype = value.dtype.str
            if not _NUMPY_DTYPE.match(dtype):
                raise UnsupportedValue(path, f"a NumPy value of dtype {value.dtype}")
            tag = "ndarray" if kind is np.ndarray else "npscalar"
            raw = np.ascontiguousarray(value).reshape(-1).view(np.uint8).data
            return {tag: dtype, "shape": list(np.shape(value)), "buf": self._buffer(raw)}
        if isinstance(value, np.dtype) and _NUMPY_DTYPE.match(value.str):
            return {"npdtype": value.str}
        raise UnsupportedValue(path, _describe(value))


class _Decoder:
    def __init__(self, buffers: memoryview) -> None:
        self.buffers = buffers
        self.nodes = 0

    def node(self, tree: Any, depth: int) -> Any:
        self.nodes += 1
        if depth > MAX_DEPTH or self.nodes > MAX_NODES:
            raise MalformedMessage("nested too deeply")
        if tree is None or type(tree) in (bool, str):
            return tree
        if type(tree) is not dict or len(tree) == 0:
            raise MalformedMessage(f"unexpected node {type(tree).__name__}")
        tag = next(iter(tree))
        body = tree[tag]
        if tag == "i":
            return int(body)
        if tag == "f":
            return float.fromhex(body)
        if tag == "c":
            return complex(float.fromhex(body[0]), float.fromhex(body[1]))
        if tag in ("L", "T"):
            items = [self.node(v, depth + 1) for v in _list(body)]
            return items if tag == "L" else tuple(items)
        if tag == "D":
            return {self._key(k, depth): self.node(v, depth + 1) for k, v in _pairs(body)}
        if tag == "B":
            return bytes(self._slice(body))
        return self._array_like(tag, tree)

    def _key(self, tree: Any, depth: int) -> Any:
        key = self.node(tree, depth + 1)
        try:
            hash(key)
        except TypeError:
            raise MalformedMessage("unhashable dict key") from None
        return key

    def _slice(self, span: Any) -> memoryview:
        if not (isinstance(span, list) and len(span) == 2 and all(type(n) is int and n >= 0 for n in span)):
            raise MalformedMessage("bad buffer reference")
        start, length = span
        if start + length > len(self.buffers):
            raise MalformedMessage("buffer reference past the end of the message")
        return self.buffers[start : start + length]

    def _array_like(self, tag: str, tree: dict[str, Any]) -> Any:
        if tag == "tensor":
            return self._tensor(tree)
        if tag in ("ndarray", "npscalar"):
            return self._ndarray(tag, tree)
        if tag == "tdtype" and tree[tag] in _TORCH_DTYPES:
            import torch

            return getattr(torch, tree[tag])
        if tag == "size":
            import torch

            return torch.Size(_shape(tree[tag]))
        if tag == "npdtype" and _NUMPY_DTYPE.match(str(tree[tag])):
            import numpy as np

            return np.dtype(tree[tag])
        raise MalformedMessage(f"unknown tag {tag!r}")

    def _tensor(self, tree: dict[str, Any]) -> Any:
        import torch

        name = tree["tensor"]
        if name not in _TORCH_DTYPES:
            raise MalformedMessage(f"tensor dtype {name!r} is not allowed")
        dtype, shape = getattr(torch, name), _shape(tree.get("shape"))
        raw = self._slice(tree.get("buf"))
        count = _numel(shape)
        if len(raw) != count * dtype.itemsize:
            raise MalformedMessage("tensor size does not match its shape")
        if count == 0:
            return torch.empty(shape, dtype=dtype)
        return torch.frombuffer(bytearray(raw), dtype=torch.uint8).view(dtype).reshape(shape)

    def _ndarray(self, tag: str, tree: dict[str, Any]) -> Any:
        import numpy as np

        text = str(tree[tag])
        if not _NUMPY_DTYPE.match(text):
            raise MalformedMessage(f"array dtype {text!r} is not allowed")
        dtype, shape = np.dtype(text), _shape(tree.get("shape"))
        raw = self._slice(tree.get("buf"))
        if len(raw) != _numel(shape) * dtype.itemsize:
            raise MalformedMessage("array size does not match its shape")
        array = np.frombuffer(raw, dtype=dtype).reshape(shape).copy()
        return array[()] if tag == "npscalar" else array


def _list(body: Any) -> list[Any]:
    if type(body) is not list:
        raise MalformedMessage("expected a list")
    return body


def _pairs(body: Any) -> list[tuple[Any, Any]]:
    pairs = _list(body)
    if not all(type(p) is list and len(p) == 2 for p in pairs):
        raise MalformedMessage("malformed dict")
    return [(k, v) for k, v in pairs]


def _shape(value: Any) -> tuple[int, ...]:
    if type(value) is not list or not all(type(n) is int and n >= 0 for n in value) or len(value) > 32:
        raise MalformedMessage("bad shape")
    return tuple(value)


def _numel(shape: tuple[int, ...]) -> int:
    count = 1
    for n in shape:
        count *= n
    if count > MAX_BYTES:
        raise MalformedMessage("shape too large")
    return count


def _describe(value: object) -> str:
    kind = type(value)
    name = kind.__qualname__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__qualname__}"
    return f"an object of type {name}"
