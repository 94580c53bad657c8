"""`IsolatedModel`: a Model that runs in a worker process, for model files you do not trust.

A TorchScript file is a program, and libtorch has had memory-safety bugs that no check in
libtsrt can know about. Run in a worker process, a file that crashes libtorch, loops forever
or exhausts memory takes down only the worker: the call raises ModelCrashedError and the
caller's process goes on. The price: each call copies its arguments and results through a
pipe (about a millisecond for a 224x224 image), one worker serves one call at a time, and a
model's state lives in the worker (it is lost if the worker dies).
"""

from __future__ import annotations

import math
import os
import select
import subprocess
import sys
import threading
import time

from . import _recipe, _wire, errors
from ._shared import TopK, as_float32_input, check_k, metadata_of


class ModelCrashedError(errors.PyfrontError):
    """The worker process running an IsolatedModel died, exceeded its time limit or sent a
    reply that does not follow the format; the model is closed."""


class _NoAnswer(Exception):
    """The worker did not take the request or finish its reply before the deadline."""


class _Pipe:
    """The worker's stdin and stdout, written and read with a deadline: a worker that stops
    reading requests, or sends part of a reply and stops, must not block the caller past its
    timeout. Reads take what has arrived, never allocating a declared length up front."""

    def __init__(self, process: subprocess.Popen):
        assert process.stdin is not None and process.stdout is not None
        self._in, self._out = process.stdin.fileno(), process.stdout.fileno()
        os.set_blocking(self._in, False)
        self.deadline: float | None = None

    def _wait(self, fd: int, event: int) -> None:
        # poll, not select: select() refuses descriptors above 1023, which a process with
        # many open files hands out.
        left = None if self.deadline is None else self.deadline - time.monotonic()
        if left is not None and left <= 0:
            raise _NoAnswer
        poller = select.poll()
        poller.register(fd, event)
        if not poller.poll(None if left is None else math.ceil(left * 1000)):
            raise _NoAnswer

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            self._wait(self._in, select.POLLOUT)
            try:
                view = view[os.write(self._in, view[: 1 << 20]) :]
            except BlockingIOError:
                pass

    def read(self, size: int) -> bytes:
        """`size` bytes, or fewer if the worker closed its end (what _wire.receive expects)."""
        data = bytearray()
        while len(data) < size:
            self._wait(self._out, select.POLLIN)
            chunk = os.read(self._out, min(size - len(data), 1 << 20))
            if not chunk:
                break
            data += chunk
        return bytes(data)

    def has_more(self) -> bool:
        """Whether bytes have arrived beyond the reply just read (consuming one of them). The
        worker closing its end, as it does after the reply to a close, is not more bytes."""
        poller = select.poll()
        poller.register(self._out, select.POLLIN)
        return bool(poller.poll(0)) and os.read(self._out, 1) != b""


def _reply(message: dict):
    """Checks a reply's fields: {"kind": "ok", "value": v} or {"kind": "error", "type": str,
    "message": str}."""
    kind = message["kind"]
    if kind == "ok" and "value" in message:
        return message
    if (
        kind == "error"
        and isinstance(message.get("type"), str)
        and isinstance(message.get("message"), str)
    ):
        return message
    raise _wire.WireError(f"a reply of kind {kind!r} without its fields")


# Exceptions the worker reports by class name; anything else becomes a PyfrontError.
_ERRORS = {
    name: cls
    for name, cls in vars(errors).items()
    if isinstance(cls, type) and issubclass(cls, errors.PyfrontError)
}


