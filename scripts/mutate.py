"""Mutation testing: do the tests catch a fault in the code they guard?

Applies one deliberate fault (a mutant) at a time to a temporary copy of the repository, never
to the working tree, runs the tests that guard that code, and counts the mutant killed when
they fail (or time out) and survived when they pass. Prints the score and the survivors.

    python scripts/mutate.py                      # every mutant (about 25 minutes on 2 cores)
    python scripts/mutate.py --list               # the mutants and the tests each one runs
    python scripts/mutate.py --only agree-always-true --only py-io-is-not-found
    python scripts/mutate.py --cpp                # only those of shim/src (or --python)

The mutants are exact edits (file, original text, replacement) of the guards the library
relies on: status codes and their exceptions, out-parameters left alone on failure, the lock
of stateful models, the check that keeps fusion only where it agrees, storage validation,
the copies that keep results out of caller memory, close and calls in flight, and pyfront's
conversions. Each names the tests that should kill it, so a run stays short. C++ mutants are
rebuilt in the copy (one build of libtsrt, then one recompiled file per mutant); Python
mutants run in a second copy, at the same time. Not part of the test suite: run it after
changing a guard or its tests, and keep the README's score current.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Tests named by their pytest node ids, or "c:abi" / "c:values" for the C test programs run
# directly (faster than through pytest), on models made once per run.
ABI = "c:abi"
VALUES = "c:values"
ERRORS = "tests/test_errors.py"
BAD_CALLS = "tests/test_bad_calls.py"
ANY = "tests/test_any_model.py"
FAST = "tests/test_fast_path.py"
RELIABILITY = "tests/test_reliability.py"
BOUND = "tests/test_bound_calls.py"


@dataclass
class Mutant:
    name: str
    file: str
    original: str
    replacement: str
    tests: list = field(default_factory=list)
    repeat: int = 1  # runs of the tests that must all fail (for faults that race)

    @property
    def is_cpp(self) -> bool:
        return self.file.startswith("shim/")


def _cpp(name, file, original, replacement, *tests):
    return Mutant(name, "shim/src/" + file, original, replacement, list(tests))


def _py(name, file, original, replacement, *tests):
    return Mutant(name, "pyfront/" + file, original, replacement, list(tests))


MUTANTS = [
    # --- status codes ------------------------------------------------------------------------
    _cpp(
        "directory-is-not-found",
        "model.cpp",
        'fail(TSRT_ERR_IO, std::string("\'") + path + "\' is a directory',
        'fail(TSRT_ERR_NOT_FOUND, std::string("\'") + path + "\' is a directory',
        ABI,
        f"{ERRORS}::test_directories_are_not_models",
    ),
    _cpp(
        "size-limit-off-by-one",
        "model.cpp",
        "options->max_file_size && size > options->max_file_size",
        "options->max_file_size && size >= options->max_file_size",
        f"{ERRORS}::test_size_limit",
    ),
    _cpp(
        "no-such-method-is-invalid-argument",
        "methods.cpp",
        'fail(TSRT_ERR_NO_SUCH_NAME,\n         std::string("the model has no method \'")',
        'fail(TSRT_ERR_INVALID_ARGUMENT,\n         std::string("the model has no method \'")',
        VALUES,
        f"{BAD_CALLS}::test_bad_method_calls",
    ),
    _cpp(
        "bad-arguments-are-forward-errors",
        "methods.cpp",
        "fail(TSRT_ERR_INVALID_ARGUMENT,\n             describe_bad_arguments(",
        "fail(TSRT_ERR_FORWARD,\n             describe_bad_arguments(",
        VALUES,
        f"{ANY}::test_bad_arguments",
    ),
    _cpp(
        "io-status-named-not-found",
        "errors.cpp",
        'case TSRT_ERR_IO: return "TSRT_ERR_IO";',
        'case TSRT_ERR_IO: return "TSRT_ERR_NOT_FOUND";',
        f"{ERRORS}::test_directories_are_not_models",
    ),
    # --- out-parameters untouched on failure --------------------------------------------------
    _cpp(
        "get-int-writes-before-kind-check",
        "values.cpp",
        '        if (!v.isInt()) wrong_kind(v, "int");\n        *out = v.toInt();',
        '        *out = v.isInt() ? v.toInt() : 0;\n        if (!v.isInt()) wrong_kind(v, "int");',
        VALUES,
    ),
    _cpp(
        "get-string-writes-before-kind-check",
        "values.cpp",
        '        if (!v.isString()) wrong_kind(v, "str");',
        '        *size = 0;\n        if (!v.isString()) wrong_kind(v, "str");',
        VALUES,
    ),
    _cpp(
        "get-item-writes-before-range-check",
        "values.cpp",
        '        if (!v.isTuple() && !v.isList()) wrong_kind(v, "a tuple or list");',
        '        *out = nullptr;\n        if (!v.isTuple() && !v.isList()) wrong_kind(v, "a tuple or list");',
        VALUES,
    ),
    _cpp(
        "dict-item-writes-before-kind-check",
        "values.cpp",
        '        if (!v.isGenericDict()) wrong_kind(v, "a dict");',
        '        *key = nullptr;\n        if (!v.isGenericDict()) wrong_kind(v, "a dict");',
        VALUES,
    ),
    _cpp(
        "topk-writes-rows-first",
        "inference.cpp",
        "        tsrt::softmax_topk_into(output, k, indices, probs, capacity);\n"
        "        if (out_rows) *out_rows = output.size(0);",
        "        if (out_rows) *out_rows = output.size(0);\n"
        "        tsrt::softmax_topk_into(output, k, indices, probs, capacity);",
        ABI,
    ),
    _cpp(
        "topk-capacity-off-by-one",
        "inference.cpp",
        "if (needed > capacity)",
        "if (needed > capacity + 1)",
        ABI,
    ),
    _cpp(
        "run-tensor-writes-info-first",
        "methods.cpp",
        '        require(out != nullptr && info != nullptr, "out or info is NULL");',
        '        require(out != nullptr && info != nullptr, "out or info is NULL");\n'
        "        *info = tsrt_tensor_info{TSRT_DTYPE_UNKNOWN, 0, nullptr, nullptr, 0};",
        VALUES,
    ),
    _cpp(
        "load-clears-out-first",
        "model.cpp",
        '        require(out != nullptr, "out is NULL");\n        c10::Device device = resolve_device(options);\n        check_model_path(path, options);',
        '        require(out != nullptr, "out is NULL");\n        *out = nullptr;\n        c10::Device device = resolve_device(options);\n        check_model_path(path, options);',
        ABI,
    ),
    _cpp(
        "run-method-clears-out-first",
        "methods.cpp",
        '        require(out != nullptr, "out is NULL");\n        std::vector<c10::IValue> values;',
        '        require(out != nullptr, "out is NULL");\n        *out = nullptr;\n        std::vector<c10::IValue> values;',
        VALUES,
    ),
    # --- state: detection and the lock --------------------------------------------------------
    Mutant(
        "no-call-lock",
        "shim/src/methods.cpp",
        "    CallGuard serialise(model);\n",
        "",
        [f"{ANY}::test_stateful_model_from_many_threads_equals_serial_calls"],
        repeat=10,
    ),
    _cpp(
        "setattr-is-not-state",
        "state_analysis.cpp",
        "case torch::jit::prim::SetAttr: return true;  // self.x = ...",
        "case torch::jit::prim::SetAttr: break;  // self.x = ...",
        VALUES,
        f"{ANY}::test_stateful_model_keeps_state_and_resets",
        f"{ANY}::test_stateful_model_from_many_threads_equals_serial_calls",
    ),
    _cpp(
        "in-place-attribute-is-not-state",
        "state_analysis.cpp",
        "if (aliases.hasWriters(node->output())) return true;",
        "if (aliases.hasWriters(node->output())) break;",
        f"{ANY}::test_state_changed_only_in_place_is_detected",
    ),
    _cpp(
        "stateful-inputs-not-copied",
        "methods.cpp",
        "    if (model.keeps_state)  // the model could keep a reference to caller memory",
        "    if (false)  // the model could keep a reference to caller memory",
        f"{ANY}::test_state_never_references_caller_memory",
    ),
    # --- fusion: kept only where it agrees ------------------------------------------------------
    _cpp(
        "agree-always-true",
        "fast_path.cpp",
        '    if (ours.size() != theirs.size()) return "its results differ in structure";',
        '    return "";\n    if (ours.size() != theirs.size()) return "";',
        f"{FAST}::test_a_model_the_fuser_gets_wrong_stays_unfused_and_correct",
    ),
    _cpp(
        "agree-ignores-nan",
        "fast_path.cpp",
        "        if (!at::equal(at::isnan(a64), at::isnan(b64)) ||",
        "        if (false &&",
        f"{FAST}::test_a_model_the_fuser_gets_wrong_stays_unfused_and_correct",
    ),
    _cpp(
        "agree-tolerance-too-loose",
        "optimise.cpp",
        "constexpr double kFusedTolerance = 1e-4;",
        "constexpr double kFusedTolerance = 1e4;",
        f"{FAST}::test_a_model_the_fuser_gets_wrong_stays_unfused_and_correct",
    ),
    _cpp(
        "fuse-unfrozen-models",
        "optimise.cpp",
        "    if (!model.frozen || !model.device.is_cpu() || forward_may_write_arguments(",
        "    if (!model.device.is_cpu() || forward_may_write_arguments(",
        f"{FAST}::test_each_setting_turns_off",
    ),
    # --- validation of loaded tensors --------------------------------------------------------
    _cpp(
        "storage-claim-unchecked",
        "validate.cpp",
        "    if (storage.nbytes() > behind)",
        "    if (false)",
        f"{RELIABILITY}::test_storage_records_shorter_than_their_tensors_are_refused",
        f"{RELIABILITY}::test_file_whose_forward_crashed_libtorch_is_refused_at_load",
    ),
    _cpp(
        "tensor-extent-unchecked",
        "validate.cpp",
        "    if (overflow || needed > available)",
        "    if (overflow)",
        f"{RELIABILITY}::test_tensors_larger_than_their_storage_are_refused",
        f"{RELIABILITY}::test_storage_records_shorter_than_their_tensors_are_refused",
        f"{RELIABILITY}::test_file_whose_forward_crashed_libtorch_is_refused_at_load",
    ),
    _cpp(
        "torchscript-crc-unchecked",
        "zip_archive.cpp",
        "        if (stored && recorded && crc32(data + offset, length) != crc)",
        "        if (stored && package && crc32(data + offset, length) != crc)",
        f"{RELIABILITY}::test_a_weight_damaged_on_disk_is_refused_not_computed_with",
    ),
    _cpp(
        "pt2-batch1-model-unused",
        "aoti_package.cpp",
        "    bool batch1 = package.batch1 && inputs.size()",
        "    bool batch1 = false && package.batch1 && inputs.size()",
        "tests/test_pt2.py::test_outputs_equal_pytorchs_package_loader",
    ),
    _cpp(
        "pool-strides-left-empty",
        "optimise.cpp",
        "            if (variant.fused) tsrt::spell_out_pool_strides(fast->base);",
        "            if (false) tsrt::spell_out_pool_strides(fast->base);",
        "tests/test_properties.py::test_the_fast_path_gives_torchs_answers",
    ),
    _cpp(
        "negative-size-unchecked",
        "tensor.cpp",
        "        if (sizes[i] < 0)\n",
        "        if (false)\n",
        ABI,
        VALUES,
    ),
    # --- results never alias caller memory ----------------------------------------------------
    _cpp(
        "no-alias-copies",
        "values.cpp",
        "    if (borrowed.empty()) return value;",
        "    return value;",
        VALUES,
        f"{ANY}::test_results_never_reference_caller_memory",
    ),
    _cpp(
        "result-not-contiguous",
        "tensor.cpp",
        "    if (!tensor.is_contiguous()) tensor = tensor.contiguous();\n",
        "",
        VALUES,
        f"{ANY}::test_results_never_reference_caller_memory",
    ),
    # --- close and calls in flight ------------------------------------------------------------
    _cpp(
        "calls-after-close-run",
        "model.cpp",
        "    if (model_.closed.load()) {\n        leave(model_);",
        "    if (false) {\n        leave(model_);",
        ABI,
        VALUES,
        f"{BAD_CALLS}::test_every_call_on_a_closed_model_raises",
    ),
    _cpp(
        "close-does-not-wait",
        "model.cpp",
        "        model->idle.wait(lock, [&] { return model->in_flight.load() == 0; });\n",
        "",
        f"{BAD_CALLS}::test_close_returns_only_after_the_call_in_flight_ends",
    ),
    _cpp(
        "leave-never-wakes-close",
        "model.cpp",
        "    if (--model.in_flight == 0 && model.closed.load()) {",
        "    if (--model.in_flight == 0 && false) {",
        f"{BAD_CALLS}::test_close_returns_only_after_the_call_in_flight_ends",
    ),
    # --- threads ---------------------------------------------------------------------------
    _cpp(
        "thread-budget-not-shared",
        "threads.cpp",
        "set_this_threads_budget(std::max(1, intra_threads() / concurrent));",
        "set_this_threads_budget(intra_threads());",
        f"{RELIABILITY}::test_many_threads_get_the_answers_of_serial_calls",
    ),
    # --- resources -------------------------------------------------------------------------
    _cpp(
        "leak-per-call",
        "methods.cpp",
        "    InFlight registered(model);\n",
        # Written through a volatile pointer: an allocation nobody uses may be removed by the
        # compiler (GCC's -fallocation-dce), which would make the mutant a no-op.
        "    InFlight registered(model);\n"
        "    for (volatile char *leak = new char[2900]; leak;) { leak[2899] = 1; break; }\n",
        f"{RELIABILITY}::test_memory_stays_flat_over_calls_and_loads",
    ),
    # --- pyfront: one exception class per status ------------------------------------------
    _py(
        "py-io-is-not-found",
        "errors.py",
        '"TSRT_ERR_IO": ModelLoadError,',
        '"TSRT_ERR_IO": ModelNotFoundError,',
        ERRORS,
    ),
    _py(
        "py-no-out-of-memory",
        "errors.py",
        '    "TSRT_ERR_OUT_OF_MEMORY": OutOfMemoryError,\n',
        "",
        ERRORS,
    ),
    _py("py-no-internal", "errors.py", '    "TSRT_ERR_INTERNAL": InternalError,\n', "", ERRORS),
    _py(
        "py-pt2-conv-weights-left-plain",
        "export_pt2.py",
        "with torch.no_grad(), _conv_weights_packed_when_compiled(), _batch_range_kept():",
        "with torch.no_grad(), _batch_range_kept():",
        "tests/test_pt2.py::test_convolution_weights_are_packed_once_not_at_every_call",
    ),
    # --- bound calls: the result written into the caller's out -------------------------------
    _cpp(
        "into-shape-unchecked",
        "methods.cpp",
        "if ((tensor.scalar_type() != out.type && !widened) || tensor.sizes() != out.sizes)",
        "if (tensor.scalar_type() != out.type && !widened)",
        BOUND,
    ),
    _cpp(
        "into-dtype-unchecked",
        "methods.cpp",
        "if ((tensor.scalar_type() != out.type && !widened) || tensor.sizes() != out.sizes)",
        "if (tensor.sizes() != out.sizes)",
        BOUND,
    ),
    _cpp(
        "into-strides-ignored",
        "methods.cpp",
        "at::Tensor readable = tsrt::readable_on_host(tensor);",
        "const at::Tensor &readable = tensor;",
        BOUND,
    ),
    _cpp(
        "result-negation-ignored",
        "tensor.cpp",
        "    if (tensor.is_neg() || tensor.is_conj()) tensor = tensor.resolve_conj().resolve_neg();\n",
        "",
        f"{BOUND}::test_a_lazily_negated_result",
    ),
    _cpp(
        "into-null-out-accepted",
        "tensor.cpp",
        "    if (data == nullptr && numel != 0)\n",
        "    if (data == nullptr && numel != 0 && names.role != kOutNames.role)\n",
        VALUES,
    ),
    _py(
        "py-bound-input-copied",
        "_bindings/model.py",
        "data, shape, ndim = data_pointer(array), shape_pointer(array.shape), array.ndim",
        "data, shape, ndim = data_pointer(array.copy()), shape_pointer(array.shape), array.ndim",
        BOUND,
    ),
    _py(
        "py-bound-out-unchecked",
        "bound_call.py",
        'out_code = _lendable_code(out, "out")',
        "out_code = lendable_dtype_code(out) or 1",
        BOUND,
    ),
    _py(
        "py-pt2-batch-range-narrowed",
        "export_pt2.py",
        "_conv_weights_packed_when_compiled(), _batch_range_kept():",
        "_conv_weights_packed_when_compiled():",
        "tests/test_pt2.py::test_a_package_takes_every_batch_size_up_to_its_maximum",
    ),
    _py(
        "py-no-buffer-too-small",
        "errors.py",
        '    "TSRT_ERR_BUFFER_TOO_SMALL": BufferTooSmallError,\n',
        "",
        ERRORS,
    ),
    _py(
        "py-too-large-is-invalid-argument",
        "errors.py",
        '"TSRT_ERR_TOO_LARGE": ModelLoadError,',
        '"TSRT_ERR_TOO_LARGE": InvalidArgumentError,',
        ERRORS,
    ),
    _py(
        "py-closed-is-inference-error",
        "errors.py",
        '"TSRT_ERR_CLOSED": ModelClosedError,',
        '"TSRT_ERR_CLOSED": InferenceError,',
        ERRORS,
        BAD_CALLS,
    ),
    _py(
        "py-no-filename",
        "errors.py",
        "    if filename is not None and isinstance(error, OSError):",
        "    if False:",
        f"{ERRORS}::test_missing_file",
    ),
    # --- pyfront: calls -----------------------------------------------------------------------
    _py(
        "py-bool-k-accepted",
        "_shared.py",
        "if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:",
        "if not isinstance(k, (int, np.integer)) or k < 1:",
        f"{BAD_CALLS}::test_bad_k",
    ),
    _py(
        "py-topk-sized-by-input",
        "_bindings/model.py",
        "rows = library.tsrt_tensor_shape(logits)[0] if dims == 2 else 0",
        "rows = array.shape[0] if dims == 2 else 0",
        "tests/test_outputs.py::test_topk_when_the_model_returns_more_rows_than_it_got",
    ),
    _py(
        "py-read-only-lent",
        "_bindings/values.py",
        "            flags = C.TSRT_TENSOR_COPY",
        "            flags = C.TSRT_TENSOR_BORROW",
        f"{ANY}::test_in_place_models_and_read_only_inputs",
    ),
    _py(
        "py-read-only-on-fast-path",
        "_bindings/values.py",
        "    if flags.c_contiguous and flags.writeable:",
        "    if flags.c_contiguous:",
        f"{ANY}::test_in_place_models_and_read_only_inputs",
    ),
    _py(
        "py-bfloat16-widened-wrong",
        "_bindings/tensors.py",
        "        wide <<= 16",
        "        wide <<= 15",
        f"{ANY}::test_bfloat16_out",
        "tests/test_outputs.py::test_each_output_dtype",
    ),
    _py(
        "py-infer-never-reloads",
        "_cache.py",
        "return (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns)",
        "return (info.st_dev,)",
        "tests/test_parity.py::test_infer_caches_the_model_and_reloads_a_changed_file",
    ),
    _py(
        "py-16-bit-png-scaled-wrong",
        "preprocess.py",
        "(np.asarray(image, dtype=np.uint16) >> 8)",
        "(np.asarray(image, dtype=np.uint16) // 257)",
        "tests/test_classify.py::test_preprocessing_equals_torchvision",
    ),
    _py(
        "py-crop-truncated",
        "preprocess.py",
        "top = int(round((size[1] - crop_h) / 2.0))",
        "top = int((size[1] - crop_h) / 2.0)",
        "tests/test_classify.py::test_preprocessing_equals_torchvision",
    ),
]


def log(message: str) -> None:
    print(message, flush=True)


def copy_repository(destination: Path) -> None:
    """The files of the working tree that git tracks or would track (edits included)."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    )
    for name in listed.stdout.decode().split("\0"):
        source = ROOT / name
        if name and source.is_file():
            target = destination / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)


