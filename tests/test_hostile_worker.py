"""IsolatedModel facing a broken or hostile worker: the worker runs untrusted model code, so
every byte it sends is untrusted too. Whatever it answers (truncated frames, huge declared
lengths, values of the wrong types, arrays that do not match their buffers, unknown dtypes,
deep nesting, garbage after a frame, exceptions of classes that are not pyfront's, a pipe
closed mid-frame, silence, or no longer reading), a load or call ends within its timeout in a
value or a pyfront.PyfrontError (ModelCrashedError when the worker was stopped): never another
exception type, never a hang. Afterwards the model is either usable (the next call gets the
worker's next answer) or closed, with its worker process gone.

The worker is tests/hostile_worker.py, put in place of pyfront's by replacing the `subprocess`
module IsolatedModel starts it with. The property is a fixed, derandomised slice; set
PYFRONT_PROPERTY_EXAMPLES=N for a longer campaign (see test_properties.py).
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import threading
import types
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import pyfront
import pyfront.isolated

HOSTILE_WORKER = Path(__file__).with_name("hostile_worker.py")
sys.path.insert(0, str(HOSTILE_WORKER.parent))
import hostile_worker  # noqa: E402

TIMEOUT = 2.0  # the IsolatedModel's: a load or call the worker does not finish is stopped then
GRACE = 15.0  # beyond TIMEOUT, a load or call still running counts as a hang
EXAMPLES = int(os.environ.get("PYFRONT_PROPERTY_EXAMPLES", "0"))

frame = hostile_worker.frame


class Workers:
    """Starts hostile_worker.py with a plan wherever IsolatedModel starts its worker, and keeps
    each process so that a test can kill it (to end a hang) and check that it is gone."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.plan: list = []
        self.started: list[subprocess.Popen] = []

    def popen(self, command, **kwargs):
        assert command[1:] == ["-m", "pyfront._isolated_worker"], command
        self.stop_all()  # the previous example's, so that a campaign does not run out of files
        plan = self.folder / f"plan{len(self.started)}.json"
        plan.write_text(json.dumps(self.plan))
        process = subprocess.Popen([sys.executable, str(HOSTILE_WORKER), str(plan)], **kwargs)
        self.started.append(process)
        return process

    def stop_all(self):
        for process in self.started:
            if process.poll() is None:
                process.kill()
                process.wait()
            for pipe in (process.stdin, process.stdout):
                if pipe is not None:
                    pipe.close()
        self.started.clear()


@pytest.fixture
def workers(tmp_path, monkeypatch):
    workers = Workers(tmp_path)
    fake = types.SimpleNamespace(
        Popen=workers.popen, PIPE=subprocess.PIPE, TimeoutExpired=subprocess.TimeoutExpired
    )
    monkeypatch.setattr(pyfront.isolated, "subprocess", fake)
    yield workers
    workers.stop_all()


def within_time(workers: Workers, action):
    """Runs action() in a thread: ("value", v) or ("error", exception); a call still running
    after TIMEOUT + GRACE fails the test (its worker is killed to end it)."""
    outcome: list = []

    def run():
        try:
            outcome.append(("value", action()))
        except BaseException as error:  # noqa: BLE001  (any escape is what we look for)
            outcome.append(("error", error))

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(TIMEOUT + GRACE)
    if thread.is_alive():
        workers.stop_all()
        thread.join(5)
        pytest.fail(f"still running {GRACE} s after the model's timeout: a hang")
    return outcome[0]


def assert_clean(outcome, what: str):
    kind, value = outcome
    if kind == "error":
        assert isinstance(value, pyfront.PyfrontError), (
            f"{what} raised {type(value).__name__}: {value!r}, not a PyfrontError"
        )


def _note(text: str):
    from hypothesis.control import currently_in_test_context

    if currently_in_test_context():
        event(text)


def describe(model) -> tuple:
    """Everything an IsolatedModel says about its model without a call."""
    return (
        model.method_names(),
        [model.schema(name) for name in model.method_names()],
        model.extra_files,
        model.metadata,
        model.parameter_count,
        model.keeps_state,
        model.frozen,
        model.fused,
        model.format,
        repr(model),
    )


