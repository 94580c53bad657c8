"""`pyfront classify --engine ray`: the local job run by Ray Data's actors, on a cluster or on a
Ray instance started for the run. Ray is imported here only when a function is called.

The driver sends image paths, never pixels: the workers read the files. Each worker loads the
model once from its recipe (path and fingerprint, see _recipe.py) and returns batches of result
columns; the driver puts them back in the order of the arguments, so stdout is the local run's.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import os
import socket
import warnings
from typing import Any, Iterator, Optional

from . import errors
from .errors import InvalidArgumentError, PyfrontError

INSTALL_HINT = "pip install pyfront[ray]"
_CONNECT_TIMEOUT_S = 5.0
_MAX_BLOCKS = 1000  # blocks of paths handed to the workers; more only adds scheduling


class RayNotInstalledError(PyfrontError, ImportError):
    """Ray (with Ray Data) is not installed."""


class ClusterUnreachableError(PyfrontError, ConnectionError):
    """No Ray cluster answers at the given address."""


class EngineError(PyfrontError):
    """Ray failed while running the job (a worker or node died, for instance)."""


def import_ray() -> Any:
    try:
        import ray
        import ray.data  # noqa: F401  (needs pyarrow and pandas: the "data" extra)
    except ImportError as error:
        raise RayNotInstalledError(
            f"running on Ray needs Ray Data, which is not installed ({error}): {INSTALL_HINT}"
        ) from None
    return ray


def check_reachable(address: str, timeout: float = _CONNECT_TIMEOUT_S) -> None:
    """Fails fast, naming the address, unless a gRPC server (as Ray's GCS and Ray Client are)
    answers at HOST:PORT: ray.init keeps retrying for minutes against a closed port or a
    server of another kind."""
    if address in ("auto", "local"):
        return
    host, port = _host_and_port(address)
    hint = (
        "Use the address `ray start --head` printed (HOST:6379 unless changed), or leave "
        "out --address to run on a Ray instance started on this machine"
    )
    try:
        connection = socket.create_connection((host, port), timeout=timeout)
    except OSError as error:
        reason = error.strerror or str(error) or type(error).__name__
        raise ClusterUnreachableError(
            f"cannot reach a Ray cluster at {address}: {reason}. {hint}"
        ) from None
    reply = b""
    with connection:
        try:
            connection.sendall(_HTTP2_PREFACE)
            while len(reply) < 9:
                chunk = connection.recv(9 - len(reply))
                if not chunk:
                    break
                reply += chunk
        except OSError:
            pass  # no answer in time, or the connection was dropped: judged below
    if len(reply) < 9 or reply[3] != _HTTP2_SETTINGS:
        raise ClusterUnreachableError(
            f"{address} accepts connections but does not answer as a Ray cluster does (no "
            f"gRPC reply within {timeout:g} s). {hint}"
        )


# An HTTP/2 client's connection preface and an empty SETTINGS frame; a gRPC server answers
# with a SETTINGS frame of its own (frame type 4 in the fourth byte of its 9-byte header).
_HTTP2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"
_HTTP2_SETTINGS = 4


def _host_and_port(address: str) -> tuple:
    target = address.split("://", 1)[-1]
    host, colon, port = target.rpartition(":")
    if not colon or not host or not port.isdigit():
        raise InvalidArgumentError(
            f"a Ray address is HOST:PORT or ray://HOST:PORT (or 'auto'), got {address!r}"
        )
    return host.strip("[]"), int(port)


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(socket.gethostbyname(host)).is_loopback
    except (OSError, ValueError):
        return False


@contextlib.contextmanager
def ray_session(address: Optional[str]):
    """Ray, connected to `address`, or to a Ray instance started for this run (on loopback
    only) when it is None; disconnected (and that instance stopped) on leaving."""
    if address is None or (
        address not in ("auto", "local") and _is_loopback(_host_and_port(address)[0])
    ):
        # Ray binds to (and rewrites 127.0.0.1 into) the machine's network address by
        # default; an instance of our own, or a cluster on loopback, needs loopback only.
        # Read when Ray is imported.
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    if address is not None:
        check_reachable(address)
    ray = import_ray()
    if ray.is_initialized():  # a caller's own session: use it, leave it running
        yield ray
        return
    quiet = {"log_to_driver": False, "logging_level": logging.ERROR}  # stderr is the report's
    if address is None:
        ray.init(address="local", include_dashboard=False, **quiet)
    elif address.startswith("ray://"):
        ray.init(address=address)  # Ray Client would hand other arguments to the server
    else:
        ray.init(address=address, **quiet)
    try:
        yield ray
    finally:
        ray.shutdown()


def classify_on_ray(
    images: list,
    recipe: Any,
    k: int,
    batch_size: int,
    workers: Optional[int] = None,
    cpus_per_worker: float = 1,
    progress: bool = False,
) -> Iterator[dict]:
    """classify's results for `images`, in order, computed by `workers` Ray actors of
    `cpus_per_worker` CPUs each (default: as many as the cluster's CPUs allow). Call it
    inside ray_session()."""
    ray = import_ray()
    from ._ray_worker import ReportingClassifier
    from .classify import _ProgressBar

    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False  # the driver draws the same bar as a local run
    # Failures reach the user as this module's exceptions; Ray Data's own report of them
    # (a traceback of its internals) would bury the message.
    logging.getLogger("ray.data").setLevel(logging.CRITICAL)
    if workers is None:
        workers = max(1, int(ray.cluster_resources().get("CPU", 1) // cpus_per_worker))
    opened = [os.path.abspath(path) for path in images]
    chunks = [
        {"first": first, "paths": opened[first : first + batch_size]}
        for first in range(0, len(opened), batch_size)
    ]
    blocks = max(1, min(len(chunks), _MAX_BLOCKS))
    workers = min(workers, blocks)  # an actor without a block to work on only costs startup
    # One row per model batch, one batch per call: the images meet the model in the groups
    # a local run forms, so the numbers equal the local run's to the bit.
    items = ray.data.from_items(chunks, override_num_blocks=blocks)
    results = _map_batches(
        ray,
        items,
        ReportingClassifier,
        fn_constructor_kwargs={"model": recipe, "k": k},
        batch_size=1,
        compute=ray.data.ActorPoolStrategy(size=workers),
        num_cpus=cpus_per_worker,
    )
    bar = _ProgressBar(len(images)) if progress else None
    waiting: dict = {}  # results that arrived before an earlier one
    next_index = 0
    try:
        for batch in results.iter_batches(batch_format="pyarrow", batch_size=None):
            for row in batch.to_pylist():
                if row["failure"] is not None:
                    raise _FAILURES.get(row["failure"], PyfrontError)(row["error"])
                waiting[row["i"]] = row
            first = next_index
            while next_index in waiting:
                yield _named(images[next_index], opened[next_index], waiting.pop(next_index))
                next_index += 1
            if bar and next_index > first:
                bar.advance(next_index - first)
    except ray.exceptions.RayError as error:
        reason = _last_line(error)
        if "No module named 'pyfront" in reason:
            reason += " (every node of the cluster needs this pyfront installed)"
        raise EngineError(f"the Ray job failed: {reason}") from None
    if bar:
        bar.finish()


def _map_batches(ray: Any, dataset: Any, fn: Any, **arguments: Any) -> Any:
    """dataset.map_batches, with workers that are not restarted: a worker that dies (libtorch
    crashing on a file, say) ends the run with an error, as a local run would, where Ray Data's
    default restarts it and retries the same batch without end. Ray 2.60 takes `max_restarts`
    only through its deprecated **ray_remote_args; a Ray without them gets its default."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ray.util.annotations.RayDeprecationWarning)
        try:
            return dataset.map_batches(fn, max_restarts=0, **arguments)
        except TypeError:
            return dataset.map_batches(fn, **arguments)


def _named(image: str, opened: str, row: dict) -> dict:
    """The result as the local run reports it: under the name given on the command line."""
    from .result_files import result_from_row

    if row["error"] is not None and opened != image:
        row = dict(row, error=row["error"].replace(opened, image))
    return result_from_row(image, row)


def _last_line(error: BaseException) -> str:
    lines = [line for line in str(error).splitlines() if line.strip()]
    return lines[-1].strip() if lines else type(error).__name__


_FAILURES = {
    name: cls
    for name, cls in vars(errors).items()
    if isinstance(cls, type) and issubclass(cls, PyfrontError)
}
