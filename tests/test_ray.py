"""pyfront on Ray, for real: a two-node Ray cluster on 127.0.0.1 (one per module, stopped in a
finally, and no Ray process may outlive it), `pyfront classify --engine ray` equal to the local
run, pickled models in workers equal to torch.jit.load, and the ways it can go wrong."""

from __future__ import annotations

import json
import os
import pickle
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
import time

# "0": every address Ray uses is 127.0.0.1. Ray reads it when imported, so before that.
LOOPBACK_ONLY = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"
os.environ[LOOPBACK_ONLY] = "0"

import numpy as np  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402
import pytest  # noqa: E402
import ray  # noqa: E402
import ray.cloudpickle  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402
from torchvision.models import ResNet18_Weights  # noqa: E402

import pyfront  # noqa: E402

import zoo  # noqa: E402
from conftest import reference_topk  # noqa: E402

PYFRONT = [sys.executable, "-m", "pyfront"]
TRANSFORMS = ResNet18_Weights.IMAGENET1K_V1.transforms()

# The remote functions below travel by value: the workers cannot import this test module.
ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])


def run(*args, env=None, timeout=300, cwd=None):
    return subprocess.run(
        [*PYFRONT, *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd=cwd,
    )


def run_local(*args, cwd=None):
    """The local run, with the one libtorch thread each worker gets from its one CPU: with
    another thread count oneDNN may split a batch's sums differently (differences of about
    1e-7 of a probability), and the point here is equality to the bit."""
    return run(*args, env=dict(os.environ, OMP_NUM_THREADS="1"), cwd=cwd)


# -- processes ------------------------------------------------------------------------------


def _processes() -> dict:
    """{pid: (parent pid, command line)} of every process."""
    listing = subprocess.run(
        ["ps", "-eo", "pid=,ppid=,args="], capture_output=True, text=True, check=True
    ).stdout
    table = {}
    for line in listing.splitlines():
        pid, ppid, args = (line.split(None, 2) + [""])[:3]
        table[int(pid)] = (int(ppid), args)
    return table


def _descendants(root: int) -> dict:
    table = _processes()
    found, frontier = {}, [root]
    while frontier:
        parent = frontier.pop()
        for pid, (ppid, args) in table.items():
            if ppid == parent and pid not in found:
                found[pid] = args
                frontier.append(pid)
    return found


def _is_ray(args: str) -> bool:
    return "ray::" in args or "raylet" in args or "gcs_server" in args or "/ray/" in args


def _still_running(expected: dict, marker: str, timeout: float = 30.0) -> dict:
    """The processes of `expected` still alive, and any naming `marker`, after waiting up to
    `timeout` seconds for them to end."""
    deadline = time.monotonic() + timeout
    while True:
        table = _processes()
        alive = {
            pid: args
            for pid, (_, args) in table.items()
            if (pid in expected and _is_ray(args)) or marker in args
        }
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.5)


