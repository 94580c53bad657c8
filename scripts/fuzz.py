"""Fuzzes model loading and running: mutates seed model files many ways, loads each mutant
through pyfront in a child process, calls every method with the inputs the file describes,
and counts clean errors against crashes.

    python scripts/fuzz.py --count 10000 --seed 1                 # the built-in corpus
    python scripts/fuzz.py --seeds build/fuzz-seeds --count 2000  # every file of a folder
    python scripts/fuzz.py --model resnet18.pt2 --count 500       # one file
    python scripts/fuzz.py --count 300 --seed 0 --json -          # results as JSON

Seeds. By default the TorchScript corpus of scripts/fuzz_seeds.py: a small convolutional
model; containers in and out with scalars and a string; several exported methods; an attribute
that keeps state; extra files; quantized weights; bfloat16 weights; torchvision::nms; a frozen
model with its input shape. `python scripts/fuzz_seeds.py DIR --pt2` writes them with a tiny
AOTInductor package into DIR for `--seeds DIR`. Each mutant picks its seed at random.

Inputs. The child calls every method of a mutant (and forward twice, so kept state is used
again) with arguments from the file's extra file `fuzz/inputs.json`, or, failing that, from
the method's schema and the file's `tsrt/input_shapes`: any model file works with `--model`;
see scripts/fuzz_worker.py. A method no arguments can be built for is skipped, not counted.

Mutations of a TorchScript file: bit flips, truncation, random chunks, zeroed runs, inserted
bytes, and structural ones on the zip entries: an entry's content changed with a valid CRC (so
the bytes reach the unpickler and the TorchScript compiler) or an invalid one; entries dropped,
duplicated, swapped, added, or renamed (any character, '..', absolute, backslash, NUL, empty
or '.' components); a size claiming 2 GB; a local header naming another file, disagreeing with
the central directory on sizes and CRC, or with an extra field (real, or only claimed); two
directory entries sharing one local header; a damaged end record.

Mutations of a .pt2 package are of the archive only, never of the compiled code: the same
whole-file byte mutations (the CRC-32 checks must catch every content change) and structural
ones, but a content change with a valid CRC, or a swap, only on the metadata and text members,
never on a shared library, C++ source or weights. A package loads only when the mutant is
equivalent to the seed as libtsrt reads it: each member inside the archive with its CRC, its
name safe and unique, its local header naming it, and no member of the seed changed except the
text ones rewritten on purpose (a dropped member the package does not need, or an added one,
may load); and the files the process maps from the extraction folder are all members of the
seed. A package that loads otherwise counts as "accepted", a file written outside the
extraction folder or that folder left behind as "stray": both are bugs.

A child that dies or hangs on a mutant is restarted; the mutant is then run again alone in a
fresh child to confirm the crash, and crashing mutants are saved for study (`--keep`).
The results count the outcomes by mutation and by seed, where the clean errors were raised
(the load, a property, a method), and the methods skipped. Exit status: 0 when no mutant
crashed, hung, raised a non-pyfront exception, or was accepted or left files where it must not.

tests/test_reliability.py runs fixed slices (1,500 mutants of the corpus, 600 of a .pt2);
long campaigns are these options.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import random
import select
import struct
import subprocess
import sys
import tempfile
import time
import zipfile
import zlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORKER = Path(__file__).resolve().parent / "fuzz_worker.py"
GOOD = ("ok", "clean")

# Members of a package that hold compiled code or weights: never rewritten with a valid CRC.
CODE_SUFFIXES = (".so", ".cpp", ".o", ".bin", ".pt", ".wrapper", ".kernel")


@dataclass
class Mutant:
    data: bytes
    label: str
    rewritten: frozenset = frozenset()  # members whose content was changed with a valid CRC
    watch: tuple = ()  # paths a load must not create (absolute member names)


# --- mutations of the whole file ------------------------------------------------------------


def bit_flips(data: bytes, rng: random.Random) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        i = rng.randrange(len(out))
        out[i] ^= 1 << rng.randrange(8)
    return bytes(out)


def truncation(data: bytes, rng: random.Random) -> bytes:
    return data[: rng.randrange(len(data))]


def random_chunk(data: bytes, rng: random.Random) -> bytes:
    start = rng.randrange(len(data))
    size = rng.randint(1, 256)
    return data[:start] + rng.randbytes(size) + data[start + size :]


def zeroed_run(data: bytes, rng: random.Random) -> bytes:
    start = rng.randrange(len(data))
    size = rng.randint(1, 512)
    return data[:start] + bytes(min(size, len(data) - start)) + data[start + size :]


def inserted_bytes(data: bytes, rng: random.Random) -> bytes:
    at = rng.randrange(len(data))
    return data[:at] + rng.randbytes(rng.randint(1, 64)) + data[at:]


BYTE_MUTATIONS = [bit_flips, truncation, random_chunk, zeroed_run, inserted_bytes]


# --- zip archives ----------------------------------------------------------------------------


def read_entries(data: bytes) -> list[dict]:
    """The members of a well-formed archive (a seed), as the entries `write_zip` takes."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return [
            {"name": info.filename.encode(), "data": archive.read(info)}
            for info in archive.infolist()
        ]