def check_worker(workers: Workers, step: dict, stage: str, argument: np.ndarray) -> None:
    """Loads an IsolatedModel whose worker takes `step` for the load ("load") or for the first
    call ("call"), and checks what comes after."""
    workers.plan = [step] if stage == "load" else [None, step]
    loaded = within_time(workers, lambda: pyfront.IsolatedModel("hostile.pt", timeout=TIMEOUT))
    assert_clean(loaded, "the load")
    process = workers.started[-1]
    if loaded[0] == "error":
        assert stage == "load", f"an honest load failed: {loaded[1]!r}"
        assert process.poll() is not None, "a failed load left its worker process running"
        _note(f"load: {type(loaded[1]).__name__}")
        return
    model = loaded[1]
    described = within_time(workers, lambda: describe(model))
    assert_clean(described, "describing the model")
    if stage == "call":
        called = within_time(workers, lambda: model.forward(argument))
        assert_clean(called, "the call")
        _note(f"call: {type(called[1]).__name__ if called[0] == 'error' else 'a value'}")
    else:
        _note("load: a model")
    # Afterwards: closed, with the worker gone; or usable, answering the next call.
    closed = model.closed
    again = within_time(workers, lambda: model.forward(np.arange(3, dtype=np.float32)))
    if closed:
        assert again[0] == "error" and isinstance(again[1], pyfront.ModelClosedError), again
        assert process.poll() is not None, "a closed model left its worker process running"
        _note("then: closed")
    else:
        assert_clean(again, "the next call")
        _note("then: usable")
        assert_clean(within_time(workers, model.close), "close")
        assert model.closed
        if again[0] == "value":  # a worker still serving: its close is no failure
            closed_again = within_time(workers, lambda: model.forward(SMALL))
            assert str(closed_again[1]) == "the model is closed", closed_again
        assert process.poll() is not None, "close left the worker process running"


def step(send: bytes = b"", then: str = "stay") -> dict:
    return {"send": send.hex(), "then": then}


header = hostile_worker.header
wire = hostile_worker.wire


def reply(value, buffers=()) -> bytes:
    """An ok reply whose value is `value` as the format writes it."""
    return frame(header(kind="ok", value=value), list(buffers))


def nested(opening: bytes, closing: bytes, depth: int) -> bytes:
    """An ok reply whose value is `depth` levels deep (json.dumps itself cannot write it)."""
    return b'{"__dict__": [["kind", "ok"], ["value", ' + opening * depth + closing * depth + b"]]}"


LENGTH = struct.Struct("<Q")
SMALL = np.arange(6, dtype=np.float32).reshape(2, 3)
LARGE = np.zeros((4, 3, 224, 224), np.float32)  # 2.4 MB: more than a pipe holds
ARRAY = {"__array__": 0, "dtype": "<f4", "shape": [2]}


def load_info(drop=(), **raw) -> dict:
    """The honest load reply's value in the format, without the fields `drop` and with the
    fields `raw` replaced by those nodes, as they are."""
    fields = {k: hostile_worker.wire(v) for k, v in hostile_worker.LOAD_INFO.items()}
    fields.update(raw)
    return {"__dict__": [[k, v] for k, v in fields.items() if k not in drop]}


LOAD = load_info()
LOAD_KEYS = list(hostile_worker.LOAD_INFO)


# ---------------------------------------------------------------- each hostile reply once