def torch_root() -> str:
    import importlib.util

    return importlib.util.find_spec("torch").submodule_search_locations[0]


def build(repo: Path, targets=None) -> subprocess.CompletedProcess:
    command = ["cmake", "--build", str(repo / "build"), "--parallel", "2"]
    for target in targets or []:
        command += ["--target", target]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode == 0:
        (repo / "pyfront" / "lib").mkdir(parents=True, exist_ok=True)
        (repo / "pyfront" / "include").mkdir(parents=True, exist_ok=True)
        for name in ("libtsrt.so.1", "libtsrt.so"):
            shutil.copyfile(repo / "build" / "libtsrt.so.1", repo / "pyfront" / "lib" / name)
        shutil.copyfile(repo / "shim/include/tsrt.h", repo / "pyfront/include/tsrt.h")
    return result


def configure(repo: Path) -> None:
    subprocess.run(
        [
            "cmake",
            "-S",
            str(repo / "shim"),
            "-B",
            str(repo / "build"),
            "-DCMAKE_BUILD_TYPE=Release",
            f"-DTSRT_TORCH_ROOT={torch_root()}",
        ],
        capture_output=True,
        check=True,
    )


MAKE_MODELS = """
import sys, warnings
sys.path[:0] = ["tests", "scripts"]
warnings.simplefilter("ignore")
from pathlib import Path
import export, zoo
out = Path(sys.argv[1])
out.mkdir(exist_ok=True)
export.export("resnet18", weights="random", output=out / "resnet18.pt", seed=0)
zoo.save(zoo.Mixed(), out / "mixed.pt")
zoo.save(zoo.Counter(), out / "counter.pt")
zoo.save(zoo.Aliases(), out / "aliases.pt")
"""


