"""Bad files never take the process down; many threads get serial answers; memory stays flat."""

from __future__ import annotations

import hashlib
import json
import struct
import subprocess
import sys
import textwrap
import threading
import zipfile

import numpy as np
import pytest
import torch

import pyfront

import fuzz
import fuzz_seeds
import fuzz_worker
import zoo
from conftest import ROOT, join_all


def _fuzz(*args: str) -> dict:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "fuzz.py"), *args, "--json", "-"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    report = json.loads(result.stdout)
    assert report["problems"] == []
    assert result.returncode == 0
    return report


def test_fuzz_slice_has_no_crash(tmp_path):
    """A fixed-seed slice of scripts/fuzz.py over its whole seed corpus: 1500 mutants loaded,
    every method called, in a child."""
    report = _fuzz("--count", "1500", "--seed", "0", "--keep", str(tmp_path / "findings"))
    outcomes = report["outcomes"]
    assert outcomes.get("clean", 0) > 600 and outcomes.get("ok", 0) > 200  # both paths taken
    assert sorted(report["by_seed"]) == sorted(f"{name}.pt" for name in fuzz_seeds.SEEDS)
    for seed, counts in report["by_seed"].items():  # each seed's methods got their inputs
        assert counts.get("ok", 0) >= 15, (seed, counts)
    calls = sum(n for stage, n in report["clean_at"].items() if stage != "load")
    assert calls > 0  # mutants that load still fail cleanly in their calls
    assert len(report["by_mutation"]) > 20


@pytest.fixture(scope="module")
def pt2_seed(tmp_path_factory):
    """The fuzzer's .pt2 seed: a Linear and a ReLU compiled by AOTInductor (about 20 s)."""
    return fuzz_seeds.write_pt2_seed(tmp_path_factory.mktemp("pt2-seed"))


# Mutations that leave no valid package: each must be refused, whatever member it hits.
MUST_REFUSE = [
    "zip:bad_crc",
    "zip:duplicate",
    "zip:huge",
    "zip:local_name",
    "zip:shared_local",
    "zip:rename-dotdot",
    "zip:rename-absolute",
    "zip:rename-backslash",
    "zip:rename-nul",
    "zip:rename-empty",
    "zip:rename-dot",
    "truncation",
]


def test_pt2_fuzz_slice_is_refused_or_equivalent(pt2_seed, tmp_path):
    """A fixed-seed slice of the .pt2 archive fuzzing: every mutant is a clean error, or loads
    only when it is equivalent to the package and maps nothing the package did not hold."""
    report = _fuzz(
        "--model", str(pt2_seed), "--count", "600", "--seed", "0", "--keep", str(tmp_path)
    )
    assert report["problems"] == []
    outcomes = report["outcomes"]
    assert outcomes.get("clean", 0) > 300 and outcomes.get("ok", 0) > 30
    for label in MUST_REFUSE:
        counts = report["by_mutation"].get(label, {})
        assert counts.get("ok", 0) == 0, (label, counts)
    assert sum(bool(report["by_mutation"].get(label)) for label in MUST_REFUSE) >= 10


def test_pt2_equivalence_is_judged_as_libtsrt_reads_the_archive(pt2_seed):
    """fuzz.py's verdict on a package that loaded: equivalent archives pass, the others are
    findings, so that a libtsrt accepting them would be reported."""
    seed = fuzz.Seed.read(pt2_seed)
    entries = seed.entries
    library = next(e for e in entries if e["name"].endswith(b".so"))
    digest = hashlib.sha256(library["data"]).hexdigest()

    def verdict(changed: list[dict], mapped=(digest,), **kwargs) -> str | None:
        mutant = fuzz.Mutant(fuzz.write_zip(changed), "test", **kwargs)
        return fuzz.accepted_problem(seed, mutant, list(mapped))

    assert verdict(entries) is None
    padded = [{**e, "local_extra": bytes(8), "local_crc": 0} for e in entries]
    assert verdict(padded) is None  # local headers disagreeing only where libtsrt does not look
    assert verdict(entries[:-1]) is None  # a member the package does not need, dropped
    assert "twice" in verdict([*entries, entries[0]])
    assert "CRC" in verdict([{**e, "crc": 0} if e is library else e for e in entries])
    assert "past the end" in verdict(
        [{**e, "size": 1 << 30} if e is library else e for e in entries]
    )
    for bad in (b"../x", b"/x", b"a\\b", b"a//b", b"a/./b", b"a\0b"):
        assert "unsafe" in verdict([*entries, {"name": bad, "data": b"x"}]), bad
    assert "names" in verdict(
        [{**e, "local_name": b"other"} if e is library else e for e in entries]
    )
    text = next(e for e in entries if e["name"].endswith(b".json"))
    rewritten = [{**e, "data": b"{}"} if e is text else e for e in entries]
    assert "changed content" in verdict(rewritten)
    assert verdict(rewritten, rewritten=frozenset([text["name"]])) is None
    assert "not members" in verdict(entries, mapped=(digest, "0" * 64))