def write_zip(entries: list[dict]) -> bytes:
    """A stored (uncompressed) zip archive of `entries`: {"name": bytes, "data": bytes} and
    what to get wrong: "crc", "size" (claimed in both headers), "local_name", "local_crc",
    "local_size", "local_extra" (bytes written), "local_extra_length" (claimed),
    "shares_local_with" (index of an earlier entry whose local header this one points at)."""
    out, central, offsets = bytearray(), bytearray(), []
    for entry in entries:
        name, data = entry["name"], entry["data"]
        crc = entry.get("crc", zlib.crc32(data))
        size = entry.get("size", len(data))
        if "shares_local_with" in entry:
            offset = offsets[entry["shares_local_with"]]
        else:
            offset = len(out)
            local_name = entry.get("local_name", name)
            extra = entry.get("local_extra", b"")
            local_size = entry.get("local_size", size)
            out += struct.pack(
                "<IHHHHHIIIHH",
                0x04034B50,
                20,
                0,
                0,
                0,
                0x21,
                entry.get("local_crc", crc),
                local_size,
                local_size,
                len(local_name),
                entry.get("local_extra_length", len(extra)),
            )
            out += local_name + extra + data
        offsets.append(offset)
        central += struct.pack(
            "<IHHHHHHIIIHHHHHII",
            0x02014B50,
            20,
            20,
            0,
            0,
            0,
            0x21,
            crc,
            size,
            size,
            len(name),
            0,
            0,
            0,
            0,
            0,
            offset,
        )
        central += name
    count = len(entries)
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, count, count, len(central), len(out), 0)
    return bytes(out + central + end)


def with_fixed_crcs(data: bytes) -> bytes:
    """`data` with the CRC-32 of each stored member recomputed in its central directory entry
    and local header, as far as the archive's structure can still be read."""
    out = bytearray(data)
    end = out.rfind(b"PK\x05\x06")
    if end < 0 or end + 22 > len(out):
        return data
    count, _, directory = struct.unpack_from("<HII", out, end + 10)
    at = directory
    for _ in range(count):
        if at + 46 > len(out) or out[at : at + 4] != b"PK\x01\x02":
            break
        (method,) = struct.unpack_from("<H", out, at + 10)
        (compressed,) = struct.unpack_from("<I", out, at + 20)
        name, extra, comment = struct.unpack_from("<HHH", out, at + 28)
        local = struct.unpack_from("<I", out, at + 42)[0]
        if method == 0 and local + 30 <= len(out) and out[local : local + 4] == b"PK\x03\x04":
            local_name, local_extra = struct.unpack_from("<HH", out, local + 26)
            start = local + 30 + local_name + local_extra
            if start + compressed <= len(out):
                crc = zlib.crc32(out[start : start + compressed])
                struct.pack_into("<I", out, at + 16, crc)
                struct.pack_into("<I", out, local + 14, crc)
        at += 46 + name + extra + comment
    return bytes(out)