def copy_python(repo: Path) -> Path:
    """An interpreter that imports the copy's pyfront. The venv's own pyfront is an editable
    install whose import hook comes before PYTHONPATH, so the tests would otherwise run the
    unmutated package and library. The copy's venv sees the venv's packages through a path
    file; the editable hook, itself started by a path file there, is not run."""
    venv = repo / ".mutant-venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    Path(site, "venv-packages.pth").write_text(sysconfig.get_path("purelib") + "\n")
    seen = subprocess.run(
        [str(python), "-c", "import pyfront._paths as p; print(p.library_path(1))"],
        cwd=repo,
        env=dict(os.environ, PYTHONPATH=str(repo)),
        capture_output=True,
        text=True,
    )
    if not seen.stdout.strip().startswith(str(repo)):
        raise SystemExit(
            f"the copy's interpreter does not load the copy's pyfront and libtsrt "
            f"({seen.stdout.strip() or seen.stderr[-500:]}): mutants would be tested on the "
            f"unmutated code"
        )
    return python


def run_tests(repo: Path, tests: list, timeout: float) -> tuple:
    """Runs `tests` in `repo`; (passed, what failed)."""
    env = dict(os.environ, PYTHONPATH=str(repo))
    env.pop("PYFRONT_LIBRARY", None)
    env.pop("LD_LIBRARY_PATH", None)
    models = repo / "mutation-models"
    commands = []
    pytest_ids = [t for t in tests if not t.startswith("c:")]
    if ABI in tests:
        commands.append([str(repo / "build/tsrt-abi-test"), str(models / "resnet18.pt")])
    if VALUES in tests:
        commands.append(
            [
                str(repo / "build/tsrt-values-test"),
                str(models / "mixed.pt"),
                str(models / "counter.pt"),
                str(models / "aliases.pt"),
            ]
        )
    if pytest_ids:
        commands.append(
            [
                str(repo / ".mutant-venv/bin/python"),
                "-m",
                "pytest",
                "-x",
                "-q",
                "-p",
                "no:cacheprovider",
                *pytest_ids,
            ]
        )
    for command in commands:
        try:
            result = subprocess.run(
                command, cwd=repo, env=env, capture_output=True, text=True, timeout=timeout
            )
        except subprocess.TimeoutExpired:
            return False, f"{Path(command[0]).name}: timed out after {timeout:.0f} s"
        if result.returncode != 0:
            lines = [
                line for line in result.stdout.splitlines() if line.startswith(("FAILED", "ERROR"))
            ]
            return (
                False,
                f"{Path(command[-1] if 'pytest' in command else command[0]).name}: "
                f"{(lines or [f'exit {result.returncode}'])[0][:150]}",
            )
    return True, ""