_STUB_WORKER = textwrap.dedent("""
    import json, os, sys, time
    for n, line in enumerate(sys.stdin):
        kind = open(line.strip(), "rb").read()[:1]  # the stub's behaviour: the mutant's first byte
        if kind == b"c":
            os.abort()
        if kind == b"h":
            time.sleep(60)
        answer = {"u": "unclean", "s": "stray", "x": "harness"}.get(kind.decode(), "ok")
        print(json.dumps({"kind": answer, "detail": "stub"}), flush=True)
""")


def test_fuzz_counts_crashes_hangs_and_unclean_answers(tmp_path, monkeypatch):
    """fuzz.py's side of the verdict, with a stub worker: a crash, a hang, an unclean answer
    are confirmed in a fresh child, counted as problems, kept, and fail the run."""
    worker = tmp_path / "stub_worker.py"
    worker.write_text(_STUB_WORKER)
    monkeypatch.setattr(fuzz, "WORKER", worker)
    seeds = []
    for first in "cuhosx":
        seeds.append(tmp_path / f"{first}.bin")
        seeds[-1].write_bytes(first.encode() * 64)
    monkeypatch.setattr(fuzz, "BYTE_MUTATIONS", [lambda data, rng: data])
    report = fuzz.campaign(seeds, 18, 0, 1.0, tmp_path / "kept", progress=False)
    outcomes = report["outcomes"]
    assert set(outcomes) == {"crash", "unclean", "hang", "ok", "stray", "harness"}, outcomes
    assert len(report["problems"]) == 18 - outcomes["ok"]
    assert len(list((tmp_path / "kept").iterdir())) == 18 - outcomes["ok"]


def _exercise(path, tmp_path, variant=None) -> dict:
    """fuzz_worker's answer for `path`, in this process."""
    root = tmp_path / "worker"
    (root / "tmp").mkdir(parents=True, exist_ok=True)
    return fuzz_worker.exercise(str(path), str(root), str(root / "tmp"), variant)


def test_worker_builds_arguments_for_every_seed_method(tmp_path):
    """In process: each seed runs "ok" with the inputs it describes, loaded each way the worker
    loads mutants, and, with its description removed, gets arguments from its schemas for every
    method (shapes may then not fit)."""
    seeds = fuzz_seeds.write_seeds(tmp_path / "seeds")
    for path in seeds:
        for variant in fuzz_worker.LOAD_VARIANTS:
            answer = _exercise(path, tmp_path, variant)
            assert answer == {"kind": "ok", "load": variant}, (path.name, answer)
        assert _exercise(path, tmp_path)["load"] == fuzz_worker.load_variant(path)
        with pyfront.Model(path) as model:
            extra = {k: v for k, v in model.extra_files.items() if k != fuzz_worker.INPUTS_FILE}
            for name in model.method_names():
                fuzz_worker.arguments(name, model.schema(name), extra, {})