CASES = {
    # truncated frames, and pipes closed or left silent mid-frame
    "truncated, then closed": ("call", step(reply([1, 2])[:11], "exit")),
    "truncated, then silent": ("call", step(reply([1, 2])[:20], "hang")),
    "truncated, then serving": ("call", step(reply([1, 2])[:20], "stay")),
    "length prefix cut": ("call", step(b"\x01\x00\x00", "hang")),
    "load reply truncated": ("load", step(reply(LOAD)[:-5], "hang")),
    # huge declared lengths and counts
    "header length 2^64-1": ("call", step(LENGTH.pack(0) + LENGTH.pack(2**64 - 1), "stay")),
    "header length 16 GiB": ("call", step(LENGTH.pack(0) + LENGTH.pack(2**34), "stay")),
    "header length 8 GiB, then closed": (
        "call",
        step(LENGTH.pack(0) + LENGTH.pack(2**33) + b"{}", "exit"),
    ),
    "buffer length 2^63": (
        "call",
        step(LENGTH.pack(1) + LENGTH.pack(2) + b"[]" + LENGTH.pack(2**63), "stay"),
    ),
    "buffer count 2^64-1": ("call", step(LENGTH.pack(2**64 - 1), "stay")),
    "more buffers declared than sent": ("call", step(frame(header(kind="ok"))[8:], "exit")),
    # wrong types
    "not JSON": ("call", step(frame(b"\xff\xfe not json"))),
    "a list, not a dict": ("call", step(frame(b"[1, 2]"))),
    "no kind": ("call", step(frame(header(value=1)))),
    "ok without a value": ("call", step(frame(header(kind="ok")))),
    "error without a message": ("call", step(frame(header(kind="error", type="X")))),
    "an unknown kind": ("call", step(frame(header(kind="maybe", value=1)))),
    "tuple of an int": ("call", step(reply({"__tuple__": 5}))),
    "dict of non-pairs": ("call", step(reply({"__dict__": [[1], 2]}))),
    "dict with a list key": ("call", step(reply({"__dict__": [[[1], 2]]}))),
    "bytes index out of range": ("call", step(reply({"__bytes__": 3}))),
    "unknown tag": ("call", step(reply({"__set__": [1]}))),
    "load info a list": ("load", step(reply([1, 2, 3]))),
    "an untagged dict": ("call", step(frame(b'{"kind": "ok", "value": 1}'))),
    "load info without methods": (
        "load",
        step(reply(load_info(drop=["methods"]))),
    ),
    "load info with a schema table of ints": ("load", step(reply(load_info(schemas=7)))),
    # arrays that do not match their buffers, unknown dtypes, absurd shapes
    "array buffer too short": ("call", step(reply(ARRAY, [b"\0" * 7]))),
    "array buffer too long": ("call", step(reply(ARRAY, [b"\0" * 9]))),
    "array without its buffer": ("call", step(reply(ARRAY))),
    "array dtype complex": ("call", step(reply(dict(ARRAY, dtype="<c8"), [b"\0" * 16]))),
    "array dtype object": ("call", step(reply(dict(ARRAY, dtype="|O"), [b"\0" * 16]))),
    "array dtype void": ("call", step(reply(dict(ARRAY, dtype="|V4"), [b"\0" * 8]))),
    "array dtype big-endian": ("call", step(reply(dict(ARRAY, dtype=">f4"), [b"\0" * 8]))),
    "array dtype a list": ("call", step(reply(dict(ARRAY, dtype=["<f4"]), [b"\0" * 8]))),
    "array shape 2^64 x 0": ("call", step(reply(dict(ARRAY, shape=[2**64, 0]), [b""]))),
    "array shape 2^62 x 4": ("call", step(reply(dict(ARRAY, shape=[2**62, 4]), [b""]))),
    "array shape of 65 dims": ("call", step(reply(dict(ARRAY, shape=[1] * 65), [b"\0" * 4]))),
    "array shape negative": ("call", step(reply(dict(ARRAY, shape=[-2, -1]), [b"\0" * 8]))),
    "array shape floats": ("call", step(reply(dict(ARRAY, shape=[2.0]), [b"\0" * 8]))),
    "array index a string": ("call", step(reply(dict(ARRAY, __array__="0"), [b"\0" * 8]))),
    # deep nesting
    "JSON nested 100000 deep": ("call", step(frame(nested(b"[", b"]", 100_000)))),
    "tuples nested 900 deep": ("call", step(frame(nested(b'{"__tuple__": [', b"]}", 900)))),
    "tuples nested 5000 deep": ("call", step(frame(nested(b'{"__tuple__": [', b"]}", 5000)))),
    "load info nested 100000 deep": ("load", step(frame(nested(b'{"a": ', b"}", 100_000)))),
    # garbage after a valid frame
    "garbage after a reply": ("call", step(reply([1]) + b"garbage")),
    "a second reply after a reply": ("call", step(reply([1]) + reply([2]))),
    "garbage after the load reply": ("load", step(reply(LOAD) + b"\x07" * 30)),
    # exceptions of other classes
    "error of class SystemExit": (
        "call",
        step(frame(header(kind="error", type="SystemExit", message="bye"))),
    ),
    "error of class KeyboardInterrupt": (
        "load",
        step(frame(header(kind="error", type="KeyboardInterrupt", message="^C"))),
    ),
    "error of a class named by a list": (
        "call",
        step(frame(header(kind="error", type=["ValueError"], message=wire({"a": 1})))),
    ),
    "error named ModelCrashedError": (
        "call",
        step(frame(header(kind="error", type="ModelCrashedError", message="m"))),
    ),
    # silence, closing, not reading
    "closed without a word": ("call", step(b"", "exit")),
    "closed at load": ("load", step(b"", "exit")),
    "never answering": ("call", step(b"", "hang")),
    "never answering the load": ("load", step(b"", "hang")),
    "no longer reading": ("call", step(b"", "deaf")),
}


@pytest.mark.parametrize("case", list(CASES))
def test_each_hostile_reply_ends_in_a_pyfront_error_or_a_value(workers, case):
    stage, hostile = CASES[case]
    argument = LARGE if hostile["then"] == "deaf" else SMALL
    check_worker(workers, hostile, stage, argument)


