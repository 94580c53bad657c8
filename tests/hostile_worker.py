"""A stand-in for IsolatedModel's worker process that answers with chosen bytes, for the tests
of what the parent does with a broken or hostile worker. Plain Python, no numpy: it starts fast.

    python hostile_worker.py PLAN

PLAN is a JSON file: a list of steps, one taken per request the parent sends, in order. A step
is {"send": HEX, "then": "stay" | "exit" | "hang" | "deaf"}: the bytes to write as the reply,
then go on serving, exit (closing the pipe), stop forever, or stop reading requests and stop
forever ("deaf" leaves the request unread); or null for an honest reply, which the
requests after the plan get too:
a load gets a plausible model description, a call gets its own arguments back (`ECHO`), a close
gets None and ends the worker.
"""

from __future__ import annotations

import json
import os
import select
import struct
import sys
import time

LENGTH = struct.Struct("<Q")


def wire(value):
    """A plain value as the format writes it: dicts and tuples tagged (pyfront/_wire.py)."""
    if isinstance(value, dict):
        return {"__dict__": [[wire(k), wire(v)] for k, v in value.items()]}
    if isinstance(value, tuple):
        return {"__tuple__": [wire(v) for v in value]}
    if isinstance(value, list):
        return [wire(v) for v in value]
    return value


def header(**fields) -> bytes:
    """A message's JSON part, its fields given as the format writes them."""
    return json.dumps({"__dict__": [[k, v] for k, v in fields.items()]}).encode()


# What an honest worker answers to a load.
LOAD_INFO = {
    "device": "cpu",
    "methods": ["forward"],
    "schemas": {"forward": "forward(__torch__.M self, Tensor x) -> Tensor"},
    "extra_files": {},
    "parameter_count": 0,
    "keeps_state": False,
    "frozen": True,
    "format": "torchscript",
    "fused": False,
}


def frame(json_part: bytes, buffers=()) -> bytes:
    parts = [LENGTH.pack(len(buffers)), LENGTH.pack(len(json_part)), json_part]
    for buffer in buffers:
        parts += [LENGTH.pack(len(buffer)), buffer]
    return b"".join(parts)


def read_exact(stream, size: int) -> bytes:
    data = stream.read(size)
    if len(data) != size:
        sys.exit(0)  # the parent closed the pipe
    return data


def read_request(stream):
    count = LENGTH.unpack(read_exact(stream, 8))[0]
    request = json.loads(read_exact(stream, LENGTH.unpack(read_exact(stream, 8))[0]))
    buffers = [read_exact(stream, LENGTH.unpack(read_exact(stream, 8))[0]) for _ in range(count)]
    return request, buffers


def honest_reply(request: dict, buffers: list) -> bytes:
    fields = dict(request["__dict__"])
    if fields["kind"] == "load":
        return frame(header(kind="ok", value=wire(LOAD_INFO)))
    if fields["kind"] == "call":  # the arguments as they came, in the same encoding
        return frame(header(kind="ok", value=fields["args"]), buffers)
    return frame(header(kind="ok", value=None))


def main() -> int:
    with open(sys.argv[1]) as f:
        plan = json.load(f)
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    while True:
        step = plan.pop(0) if plan else None
        if step is not None and step["then"] == "deaf":
            select.select([stdin], [], [])  # a request is coming: leave it unread
            stdout.write(bytes.fromhex(step["send"]))
            stdout.flush()
            time.sleep(3600)
        request, buffers = read_request(stdin)
        if step is None:
            stdout.write(honest_reply(request, buffers))
            stdout.flush()
            if dict(request["__dict__"])["kind"] == "close":
                return 0
            continue
        stdout.write(bytes.fromhex(step["send"]))
        stdout.flush()
        if step["then"] == "exit":
            os._exit(3)
        if step["then"] == "hang":
            time.sleep(3600)


if __name__ == "__main__":
    sys.exit(main())