@pytest.mark.parametrize(
    "schema",
    [
        "forward(__torch__.M self, Future[int] x) -> Tensor",
        "forward(__torch__.M self, Dict(Tensor, int) x) -> Tensor",
        "forward(__torch__.M self, Dict(str, int, int) x) -> Tensor",
        "forward(__torch__.M self, (int, Tensor x) -> Tensor",
        "garbage",
        "forward(" + "(" * 100 + "int" + ")" * 100 + " x) -> int",
    ],
)
def test_worker_skips_what_it_cannot_build(schema):
    with pytest.raises(fuzz_worker.Unbuildable):
        fuzz_worker.arguments("forward", schema, {}, {})


@pytest.mark.parametrize(
    "description",
    [
        {"tensor": [2, 1.5]},
        {"tensor": [2], "dtype": ["float32"]},
        {"tensor": [1 << 20, 1 << 20]},
        {"dict": [1]},
        {"tensor": [2], "extra": 1},
        [[[[[[[[[[1]]]]]]]]]],
    ],
)
def test_worker_falls_back_to_the_schema_on_a_damaged_description(description):
    """A damaged description is the mutant's, not a bug: the schema says what to pass."""
    schema = "forward(__torch__.M self, Tensor x) -> Tensor"
    (x,) = fuzz_worker.arguments("forward", schema, {}, {"forward": [description]})
    assert x.shape == fuzz_worker.DEFAULT_SHAPE


def test_worker_answers_unclean_for_other_exceptions(tmp_path, monkeypatch):
    path = fuzz_seeds.write_seed("methods", tmp_path)

    def fails_with(error):
        def method_names(self):
            raise error

        monkeypatch.setattr(pyfront.Model, "method_names", method_names)
        return _exercise(path, tmp_path)

    assert fails_with(pyfront.errors.InternalError("x"))["kind"] == "clean"
    answer = fails_with(KeyError("y"))
    assert answer["kind"] == "unclean" and answer["detail"].startswith("method_names: KeyError")


@pytest.mark.parametrize(
    "content, problem",
    [
        (b'{"model": "tiny", "lab', "is not JSON"),
        (b"\xf7{}", "is not JSON"),
        (b"[1, 2]", "holds a list, not a JSON object"),
    ],
    ids=["json", "utf8", "list"],
)
def test_damaged_metadata_is_a_clean_error(tmp_path, content, problem):
    """Found by the fuzzer: a damaged pyfront/meta.json made Model.metadata raise json's own
    JSONDecodeError or UnicodeDecodeError, or return a list."""
    path = fuzz_seeds.write_seed("extra_files", tmp_path)
    entries = fuzz.read_entries(path.read_bytes())
    for entry in entries:
        if entry["name"].endswith(b"/pyfront/meta.json"):
            entry["data"] = content
    damaged = tmp_path / "damaged.pt"
    damaged.write_bytes(fuzz.write_zip(entries))
    with pyfront.Model(damaged) as model:
        with pytest.raises(pyfront.ModelLoadError, match=f"pyfront/meta.json\\) {problem}"):
            _ = model.metadata


CRASHERS = sorted((ROOT / "tests" / "data" / "fuzz-crashers").glob("*.pt"))


def _load_in_child(path, debug_info: bool):
    code = textwrap.dedent(f"""
        import pyfront
        try:
            pyfront.Model({str(path)!r}, debug_info={debug_info})
        except pyfront.ModelLoadError as error:
            print("clean:", str(error).splitlines()[0])
    """)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("path", CRASHERS, ids=lambda p: p.stem)
def test_files_that_crashed_libtorch_are_clean_errors(path):
    """Mutants the fuzzer found that crash libtorch while it formats an error from corrupted
    debug records (abort or segfault). Loaded with the defaults they are clean errors. With
    the debug records loaded, libtorch 2.14 still kills the process, which is why that is off;
    a libtorch that fixes it gives a clean error instead, which is just as fine here."""
    result = _load_in_child(path, debug_info=False)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.startswith(f"clean: cannot load '{path}' as a TorchScript module: ")
    with_debug_info = _load_in_child(path, debug_info=True)
    killed = with_debug_info.returncode < 0
    clean = with_debug_info.returncode == 0 and with_debug_info.stdout.startswith("clean: ")
    assert killed or clean, (with_debug_info.returncode, with_debug_info.stdout[-500:])


