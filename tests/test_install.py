"""Installing, linking and importing: every way users get at libtsrt. An installed prefix that
CMake and pkg-config find, only the C ABI exported, `pyfront config` flags, pip installs, and
examples in C, Rust and Node.js; each program's top-5 compared with torch.jit.load's."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
import textwrap

import numpy as np
import pytest

import pyfront

from conftest import BUILD, ROOT, reference_topk

EXAMPLES = ROOT / "shim" / "examples"
PYFRONT = os.path.join(os.path.dirname(sys.executable), "pyfront")


def run(*args, **kwargs):
    kwargs.setdefault("env", {k: v for k, v in os.environ.items() if k != "LD_LIBRARY_PATH"})
    return subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, timeout=900, **kwargs
    )


@pytest.fixture(scope="module")
def prefix(tmp_path_factory):
    prefix = tmp_path_factory.mktemp("prefix")
    result = run("cmake", "--install", BUILD, "--prefix", prefix)
    assert result.returncode == 0, result.stderr
    return prefix


@pytest.fixture(scope="module")
def expected_top5(resnet18_ref):
    """The recipe's answer for an input of ones: torch.jit.load in Python on the same file."""
    indices, _, _ = reference_topk(resnet18_ref, np.ones((1, 3, 224, 224), np.float32), 5)
    return [str(i) for i in indices[0]]