class IsolatedModel:
    """Loads `source` (a path or bytes) in a new worker process and runs it there.

    Takes Model's options (device, freeze, warmup, warmup_runs, max_file_size, debug_info)
    and `timeout`: seconds a load or call may take before the worker is killed (None: no
    limit). Offers Model's methods; calls from several threads are served one at a time.
    Pickles, like Model, as how to load it: unpickling starts a worker process (one per
    process for the same file and options).
    """

    @_recipe.records_load
    def __init__(self, source, device: str = "cpu", *, timeout: float | None = None, **options):
        self._timeout = timeout
        self._lock = threading.Lock()
        self._closed = False
        self._stopped = ""  # why the worker was stopped, for the calls that come after
        if isinstance(source, (bytes, bytearray, memoryview)):
            self.path = None
            wire_source = bytes(source)
        else:
            self.path = os.fspath(source)
            wire_source = self.path
        self._process = subprocess.Popen(
            [sys.executable, "-m", "pyfront._isolated_worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=dict(os.environ, PYTHONUNBUFFERED="1"),
        )
        self._pipe = _Pipe(self._process)
        try:
            info = self._request(
                {"kind": "load", "source": wire_source, "options": dict(options, device=device)}
            )
            self._take_load_info(info)
        except BaseException:
            # No model to hand back: stop the worker now, not when this object is collected.
            if not self._closed:
                self._kill("its model failed to load")
            raise

    def _take_load_info(self, info) -> None:
        types = {
            "device": str,
            "methods": list,
            "schemas": dict,
            "extra_files": dict,
            "parameter_count": int,
            "keeps_state": bool,
            "frozen": bool,
            "fused": bool,
            "format": str,
        }
        if not (
            isinstance(info, dict)
            and all(isinstance(info.get(key), kind) for key, kind in types.items())
            and all(isinstance(name, str) for name in info["methods"])
            and all(isinstance(k, str) and isinstance(v, str) for k, v in info["schemas"].items())
            and all(
                isinstance(k, str) and isinstance(v, bytes) for k, v in info["extra_files"].items()
            )
        ):
            self._kill("its worker process sent a malformed reply")
            raise ModelCrashedError(
                "the worker process sent a malformed reply to the load; it was stopped"
            )
        self.device = info["device"]
        self._methods = info["methods"]
        self._schemas = info["schemas"]
        self._extra_files = dict(info["extra_files"])
        self._facts = {key: info[key] for key in types if key not in ("device", "methods")}

    # -- the pipe ---------------------------------------------------------------------------

    def _request(self, message: dict):
        try:  # an argument that cannot be sent is refused before anything is written
            frame = _wire.pack(message)
        except _wire.WireError as error:
            raise errors.InvalidArgumentError(str(error)) from None
        with self._lock:
            self._check_open()
            pipe = self._pipe
            pipe.deadline = None if self._timeout is None else time.monotonic() + self._timeout
            try:
                pipe.write(frame)
                reply = _reply(_wire.receive(pipe))
                if pipe.has_more():
                    raise _wire.WireError("more bytes after the reply")
            except _NoAnswer:
                self._kill(
                    f"its worker process was stopped after the model did not "
                    f"answer within {self._timeout} s"
                )
                raise ModelCrashedError(
                    f"the model did not answer within {self._timeout} s; its worker "
                    f"process was stopped"
                ) from None
            except _wire.WireError as error:
                self._kill(f"its worker process sent a malformed reply ({error})")
                raise ModelCrashedError(
                    f"the worker process running the model sent a malformed reply ({error}); "
                    f"it was stopped"
                ) from None
            except (EOFError, OSError) as error:
                code = self._kill("its worker process died")
                reason = f"killed by signal {-code}" if code and code < 0 else f"exit {code}"
                self._stopped = f"its worker process died ({reason})"
                raise ModelCrashedError(
                    f"the worker process running the model died ({reason}): {error}"
                ) from None
        if reply["kind"] == "error":
            raise _ERRORS.get(reply["type"], errors.PyfrontError)(reply["message"])
        return reply["value"]

    def _kill(self, why: str):
        self._closed = True
        self._stopped = why
        self._process.kill()
        code = self._process.wait()
        self._release_pipes()
        return code

    def _release_pipes(self) -> None:
        """Closes this side of a stopped worker's pipes now, not when this object is collected
        (a program that keeps stopped models would run out of descriptors). Called once the
        model is closed, so no request uses the pipe after."""
        for stream in (self._process.stdin, self._process.stdout):
            if stream is not None:
                try:
                    stream.close()
                except OSError:  # a write still buffered to a worker that is gone
                    pass

    # -- Model's API -------------------------------------------------------------------------

    def forward(self, *args):
        return self.run_method("forward", *args)

    def run_method(self, name: str, *args):
        if not isinstance(name, str):
            raise errors.InvalidArgumentError(f"the method name must be a str, got {name!r}")
        return self._request({"kind": "call", "method": name, "args": list(args)})

    def topk(self, array, k: int = 5) -> TopK:
        top = self._request({"kind": "topk", "array": as_float32_input(array), "k": check_k(k)})
        if not (isinstance(top, tuple) and len(top) == 2):
            raise errors.PyfrontError(f"the worker's top-k is not a pair: {top!r:.100}")
        return TopK(*top)

    def method_names(self) -> list:
        self._check_open()
        return list(self._methods)

    def schema(self, name: str = "forward") -> str:
        self._check_open()
        if name not in self._schemas:
            raise errors.NoSuchNameError(f"the model has no method '{name}'")
        return self._schemas[name]

    @property
    def extra_files(self) -> dict:
        return dict(self._extra_files)

    @property
    def metadata(self) -> dict:
        return metadata_of(self._extra_files)

    @property
    def parameter_count(self) -> int:
        self._check_open()
        return self._facts["parameter_count"]

    @property
    def keeps_state(self) -> bool:
        return self._facts["keeps_state"]

    @property
    def format(self) -> str:
        """ "torchscript" or "pt2", as Model.format."""
        return self._facts["format"]

    @property
    def frozen(self) -> bool:
        return self._facts["frozen"]

    @property
    def fused(self) -> bool:
        return self._facts["fused"]

    def _check_open(self):
        if self._closed and self._stopped:
            raise errors.ModelClosedError(
                f"the model is closed: {self._stopped}; create a new IsolatedModel to run it again"
            )
        if self._closed:
            raise errors.ModelClosedError("the model is closed")

    def close(self) -> None:
        """Stops the worker process. Closing twice is harmless."""
        if self._closed:
            return
        try:
            self._request({"kind": "close"})
        except errors.PyfrontError:
            pass
        with self._lock:
            self._closed = True
            if self._process.poll() is None:
                try:
                    self._process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self._process.kill()
                    self._process.wait()
            self._release_pipes()

    @property
    def closed(self) -> bool:
        return self._closed

    def __reduce__(self):
        return _recipe.reduce(self)

    def __enter__(self) -> IsolatedModel:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self):
        process = getattr(self, "_process", None)
        if process is not None and process.poll() is None:
            process.kill()
            process.wait()

    def __repr__(self) -> str:
        where = repr(self.path) if self.path is not None else "<bytes>"
        return f"<pyfront.IsolatedModel {where} {'closed' if self._closed else 'running'}>"
