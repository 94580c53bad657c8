#!/usr/bin/env bash
# Runs the C programs that use libtsrt under two memory checkers, and fails on any report:
#   - AddressSanitizer + UndefinedBehaviorSanitizer: libtsrt and the programs rebuilt with them
#     (in build-asan/), on ResNet-18;
#   - valgrind memcheck: the plain build (build/) of the C contract test, the value API test
#     and ts-infer, on small models (valgrind runs libtorch about 50 times slower). Its exit
#     status counts: invalid reads and writes, uses of uninitialised values and definite leaks
#     fail the run, except the reports of libtorch and glibc listed in
#     shim/tests/valgrind.supp.
# Each checker first proves on a faulty program that it can fail. Needs the plain build
# (scripts/setup.sh); PYTHON names the Python with torch (default .venv/bin/python).
#   bash scripts/sanitize.sh            # both
#   bash scripts/sanitize.sh --no-valgrind
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PY="${PYTHON:-$ROOT/.venv/bin/python}"
ASAN_BUILD="$ROOT/build-asan"
MODELS="$ROOT/build/sanitize-models"
VALGRIND_LOGS="$ROOT/build/valgrind"
run_valgrind=1
[ "${1:-}" = "--no-valgrind" ] && run_valgrind=0
command -v valgrind >/dev/null 2>&1 || { [ "$run_valgrind" = 1 ] && printf '[sanitize] valgrind not installed: skipped\n' >&2; run_valgrind=0; }

log() { printf '[sanitize] %s\n' "$*" >&2; }

log "making the test models"
mkdir -p "$MODELS"
"$PY" - "$MODELS" <<'PYEOF'
import sys
sys.path.insert(0, "tests"); sys.path.insert(0, "scripts")
from pathlib import Path
import export, zoo
out = Path(sys.argv[1])
if not (out / "resnet18.pt").exists():
    export.export("resnet18", weights="random", output=out / "resnet18.pt", seed=0)
zoo.save(zoo.Mixed(), out / "mixed.pt")
zoo.save(zoo.Counter(), out / "counter.pt")
zoo.save(zoo.Aliases(), out / "aliases.pt")
zoo.save_frozen(zoo.TinyClassifier(), out / "tiny.pt", (1, 3, 224, 224))  # warmed up, fused
zoo.save(zoo.TinyClassifier(), out / "tiny-plain.pt")  # no warm-up: a quicker load
PYEOF

# valgrind runs on the plain build, so it starts now and runs while the sanitizer build and
# its programs run (it is the slow part: libtorch alone takes it half a minute to load).
valgrind_pids=()
valgrind_names=()
stop_valgrind() { for pid in "${valgrind_pids[@]}"; do kill "$pid" 2>/dev/null || true; done; }
trap stop_valgrind EXIT  # when a step below fails, no memcheck run outlives the script
if [ "$run_valgrind" = 1 ]; then
    log "valgrind memcheck on tsrt-abi-test, tsrt-values-test and ts-infer, in the background"
    mkdir -p "$VALGRIND_LOGS"
    memcheck() {  # memcheck NAME PROGRAM ARGS...: a run whose every unsuppressed error fails
        local name="$1"; shift
        valgrind --tool=memcheck --error-exitcode=87 --leak-check=full \
            --show-leak-kinds=definite --errors-for-leak-kinds=definite \
            --suppressions="$ROOT/shim/tests/valgrind.supp" \
            --log-file="$VALGRIND_LOGS/$name.log" "$@" >"$VALGRIND_LOGS/$name.out" 2>&1
    }
    memcheck tsrt-reads-freed-memory "$ROOT/build/tsrt-reads-freed-memory" &
    valgrind_pids+=($!); valgrind_names+=(tsrt-reads-freed-memory)
    memcheck tsrt-abi-test "$ROOT/build/tsrt-abi-test" "$MODELS/tiny-plain.pt" &
    valgrind_pids+=($!); valgrind_names+=(tsrt-abi-test)
    memcheck tsrt-values-test "$ROOT/build/tsrt-values-test" "$MODELS/mixed.pt" \
        "$MODELS/counter.pt" "$MODELS/aliases.pt" &
    valgrind_pids+=($!); valgrind_names+=(tsrt-values-test)
    memcheck ts-infer "$ROOT/build/ts-infer" "$MODELS/tiny.pt" &
    valgrind_pids+=($!); valgrind_names+=(ts-infer)
fi

torch_root="$("$PY" -c "import importlib.util as u; print(u.find_spec('torch').submodule_search_locations[0])")"
log "building libtsrt and the C programs with -fsanitize=address,undefined"
cmake -S shim -B "$ASAN_BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTSRT_SANITIZE=ON \
    -DTSRT_TORCH_ROOT="$torch_root" >/dev/null
cmake --build "$ASAN_BUILD" --parallel "$(nproc)" >/dev/null

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
check "tsrt-values-test (ASan+UBSan)" "$ASAN_BUILD/tsrt-values-test" "$MODELS/mixed.pt" \
    "$MODELS/counter.pt" "$MODELS/aliases.pt"
check "ts-infer (ASan+UBSan)" "$ASAN_BUILD/ts-infer" "$MODELS/resnet18.pt"
check "ts-infer on a bad file (ASan+UBSan)" bash -c "! '$ASAN_BUILD/ts-infer' '$ROOT/README.md'"

for i in "${!valgrind_pids[@]}"; do
    name="${valgrind_names[$i]}"
    code=0
    wait "${valgrind_pids[$i]}" || code=$?
    summary="$(grep -E "ERROR SUMMARY" "$VALGRIND_LOGS/$name.log" | tail -1 | sed 's/^==[0-9]*== //')"
    if [ "$name" = tsrt-reads-freed-memory ]; then  # the negative control must fail
        if [ "$code" = 87 ]; then
            log "valgrind check works: it caught tsrt-reads-freed-memory (exit 87)"
        else
            log "FAILED: valgrind did not report tsrt-reads-freed-memory (exit $code)"; status=1
        fi
    elif [ "$code" = 87 ]; then
        log "FAILED (valgrind report): $name ($summary; see $VALGRIND_LOGS/$name.log)"
        grep -E -A12 "^==[0-9]+== [A-Z]" "$VALGRIND_LOGS/$name.log" | grep -v "^==[0-9]*== *$" \
            | head -60 >&2
        status=1
    elif [ "$code" != 0 ]; then
        log "FAILED under valgrind: $name (exit $code)"; tail -20 "$VALGRIND_LOGS/$name.out" >&2
        status=1
    else
        log "clean: $name (valgrind: $summary; $(tail -1 "$VALGRIND_LOGS/$name.out"))"
    fi
done
exit "$status"