def test_inference_never_imports_torch(resnet18_path, expected_top5):
    code = textwrap.dedent(f"""
        import sys, numpy as np, pyfront
        top = pyfront.infer({str(resnet18_path)!r}, np.ones((3, 224, 224), np.float32))
        assert "torch" not in sys.modules, "pyfront imported torch"
        print(*top.indices[0])
    """)
    result = run(sys.executable, "-c", code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == expected_top5


def test_only_running_a_model_maps_libtorch(resnet18_path):
    """`import pyfront`, its exceptions and the parent side of an IsolatedModel map neither
    libtsrt nor libtorch; the first in-process call does."""
    code = textwrap.dedent(f"""
        import numpy as np
        def mapped():
            maps = open("/proc/self/maps").read()
            return "libtorch" in maps or "libtsrt" in maps
        import pyfront, pyfront.errors
        assert not mapped(), "import pyfront mapped the native library"
        with pyfront.IsolatedModel({str(resnet18_path)!r}, timeout=120) as isolated:
            top = isolated.topk(np.ones((1, 3, 224, 224)))
        assert not mapped(), "IsolatedModel's parent side mapped the native library"
        assert (top.indices == pyfront.Model({str(resnet18_path)!r}).topk(
            np.ones((1, 3, 224, 224))).indices).all()
        assert mapped()
        print("ok")
    """)
    result = run(sys.executable, "-c", code)
    assert result.returncode == 0 and result.stdout == "ok\n", result.stderr


def test_config_flags_agree_between_console_script_and_module():
    for option in ("--cflags", "--libs", "--includedir", "--libdir"):
        script = run(PYFRONT, "config", option)
        module = run(sys.executable, "-m", "pyfront", "config", option)
        assert script.returncode == module.returncode == 0
        assert script.stdout == module.stdout != ""
    includedir = run(PYFRONT, "config", "--includedir").stdout.strip()
    libdir = run(PYFRONT, "config", "--libdir").stdout.strip()
    assert os.path.isfile(os.path.join(includedir, "tsrt.h"))
    assert os.path.isfile(os.path.join(libdir, "libtsrt.so"))
    assert run(PYFRONT, "config").returncode != 0  # nothing asked: usage error


def test_c_program_built_with_config_flags_runs(tmp_path, resnet18_path, expected_top5):
    """`cc $(pyfront config --cflags) prog.c $(pyfront config --libs)` works, and the program
    runs without LD_LIBRARY_PATH and prints torch.jit.load's top-5."""
    source = tmp_path / "top5.c"
    source.write_text(
        textwrap.dedent("""
        #include <stdio.h>
        #include <stdlib.h>
        #include "tsrt.h"
        int main(int argc, char **argv) {
            static float x[3 * 224 * 224];
            int64_t shape[4] = {1, 3, 224, 224}, idx[5];
            float p[5];
            tsrt_model *m = NULL;
            int i;
            (void)argc;
            for (i = 0; i < 3 * 224 * 224; ++i) x[i] = 1.0f;
            if (tsrt_abi_version() < TSRT_ABI_VERSION ||
                tsrt_model_load(argv[1], NULL, &m) != TSRT_OK ||
                tsrt_model_topk(m, x, shape, 4, 5, idx, p, 5, NULL) != TSRT_OK) {
                fprintf(stderr, "%s\\n", tsrt_last_error());
                return 1;
            }
            for (i = 0; i < 5; ++i) printf("%lld\\n", (long long)idx[i]);
            tsrt_model_free(m);
            return 0;
        }
    """)
    )
    cflags = run(PYFRONT, "config", "--cflags").stdout.split()
    libs = run(PYFRONT, "config", "--libs").stdout.split()
    exe = tmp_path / "top5"
    build = run("cc", "-std=c99", *cflags, source, *libs, "-o", exe)
    assert build.returncode == 0, build.stderr
    result = run(exe, resnet18_path)  # no LD_LIBRARY_PATH
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == expected_top5


def test_readme_c_build_command_works_without_an_activated_venv(tmp_path):
    """The README's From C command, run as written from the repository root by a shell whose
    PATH does not hold the venv (setup.sh never activates it)."""
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## From C") : readme.index("## Use from other languages")]
    command = next(line for line in section.splitlines() if line.startswith("cc "))
    assert "$(.venv/bin/pyfront config --cflags)" in command, command
    root = tmp_path / "checkout"
    (root / ".venv" / "bin").mkdir(parents=True)
    os.symlink(PYFRONT, root / ".venv" / "bin" / "pyfront")
    (root / "prog.c").write_text(
        textwrap.dedent("""
        #include <stdio.h>
        #include "tsrt.h"
        int main(void) { printf("%d\\n", tsrt_abi_version()); return 0; }
    """)
    )
    env = dict(os.environ, PATH="/usr/bin:/bin")
    built = run("bash", "-c", command, cwd=root, env=env)
    assert built.returncode == 0, built.stderr
    assert run(root / "prog").stdout.strip() == str(pyfront.abi_version())


def test_non_editable_install_puts_the_library_in_the_package(
    tmp_path, resnet18_path, resnet18_ref
):
    """`pip install .` builds only the library, in a temporary folder (the checkout's build/
    is left alone), and the installed package runs on its own."""
    build = ROOT / "build"
    before = {p: p.stat().st_mtime_ns for p in build.glob("*") if p.is_file()}
    target = tmp_path / "site"
    result = run(
        sys.executable,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--no-build-isolation",
        "--no-deps",
        "--target",
        target,
        ROOT,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert {p: p.stat().st_mtime_ns for p in build.glob("*") if p.is_file()} == before
    assert (target / "pyfront" / "lib" / "libtsrt.so.1").is_file()
    assert (target / "pyfront" / "include" / "tsrt.h").is_file()
    assert not (target / "bin" / "ts-infer").exists()
    # A bare environment that sees this one's packages (numpy, cffi) but not its editable
    # pyfront, then the installed copy first on its path.
    bare = tmp_path / "bare"
    run(sys.executable, "-m", "venv", "--without-pip", bare)
    site = next(bare.glob("lib/python*/site-packages"))
    (site / "base.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    code = (
        "import numpy as np, pyfront; "
        f"assert pyfront.__file__.startswith({str(target)!r}), pyfront.__file__; "
        f"print(pyfront.infer({str(resnet18_path)!r}, np.ones((3, 224, 224))).indices[0].tolist())"
    )
    imported = run(
        bare / "bin" / "python",
        "-c",
        code,
        env=dict(os.environ, PYTHONPATH=str(target)),
        cwd=tmp_path,
    )
    assert imported.returncode == 0, imported.stderr
    import torch

    expected = resnet18_ref(torch.ones(1, 3, 224, 224)).topk(5).indices[0].tolist()
    assert imported.stdout.strip() == str(expected)


@pytest.mark.skipif(shutil.which("cmake") is None, reason="cmake not on PATH")
def test_cmake_finds_libtorch_through_cmake_prefix_path(tmp_path):
    """The recipe's way: -DCMAKE_PREFIX_PATH=<libtorch>, with no Python on PATH to fall back
    on and no CUDA toolkit needed. The wheel's torch folder has a standalone libtorch's layout."""
    torch_root = os.path.dirname(__import__("importlib").util.find_spec("torch").origin)
    env = dict(os.environ, PATH="/usr/bin:/bin")
    configure = run(
        shutil.which("cmake"),
        "-S",
        ROOT / "shim",
        "-B",
        tmp_path,
        f"-DCMAKE_PREFIX_PATH={torch_root}",
        "-DTSRT_BUILD_TESTS=OFF",
        env=env,
    )
    assert configure.returncode == 0, configure.stderr
    assert f"libtorch: {torch_root}" in configure.stdout
    build = run(shutil.which("cmake"), "--build", tmp_path, "--parallel", "2", env=env)
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    result = run(tmp_path / "ts-infer")
    assert result.returncode != 0 and "usage" in result.stderr


def test_install_layout_and_abi_version(prefix):
    for relative in (
        "include/tsrt.h",
        "lib/libtsrt.so",
        "lib/libtsrt.so.1",
        "lib/cmake/tsrt/tsrtConfig.cmake",
        "lib/cmake/tsrt/tsrtConfigVersion.cmake",
        "lib/pkgconfig/tsrt.pc",
        "bin/ts-infer",
    ):
        assert (prefix / relative).exists(), relative
    # The installed header describes the library pyfront loads: the runtime ABI check agrees.
    version = int(
        re.search(
            r"#define TSRT_ABI_VERSION (\d+)", (prefix / "include" / "tsrt.h").read_text()
        ).group(1)
    )
    assert pyfront.abi_version() == version


def test_only_the_c_abi_is_exported(prefix):
    result = run("nm", "-D", "--defined-only", prefix / "lib" / "libtsrt.so")
    assert result.returncode == 0, result.stderr
    names = [line.split()[-1] for line in result.stdout.splitlines() if line.strip()]
    assert names and all(name.startswith("tsrt_") for name in names), [
        n for n in names if not n.startswith("tsrt_")
    ][:5]
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
    assert flags == [f"-I{prefix}/include", f"-L{prefix}/lib", f"-Wl,-rpath,{prefix}/lib", "-ltsrt"]
    moved = tmp_path / "moved"
    shutil.copytree(prefix / "lib" / "pkgconfig", moved / "lib" / "pkgconfig")
    env = dict(os.environ, PKG_CONFIG_PATH=str(moved / "lib" / "pkgconfig"))
    flags = run("pkg-config", "--define-prefix", "--cflags", "tsrt", env=env).stdout.split()
    assert flags == [f"-I{moved}/include"]


def test_runtime_abi_check_matches_the_header(prefix):
    version = int(
        re.search(
            r"#define TSRT_ABI_VERSION (\d+)", (prefix / "include" / "tsrt.h").read_text()
        ).group(1)
    )
    assert pyfront.abi_version() == version


@pytest.fixture(scope="module", params=["torchscript", "pt2"])
def example_model(request, resnet18_path, expected_top5):
    """What every example runs: ResNet-18 as a TorchScript file, and a small classifier as an
    AOTInductor package, each with the top-5 of its reference loader (torch.jit.load, PyTorch's
    package loader) for an input of ones, as the examples feed."""
    if request.param == "torchscript":
        return resnet18_path, expected_top5
    from pyfront import export_pt2

    package, _ = request.getfixturevalue("small_package")
    reference = export_pt2.load_package(package)
    indices, _, _ = reference_topk(reference, np.ones((1, 3, 224, 224), np.float32), 5)
    return package, [str(i) for i in indices[0]]


@pytest.fixture(scope="module")
def c_example(prefix, tmp_path_factory):
    build = tmp_path_factory.mktemp("c-example")
    configure = run("cmake", "-S", EXAMPLES / "c", "-B", build, f"-DCMAKE_PREFIX_PATH={prefix}")
    assert configure.returncode == 0, configure.stderr
    compiled = run("cmake", "--build", build)
    assert compiled.returncode == 0, compiled.stdout + compiled.stderr
    return build / "top5"


def test_c_example_with_find_package(c_example, example_model):
    model, expected = example_model
    result = run(c_example, model)  # no LD_LIBRARY_PATH
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == expected


@pytest.fixture(scope="module")
def rust_example(prefix, tmp_path_factory):
    if shutil.which("cargo") is None:
        pytest.skip("no Rust toolchain (cargo) here")
    target = tmp_path_factory.mktemp("rust-target")
    env = dict(os.environ, TSRT_PREFIX=str(prefix), CARGO_TARGET_DIR=str(target))
    env.pop("LD_LIBRARY_PATH", None)
    compiled = run(
        "cargo", "build", "--release", "--offline", "--quiet", cwd=EXAMPLES / "rust", env=env
    )
    assert compiled.returncode == 0, compiled.stderr
    return target / "release" / "tsrt-top5"


def test_rust_example(rust_example, example_model):
    model, expected = example_model
    result = run(rust_example, model)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == expected


@pytest.fixture(scope="module")
def node_example(tmp_path_factory):
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("no Node.js and npm here")
    project = tmp_path_factory.mktemp("node") / "node"
    shutil.copytree(EXAMPLES / "node", project)
    installed = run("npm", "install", "--no-audit", "--no-fund", "--silent", cwd=project)
    if installed.returncode != 0:
        pytest.skip(f"npm could not install koffi from the registry: {installed.stderr[-300:]}")
    return project


def test_node_example(node_example, prefix, example_model):
    model, expected = example_model
    env = dict(os.environ, TSRT_PREFIX=str(prefix))
    env.pop("LD_LIBRARY_PATH", None)
    result = run("node", "top5.js", model, cwd=node_example, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == expected