@pytest.mark.parametrize("after", [b"garbage", reply([2])], ids=["garbage", "a second reply"])
def test_bytes_after_a_reply_stop_the_worker(workers, after):
    """A worker that sends more than its reply is out of step with the caller: its next
    reply would answer this call. Bytes that arrive with the reply stop it."""
    workers.plan = [None, step(reply([1]) + after)]
    model = pyfront.IsolatedModel("hostile.pt", timeout=TIMEOUT)
    with pytest.raises(pyfront.ModelCrashedError, match="more bytes after the reply"):
        model.forward(SMALL)
    assert model.closed and workers.started[-1].poll() is not None


@pytest.mark.parametrize("name", ["SystemExit", "KeyboardInterrupt", "ValueError", "object"])
def test_an_error_of_a_foreign_class_is_a_pyfront_error_and_the_model_stays(workers, name):
    """A well-formed error reply naming a class that is not pyfront's raises PyfrontError
    itself, never that class; the worker is in step, so the next call gets its answer."""
    workers.plan = [None, step(frame(header(kind="error", type=name, message="m")))]
    with pyfront.IsolatedModel("hostile.pt", timeout=TIMEOUT) as model:
        with pytest.raises(pyfront.PyfrontError, match="^m$") as caught:
            model.forward(SMALL)
        assert type(caught.value) is pyfront.PyfrontError and not model.closed
        np.testing.assert_array_equal(model.forward(SMALL)[0], SMALL)


def test_an_argument_that_cannot_be_sent_leaves_the_worker_running(workers):
    """A value the format has no encoding for is the caller's mistake, found before anything
    is written: InvalidArgumentError, and the worker goes on serving."""
    workers.plan = []
    with pyfront.IsolatedModel("hostile.pt", timeout=TIMEOUT) as model:
        with pytest.raises(pyfront.InvalidArgumentError, match="set"):
            model.forward({1, 2})
        assert not model.closed
        np.testing.assert_array_equal(model.forward(SMALL)[0], SMALL)
    assert workers.started[-1].poll() is not None


