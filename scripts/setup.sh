#!/usr/bin/env bash
# Sets up everything on a fresh machine, and brings an existing checkout up to date:
#   .venv/            Python environment with requirements.txt (torch supplies libtorch)
#   build/            the developer CMake build: libtsrt, ts-infer, tsrt-bench, the C tests
#   .venv/.../pyfront  pyfront installed in editable mode, with libtsrt and tsrt.h beside it
# Safe to run again: each step is skipped or incremental when already done.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
VENV="$ROOT/.venv"
PY="$VENV/bin/python"

log() { printf '[setup] %s\n' "$*" >&2; }

need_tool() {  # need_tool COMMAND DEBIAN_PACKAGE
    command -v "$1" >/dev/null 2>&1 && return 0
    if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
        log "installing $2 (no $1 on PATH)"
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null
    else
        log "error: $1 is required; install $2"; exit 1
    fi
}

need_tool python3 python3
need_tool c++ g++
need_tool cc gcc

if [ ! -x "$PY" ]; then
    log "creating $VENV"
    python3 -m venv "$VENV"
fi

# PyPI's torch wheel for Linux carries CUDA: with it the venv takes about 5.5 GB, 3.2 GB of
# that NVIDIA libraries, on machines without a GPU too. TORCH_INDEX_URL names an index with
# other builds of the same torch, e.g. the CPU-only one:
#   TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu bash scripts/setup.sh
stamp="$VENV/.requirements.sha256"
wanted="$(sha256sum requirements.txt | cut -d' ' -f1)${TORCH_INDEX_URL:+ $TORCH_INDEX_URL}"
if [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
    if [ -n "${TORCH_INDEX_URL:-}" ]; then
        log "installing torch and torchvision from $TORCH_INDEX_URL"
        # shellcheck disable=SC2046  # one argument per pinned requirement
        "$PY" -m pip install --quiet --index-url "$TORCH_INDEX_URL" \
            $(grep -E '^(torch|torchvision)==' requirements.txt)
    else
        log "installing requirements.txt: the venv will take about 5.5 GB, 3.2 GB of it the"
        log "  NVIDIA libraries of PyPI's torch wheel (which carries CUDA); for a CPU-only torch"
        log "  run: TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu bash scripts/setup.sh"
    fi
    "$PY" -m pip install --quiet -r requirements.txt
    echo "$wanted" > "$stamp"
fi

# CMake from PyPI where the machine has none.
if ! command -v cmake >/dev/null 2>&1 && [ ! -x "$VENV/bin/cmake" ]; then
    log "installing cmake into the venv"
    "$PY" -m pip install --quiet cmake
fi
export PATH="$VENV/bin:$PATH"

# One CMake build serves both: scikit-build-core configures shim/ in build/ with the tools and
# C tests switched on, and installs the package's part (libtsrt, tsrt.h) for the editable
# install. A plain `pip install .` builds only the library, in a temporary folder.
log "building libtsrt, ts-infer and the C tests (build/), installing pyfront (editable)"
"$PY" -m pip install --quiet --no-build-isolation --no-deps -e . \
    --config-settings=build-dir=build \
    --config-settings=cmake.define.TSRT_BUILD_TOOLS=ON \
    --config-settings=cmake.define.TSRT_BUILD_TESTS=ON

# torchvision's operators for C programs (build/libtorchvision_ops.so, about a second); Python
# programs need none, so a failure here only warns.
log "making torchvision's operator library for C programs"
bash scripts/build_torchvision_ops.sh --python "$PY" >/dev/null || \
    log "warning: scripts/build_torchvision_ops.sh failed; C programs cannot run detection models"

"$PY" -c "import pyfront; print('[setup] ready: pyfront', pyfront.__version__, 'on libtorch', pyfront.libtorch_version())" >&2
