"""Builds libtsrt with CMake and puts it (with its header) inside the pyfront package.

`pip install --no-build-isolation .` and `pip install --no-build-isolation -e .` both run the
CMake build in `build/` at the repository root (which also builds `build/ts-infer`), against
the libtorch of the torch installed in the running Python.
"""
import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

from setuptools import Distribution, setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
BUILD_DIR = ROOT / "build"


def torch_root() -> str:
    spec = importlib.util.find_spec("torch")  # locates torch without importing it
    if spec is None or not spec.submodule_search_locations:
        sys.exit("setup.py: torch is not installed in this Python; install requirements.txt "
                 "first and build with --no-build-isolation")
    return spec.submodule_search_locations[0]


def build_shim() -> Path:
    configure = ["cmake", "-S", str(ROOT / "shim"), "-B", str(BUILD_DIR),
                 "-DCMAKE_BUILD_TYPE=Release", f"-DTSRT_TORCH_ROOT={torch_root()}"]
    subprocess.run(configure, check=True)
    jobs = str(os.cpu_count() or 2)
    subprocess.run(["cmake", "--build", str(BUILD_DIR), "--parallel", jobs], check=True)
    return BUILD_DIR / "libtsrt.so"


def install_into(package_dir: Path, library: Path) -> None:
    (package_dir / "lib").mkdir(parents=True, exist_ok=True)
    (package_dir / "include").mkdir(parents=True, exist_ok=True)
    # Real files, not symlinks (wheels cannot carry links): the SONAME for loaders, the bare
    # name for `-ltsrt`.
    for name in ("libtsrt.so.1", "libtsrt.so"):
        shutil.copyfile(library.resolve(), package_dir / "lib" / name)
    shutil.copyfile(ROOT / "shim" / "include" / "tsrt.h", package_dir / "include" / "tsrt.h")


class BuildPyWithShim(build_py):
    def run(self):
        super().run()
        library = build_shim()
        if getattr(self, "editable_mode", False):
            install_into(ROOT / "pyfront", library)
        else:
            install_into(Path(self.build_lib) / "pyfront", library)


class BinaryDistribution(Distribution):
    def has_ext_modules(self):  # the wheel carries a native library: not pure Python
        return True


setup(cmdclass={"build_py": BuildPyWithShim}, distclass=BinaryDistribution)