def is_pt2(data: bytes) -> bool:
    """Whether `data` is an AOTInductor package: a zip archive with a */data/aotinductor/
    folder."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return any("/data/aotinductor/" in name for name in archive.namelist())
    except (zipfile.BadZipFile, ValueError):
        return False


def _is_code(name: bytes) -> bool:
    text = name.decode("utf-8", "replace")
    return text.endswith(CODE_SUFFIXES) or "/constants/" in text or "weights" in text


def _is_text(entry: dict) -> bool:
    """A package member that may get new content with a valid CRC: metadata and other text,
    never code or weights."""
    if _is_code(entry["name"]):
        return False
    try:
        entry["data"].decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _mutate_content(content: bytes, rng: random.Random) -> bytes:
    if not content:
        return rng.randbytes(rng.randint(1, 16))
    how = rng.choice(BYTE_MUTATIONS)
    mutated = how(content, rng)
    if content.isascii() and rng.random() < 0.5:  # source code: plausible text edits
        text = bytearray(content)
        for _ in range(rng.randint(1, 4)):
            text[rng.randrange(len(text))] = ord(rng.choice('0123456789()[],:. \nxyz_-+*{}"'))
        mutated = bytes(text)
    return mutated if mutated != content else content + b" "


def _renamed(name: bytes, rng: random.Random, escape: str) -> tuple[str, bytes]:
    """A new name for a member: (kind, name)."""
    kind = rng.choice(["char", "dotdot", "absolute", "backslash", "nul", "empty", "dot"])
    parts = name.split(b"/")
    if kind == "char":
        cut = rng.randrange(len(name))
        return kind, name[:cut] + rng.choice([b"x", b"/", b"..", b"0"]) + name[cut + 1 :]
    if kind == "dotdot":
        ups = rng.randint(1, 6)
        at = rng.randrange(len(parts))
        return kind, b"/".join(parts[:at] + [b".."] * ups + parts[at:])
    if kind == "absolute":
        return kind, escape.encode()
    if kind == "backslash":
        return kind, name.replace(b"/", b"\\", rng.randint(1, 3))
    if kind == "nul":
        cut = rng.randrange(len(name))
        return kind, name[:cut] + b"\0" + name[cut:]
    at = rng.randrange(1, len(parts)) if len(parts) > 1 else 1
    return kind, b"/".join(parts[:at] + [b"" if kind == "empty" else b"."] + parts[at:])


def zip_structure(data: bytes, rng: random.Random, pt2: bool = False, escape: str = "") -> Mutant:
    """One structural change of the archive; for a package (`pt2`) no member holding code or
    weights gets new content with a valid CRC."""
    entries = read_entries(data)
    i = rng.randrange(len(entries))
    entry = entries[i]
    rewritable = [k for k, e in enumerate(entries) if not pt2 or _is_text(e)]
    actions = ["content", "content", "content", "bad_crc", "drop", "duplicate", "rename"]
    actions += ["rename", "swap", "add", "huge", "local_name", "local_fields", "local_extra"]
    actions += ["local_extra_claim", "shared_local", "end_record"]
    action = rng.choice(actions)
    label, rewritten, watch = action, frozenset(), ()
    if action == "content":
        if not rewritable:
            return Mutant(data, "zip:content-none")
        k = rng.choice(rewritable)
        entries[k] = {**entries[k], "data": _mutate_content(entries[k]["data"], rng)}
        rewritten = frozenset([entries[k]["name"]])
    elif action == "bad_crc":
        entries[i] = {
            **entry,
            "data": _mutate_content(entry["data"], rng),
            "crc": zlib.crc32(entry["data"]),
        }
    elif action == "drop":
        del entries[i]
    elif action == "duplicate":
        entries.insert(rng.randrange(len(entries) + 1), dict(entry))
    elif action == "rename":
        kind, name = _renamed(entry["name"], rng, escape)
        entries[i] = {**entry, "name": name}
        label = f"rename-{kind}"
        watch = (escape,) if kind == "absolute" else ()
    elif action == "swap":
        pool = rewritable if pt2 else list(range(len(entries)))
        if len(pool) < 2:
            return Mutant(data, "zip:swap-none")
        a, b = rng.sample(pool, 2)
        entries[a], entries[b] = (
            {**entries[a], "data": entries[b]["data"]},
            {**entries[b], "data": entries[a]["data"]},
        )
        rewritten = frozenset([entries[a]["name"], entries[b]["name"]])
    elif action == "add":
        folder = entry["name"].rsplit(b"/", 1)[0] if b"/" in entry["name"] else b""
        suffix = rng.choice([b".so", b".json", b".txt", b".cpp", b""])
        name = folder + b"/added" + suffix if folder else b"added" + suffix
        entries.insert(rng.randrange(len(entries) + 1), {"name": name, "data": rng.randbytes(64)})
    elif action == "huge":
        entries[i] = {**entry, "size": rng.choice([0x7FFFFFF0, 0xFFFFFFFE, len(data) + 1])}
    elif action == "local_name":
        name = bytearray(entry["name"])
        name[rng.randrange(len(name))] ^= 1 << rng.randrange(7)
        entries[i] = {**entry, "local_name": bytes(name)}
    elif action == "local_fields":
        which = rng.choice(["local_crc", "local_size"])
        entries[i] = {**entry, which: rng.getrandbits(32)}
    elif action == "local_extra":
        extra = struct.pack("<HH", 0x4246, 12) + bytes(12)  # padding, as PyTorch aligns data
        entries[i] = {**entry, "local_extra": extra}
    elif action == "local_extra_claim":
        entries[i] = {**entry, "local_extra_length": rng.randint(1, 0xFFFF)}
    elif action == "shared_local":
        j = rng.randrange(len(entries))
        entries.append({**entries[j], "shares_local_with": j, "name": entries[j]["name"] + b"2"})
    out = write_zip(entries)
    if action == "end_record":
        end = bytearray(out)
        at = len(end) - 22
        field_at, size = rng.choice([(8, 2), (10, 2), (12, 4), (16, 4), (20, 2)])
        value = rng.getrandbits(8 * size)
        end[at + field_at : at + field_at + size] = value.to_bytes(size, "little")
        out = bytes(end)
    return Mutant(out, f"zip:{label}", rewritten, watch)


def archive_view(data: bytes) -> list[dict]:
    """The members as libtsrt reads a package: the central directory's entries, each with the
    data its local header leads to; ValueError when there is no end record or directory."""
    end = -1
    for at in range(len(data) - 22, max(-1, len(data) - 22 - 65536), -1):
        if data[at : at + 4] == b"PK\x05\x06" and at + 22 + data[at + 20] + (
            data[at + 21] << 8
        ) == len(data):
            end = at
            break
    if end < 0:
        raise ValueError("no end record")
    count, _, offset = struct.unpack_from("<HII", data, end + 10)
    members, at = [], offset
    for _ in range(count):
        if data[at : at + 4] != b"PK\x01\x02":
            raise ValueError("damaged directory")
        crc, compressed, size, name_length, extra_length, comment_length = struct.unpack_from(
            "<IIIHHH", data, at + 16
        )
        local = struct.unpack_from("<I", data, at + 42)[0]
        name = data[at + 46 : at + 46 + name_length]
        if data[local : local + 4] != b"PK\x03\x04":
            raise ValueError("damaged local header")
        local_name_length, local_extra = struct.unpack_from("<HH", data, local + 26)
        start = local + 30 + local_name_length + local_extra
        content = data[start : start + size]
        members.append(
            {
                "name": name,
                "local_name": data[local + 30 : local + 30 + local_name_length],
                "data": content,
                "inside": len(content) == size and compressed == size,
                "crc_ok": zlib.crc32(content) == crc,
            }
        )
        at += 46 + name_length + extra_length + comment_length
    return members


def _unsafe_name(name: bytes) -> bool:
    parts = name.split(b"/")
    return (
        not name
        or b"\0" in name
        or b"\\" in name
        or name.startswith(b"/")
        or any(p in (b"..", b".") for p in parts)
        or any(not p for p in parts[:-1])
    )


def accepted_problem(seed: Seed, mutant: Mutant, mapped: list[str]) -> str | None:
    """Why a package mutant must not have loaded, or None when it is equivalent to the seed."""
    if mutant.data == seed.data:
        return None
    try:
        view = archive_view(mutant.data)
    except (ValueError, struct.error) as error:
        return f"accepted an archive that cannot be read ({error})"
    names = [m["name"] for m in view]
    original = {e["name"]: e["data"] for e in seed.entries}
    for member in view:
        name = member["name"]
        if not member["inside"]:
            return f"accepted {name!r}, which runs past the end of the archive"
        if not member["crc_ok"]:
            return f"accepted {name!r}, which fails its CRC"
        if _unsafe_name(name):
            return f"accepted the unsafe name {name!r}"
        if member["local_name"] != name:
            return f"accepted {name!r}, whose local header names {member['local_name']!r}"
        if names.count(name) > 1:
            return f"accepted {name!r} twice"
        if name in original and member["data"] != original[name]:
            if name not in mutant.rewritten:
                return f"accepted changed content of {name!r}"
    known = {hashlib.sha256(e["data"]).hexdigest() for e in seed.entries}
    foreign = [digest for digest in mapped if digest not in known]
    if foreign:
        return f"mapped files that are not members of the package: {foreign}"
    return None


# --- mutating a seed ---------------------------------------------------------------------------


@dataclass
class Seed:
    path: Path
    data: bytes
    pt2: bool
    entries: list = field(default_factory=list)

    @classmethod
    def read(cls, path: Path) -> Seed:
        data = path.read_bytes()
        pt2 = is_pt2(data)
        return cls(path, data, pt2, read_entries(data) if pt2 else [])

    def mutate(self, rng: random.Random, escape: str) -> Mutant:
        structural = rng.random() < 2 / 7 and self._is_zip()
        if structural:
            return zip_structure(self.data, rng, pt2=self.pt2, escape=escape)
        how = rng.choice(BYTE_MUTATIONS)
        data = how(self.data, rng)
        if not self.pt2 and how is not truncation and rng.random() < 0.5:
            # libtsrt refuses a TorchScript member whose CRC does not match, so half the byte
            # mutants get their CRCs fixed and reach libtorch's reader and unpickler. (Never a
            # package's: that would run damaged machine code.)
            return Mutant(with_fixed_crcs(data), f"{how.__name__}+crc")
        return Mutant(data, how.__name__)

    def _is_zip(self) -> bool:
        return zipfile.is_zipfile(io.BytesIO(self.data))


# --- running -----------------------------------------------------------------------------


class Worker:
    """A child process running fuzz_worker.py; restarted after it dies."""

    def __init__(self, timeout: float):
        self.timeout = timeout
        self.process = None

    def _start(self):
        env = dict(os.environ, PYTHONFAULTHANDLER="")
        self.process = subprocess.Popen(
            [sys.executable, str(WORKER)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            bufsize=1,
            env=env,
        )

    def run(self, path: str, timeout: float | None = None) -> dict:
        """The child's answer (see fuzz_worker.py), or {"kind": "crash"/"hang"}."""
        if self.process is None or self.process.poll() is not None:
            self._start()
        process = self.process
        try:
            process.stdin.write(path + "\n")
            process.stdin.flush()
        except BrokenPipeError:
            pass
        ready, _, _ = select.select([process.stdout], [], [], timeout or self.timeout)
        line = process.stdout.readline() if ready else ""
        if line:
            return json.loads(line)
        if not ready:
            process.kill()
            process.wait()
            self.process = None
            return {"kind": "hang", "detail": f"no answer in {timeout or self.timeout} s"}
        code = process.wait()
        self.process = None
        return {"kind": "crash", "detail": f"exit status {code}"}

    def close(self):
        if self.process is not None:
            self.process.stdin.close()
            self.process.wait()