class Results:
    def __init__(self):
        self.lock = threading.Lock()
        self.outcomes = {}  # name -> (outcome, detail, seconds)

    def record(self, mutant: Mutant, outcome: str, detail: str, seconds: float) -> None:
        with self.lock:
            self.outcomes[mutant.name] = (outcome, detail, seconds)
            log(f"  {outcome:9s} {mutant.name:40s} {seconds:6.1f} s  {detail}")


def stale(mutants: list) -> list:
    """The mutants whose original text is not found exactly once in this tree's file: checked
    before any copy is made, since the list must follow the code it mutates."""
    out = []
    for mutant in mutants:
        path = ROOT / mutant.file
        count = path.read_text().count(mutant.original) if path.exists() else 0
        if count != 1:
            out.append(f"{mutant.name}: its original text occurs {count} times in {mutant.file}")
    return out


def apply(repo: Path, mutant: Mutant) -> str:
    path = repo / mutant.file
    text = path.read_text()
    count = text.count(mutant.original) if mutant.original else 0
    if count != 1:
        raise SystemExit(
            f"mutant {mutant.name}: the original text occurs {count} times in "
            f"{mutant.file}; update the mutant list"
        )
    path.write_text(text.replace(mutant.original, mutant.replacement))
    return text


def run_mutants(
    repo: Path, mutants: list, results: Results, rebuild: bool, timeout: float, repeat: int
) -> None:
    for mutant in mutants:
        started = time.monotonic()
        path = repo / mutant.file
        original_text = apply(repo, mutant)
        try:
            if rebuild:
                built = build(repo, ["tsrt", "tsrt-abi-test", "tsrt-values-test"])
                if built.returncode != 0:
                    results.record(
                        mutant, "invalid", "does not compile", time.monotonic() - started
                    )
                    continue
            kills, detail = 0, ""
            runs = max(repeat, mutant.repeat)
            for _ in range(runs):  # a kill must not depend on luck: count it in every run
                passed, failure = run_tests(repo, mutant.tests, timeout)
                kills += not passed
                detail = detail or failure
            outcome = "killed" if kills == runs else "survived" if kills == 0 else "flaky"
            if runs > 1:
                detail = f"killed in {kills}/{runs} runs; {detail}"
            results.record(mutant, outcome, detail, time.monotonic() - started)
        finally:
            path.write_text(original_text)
    if rebuild and mutants:
        build(repo, ["tsrt", "tsrt-abi-test", "tsrt-values-test"])


