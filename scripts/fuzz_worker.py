"""Child process of fuzz.py: loads model files named on stdin, one per line, calls every method
of each with arguments built from what the file says about its inputs, and answers one JSON
line each:

    {"kind": "ok"}                          loaded, and every call returned
    {"kind": "clean", "detail": ...}        pyfront raised its own error (PyfrontError) somewhere
    {"kind": "unclean", "detail": ...}      pyfront raised any other exception: a bug
    {"kind": "stray", "detail": ...}        a .pt2 load left files outside its private folder,
                                            or did not remove that folder: a bug
    {"kind": "harness", "detail": ...}      this file's own code failed: a bug of the fuzzer

plus "skipped" (methods not called, since no arguments could be built for them) and, for a
.pt2, "mapped": the SHA-256 of each file under TMPDIR the process had mapped while the model
was open, which the parent compares with the package's own members. A crash or hang shows up
to the parent as a dead or silent child.

Arguments come from the extra file INPUTS_FILE when the model has a valid one: a JSON object
{method: [argument, ...]} where an argument is {"tensor": shape, "dtype": name} for an array
of random values, {"dict": {...}}, {"tuple": [...]}, a JSON list, or a JSON scalar or null as
itself. Otherwise from the method's schema: Tensor gives a float32 array shaped as the first
line of `tsrt/input_shapes` (else 2x3x16x16), int 2, float 0.5, bool True, str "ab", and
lists, dicts, tuples and Optional of these are built recursively. A method neither can
describe (a damaged description and a schema with types this file does not know) is skipped:
the fuzzer's own limits are never counted as pyfront's bugs.

Each file is loaded in one of LOAD_VARIANTS, picked by the first byte of its SHA-256, so that a
mutant is loaded the same way whenever it is replayed: from its path with the defaults, from
its bytes, unfrozen, or with precision="bf16" (converted and checked against float32 where
that applies). The answer names the variant ("load").
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

import pyfront

INPUTS_FILE = "fuzz/inputs.json"
DEFAULT_SHAPE = (2, 3, 16, 16)
MAX_ELEMENTS = 1 << 20  # a description asking for more is damaged, not a test of memory
MAX_DEPTH = 8
DTYPES = {"float32", "float64", "float16", "int64", "int32", "int16", "int8", "uint8", "bool"}
SCALARS = {"int": 2, "float": 0.5, "bool": True, "str": "ab", "NoneType": None}


LOAD_VARIANTS = {
    "path": lambda path: pyfront.Model(path),
    "bytes": lambda path: pyfront.Model(Path(path).read_bytes()),
    "unfrozen": lambda path: pyfront.Model(path, freeze=False),
    "bf16": lambda path: pyfront.Model(path, precision="bf16"),
}


def load_variant(path: str) -> str:
    first = hashlib.sha256(Path(path).read_bytes()).digest()[0]
    return list(LOAD_VARIANTS)[first % len(LOAD_VARIANTS)]


class Unbuildable(Exception):
    """No arguments can be built for a method: the fuzzer's limit, not pyfront's bug."""


class HarnessError(Exception):
    """This file's own code failed: a bug of the fuzzer, reported apart from pyfront's."""


# --- arguments from a description -----------------------------------------------------------


def _array(shape, dtype: str, rng: np.random.Generator) -> np.ndarray:
    if not isinstance(shape, (list, tuple)) or len(shape) > 8:
        raise Unbuildable(f"bad shape {shape!r}")
    if not all(type(d) is int and 0 <= d <= MAX_ELEMENTS for d in shape):
        raise Unbuildable(f"bad shape {shape!r}")
    if not isinstance(dtype, str) or dtype not in DTYPES:
        raise Unbuildable(f"unknown dtype {dtype!r:.40}")
    if np.prod(shape, dtype=np.float64) > MAX_ELEMENTS:
        raise Unbuildable(f"too large: {shape!r}")
    return (rng.random(shape) * 4 - 1).astype(dtype)


def from_description(value, rng: np.random.Generator, depth: int = 0):
    if depth > MAX_DEPTH:
        raise Unbuildable("description nested too deep")
    if value is None or type(value) in (bool, int, float, str):
        return value
    if isinstance(value, list):
        return [from_description(v, rng, depth + 1) for v in value]
    if isinstance(value, dict) and len(value) == 1:
        ((key, inner),) = value.items()
        if key == "dict" and isinstance(inner, dict):
            return {k: from_description(v, rng, depth + 1) for k, v in inner.items()}
        if key == "tuple" and isinstance(inner, list):
            return tuple(from_description(v, rng, depth + 1) for v in inner)
    if isinstance(value, dict) and set(value) <= {"tensor", "dtype"} and "tensor" in value:
        return _array(value["tensor"], value.get("dtype", "float32"), rng)
    raise Unbuildable(f"cannot describe {value!r:.80}")


def described_inputs(extra_files: dict) -> dict:
    """{method: raw argument descriptions} from INPUTS_FILE, {} when absent or damaged."""
    try:
        table = json.loads(extra_files.get(INPUTS_FILE, b"{}"))
    except (ValueError, RecursionError):
        return {}
    if not isinstance(table, dict):
        return {}
    return {name: args for name, args in table.items() if isinstance(args, list)}


# --- arguments from a schema -------------------------------------------------------------------


def _split_top(text: str, separator: str = ",") -> list[str]:
    """`text` split at the separators outside brackets and quotes."""
    parts, depth, quote, start = [], 0, "", 0
    for i, char in enumerate(text):
        if quote:
            if char == quote and text[i - 1] != "\\":
                quote = ""
        elif char in "\"'":
            quote = char
        elif char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
            if depth < 0:
                raise Unbuildable("unbalanced brackets")
        elif char == separator and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    if depth or quote:
        raise Unbuildable("unbalanced brackets")
    parts.append(text[start:])
    return [p.strip() for p in parts]


def value_for_type(type_text: str, shape, rng: np.random.Generator, depth: int = 0):
    """A value of the schema type `type_text` ("Tensor", "int[]", "Dict(str, Tensor)", ...)."""
    t = type_text.strip()
    if depth > MAX_DEPTH or not t:
        raise Unbuildable(f"cannot build a {type_text!r}")
    if t.endswith("?"):
        return value_for_type(t[:-1], shape, rng, depth + 1)
    if t.endswith("[]"):
        item = value_for_type(t[:-2], shape, rng, depth + 1)
        return [item, item]
    if t == "Tensor":
        return _array(shape, "float32", rng)
    if t in SCALARS:
        return SCALARS[t]
    if t.startswith("Dict(") and t.endswith(")"):
        parts = _split_top(t[5:-1])
        keys = {"str": "a", "int": 1}
        if len(parts) != 2 or parts[0] not in keys:
            raise Unbuildable(f"cannot build a {type_text!r}")
        key, item = parts
        return {keys[key]: value_for_type(item, shape, rng, depth + 1)}
    if t.startswith("(") and t.endswith(")"):
        return tuple(value_for_type(p, shape, rng, depth + 1) for p in _split_top(t[1:-1]))
    raise Unbuildable(f"cannot build a {type_text!r}")


def schema_arguments(schema: str) -> list[str]:
    """The argument types of a TorchScript schema, `self` left out."""
    open_at = schema.find("(")
    close_at = schema.rfind(") ->")
    if open_at < 0 or close_at < open_at:
        raise Unbuildable("not a schema")
    inside = schema[open_at + 1 : close_at].strip()
    types = []
    for argument in _split_top(inside) if inside else []:
        if argument == "*":
            continue
        declaration = _split_top(argument, "=")[0]
        type_text, _, name = declaration.rpartition(" ")
        if not type_text:
            raise Unbuildable(f"argument {argument!r}")
        if name == "self" and not types and type_text.startswith("__torch__"):
            continue
        types.append(type_text)
    return types


def first_shape(extra_files: dict) -> tuple:
    """The first shape of `tsrt/input_shapes` ("2x3x16x16"), else DEFAULT_SHAPE."""
    text = extra_files.get("tsrt/input_shapes", b"").decode("utf-8", "replace").strip()
    try:
        shape = tuple(int(d) for d in text.splitlines()[0].split("x"))
    except (ValueError, IndexError):
        return DEFAULT_SHAPE
    if not shape or any(d < 0 for d in shape) or np.prod(shape, dtype=np.float64) > MAX_ELEMENTS:
        return DEFAULT_SHAPE
    return shape


def arguments(name: str, schema: str, extra_files: dict, described: dict) -> list:
    rng = np.random.default_rng(0)
    if name in described:
        try:
            return [from_description(arg, rng) for arg in described[name]]
        except Unbuildable:
            pass  # a damaged description: the schema still says what to pass
    try:
        types = schema_arguments(schema)
        return [value_for_type(t, first_shape(extra_files), rng) for t in types]
    except RecursionError:
        raise Unbuildable("schema nested too deep") from None


# --- exercising a file ------------------------------------------------------------------------


def mapped_paths(folder: str) -> set[str]:
    """The files under `folder` this process has mapped."""
    paths = set()
    with open("/proc/self/maps") as maps:
        for line in maps:
            fields = line.split(maxsplit=5)
            if len(fields) == 6 and fields[5].strip().startswith(folder + "/"):
                paths.add(fields[5].strip())
    return paths


def digests(paths) -> list[str]:
    """SHA-256 of each file (a .pt2's shared library, and whatever else its load mapped)."""
    found = []
    for path in sorted(paths):
        try:
            with open(path, "rb") as file:
                found.append(hashlib.sha256(file.read()).hexdigest())
        except OSError:
            found.append(f"unreadable {path}")
    return found


class Exercise:
    """One file through pyfront: the first pyfront error is remembered and the other calls go
    on; any other exception from pyfront ends it as "unclean"."""

    def __init__(self, path: str, tmp: str, variant: str | None = None):
        self.path = path
        self.tmp = tmp
        self.variant = variant or load_variant(path)
        self.answer = {"kind": "ok"}
        self.skipped = []
        self.stage = "load"  # what was being done, for an unclean answer

    def clean(self, where: str, error: Exception) -> None:
        if self.answer["kind"] == "ok":
            first = str(error).splitlines()[0][:200] if str(error) else ""
            detail = f"{where}: {type(error).__name__}: {first}"
            self.answer = {"kind": "clean", "detail": detail}

    def call(self, where: str, function, *args):
        self.stage = where
        try:
            return function(*args)
        except pyfront.PyfrontError as error:
            self.clean(where, error)
            return None

    def run(self) -> dict:
        before = mapped_paths(self.tmp)  # a closed package's library may stay mapped
        with LOAD_VARIANTS[self.variant](self.path) as model:
            if model.format == "pt2":
                self.answer["mapped"] = digests(mapped_paths(self.tmp) - before)
            self.stage = "extra_files"
            extra_files = model.extra_files
            self.stage = "metadata"
            model.metadata
            self.stage = "properties"
            model.parameter_count
            model.keeps_state, model.frozen, model.fused, model.precision, model.precision_note
            described = described_inputs(extra_files)
            self.stage = "method_names"
            names = model.method_names()
            self.stage = "schema"
            schemas = {name: model.schema(name) for name in names}
            for name in [*names, "forward"]:  # forward twice: state kept between calls
                try:
                    args = arguments(name, schemas.get(name, ""), extra_files, described)
                except Unbuildable:
                    self.skipped.append(name)
                    continue
                except Exception as error:
                    raise HarnessError(f"arguments of {name}: {error!r:.200}") from error
                self.call(name, model.run_method, name, *args)
                if name == "forward" and len(args) == 1 and isinstance(args[0], np.ndarray):
                    self.call("topk", model.topk, args[0], 3)
                    self.call("bind", bound_twice, model, args[0])
        return self.answer


def bound_twice(model, array: np.ndarray) -> np.ndarray:
    """forward bound to a copy of `array`, called twice: the first call allocates the result
    array, the second writes into it (tsrt_model_run_tensor_into)."""
    call = model.bind(np.array(array, order="C"))
    call()
    return call()


def leftovers(root: str, tmp: str) -> list[str]:
    """What is under `root` besides the empty folders leading to `tmp`, removed."""
    found = []
    for folder, subfolders, files in os.walk(root):
        for entry in files + subfolders:
            full = os.path.join(folder, entry)
            if not (tmp + "/").startswith(full + "/"):
                found.append(os.path.relpath(full, root))
    for entry in found:
        full = os.path.join(root, entry)
        if os.path.isdir(full) and not os.path.islink(full):
            shutil.rmtree(full, ignore_errors=True)
        elif os.path.lexists(full):
            os.unlink(full)
    return sorted(found)


def exercise(path: str, root: str, tmp: str, variant: str | None = None) -> dict:
    """The answer for the file at `path`, loaded as `variant` (else as its digest picks)."""
    work = Exercise(path, tmp, variant)
    try:
        answer = work.run()
    except pyfront.PyfrontError as error:  # from the load, or a property read
        work.clean(work.stage, error)
        answer = work.answer
    except HarnessError as error:
        answer = {"kind": "harness", "detail": str(error)}
    except Exception as error:  # noqa: BLE001 - anything else is what we are looking for
        detail = f"{work.stage}: {type(error).__name__}: {str(error)[:200]!r}"
        answer = {"kind": "unclean", "detail": detail}
    stray = leftovers(root, tmp)
    if stray and answer["kind"] != "unclean":
        answer = {"kind": "stray", "detail": f"left behind: {stray[:10]}"}
    if work.skipped:
        answer["skipped"] = work.skipped
    answer["load"] = work.variant
    return answer


def main() -> int:
    # Packages are extracted under TMPDIR: a folder several levels inside a private root, so
    # that a member escaping its extraction folder with '..' lands where it is seen.
    root = tempfile.mkdtemp(prefix="fuzz-worker-")
    tmp = os.path.join(root, "a", "b", "c", "d", "e", "f")
    os.makedirs(tmp)
    os.environ["TMPDIR"] = tmp
    try:
        for line in sys.stdin:
            answer = exercise(line.rstrip("\n"), root, tmp)
            sys.stdout.write(json.dumps(answer) + "\n")
            sys.stdout.flush()
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