def test_there_are_crash_fixtures():
    assert len(CRASHERS) == 5


def test_many_threads_get_the_answers_of_serial_calls(tmp_path):
    torch.manual_seed(0)
    model = pyfront.Model(zoo.save(zoo.SmallNet(), tmp_path / "small.pt"))
    assert not model.keeps_state
    inputs = [np.random.default_rng(i).random((2, 3, 12, 12), dtype=np.float32) for i in range(16)]
    for _ in range(3):  # past the graph executor's profiling runs, results are deterministic
        model.forward(inputs[0])
    expected = [model.forward(x) for x in inputs]
    failures = []

    def work(thread: int):
        for call in range(200):
            i = (thread * 7 + call) % len(inputs)
            result = model.forward(inputs[i])
            if not np.array_equal(result, expected[i]):
                failures.append((thread, call))

    threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
    for thread in threads:
        thread.start()
    join_all(threads)
    assert failures == []


# Run in a fresh process, so that what earlier tests allocated (ResNet-18's arenas, caches)
# neither hides a leak nor frees memory in the middle of the measurement.
_MEMORY_PROBE = textwrap.dedent("""
    import json, sys
    import numpy as np
    import pyfront

    def rss():
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * 4096

    path, calls, loads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    data = open(path, "rb").read()
    x = np.random.default_rng(0).random((1, 3, 12, 12), dtype=np.float32)
    read_only = x.copy()
    read_only.flags.writeable = False  # goes through tsrt_model_run_method and values
    model = pyfront.Model(path)

    def call_every_way():
        model.forward(x)             # tsrt_model_run_tensor
        model.topk(x, k=3)           # tsrt_model_topk
        model.forward(read_only)     # tsrt_value_tensor + tsrt_model_run_method

    for _ in range(300):  # warm up allocator caches and the graph executor
        call_every_way()
    for _ in range(20):
        pyfront.Model(data).close()
    before = rss()
    for _ in range(calls):
        call_every_way()
    after_calls = rss()
    for _ in range(loads):
        pyfront.Model(path).close()
        pyfront.Model(data).close()
    print(json.dumps({"calls": after_calls - before, "loads": rss() - after_calls}))
""")