# -- fixtures -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cluster():
    """The address of a Ray cluster of two nodes with one CPU each, all on 127.0.0.1; this
    process is connected to it as a driver."""
    from ray.cluster_utils import Cluster

    # A short folder of our own: Ray's sockets live under it (paths are limited to 107
    # bytes), and its name identifies this cluster's processes.
    temp = tempfile.mkdtemp(prefix="rt", dir="/tmp")
    saved = os.environ.get("RAY_TMPDIR")
    os.environ["RAY_TMPDIR"] = temp
    started = None
    seen: dict = {}
    try:
        started = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
        started.add_node(num_cpus=1)
        ray.init(address=started.address, log_to_driver=False, logging_level="ERROR")
        assert {node["NodeManagerAddress"] for node in ray.nodes()} == {"127.0.0.1"}
        assert len(ray.nodes()) == 2
        seen.update(_descendants(os.getpid()))
        yield started.address
    finally:
        seen.update(_descendants(os.getpid()))
        try:
            ray.shutdown()
        finally:
            if started is not None:
                started.shutdown()
            if saved is None:
                os.environ.pop("RAY_TMPDIR", None)
            else:
                os.environ["RAY_TMPDIR"] = saved
        leftovers = _still_running({p: a for p, a in seen.items() if _is_ray(a)}, temp)
        shutil.rmtree(temp, ignore_errors=True)
    assert not leftovers, f"Ray processes outlived the cluster: {leftovers}"


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """Images of several sizes, formats and modes (in a subfolder too), a broken JPEG, a text
    file named as a PNG and one not named as an image; and what torchvision should see of
    each image."""
    root = tmp_path_factory.mktemp("photos")
    (root / "more").mkdir()
    rng = np.random.default_rng(7)
    expected = {}

    def add(name, image, as_rgb, **save):
        image.save(root / name, **save)
        expected[str(root / name)] = as_rgb

    wide = rng.integers(0, 256, (300, 400, 3), dtype=np.uint8)
    add("wide.png", Image.fromarray(wide), Image.fromarray(wide))
    grey = rng.integers(0, 256, (256, 320), dtype=np.uint8)
    add("grey.png", Image.fromarray(grey), Image.fromarray(grey).convert("RGB"))
    rgba = rng.integers(0, 256, (240, 320, 4), dtype=np.uint8)
    add("more/alpha.png", Image.fromarray(rgba), Image.fromarray(rgba).convert("RGB"))
    palette = Image.fromarray(wide).quantize(32)
    add("more/palette.gif", palette, palette.convert("RGB"))
    tall = rng.integers(0, 256, (517, 260, 3), dtype=np.uint8)
    Image.fromarray(tall).save(root / "tall.jpg", quality=85)
    with Image.open(root / "tall.jpg") as decoded:
        expected[str(root / "tall.jpg")] = decoded.convert("RGB")
    (root / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a JPEG")
    (root / "notes.txt").write_text("not an image, and not named like one\n")
    (root / "more" / "junk.png").write_text("named like an image, but is none\n")
    return root, expected


def _check_against_torch(entries, expected, model_path):
    """Every classified entry's top-k equals torch.jit.load on torchvision's preprocessing."""
    reference = torch.jit.load(str(model_path)).eval()
    good = [entry for entry in entries if "top" in entry]
    batch = torch.stack([TRANSFORMS(expected[entry["image"]]) for entry in good])
    with torch.inference_mode():
        top = torch.softmax(reference(batch), 1).topk(len(good[0]["top"]), 1)
    for entry, indices, probs in zip(good, top.indices, top.values):
        assert [e["index"] for e in entry["top"]] == indices.tolist(), entry["image"]
        np.testing.assert_allclose([e["prob"] for e in entry["top"]], probs.numpy(), atol=1e-5)


# -- the command ----------------------------------------------------------------------------


def test_engine_ray_equals_the_local_run(cluster, folder, resnet18_path):
    root, expected = folder
    common = ["classify", root, "--model", resnet18_path, "--k", "3", "--batch-size", "2", "--json"]
    local = run_local(*common)
    remote = run(*common, "--engine", "ray", "--address", cluster, "--workers", "2", "--progress")
    assert local.returncode == remote.returncode == 1, remote.stderr  # one broken file
    assert remote.stdout == local.stdout  # every number, to the bit, in the same order
    entries = json.loads(remote.stdout)
    broken = str(root / "broken.jpg")
    # A folder's files by name, then its subfolders'; notes.txt is no image by its name.
    order = [
        "broken.jpg",
        "grey.png",
        "tall.jpg",
        "wide.png",
        "more/alpha.png",
        "more/junk.png",
        "more/palette.gif",
    ]
    assert [e["image"] for e in entries] == [str(root / name) for name in order]
    junk = str(root / "more" / "junk.png")
    assert [e["image"] for e in entries if "error" in e] == [broken, junk]
    assert entries[5]["error"] == f"cannot identify image file '{junk}'"
    for stderr in (local.stderr, remote.stderr):
        assert f"pyfront classify: cannot read {broken}: {entries[0]['error']}\n" in stderr
        assert f"pyfront classify: cannot read {junk}: {entries[5]['error']}\n" in stderr
    assert f"{len(entries)}/{len(entries)} images" in remote.stderr
    _check_against_torch(entries, expected, resnet18_path)


def test_engine_ray_writes_parquet_equal_to_the_local_json_lines(
    cluster, folder, resnet18_path, tmp_path
):
    root, _ = folder
    # Relative names: the workers open absolute paths, yet report what was given.
    common = ["classify", ".", "--model", resnet18_path, "--k", "2"]
    local = run_local(*common, "--output", tmp_path / "local.jsonl", cwd=root)
    remote = run(
        *common,
        "--engine",
        "ray",
        "--address",
        cluster,
        "--output",
        tmp_path / "remote.parquet",
        cwd=root,
    )
    assert local.returncode == remote.returncode == 1, remote.stderr
    assert local.stdout == remote.stdout == ""  # the results went to the files
    assert (
        "cannot read ./more/junk.png: cannot identify image file './more/junk.png'" in remote.stderr
    )
    lines = [json.loads(line) for line in (tmp_path / "local.jsonl").read_text().splitlines()]
    rows = pq.read_table(tmp_path / "remote.parquet").to_pylist()
    assert [row["image"] for row in rows] == [line["image"] for line in lines]
    for row, line in zip(rows, lines):
        if "error" in line:
            assert row["error"] == line["error"] and row["index"] == []
        else:
            assert row["error"] is None
            assert row["index"] == [e["index"] for e in line["top"]]
            assert row["label"] == [e["label"] for e in line["top"]]
            assert row["prob"] == [e["prob"] for e in line["top"]]  # float32 both ways


def test_engine_ray_without_an_address_runs_and_stops_its_own_ray(folder, resnet18_path):
    root, _ = folder
    temp = tempfile.mkdtemp(prefix="rl", dir="/tmp")
    before = {pid for pid, (_, args) in _processes().items() if _is_ray(args)}
    try:
        env = dict(os.environ, RAY_TMPDIR=temp)
        env.pop(LOOPBACK_ONLY)  # the command keeps its own instance on loopback by itself
        env.pop("RAY_ADDRESS", None)
        local = run_local("classify", root, "--model", resnet18_path, "--k", "2", "--json")
        remote = run(
            "classify",
            root,
            "--model",
            resnet18_path,
            "--k",
            "2",
            "--json",
            "--engine",
            "ray",
            "--workers",
            "1",
            env=env,
        )
        assert remote.returncode == 1, remote.stderr
        assert remote.stdout == local.stdout
        ours = _descendants(os.getpid())  # the module's cluster may have started workers
        new = {
            pid: args
            for pid, (_, args) in _processes().items()
            if _is_ray(args) and pid not in before and pid not in ours
        }
        assert not _still_running(new, temp), "the command left Ray processes running"
    finally:
        shutil.rmtree(temp, ignore_errors=True)


def test_image_classifier_in_map_batches(cluster, folder, resnet18_path):
    from pyfront.ray import ImageClassifier

    root, expected = folder
    paths = sorted(expected)
    files = ray.data.from_items([{"path": path} for path in paths + [str(root / "broken.jpg")]])
    rows = files.map_batches(
        ImageClassifier,
        fn_constructor_kwargs={"model": pyfront.Model(resnet18_path), "k": 3},
        batch_size=2,
        compute=ray.data.ActorPoolStrategy(size=2),
        num_cpus=1,
    ).take_all()
    by_path = {row["path"]: row for row in rows}
    assert sorted(by_path) == sorted(paths + [str(root / "broken.jpg")])
    assert by_path.pop(str(root / "broken.jpg"))["error"]
    entries = [
        {
            "image": path,
            "top": [
                {"index": i, "prob": p}
                for i, p in zip(by_path[path]["index"], by_path[path]["prob"])
            ],
        }
        for path in paths
    ]
    assert all(by_path[path]["error"] is None for path in paths)
    _check_against_torch(entries, expected, resnet18_path)


# -- pickled models in workers --------------------------------------------------------------


@ray.remote(num_cpus=1)
class Holder:
    """A worker process that is handed models."""

    def take(self, model) -> dict:
        import pyfront.ray

        pyfront.set_num_threads(2)  # as a process started with more threads would have
        threads = pyfront.ray.use_assigned_cpus()
        return {
            "pid": os.getpid(),
            "model": id(model),
            "threads": threads,
            "libtorch threads": pyfront.get_num_threads(),
            "node": ray.get_runtime_context().get_node_id(),
            "torch imported": "torch" in sys.modules,
        }

    def forward(self, model, x):
        return model.forward(x)


@pytest.fixture
def small_path(tmp_path):
    torch.manual_seed(0)
    return zoo.save(zoo.SmallNet(), tmp_path / "small.pt")


def test_a_pickled_model_round_trips_in_workers_on_both_nodes(cluster, small_path):
    model = pyfront.Model(small_path, freeze=False, warmup=[])  # runs as torch.jit.load does
    x = np.random.default_rng(3).random((3, 3, 20, 20), dtype=np.float32)
    _, _, reference = reference_topk(torch.jit.load(str(small_path)), x, 3)
    holders = [Holder.remote(), Holder.remote()]  # one CPU each: one on each node
    try:
        first = ray.get([holder.take.remote(model) for holder in holders])
        again = ray.get([holder.take.remote(model) for holder in holders])
        assert first[0]["node"] != first[1]["node"]
        for before, after in zip(first, again):
            assert before["pid"] != os.getpid()
            assert after["model"] == before["model"]  # loaded once per worker process
            assert before["threads"] == before["libtorch threads"] == 1  # its one CPU
            assert not before["torch imported"]
        for output in ray.get([holder.forward.remote(model, x) for holder in holders]):
            np.testing.assert_array_equal(output, reference)
    finally:
        for holder in holders:
            ray.kill(holder)


@ray.remote(num_cpus=1)
def unpickle_and_run(data: bytes, x):
    return pickle.loads(data).forward(x)


def test_a_worker_refuses_a_changed_file(cluster, small_path, tmp_path, images):
    data = pickle.dumps(pyfront.Model(small_path))
    torch.manual_seed(1)
    zoo.save(zoo.SmallNet(), tmp_path / "retrained.pt")
    os.replace(tmp_path / "retrained.pt", small_path)
    with pytest.raises(
        pyfront.ModelChangedError,
        match=f"{small_path} on host .* changed since the model was pickled",
    ):
        ray.get(unpickle_and_run.remote(data, images(1, 3, 16, 16)))


def test_a_model_file_missing_on_the_workers_is_named(cluster, folder, resnet18_path, tmp_path):
    from pyfront._ray_engine import classify_on_ray, ray_session
    from pyfront._recipe import recipe_for_file

    copy = tmp_path / "resnet18.pt"
    shutil.copy(resnet18_path, copy)
    recipe = recipe_for_file("Model", str(copy), {})  # the driver saw the file...
    os.remove(copy)  # ...the workers will not
    root, _ = folder
    with ray_session(cluster):  # the session this process already has
        with pytest.raises(pyfront.ModelNotFoundError) as caught:
            list(classify_on_ray([str(root / "wide.png")], recipe, k=1, batch_size=1))
    assert f"{copy} does not exist on host {socket.gethostname()}" in str(caught.value)
    assert ray.is_initialized()


# -- bad input ------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_an_unreachable_address_fails_fast(folder, resnet18_path):
    root, _ = folder
    address = f"127.0.0.1:{_free_port()}"  # nothing listens there
    result = run(
        "classify",
        root,
        "--model",
        resnet18_path,
        "--engine",
        "ray",
        "--address",
        address,
        timeout=60,
    )
    assert result.returncode == 2 and result.stdout == ""
    assert f"cannot reach a Ray cluster at {address}: Connection refused" in result.stderr
    assert "ray start --head" in result.stderr


def test_an_address_that_is_not_ray_fails_fast(folder, resnet18_path):
    root, _ = folder
    with socket.socket() as silent:  # accepts connections, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        address = f"127.0.0.1:{silent.getsockname()[1]}"
        result = run(
            "classify",
            root,
            "--model",
            resnet18_path,
            "--engine",
            "ray",
            "--address",
            address,
            timeout=60,
        )
    assert result.returncode == 2
    assert f"{address} accepts connections but does not answer as a Ray cluster" in result.stderr


HIDE_RAY = "import sys; sys.modules['ray'] = None  # as if Ray were not installed\n"


def test_without_ray_the_message_says_how_to_install_it(folder, resnet18_path):
    root, _ = folder
    code = HIDE_RAY + textwrap.dedent("""
        from pyfront.cli import main
        sys.exit(main(sys.argv[1:]))
    """)
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            code,
            "classify",
            str(root),
            "--model",
            str(resnet18_path),
            "--engine",
            "ray",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2 and result.stdout == ""
    assert "pip install pyfront[ray]" in result.stderr
    imported = subprocess.run(
        [sys.executable, "-c", HIDE_RAY + "import pyfront.ray"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "RayNotInstalledError" in imported.stderr
    assert "pip install pyfront[ray]" in imported.stderr


def test_nothing_imports_ray_unless_asked(folder, small_path):
    root, _ = folder
    code = textwrap.dedent("""
        import pickle, sys
        import pyfront
        from pyfront.cli import main
        status = main(["classify", sys.argv[1], "--model", sys.argv[2], "--k", "1"])
        pickle.loads(pickle.dumps(pyfront.Model(sys.argv[2])))
        print(status, [name for name in ("ray", "pyarrow") if name in sys.modules])
    """)
    result = subprocess.run(
        [sys.executable, "-c", code, str(root), str(small_path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "1 []"  # 1: the broken files