def prepare(repo: Path, build_from_scratch: bool) -> None:
    copy_repository(repo)
    if build_from_scratch:
        configure(repo)
        result = build(repo)
        if result.returncode != 0:
            raise SystemExit("the unmutated copy does not build:\n" + result.stderr[-3000:])
    else:  # Python mutants only: the installed library, unchanged
        from pyfront import _paths

        shutil.copytree(_paths.library_dir(), repo / "pyfront" / "lib")
        shutil.copytree(_paths.include_dir(), repo / "pyfront" / "include")
    copy_python(repo)
    env = dict(os.environ, PYTHONPATH=str(repo))
    subprocess.run(
        [sys.executable, "-c", MAKE_MODELS, str(repo / "mutation-models")],
        cwd=repo,
        env=env,
        check=True,
        capture_output=True,
    )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", action="append", default=[], metavar="NAME")
    kinds = parser.add_mutually_exclusive_group()
    kinds.add_argument("--cpp", action="store_true", help="only the mutants of shim/src")
    kinds.add_argument("--python", action="store_true", help="only the mutants of pyfront")
    parser.add_argument("--list", action="store_true")
    parser.add_argument("--timeout", type=float, default=600, help="seconds per test command")
    parser.add_argument("--keep", action="store_true", help="keep the temporary copies")
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        metavar="N",
        help="run each mutant's tests N times; killed only if all N fail",
    )
    args = parser.parse_args(argv)

    mutants = [m for m in MUTANTS if not args.only or m.name in args.only]
    unknown = set(args.only) - {m.name for m in MUTANTS}
    if unknown:
        parser.error(f"unknown mutants: {', '.join(sorted(unknown))}")
    if args.cpp:
        mutants = [m for m in mutants if m.is_cpp]
    if args.python:
        mutants = [m for m in mutants if not m.is_cpp]
    if args.list:
        for m in mutants:
            log(f"{m.name:40s} {m.file:28s} {' '.join(m.tests)}")
        return 0
    problems = stale(mutants)
    if problems:
        raise SystemExit("update the mutant list:\n  " + "\n  ".join(problems))
    cpp = sorted((m for m in mutants if m.is_cpp), key=lambda m: m.file)  # one rebuild per file
    python = [m for m in mutants if not m.is_cpp]

    started = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="tsrt-mutants-"))
    results = Results()
    try:
        log(f"{len(cpp)} C++ and {len(python)} Python mutants; copies in {workdir}")
        workers = []
        if cpp:
            prepare(workdir / "cpp", build_from_scratch=True)
            log(f"built the copy for C++ mutants ({time.monotonic() - started:.0f} s)")
            workers.append(
                threading.Thread(
                    target=run_mutants,
                    args=(workdir / "cpp", cpp, results, True, args.timeout, args.repeat),
                )
            )
        if python:
            prepare(workdir / "python", build_from_scratch=False)
            workers.append(
                threading.Thread(
                    target=run_mutants,
                    args=(workdir / "python", python, results, False, args.timeout, args.repeat),
                )
            )
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)

    outcomes = results.outcomes
    killed = sorted(n for n, (o, _, _) in outcomes.items() if o == "killed")
    survived = sorted(n for n, (o, _, _) in outcomes.items() if o == "survived")
    invalid = sorted(n for n, (o, _, _) in outcomes.items() if o == "invalid")
    flaky = sorted(n for n, (o, _, _) in outcomes.items() if o == "flaky")
    survived += flaky  # a fault caught only sometimes is not caught
    scored = len(killed) + len(survived)
    log(
        f"\nmutation score: {len(killed)}/{scored} killed "
        f"({100 * len(killed) / max(scored, 1):.0f}%), {len(invalid)} invalid, "
        f"{time.monotonic() - started:.0f} s"
    )
    for name in survived:
        log(f"  survived: {name}{' (killed in some runs only)' if name in flaky else ''}")
    for name in invalid:
        log(f"  invalid (does not compile): {name}")
    return 0 if not survived else 1


if __name__ == "__main__":
    sys.exit(main())