def test_memory_stays_flat_over_calls_and_loads(tmp_path):
    """3 x 2,000 calls, then 200 loads, in a fresh process: resident memory may grow by less
    than 2 MB over the calls (a leak of 1 KB per call on any one path would be 2 MB) and 8 MB
    over the loads (40 KB per load)."""
    torch.manual_seed(0)
    path = zoo.save(zoo.SmallNet(), tmp_path / "small.pt")
    result = subprocess.run(
        [sys.executable, "-c", _MEMORY_PROBE, str(path), "2000", "100"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    growth = json.loads(result.stdout.splitlines()[-1])
    assert growth["calls"] < 2 * 2**20, f"calls: resident memory grew by {growth['calls']} bytes"
    assert growth["loads"] < 8 * 2**20, f"loads: resident memory grew by {growth['loads']} bytes"


def _swap_records(path, out, first: str, second: str):
    """Rewrites a model file with the contents of two zip entries swapped."""
    with zipfile.ZipFile(path) as archive:
        entries = {info.filename: archive.read(info) for info in archive.infolist()}
    a = next(name for name in entries if name.endswith(first))
    b = next(name for name in entries if name.endswith(second))
    entries[a], entries[b] = entries[b], entries[a]
    with zipfile.ZipFile(out, "w") as archive:
        for name, content in entries.items():
            archive.writestr(name, content)
    return out


def test_storage_records_shorter_than_their_tensors_are_refused(tmp_path):
    """A tensor whose record is shorter than its shape needs (here the 8x3x3x3 conv weight
    gets the 8-float bias record) would make the first operator read past the allocation."""
    torch.manual_seed(0)
    path = zoo.save(zoo.SmallNet(), tmp_path / "small.pt")
    with zipfile.ZipFile(path) as archive:
        sizes = {
            info.filename.split("/", 1)[1]: info.file_size
            for info in archive.infolist()
            if "/data/" in info.filename
        }
    largest = max(sizes, key=sizes.get)
    smallest = min((n for n in sizes if sizes[n] > 0), key=sizes.get)
    bad = _swap_records(path, tmp_path / "swapped.pt", largest, smallest)
    with pytest.raises(pyfront.ModelLoadError, match="corrupted: the storage of tensor") as caught:
        pyfront.Model(bad)
    assert str(bad) in str(caught.value)


class SeventySeven(torch.nn.Module):
    """One tensor attribute of a length found nowhere else in the file's pickle."""

    def __init__(self):
        super().__init__()
        self.t = torch.nn.Parameter(torch.arange(77.0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.t.sum()


def _with_tensor_size(path, out, old: int, new: int):
    """Rewrites the file with the size of the 1-d tensor of `old` elements set to `new` in the
    pickle (its storage, a separate record, keeps its `old` elements)."""
    import pickletools

    with zipfile.ZipFile(path) as archive:
        entries = {info.filename: archive.read(info) for info in archive.infolist()}
    name = next(n for n in entries if n.endswith("/data.pkl"))
    pickle = bytearray(entries[name])
    ops = list(pickletools.genops(bytes(pickle)))
    sizes = [  # the size tuple: MARK, BININT1 old, TUPLE (the storage's numel is not so)
        position
        for before, (op, arg, position), after in zip(ops, ops[1:], ops[2:])
        if before[0].name == "MARK"
        and op.name == "BININT1"
        and arg == old
        and after[0].name == "TUPLE"
    ]
    assert len(sizes) == 1, "the tensor's size tuple is not where it is expected"
    pickle[sizes[0] + 1] = new
    entries[name] = bytes(pickle)
    with zipfile.ZipFile(out, "w") as archive:
        for entry, content in entries.items():
            archive.writestr(entry, content)
    return out


def test_tensors_larger_than_their_storage_are_refused(tmp_path):
    """A tensor whose shape reaches past its storage (the pickle says 250 elements, the
    storage holds 77) would make any operator on it read past the allocation. libtorch's
    loader refuses this one itself; libtsrt's own extent check (validate.cpp) is the second
    guard, for tensors that reach the module another way."""
    torch.manual_seed(0)
    path = zoo.save(SeventySeven(), tmp_path / "77.pt")
    assert pyfront.Model(path).forward(np.zeros(2, np.float32)).tolist() == [2926.0, 2926.0]
    bad = _with_tensor_size(path, tmp_path / "250.pt", 77, 250)
    with pytest.raises(pyfront.ModelLoadError, match="1000 bytes.* 308 bytes") as caught:
        pyfront.Model(bad)
    assert str(bad) in str(caught.value)


@pytest.mark.parametrize(
    "path",
    sorted((ROOT / "tests" / "data" / "storage-crashers").glob("*.pt")),
    ids=lambda p: p.stem,
)
def test_file_whose_forward_crashed_libtorch_is_refused_at_load(path):
    """A mutant with an empty record behind a parameter: libtorch loads it and then crashes in
    forward (SIGSEGV); the shim refuses it at load."""
    result = _load_in_child(path, debug_info=False)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "corrupted: the storage of tensor self.fc.bias" in result.stdout


def _largest_weight(path) -> zipfile.ZipInfo:
    """The largest tensor record: stored, as PyTorch stores every tensor."""
    with zipfile.ZipFile(path) as archive:
        tensors = [info for info in archive.infolist() if "/data/" in info.filename]
    assert tensors and all(info.compress_type == zipfile.ZIP_STORED for info in tensors)
    return max(tensors, key=lambda info: info.file_size)


def _data_offset(data: bytes, info: zipfile.ZipInfo) -> int:
    name_length, extra_length = struct.unpack_from("<HH", data, info.header_offset + 26)
    return info.header_offset + 30 + name_length + extra_length


def test_a_weight_damaged_on_disk_is_refused_not_computed_with(tmp_path):
    """libtorch's reader checks no CRC: a flipped bit in a weight loaded and computed. libtsrt
    checks each stored member's CRC-32 first, from a file and from bytes."""
    torch.manual_seed(0)
    path = zoo.save(zoo.SmallNet(), tmp_path / "small.pt")
    data = bytearray(path.read_bytes())
    info = _largest_weight(path)
    data[_data_offset(bytes(data), info) + 3] ^= 0x40
    damaged = tmp_path / "damaged.pt"
    damaged.write_bytes(bytes(data))
    message = rf"the member '{info.filename}' fails its CRC-32 check"
    with pytest.raises(pyfront.ModelLoadError, match=message):
        pyfront.Model(damaged)
    with pytest.raises(pyfront.ModelLoadError, match=message):
        pyfront.Model(bytes(data))
    # the same damage with the CRC recomputed is the file's new content: it loads
    fixed = fuzz.with_fixed_crcs(bytes(data))
    assert pyfront.Model(fixed).method_names()


def test_a_member_recorded_without_a_crc_is_loaded(tmp_path):
    """A CRC of 0 is what a writer that skips CRCs records: nothing to check against."""
    torch.manual_seed(0)
    path = zoo.save(zoo.SmallNet(), tmp_path / "small.pt")
    entries = fuzz.read_entries(path.read_bytes())
    for entry in entries:
        entry["crc"] = 0
    no_crc = tmp_path / "no-crc.pt"
    no_crc.write_bytes(fuzz.write_zip(entries))
    x = np.random.default_rng(0).random((2, 3, 8, 8), dtype=np.float32)
    with torch.inference_mode():
        expected = torch.jit.load(str(path))(torch.from_numpy(x)).numpy()
    np.testing.assert_array_equal(pyfront.Model(no_crc).forward(x), expected)


def test_an_ambiguous_archive_is_refused(tmp_path):
    """Members listed twice, or a local header naming another file: readers could disagree on
    the content, so libtsrt refuses them (libtorch's reader takes either)."""
    torch.manual_seed(0)
    path = zoo.save(zoo.SmallNet(), tmp_path / "small.pt")
    entries = fuzz.read_entries(path.read_bytes())
    twice = tmp_path / "twice.pt"
    twice.write_bytes(fuzz.write_zip([*entries, dict(entries[-1])]))
    with pytest.raises(pyfront.ModelLoadError, match="appears twice"):
        pyfront.Model(twice)
    renamed = [dict(e) for e in entries]
    renamed[1]["local_name"] = renamed[1]["name"][:-1] + b"X"
    other = tmp_path / "other.pt"
    other.write_bytes(fuzz.write_zip(renamed))
    with pytest.raises(pyfront.ModelLoadError, match="names another file"):
        pyfront.Model(other)


REWRITTEN_WHILE_LOADING = textwrap.dedent(
    """
    import shutil, sys, threading, time
    import pyfront
    source, target, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
    shutil.copyfile(source, target)
    done = threading.Event()
    def rewrite():
        while not done.is_set():
            shutil.copyfile(source, target)  # truncates in place, then writes
    threading.Thread(target=rewrite, daemon=True).start()
    loads = refused = 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            pyfront.Model(target, warmup=[]).close()
            loads += 1
        except pyfront.PyfrontError:
            refused += 1
    done.set()
    print(loads, refused)
    """
)


def test_a_file_rewritten_while_it_loads_is_refused_not_a_crash(resnet18_path, tmp_path):
    """`cp` over a model file truncates it, then writes it: a load meeting it half-written
    must fail cleanly. libtsrt once mapped the file to check its archive, and reading a
    mapping past the file's new end is SIGBUS (this crashed within 4 s, three times of
    three); it now reads the file. Loads run in a child process, so a crash fails the test."""
    result = subprocess.run(
        [sys.executable, "-c", REWRITTEN_WHILE_LOADING, resnet18_path, tmp_path / "model.pt", "4"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, f"exit {result.returncode}: {result.stderr[-2000:]}"
    loads, refused = map(int, result.stdout.split())
    assert loads + refused > 10, result.stdout
