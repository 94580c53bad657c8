"""The message format between IsolatedModel and its worker process.

A message is a JSON header followed by raw array buffers, each part length-prefixed. Values
map as in `_bindings/values.py`: arrays travel as {"__array__": i, "dtype": ..., "shape": [...]}
whose bytes are buffer i; bytes travel as {"__bytes__": i}; tuples and dicts are tagged so that
they come back as they left. No pickle: the worker runs untrusted model code, and whatever it
sends is decoded as plain data and checked (dtype whitelist, sizes) before it becomes an array.
"""

from __future__ import annotations

import json
import math
import struct
from typing import Any

import numpy as np

from ._dtypes import NUMPY_DTYPES

_DTYPES: dict[str, np.dtype[Any]] = {dtype.str: dtype for dtype in NUMPY_DTYPES}
_LENGTH = struct.Struct("<Q")
MAX_MESSAGE = 1 << 34  # 16 GiB: a corrupted length must not become an allocation


class WireError(Exception):
    """A message that does not follow the format."""


def _encode(value, buffers: list):
    if isinstance(value, np.ndarray):
        array = np.ascontiguousarray(value)
        if array.dtype.str not in _DTYPES:
            raise WireError(f"arrays of dtype {array.dtype} cannot be sent")
        buffers.append(array.tobytes())
        return {"__array__": len(buffers) - 1, "dtype": array.dtype.str, "shape": list(array.shape)}
    if isinstance(value, (bytes, bytearray, memoryview)):
        buffers.append(bytes(value))
        return {"__bytes__": len(buffers) - 1}
    if isinstance(value, tuple):
        return {"__tuple__": [_encode(v, buffers) for v in value]}
    if isinstance(value, list):
        return [_encode(v, buffers) for v in value]
    if isinstance(value, dict):
        return {"__dict__": [[_encode(k, buffers), _encode(v, buffers)] for k, v in value.items()]}
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise WireError(f"a {type(value).__name__} cannot be sent")


def _decode(node, buffers: list):
    if isinstance(node, list):
        return [_decode(v, buffers) for v in node]
    if isinstance(node, dict):
        if "__array__" in node:
            dtype = _DTYPES.get(str(node.get("dtype")))
            index, shape = node["__array__"], node.get("shape")
            if (
                dtype is None
                or not isinstance(index, int)
                or not 0 <= index < len(buffers)
                or not isinstance(shape, list)
                or not all(isinstance(d, int) and d >= 0 for d in shape)
            ):
                raise WireError("malformed array")
            data = buffers[index]
            if math.prod(shape) * dtype.itemsize != len(data):  # Python ints: no overflow
                raise WireError("array size does not match its buffer")
            return np.frombuffer(data, dtype=dtype).reshape(shape).copy()
        if "__bytes__" in node:
            index = node["__bytes__"]
            if not isinstance(index, int) or not 0 <= index < len(buffers):
                raise WireError("malformed bytes")
            return buffers[index]
        if "__tuple__" in node:
            return tuple(_decode(v, buffers) for v in node["__tuple__"])
        if "__dict__" in node:
            return {_decode(k, buffers): _decode(v, buffers) for k, v in node["__dict__"]}
        raise WireError("unknown tagged object")
    if node is None or isinstance(node, (bool, int, float, str)):
        return node
    raise WireError("unknown value")


def pack(message: dict) -> bytes:
    """{"kind": ..., ...} with its values encoded; WireError for a value that cannot be sent."""
    buffers: list = []
    header = json.dumps(_encode(message, buffers)).encode()
    parts = [_LENGTH.pack(len(buffers)), _LENGTH.pack(len(header)), header]
    for buffer in buffers:
        parts += [_LENGTH.pack(len(buffer)), buffer]
    return b"".join(parts)


def send(stream, message: dict) -> None:
    """Writes {"kind": ..., ...} with its values encoded."""
    stream.write(pack(message))
    stream.flush()


def _read_exact(stream, size: int) -> bytes:
    if size > MAX_MESSAGE:
        raise WireError("message too large")
    data = stream.read(size)
    if data is None or len(data) != size:
        raise EOFError("the other side closed the pipe")
    return data


def receive(stream) -> dict:
    count = _LENGTH.unpack(_read_exact(stream, _LENGTH.size))[0]
    if count > 1 << 20:
        raise WireError("too many buffers")
    header = _read_exact(stream, _LENGTH.unpack(_read_exact(stream, _LENGTH.size))[0])
    buffers = [
        _read_exact(stream, _LENGTH.unpack(_read_exact(stream, _LENGTH.size))[0])
        for _ in range(count)
    ]
    try:
        message = _decode(json.loads(header), buffers)
    except (ValueError, TypeError, KeyError, RecursionError) as error:  # deep nesting: recursion
        raise WireError(f"malformed message: {error}") from None
    if not isinstance(message, dict) or "kind" not in message:
        raise WireError("a message is a dict with a kind")
    return message