def campaign(
    seeds: list[Path], count: int, seed: int, timeout: float, keep: Path | None, progress: bool
) -> dict:
    corpus = [Seed.read(path) for path in seeds]
    rng = random.Random(seed)
    outcomes: Counter = Counter()
    by_mutation: dict[str, Counter] = {}
    by_seed: dict[str, Counter] = {}
    skipped: Counter = Counter()
    clean_at: Counter = Counter()  # where the clean errors came from: the load, or a method
    problems = []
    worker = Worker(timeout)
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        for index in range(count):
            source = rng.choice(corpus)
            escape = os.path.join(tmp, f"escaped-{index}")
            mutant = source.mutate(rng, escape)
            mutant_path = Path(tmp) / f"mutant{source.path.suffix}"
            mutant_path.write_bytes(mutant.data)
            answer = worker.run(str(mutant_path))
            if answer["kind"] in ("crash", "hang"):
                # Confirm in a fresh child: a crash must not be blamed on an earlier mutant.
                fresh = Worker(timeout)
                answer = fresh.run(str(mutant_path), timeout=timeout * 2)
                fresh.close()
            escaped = [path for path in mutant.watch if os.path.lexists(path)]
            if escaped:
                answer = {"kind": "stray", "detail": f"wrote {escaped}"}
            if answer["kind"] == "ok" and source.pt2:
                problem = accepted_problem(source, mutant, answer.get("mapped", []))
                if problem:
                    answer = {"kind": "accepted", "detail": problem}
            kind = answer["kind"]
            outcomes[kind] += 1
            by_mutation.setdefault(mutant.label, Counter())[kind] += 1
            by_seed.setdefault(source.path.name, Counter())[kind] += 1
            if kind == "clean":
                clean_at[answer["detail"].split(":", 1)[0]] += 1
            for method in answer.get("skipped", []):
                skipped[f"{source.path.name}:{method}"] += 1
            if kind not in GOOD:
                problems.append(
                    {
                        "index": index,
                        "seed": source.path.name,
                        "mutation": mutant.label,
                        "outcome": kind,
                        "detail": answer.get("detail", ""),
                        "load": answer.get("load", ""),
                    }
                )
                if keep is not None:
                    keep.mkdir(parents=True, exist_ok=True)
                    name = f"mutant-{seed}-{index}-{source.path.stem}{source.path.suffix}"
                    (keep / name).write_bytes(mutant.data)
            if progress and (index + 1) % 100 == 0:
                rate = (index + 1) / (time.monotonic() - started)
                print(
                    f"\r{index + 1}/{count} mutants, {rate:.1f}/s, {dict(outcomes)}",
                    end="",
                    file=sys.stderr,
                    flush=True,
                )
    worker.close()
    if progress:
        print(file=sys.stderr)
    return {
        "count": count,
        "seed": seed,
        "seeds": [path.name for path in seeds],
        "seconds": round(time.monotonic() - started, 1),
        "outcomes": dict(outcomes),
        "by_mutation": {name: dict(c) for name, c in sorted(by_mutation.items())},
        "by_seed": {name: dict(c) for name, c in sorted(by_seed.items())},
        "clean_at": dict(clean_at),
        "skipped_methods": dict(skipped),
        "problems": problems,
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=1000, help="mutants to run (default 1000)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--model", type=Path, help="one model file to mutate (TorchScript or .pt2)")
    source.add_argument("--seeds", type=Path, help="a folder whose every file is a seed")
    parser.add_argument(
        "--timeout",
        type=float,
        default=20.0,
        help="seconds a mutant may take before it counts as a hang",
    )
    parser.add_argument(
        "--keep",
        type=Path,
        default=ROOT / "build" / "fuzz-findings",
        help="folder for mutants that crash, hang or fail uncleanly",
    )
    parser.add_argument("--json", metavar="FILE", help="write the results as JSON ('-': stdout)")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        if args.model:
            seeds = [args.model]
        elif args.seeds:
            seeds = sorted(p for p in args.seeds.iterdir() if p.is_file())
        else:
            import fuzz_seeds

            seeds = fuzz_seeds.write_seeds(Path(tmp))
        if not seeds:
            parser.error(f"no seed files in {args.seeds}")
        result = campaign(
            seeds,
            args.count,
            args.seed,
            args.timeout,
            args.keep,
            progress=sys.stderr.isatty() or args.json != "-",
        )
    if args.json == "-":
        json.dump(result, sys.stdout, indent=1)
        print()
    else:
        if args.json:
            Path(args.json).write_text(json.dumps(result, indent=1))
        print(f"{result['count']} mutants in {result['seconds']} s: {result['outcomes']}")
        for title, table in (("mutation", result["by_mutation"]), ("seed", result["by_seed"])):
            print(f"by {title}:")
            for name, counts in table.items():
                print(f"  {name:24s} {counts}")
        for problem in result["problems"][:20]:
            print(f"  PROBLEM {problem}")
    bad = sum(n for kind, n in result["outcomes"].items() if kind not in GOOD)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
