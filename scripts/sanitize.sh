#!/usr/bin/env bash
# Runs the C test programs and ts-infer against libtsrt built with AddressSanitizer and
# UndefinedBehaviorSanitizer (in build-asan/), then the plain build's C contract test under
# valgrind memcheck, failing on any definite leak. Needs scripts/setup.sh to have run.
#   bash scripts/sanitize.sh            # both
#   bash scripts/sanitize.sh --no-valgrind
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PY="$ROOT/.venv/bin/python"
ASAN_BUILD="$ROOT/build-asan"
MODELS="$ROOT/build/sanitize-models"
run_valgrind=1
[ "${1:-}" = "--no-valgrind" ] && run_valgrind=0

log() { printf '[sanitize] %s\n' "$*" >&2; }

torch_root="$("$PY" -c "import importlib.util as u; print(u.find_spec('torch').submodule_search_locations[0])")"
log "building libtsrt and the C programs with -fsanitize=address,undefined"
cmake -S shim -B "$ASAN_BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTSRT_SANITIZE=ON \
    -DTSRT_TORCH_ROOT="$torch_root" >/dev/null
cmake --build "$ASAN_BUILD" --parallel "$(nproc)" >/dev/null

log "making the test models"
mkdir -p "$MODELS"
"$PY" - "$MODELS" <<'PYEOF'
import sys
sys.path.insert(0, "tests"); sys.path.insert(0, "scripts")
from pathlib import Path
import export, zoo
out = Path(sys.argv[1])
if not (out / "resnet18.pt").exists():
    export.export("resnet18", output=out / "resnet18.pt", seed=0)
zoo.save(zoo.Mixed(), out / "mixed.pt")
zoo.save(zoo.Counter(), out / "counter.pt")
PYEOF

# libtorch's own one-time allocations (static registries, CUDA runtime state) live until exit
# by design; leaks reached only through them are not the shim's.
suppressions="$ASAN_BUILD/lsan.supp"
printf 'leak:libtorch_cpu.so\nleak:libc10.so\nleak:libtorch_cuda.so\nleak:libcuda\nleak:libcudart\nleak:libnvrtc\nleak:libgomp\n' > "$suppressions"
export ASAN_OPTIONS="detect_leaks=1:detect_odr_violation=0:abort_on_error=0:exitcode=86"
export LSAN_OPTIONS="suppressions=$suppressions"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"

status=0
check() {  # check NAME COMMAND...: runs a program, fails on its exit status or a sanitizer report
    local name="$1"; shift
    local output
    if ! output="$("$@" 2>&1)"; then
        log "FAILED: $name"; printf '%s\n' "$output" | tail -40 >&2; status=1; return
    fi
    if grep -qE "ERROR: (Address|Leak)Sanitizer|runtime error:" <<<"$output"; then
        log "FAILED (sanitizer report): $name"; printf '%s\n' "$output" | tail -40 >&2
        status=1; return
    fi
    log "clean: $name ($(tail -1 <<<"$output"))"
}

# The negative control: a program that leaks must be caught, or the checks below prove nothing.
if "$ASAN_BUILD/tsrt-leaks-on-purpose" >/dev/null 2>&1; then
    log "FAILED: the leak check did not catch tsrt-leaks-on-purpose"; status=1
else
    log "leak check works: it caught tsrt-leaks-on-purpose"
fi

check "tsrt-abi-test (ASan+UBSan)" "$ASAN_BUILD/tsrt-abi-test" "$MODELS/resnet18.pt"
check "tsrt-values-test (ASan+UBSan)" "$ASAN_BUILD/tsrt-values-test" "$MODELS/mixed.pt" "$MODELS/counter.pt"
check "ts-infer (ASan+UBSan)" "$ASAN_BUILD/ts-infer" "$MODELS/resnet18.pt"
check "ts-infer on a bad file (ASan+UBSan)" bash -c "! '$ASAN_BUILD/ts-infer' '$ROOT/README.md'"

if [ "$run_valgrind" = 1 ] && command -v valgrind >/dev/null 2>&1; then
    log "valgrind memcheck on tsrt-values-test (a few minutes: libtorch is large)"
    unset ASAN_OPTIONS LSAN_OPTIONS UBSAN_OPTIONS
    report="$ROOT/build/valgrind-values-test.txt"
    valgrind --tool=memcheck --leak-check=full --show-leak-kinds=definite \
        --errors-for-leak-kinds=definite --error-exitcode=87 --log-file="$report" \
        "$ROOT/build/tsrt-values-test" "$MODELS/mixed.pt" "$MODELS/counter.pt" >/dev/null || true
    definite="$(grep -E "definitely lost:" "$report" | tail -1)"
    if grep -q "libtsrt" <(grep -A30 "definitely lost in" "$report"); then
        log "FAILED: valgrind reports definite leaks through libtsrt (see $report)"; status=1
    else
        log "clean: valgrind, no definite leak through libtsrt (${definite:-no leak summary})"
    fi
elif [ "$run_valgrind" = 1 ]; then
    log "valgrind not installed: skipped"
fi
exit "$status"
