"""Installing, linking and importing: the ways users get at libtsrt."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import textwrap

import pytest

import pyfront
from conftest import ROOT

PYFRONT_CLI = os.path.join(os.path.dirname(sys.executable), "pyfront")


def run(*args, **kwargs):
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=600,
                          **kwargs)


def test_inference_never_imports_torch(resnet18_path):
    code = textwrap.dedent(f"""
        import sys, numpy as np, pyfront
        top = pyfront.infer({str(resnet18_path)!r}, np.ones((3, 224, 224), np.float32))
        assert top.indices.shape == (1, 5), top
        assert "torch" not in sys.modules, "pyfront imported torch"
        print("ok")
    """)
    result = run(sys.executable, "-c", code)
    assert result.returncode == 0 and result.stdout == "ok\n", result.stderr


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
        script = run(PYFRONT_CLI, "config", option)
        module = run(sys.executable, "-m", "pyfront", "config", option)
        assert script.returncode == module.returncode == 0
        assert script.stdout == module.stdout != ""
    includedir = run(PYFRONT_CLI, "config", "--includedir").stdout.strip()
    libdir = run(PYFRONT_CLI, "config", "--libdir").stdout.strip()
    assert os.path.isfile(os.path.join(includedir, "tsrt.h"))
    assert os.path.isfile(os.path.join(libdir, "libtsrt.so"))
    assert run(PYFRONT_CLI, "config").returncode != 0  # nothing asked: usage error


def test_c_program_built_with_config_flags_runs(tmp_path, resnet18_path):
    """`cc $(pyfront config --cflags) prog.c $(pyfront config --libs)` works, and the program
    runs without LD_LIBRARY_PATH and prints pyfront's top-5."""
    source = tmp_path / "top5.c"
    source.write_text(textwrap.dedent("""
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
    """))
    cflags = run(PYFRONT_CLI, "config", "--cflags").stdout.split()
    libs = run(PYFRONT_CLI, "config", "--libs").stdout.split()
    exe = tmp_path / "top5"
    build = run("cc", "-std=c99", *cflags, source, *libs, "-o", exe)
    assert build.returncode == 0, build.stderr
    env = {k: v for k, v in os.environ.items() if k != "LD_LIBRARY_PATH"}
    result = run(exe, resnet18_path, env=env)
    assert result.returncode == 0, result.stderr
    import numpy as np
    expected = pyfront.infer(resnet18_path, np.ones((1, 3, 224, 224), np.float32)).indices[0]
    assert [int(v) for v in result.stdout.split()] == expected.tolist()


def test_readme_c_build_command_works_without_an_activated_venv(tmp_path):
    """The README's From C command, run as written from the repository root by a shell whose
    PATH does not hold the venv (setup.sh never activates it)."""
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## From C"):readme.index("## Use from other languages")]
    command = next(line for line in section.splitlines() if line.startswith("cc "))
    assert "$(.venv/bin/pyfront config --cflags)" in command, command
    root = tmp_path / "checkout"
    (root / ".venv" / "bin").mkdir(parents=True)
    os.symlink(PYFRONT_CLI, root / ".venv" / "bin" / "pyfront")
    (root / "prog.c").write_text(textwrap.dedent("""
        #include <stdio.h>
        #include "tsrt.h"
        int main(void) { printf("%d\\n", tsrt_abi_version()); return 0; }
    """))
    env = dict(os.environ, PATH="/usr/bin:/bin")
    built = run("bash", "-c", command, cwd=root, env=env)
    assert built.returncode == 0, built.stderr
    assert run(root / "prog").stdout.strip() == str(pyfront.abi_version())


def test_non_editable_install_puts_the_library_in_the_package(tmp_path, resnet18_path,
                                                             resnet18_ref):
    """`pip install .` builds only the library, in a temporary folder (the checkout's build/
    is left alone), and the installed package runs on its own."""
    build = ROOT / "build"
    before = {p: p.stat().st_mtime_ns for p in build.glob("*") if p.is_file()}
    target = tmp_path / "site"
    result = run(sys.executable, "-m", "pip", "install", "--quiet", "--no-build-isolation",
                 "--no-deps", "--target", target, ROOT)
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
    code = ("import numpy as np, pyfront; "
            f"assert pyfront.__file__.startswith({str(target)!r}), pyfront.__file__; "
            f"print(pyfront.infer({str(resnet18_path)!r}, np.ones((3, 224, 224))).indices[0].tolist())")
    imported = run(bare / "bin" / "python", "-c", code,
                   env=dict(os.environ, PYTHONPATH=str(target)), cwd=tmp_path)
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
    configure = run(shutil.which("cmake"), "-S", ROOT / "shim", "-B", tmp_path,
                    f"-DCMAKE_PREFIX_PATH={torch_root}", "-DTSRT_BUILD_TESTS=OFF", env=env)
    assert configure.returncode == 0, configure.stderr
    assert f"libtorch: {torch_root}" in configure.stdout
    build = run(shutil.which("cmake"), "--build", tmp_path, "--parallel", "2", env=env)
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    result = run(tmp_path / "ts-infer")
    assert result.returncode != 0 and "usage" in result.stderr