def test_a_process_with_many_open_files_can_use_it(workers):
    """The worker's pipes get descriptors above 1023 in a process with many open files, which
    select() refuses (ValueError); the pipes are polled instead."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 1200:
        if hard != resource.RLIM_INFINITY and hard < 1200:
            pytest.skip(f"at most {hard} open files here")
        resource.setrlimit(resource.RLIMIT_NOFILE, (1200, hard))
    held = [os.open(os.devnull, os.O_RDONLY) for _ in range(1100)]
    try:
        workers.plan = []
        with pyfront.IsolatedModel("hostile.pt", timeout=TIMEOUT) as model:
            np.testing.assert_array_equal(model.forward(SMALL)[0], SMALL)
    finally:
        for fd in held:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_an_honest_worker_is_understood(workers):
    """The stand-in itself: with an empty plan, a call gets its arguments back."""
    workers.plan = []
    with pyfront.IsolatedModel("hostile.pt", timeout=TIMEOUT) as model:
        assert model.method_names() == ["forward"]
        echoed = model.forward(SMALL, (1, "a"), {"k": b"v"})
        np.testing.assert_array_equal(echoed[0], SMALL)
        assert echoed[1:] == [(1, "a"), {"k": b"v"}]
    with pytest.raises(pyfront.ModelClosedError, match="^the model is closed$"):  # no failure
        model.forward(SMALL)


# ---------------------------------------------------------------- random hostile replies

JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=6),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3)
    ),
    max_leaves=8,
)
DTYPE_CODES = st.sampled_from(
    ["<f4", "<f8", "<f2", "<i8", "<i4", "<i2", "|i1", "|u1", "|b1", "<c8", "|O", "|V3", ">f4"]
    + ["<M8[s]", "<U3", "<f16", "float32", ""]
) | st.text(max_size=4)
DIMS = st.integers(0, 4) | st.sampled_from([-1, 2**31, 2**62, 2**63, 2**64, 2**70])
SHAPES = st.lists(DIMS, max_size=4) | st.just([1] * 65) | JSON


@st.composite
def values(draw):
    """A reply's value as the format encodes it, right and wrong: plain JSON, tagged nodes
    with fields of any type, and arrays with any dtype code, shape and buffer index."""
    return draw(
        st.recursive(
            JSON
            | st.fixed_dictionaries(
                {
                    "__array__": st.integers(-1, 3) | JSON,
                    "dtype": DTYPE_CODES,
                    "shape": SHAPES,
                }
            )
            | st.builds(
                lambda tag, value: {tag: value},
                st.sampled_from(["__array__", "__bytes__", "__tuple__", "__dict__", "__x__"]),
                JSON,
            ),
            lambda children: (
                st.lists(children, max_size=3)
                | st.builds(lambda v: {"__tuple__": v}, st.lists(children, max_size=3))
                | st.builds(
                    lambda kv: {"__dict__": kv}, st.lists(st.tuples(children, children), max_size=2)
                )
            ),
            max_leaves=6,
        )
    )


@st.composite
def headers(draw, stage):
    """The JSON part of a reply: ok with a value (for a load, the model's description with
    fields dropped or replaced), an error naming any class, any dict, any JSON, deep nesting,
    or bytes that are not JSON."""
    kind = draw(st.sampled_from(["ok", "error", "dict", "json", "deep", "bytes"]), label="kind")
    if kind == "ok" and stage == "load":
        keys = draw(st.lists(st.sampled_from(sorted(LOAD_KEYS)), max_size=3, unique=True))
        dropped = [key for key in keys if draw(st.booleans())]
        raw = {key: draw(values()) for key in keys if key not in dropped}
        return header(kind="ok", value=load_info(dropped, **raw))
    if kind == "ok":
        return header(kind="ok", value=draw(values()))
    if kind == "error":
        error = {
            "kind": "error",
            "type": draw(
                st.sampled_from(
                    ["PyfrontError", "InvalidArgumentError", "ModelCrashedError", "ValueError"]
                    + ["SystemExit", "KeyboardInterrupt", "MemoryError", "__class__", "errors"]
                )
                | JSON.map(wire)
            ),
            "message": draw(JSON.map(wire)),
        }
        for key in draw(st.lists(st.sampled_from(["type", "message"]), unique=True)):
            del error[key]
        return header(**error)
    if kind == "dict":
        keys = st.sampled_from(["kind", "value", "type", "message"]) | st.text(max_size=3)
        fields = draw(st.dictionaries(keys, values(), max_size=4))
        if draw(st.booleans()):  # tagged, as the format writes dicts, or not
            return header(**fields)
        return json.dumps(fields).encode()
    if kind == "json":
        return json.dumps(draw(values())).encode()
    if kind == "deep":
        depth = draw(st.sampled_from([400, 900, 1100, 5000, 200_000]))
        brackets = [(b"[", b"]"), (b'{"__tuple__": [', b"]}"), (b'{"a": ', b"}")]
        return nested(*draw(st.sampled_from(brackets)), depth)
    return draw(st.binary(max_size=40))


HUGE = st.sampled_from([2**20 + 1, 2**31, 2**33, 2**34, 2**34 + 1, 2**63, 2**64 - 1]) | (
    st.integers(0, 2**64 - 1)
)


@st.composite
def hostile_steps(draw, stage):
    """Bytes a worker could write, and what it does next."""
    header = draw(headers(stage), label="header")
    buffers = draw(st.lists(st.binary(max_size=24), max_size=3), label="buffers")
    data = frame(header, buffers)
    how = draw(
        st.sampled_from(["as is", "cut", "huge length", "garbage after", "two frames", "nothing"]),
        label="frame",
    )
    if how == "cut":
        data = data[: draw(st.integers(0, len(data) - 1))]
    elif how == "huge length":  # the buffer count, the header's length, or a buffer's
        where = draw(st.sampled_from([0, 8] + [16 + len(header)] * bool(buffers)))
        data = data[:where] + LENGTH.pack(draw(HUGE)) + data[where + 8 :]
    elif how == "garbage after":
        data += draw(st.binary(min_size=1, max_size=40))
    elif how == "two frames":
        data += frame(draw(headers(stage)))
    elif how == "nothing":
        data = b""
    then = draw(st.sampled_from(["stay", "stay", "exit", "hang", "deaf"]), label="then")
    return step(data, then)


@settings(
    derandomize=not EXAMPLES,
    max_examples=EXAMPLES or 60,
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,
    ],
)
@given(data=st.data())
def test_random_hostile_replies_end_in_a_pyfront_error_or_a_value(workers, data):
    stage = data.draw(st.sampled_from(["load", "call"]), label="stage")
    hostile = data.draw(hostile_steps(stage), label="step")
    large = hostile["then"] == "deaf" and data.draw(st.booleans(), label="large argument")
    check_worker(workers, hostile, stage, LARGE if large else SMALL)
