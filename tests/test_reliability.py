"""Bad files never take the process down; many threads get serial answers; memory stays flat."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import threading
import zipfile

import numpy as np
import pytest
import torch

import pyfront
import zoo
from conftest import ROOT


def test_fuzz_slice_has_no_crash(tmp_path):
    """A fixed-seed slice of scripts/fuzz.py: 300 mutants loaded and run in a child."""
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "fuzz.py"), "--count", "300", "--seed", "0",
         "--json", "-", "--keep", str(tmp_path / "findings")],
        capture_output=True, text=True, timeout=600)
    report = json.loads(result.stdout)
    assert report["problems"] == [], report["problems"]
    assert result.returncode == 0
    outcomes = report["outcomes"]
    assert outcomes.get("clean", 0) + outcomes.get("ok", 0) == 300
    assert outcomes.get("clean", 0) > 100 and outcomes.get("ok", 0) > 10  # both paths exercised


CRASHERS = sorted((ROOT / "tests" / "data" / "fuzz-crashers").glob("*.pt"))


def _load_in_child(path, debug_info: bool):
    code = textwrap.dedent(f"""
        import pyfront
        try:
            pyfront.Model({str(path)!r}, debug_info={debug_info})
        except pyfront.ModelLoadError as error:
            print("clean:", str(error).splitlines()[0])
    """)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)


@pytest.mark.parametrize("path", CRASHERS, ids=lambda p: p.stem)
def test_files_that_crashed_libtorch_are_clean_errors(path):
    """Mutants the fuzzer found that crash libtorch while it formats an error from corrupted
    debug records (abort or segfault). Loaded with the defaults they are clean errors; with
    the debug records loaded they still kill the process, which is why that is off."""
    result = _load_in_child(path, debug_info=False)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.startswith(f"clean: cannot load '{path}' as a TorchScript module: ")
    assert _load_in_child(path, debug_info=True).returncode < 0  # killed by a signal


def test_there_are_crash_fixtures():
    assert len(CRASHERS) == 5


def test_many_threads_get_the_answers_of_serial_calls(tmp_path):
    torch.manual_seed(0)
    model = pyfront.Model(zoo.save(zoo.SmallNet(), tmp_path / "small.pt"))
    assert not model.keeps_state
    inputs = [np.random.default_rng(i).random((2, 3, 12, 12), dtype=np.float32)
              for i in range(16)]
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
    for thread in threads:
        thread.join()
    assert failures == []


def _rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * 4096


def test_memory_stays_flat_over_5000_calls_and_200_loads(tmp_path):
    torch.manual_seed(0)
    path = zoo.save(zoo.SmallNet(), tmp_path / "small.pt")
    data = path.read_bytes()
    x = np.random.default_rng(0).random((1, 3, 12, 12), dtype=np.float32)
    model = pyfront.Model(path)
    for _ in range(300):  # warm up allocator caches and the graph executor
        model.forward(x)
        model.topk(x, k=3)
    for _ in range(20):
        pyfront.Model(data).close()
    before = _rss_bytes()
    for _ in range(5000):
        model.forward(x)
    for _ in range(100):
        pyfront.Model(path).close()
        pyfront.Model(data).close()
    growth = _rss_bytes() - before
    assert growth < 10 * 2**20, f"resident memory grew by {growth / 2**20:.1f} MB"


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
        sizes = {info.filename.split("/", 1)[1]: info.file_size for info in archive.infolist()
                 if "/data/" in info.filename}
    largest = max(sizes, key=sizes.get)
    smallest = min((n for n in sizes if sizes[n] > 0), key=sizes.get)
    bad = _swap_records(path, tmp_path / "swapped.pt", largest, smallest)
    with pytest.raises(pyfront.ModelLoadError, match="corrupted: the storage of tensor") as caught:
        pyfront.Model(bad)
    assert str(bad) in str(caught.value)


@pytest.mark.parametrize("path", sorted((ROOT / "tests" / "data" / "storage-crashers").glob("*.pt")),
                         ids=lambda p: p.stem)
def test_file_whose_forward_crashed_libtorch_is_refused_at_load(path):
    """A mutant with an empty record behind a parameter: libtorch loads it and then crashes in
    forward (SIGSEGV); the shim refuses it at load."""
    result = _load_in_child(path, debug_info=False)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "corrupted: the storage of tensor self.fc.bias" in result.stdout
