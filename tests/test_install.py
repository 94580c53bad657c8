"""libtsrt as a C library for every language: an installed prefix that CMake and pkg-config
find, only the C ABI exported, and examples in C, Rust and Node.js printing pyfront's top-5."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest

import pyfront
from conftest import BUILD, ROOT

EXAMPLES = ROOT / "shim" / "examples"
PYFRONT = os.path.join(os.path.dirname(sys.executable), "pyfront")


def run(*args, **kwargs):
    kwargs.setdefault("env", {k: v for k, v in os.environ.items() if k != "LD_LIBRARY_PATH"})
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=900,
                          **kwargs)


@pytest.fixture(scope="module")
def prefix(tmp_path_factory):
    prefix = tmp_path_factory.mktemp("prefix")
    result = run("cmake", "--install", BUILD, "--prefix", prefix)
    assert result.returncode == 0, result.stderr
    return prefix


@pytest.fixture(scope="module")
def expected_top5(resnet18_path):
    top = pyfront.infer(resnet18_path, np.ones((1, 3, 224, 224), np.float32))
    return [str(i) for i in top.indices[0]]


def test_install_layout(prefix):
    for relative in ("include/tsrt.h", "lib/libtsrt.so", "lib/libtsrt.so.1",
                     "lib/cmake/tsrt/tsrtConfig.cmake", "lib/cmake/tsrt/tsrtConfigVersion.cmake",
                     "lib/pkgconfig/tsrt.pc", "bin/ts-infer"):
        assert (prefix / relative).exists(), relative


def test_only_the_c_abi_is_exported(prefix):
    result = run("nm", "-D", "--defined-only", prefix / "lib" / "libtsrt.so")
    assert result.returncode == 0, result.stderr
    names = [line.split()[-1] for line in result.stdout.splitlines() if line.strip()]
    assert names and all(name.startswith("tsrt_") for name in names), \
        [n for n in names if not n.startswith("tsrt_")][:5]
    declared = set(re.findall(r"\b(tsrt_\w+)\(", (ROOT / "shim/include/tsrt.h").read_text()))
    assert set(names) == declared


@pytest.mark.skipif(shutil.which("pkg-config") is None, reason="pkg-config not installed")
def test_pkg_config_agrees_with_pyfront_config(prefix):
    env = dict(os.environ, PKG_CONFIG_PATH=str(prefix / "lib" / "pkgconfig"))
    cflags = run("pkg-config", "--cflags", "tsrt", env=env).stdout.split()
    libs = run("pkg-config", "--libs", "tsrt", env=env).stdout.split()
    assert [os.path.realpath(f[2:]) for f in cflags] == [str(prefix / "include")]
    assert libs[-1] == "-ltsrt" and os.path.realpath(libs[0][2:]) == str(prefix / "lib")
    ours_c = run(PYFRONT, "config", "--cflags").stdout.split()
    ours_l = run(PYFRONT, "config", "--libs").stdout.split()
    shape = lambda flags: [re.sub(r"/.*", "DIR", f) for f in flags]  # noqa: E731
    assert shape(ours_c) == shape(cflags) and shape(ours_l) == shape(libs)


@pytest.mark.skipif(shutil.which("pkg-config") is None, reason="pkg-config not installed")
def test_pkg_config_paths_are_clean_and_follow_a_moved_prefix(prefix, tmp_path):
    env = dict(os.environ, PKG_CONFIG_PATH=str(prefix / "lib" / "pkgconfig"))
    flags = run("pkg-config", "--cflags", "--libs", "tsrt", env=env).stdout.split()
    assert flags == [f"-I{prefix}/include", f"-L{prefix}/lib", f"-Wl,-rpath,{prefix}/lib",
                     "-ltsrt"]
    moved = tmp_path / "moved"
    shutil.copytree(prefix / "lib" / "pkgconfig", moved / "lib" / "pkgconfig")
    env = dict(os.environ, PKG_CONFIG_PATH=str(moved / "lib" / "pkgconfig"))
    flags = run("pkg-config", "--define-prefix", "--cflags", "tsrt", env=env).stdout.split()
    assert flags == [f"-I{moved}/include"]


def test_runtime_abi_check_matches_the_header(prefix):
    version = int(re.search(r"#define TSRT_ABI_VERSION (\d+)",
                            (prefix / "include" / "tsrt.h").read_text()).group(1))
    assert pyfront.abi_version() == version


def test_c_example_with_find_package(prefix, tmp_path, resnet18_path, expected_top5):
    build = tmp_path / "c"
    configure = run("cmake", "-S", EXAMPLES / "c", "-B", build, f"-DCMAKE_PREFIX_PATH={prefix}")
    assert configure.returncode == 0, configure.stderr
    compiled = run("cmake", "--build", build)
    assert compiled.returncode == 0, compiled.stdout + compiled.stderr
    result = run(build / "top5", resnet18_path)  # no LD_LIBRARY_PATH
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == expected_top5


@pytest.mark.skipif(shutil.which("cargo") is None, reason="no Rust toolchain (cargo) here")
def test_rust_example(prefix, tmp_path, resnet18_path, expected_top5):
    env = dict(os.environ, TSRT_PREFIX=str(prefix), CARGO_TARGET_DIR=str(tmp_path / "target"))
    env.pop("LD_LIBRARY_PATH", None)
    compiled = run("cargo", "build", "--release", "--offline", "--quiet",
                   cwd=EXAMPLES / "rust", env=env)
    assert compiled.returncode == 0, compiled.stderr
    result = run(tmp_path / "target" / "release" / "tsrt-top5", resnet18_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == expected_top5


@pytest.mark.skipif(shutil.which("node") is None or shutil.which("npm") is None,
                    reason="no Node.js and npm here")
def test_node_example(prefix, tmp_path, resnet18_path, expected_top5):
    project = tmp_path / "node"
    shutil.copytree(EXAMPLES / "node", project)
    installed = run("npm", "install", "--no-audit", "--no-fund", "--silent", cwd=project)
    if installed.returncode != 0:
        pytest.skip(f"npm could not install koffi from the registry: {installed.stderr[-300:]}")
    env = dict(os.environ, TSRT_PREFIX=str(prefix))
    env.pop("LD_LIBRARY_PATH", None)
    result = run("node", "top5.js", resnet18_path, cwd=project, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == expected_top5
