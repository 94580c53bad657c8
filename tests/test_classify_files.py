"""pyfront classify on folders, and --output files (JSON lines, Parquet), in this process."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch
from PIL import Image

import zoo


def run(*args, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "pyfront", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=cwd,
    )


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    torch.manual_seed(0)
    return zoo.save(zoo.SmallNet(), tmp_path_factory.mktemp("model") / "small.pt")


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("tree")
    rng = np.random.default_rng(0)
    for name, size in [
        ("b.png", (260, 300)),
        ("a.JPG", (300, 260)),
        ("c/z.webp", (256, 256)),
        ("c/d/y.bmp", (280, 280)),
        ("e/x.tif", (300, 300)),
    ]:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (*size, 3), dtype=np.uint8)).save(root / name)
    (root / "c" / "README").write_text("no image")
    (root / "c" / "notes.txt").write_text("no image")
    (root / "empty" / "deeper").mkdir(parents=True)
    return root


def test_a_folder_gives_its_images_recursively_in_order(tree, model_path):
    result = run(
        "classify", tree, tree / "c" / "notes.txt", "--model", model_path, "--k", "2", "--json"
    )
    entries = json.loads(result.stdout)
    names = ["a.JPG", "b.png", "c/z.webp", "c/d/y.bmp", "e/x.tif", "c/notes.txt"]
    assert [e["image"] for e in entries] == [str(tree / name) for name in names]
    # A file named on the command line is read whatever its name, and reported if it fails.
    assert "error" in entries[-1] and all("top" in e for e in entries[:-1])
    assert result.returncode == 1
    assert f"cannot read {tree / 'c' / 'notes.txt'}" in result.stderr


def test_a_folder_without_images_is_reported(tree, model_path):
    result = run("classify", tree / "empty", tree / "b.png", "--model", model_path, "--json")
    assert result.returncode == 1
    assert f"pyfront classify: no image files in {tree / 'empty'}" in result.stderr
    assert [e["image"] for e in json.loads(result.stdout)] == [str(tree / "b.png")]


@pytest.mark.parametrize("name", ["results.jsonl", "results.parquet"])
def test_output_file_holds_what_json_prints(tree, model_path, tmp_path, name):
    printed = run("classify", ".", "--model", model_path, "--k", "3", "--json", cwd=tree)
    written = run(
        "classify", ".", "--model", model_path, "--k", "3", "--output", tmp_path / name, cwd=tree
    )
    assert printed.returncode == written.returncode == 0, written.stderr
    assert written.stdout == ""
    expected = json.loads(printed.stdout)
    if name.endswith(".jsonl"):
        lines = (tmp_path / name).read_text().splitlines()
        assert [json.loads(line) for line in lines] == expected
    else:
        rows = pq.read_table(tmp_path / name).to_pylist()
        assert rows == [
            {
                "image": e["image"],
                "error": None,
                "index": [t["index"] for t in e["top"]],
                "label": [t["label"] for t in e["top"]],
                "prob": [t["prob"] for t in e["top"]],
            }
            for e in expected
        ]


def test_bad_option_combinations_and_outputs(tree, model_path, tmp_path):
    both = run("classify", tree, "--model", model_path, "--json", "--output", tmp_path / "x")
    assert both.returncode == 2 and "pick one" in both.stderr
    for option in (["--address", "127.0.0.1:6379"], ["--workers", "2"], ["--cpus-per-worker", "2"]):
        alone = run("classify", tree, "--model", model_path, *option)
        assert alone.returncode == 2 and "go with --engine ray" in alone.stderr
    nowhere = run(
        "classify",
        tree,
        "--model",
        model_path,
        "--output",
        tmp_path / "no" / "such" / "folder" / "out.jsonl",
    )
    assert nowhere.returncode == 2 and "No such file or directory" in nowhere.stderr
