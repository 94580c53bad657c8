"""`IsolatedModel`: a Model that runs in a worker process, for model files you do not trust.

A TorchScript file is a program, and libtorch has had memory-safety bugs that no check in
libtsrt can know about. Run in a worker process, a file that crashes libtorch, loops forever
or exhausts memory takes down only the worker: the call raises ModelCrashedError and the
caller's process goes on. The price: each call copies its arguments and results through a
pipe (about a millisecond for a 224x224 image), one worker serves one call at a time, and a
model's state lives in the worker (it is lost if the worker dies).
"""

from __future__ import annotations

import os
import select
import subprocess
import sys
import threading

from . import _recipe, _wire, errors
from ._shared import TopK, as_float32_input, check_k, metadata_of


class ModelCrashedError(errors.PyfrontError):
    """The worker process running an IsolatedModel died or exceeded its time limit; the
    model is closed."""


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
        info = self._request(
            {"kind": "load", "source": wire_source, "options": dict(options, device=device)}
        )
        self.device = info["device"]
        self._methods = info["methods"]
        self._schemas = info["schemas"]
        self._extra_files = dict(info["extra_files"])
        self._facts = {
            key: info[key]
            for key in ("parameter_count", "keeps_state", "frozen", "fused", "format")
        }

    # -- the pipe ---------------------------------------------------------------------------

    def _request(self, message: dict):
        with self._lock:
            self._check_open()
            process = self._process
            try:
                _wire.send(process.stdin, message)
                assert process.stdin is not None and process.stdout is not None
                ready, _, _ = select.select([process.stdout], [], [], self._timeout)
                if not ready:
                    self._kill(
                        f"its worker process was stopped after the model did not "
                        f"answer within {self._timeout} s"
                    )
                    raise ModelCrashedError(
                        f"the model did not answer within {self._timeout} s; its worker "
                        f"process was stopped"
                    )
                reply = _wire.receive(process.stdout)
            except (EOFError, BrokenPipeError, _wire.WireError) as error:
                code = self._kill("its worker process died")
                reason = f"killed by signal {-code}" if code and code < 0 else f"exit {code}"
                self._stopped = f"its worker process died ({reason})"
                raise ModelCrashedError(
                    f"the worker process running the model died ({reason}): {error}"
                ) from None
        if reply["kind"] == "error":
            raise _ERRORS.get(str(reply.get("type")), errors.PyfrontError)(str(reply["message"]))
        return reply["value"]

    def _kill(self, why: str):
        self._closed = True
        self._stopped = why
        self._process.kill()
        return self._process.wait()

    # -- Model's API -------------------------------------------------------------------------

    def forward(self, *args):
        return self.run_method("forward", *args)

    def run_method(self, name: str, *args):
        if not isinstance(name, str):
            raise errors.InvalidArgumentError(f"the method name must be a str, got {name!r}")
        try:
            return self._request({"kind": "call", "method": name, "args": list(args)})
        except _wire.WireError as error:
            raise errors.InvalidArgumentError(str(error)) from None

    def topk(self, array, k: int = 5) -> TopK:
        indices, probs = self._request(
            {"kind": "topk", "array": as_float32_input(array), "k": check_k(k)}
        )
        return TopK(indices, probs)

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
