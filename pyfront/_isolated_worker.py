"""The worker process behind IsolatedModel: loads one model and serves calls over its stdin and
stdout (the format is `_wire.py`). Started by IsolatedModel; not meant to be run by hand."""

from __future__ import annotations

import os
import sys
from typing import Any

from . import _wire, errors
from .model import Model


def serve(stdin, stdout) -> int:
    model: Model | None = None
    while True:
        try:
            request = _wire.receive(stdin)
        except EOFError:
            return 0
        kind = request["kind"]
        reply: dict[str, Any]
        try:
            if kind != "load" and model is None:
                raise errors.ModelClosedError("no model is loaded in this worker")
            if kind == "load":
                model = Model(request["source"], **request["options"])
                reply = {
                    "kind": "ok",
                    "value": {
                        "device": model.device,
                        "methods": model.method_names(),
                        "schemas": {n: model.schema(n) for n in model.method_names()},
                        "extra_files": model.extra_files,
                        "parameter_count": model.parameter_count,
                        "keeps_state": model.keeps_state,
                        "frozen": model.frozen,
                        "format": model.format,
                        "fused": model.fused,
                    },
                }
            elif kind == "call" and model is not None:
                reply = {
                    "kind": "ok",
                    "value": model.run_method(request["method"], *request["args"]),
                }
            elif kind == "topk" and model is not None:
                top = model.topk(request["array"], request["k"])
                reply = {"kind": "ok", "value": (top.indices, top.probs)}
            elif kind == "close" and model is not None:
                model.close()
                _wire.send(stdout, {"kind": "ok", "value": None})
                return 0
            else:
                reply = {
                    "kind": "error",
                    "type": "PyfrontError",
                    "message": f"unknown request {kind!r}",
                }
        except errors.PyfrontError as error:
            reply = {"kind": "error", "type": type(error).__name__, "message": str(error)}
        except _wire.WireError as error:
            reply = {"kind": "error", "type": "InvalidArgumentError", "message": str(error)}
        _wire.send(stdout, reply)


def main() -> int:
    # The protocol owns the real stdout; anything the model or libtorch prints goes to stderr.
    protocol_out = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    return serve(sys.stdin.buffer, protocol_out)


if __name__ == "__main__":
    sys.exit(main())
