"""Fuzzes model loading and running: mutates a small TorchScript file many ways, loads and
runs each mutant through pyfront in a child process, and counts clean errors against crashes.

    python scripts/fuzz.py --count 10000 --seed 1          # a campaign
    python scripts/fuzz.py --count 300 --seed 0 --json -   # what the test suite runs

Mutations: bit flips, truncation, random chunks, zeroed runs, inserted bytes, and structural
ones on the zip entries (an entry's content mutated with a valid CRC, so the bytes reach the
unpickler and the TorchScript compiler; entries dropped, duplicated, renamed or swapped).
A child that dies or hangs on a mutant is restarted; the mutant is then run again alone in a
fresh child to confirm the crash, and crashing mutants are saved for study.
Exit status: 0 when no mutant crashed, hung or raised a non-pyfront exception.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import select
import subprocess
import sys
import tempfile
import time
import warnings
import zipfile
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORKER = Path(__file__).resolve().parent / "fuzz_worker.py"


def make_seed_model(path: Path) -> Path:
    """A small model with what real files have: convolutions, batch norm, a tensor constant,
    a second method and an extra file."""
    import torch

    class Small(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 4, 3)
            self.bn = torch.nn.BatchNorm2d(4)
            self.fc = torch.nn.Linear(4, 5)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            y = torch.relu(self.bn(self.conv(x))).mean(dim=(2, 3))
            return self.fc(y) * torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0])

        @torch.jit.export
        def embed(self, x: torch.Tensor) -> torch.Tensor:
            return self.conv(x).flatten(1)

    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        torch.jit.script(Small().eval()).save(str(path), _extra_files={"meta.json": b'{"k": 1}'})
    return path


# --- mutations -------------------------------------------------------------------------


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


def _rewrite(entries: list[tuple[str, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with warnings.catch_warnings(), zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        warnings.simplefilter("ignore", UserWarning)  # duplicate names are one of the mutations
        for name, content in entries:
            archive.writestr(name, content)
    return buffer.getvalue()


def _mutate_content(content: bytes, rng: random.Random) -> bytes:
    if not content:
        return rng.randbytes(rng.randint(1, 16))
    how = rng.choice([bit_flips, random_chunk, zeroed_run, truncation, inserted_bytes])
    mutated = how(content, rng)
    if content.isascii() and rng.random() < 0.5:  # source code: plausible text edits
        text = bytearray(content)
        for _ in range(rng.randint(1, 4)):
            text[rng.randrange(len(text))] = ord(rng.choice("0123456789()[],:. \nxyz_-+*"))
        mutated = bytes(text)
    return mutated


def zip_structure(data: bytes, rng: random.Random) -> bytes:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        entries = [(info.filename, archive.read(info)) for info in archive.infolist()]
    i = rng.randrange(len(entries))
    action = rng.choice(["content", "content", "content", "drop", "duplicate", "rename", "swap"])
    if action == "content":
        entries[i] = (entries[i][0], _mutate_content(entries[i][1], rng))
    elif action == "drop":
        del entries[i]
    elif action == "duplicate":
        entries.insert(rng.randrange(len(entries) + 1), entries[i])
    elif action == "rename":
        name = entries[i][0]
        cut = rng.randrange(len(name))
        entries[i] = (
            name[:cut] + rng.choice(["x", "/", "..", "0"]) + name[cut + 1 :],
            entries[i][1],
        )
    else:
        j = rng.randrange(len(entries))
        entries[i], entries[j] = (entries[i][0], entries[j][1]), (entries[j][0], entries[i][1])
    return _rewrite(entries)


MUTATIONS = [
    bit_flips,
    truncation,
    random_chunk,
    zeroed_run,
    inserted_bytes,
    zip_structure,
    zip_structure,
]


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

    def run(self, path: str, timeout: float | None = None) -> str:
        """ "ok" / "clean ..." / "unclean ..." / "crash <signal>" / "hang"."""
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
            return line.rstrip("\n")
        if not ready:
            process.kill()
            process.wait()
            self.process = None
            return "hang"
        code = process.wait()
        self.process = None
        return f"crash {code}"

    def close(self):
        if self.process is not None:
            self.process.stdin.close()
            self.process.wait()


def campaign(
    model: Path, count: int, seed: int, timeout: float, keep: Path | None, progress: bool
) -> dict:
    original = model.read_bytes()
    rng = random.Random(seed)
    outcomes: Counter = Counter()
    by_mutation: dict[str, Counter] = {}
    problems = []
    worker = Worker(timeout)
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        mutant_path = Path(tmp) / "mutant.pt"
        for index in range(count):
            mutation = rng.choice(MUTATIONS)
            data = mutation(original, rng)
            mutant_path.write_bytes(data)
            answer = worker.run(str(mutant_path))
            kind = answer.split(" ", 1)[0]
            if kind in ("crash", "hang"):
                # Confirm in a fresh child: a crash must not be blamed on an earlier mutant.
                answer = Worker(timeout).run(str(mutant_path), timeout=timeout * 2)
                kind = answer.split(" ", 1)[0]
            outcomes[kind] += 1
            by_mutation.setdefault(mutation.__name__, Counter())[kind] += 1
            if kind not in ("ok", "clean"):
                problems.append({"index": index, "mutation": mutation.__name__, "outcome": answer})
                if keep is not None:
                    keep.mkdir(parents=True, exist_ok=True)
                    (keep / f"mutant-{seed}-{index}.pt").write_bytes(data)
            if progress and (index + 1) % 100 == 0:
                rate = (index + 1) / (time.monotonic() - started)
                print(
                    f"\r{index + 1}/{count} mutants, {rate:.0f}/s, {dict(outcomes)}",
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
        "seconds": round(time.monotonic() - started, 1),
        "outcomes": dict(outcomes),
        "by_mutation": {name: dict(c) for name, c in by_mutation.items()},
        "problems": problems,
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=1000, help="mutants to run (default 1000)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument(
        "--model",
        type=Path,
        help="TorchScript file to mutate (default: a small model made here; "
        "it must take a (2, 3, 16, 16) float32 input)",
    )
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
        model = args.model or make_seed_model(Path(tmp) / "seed.pt")
        result = campaign(
            model,
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
        for name, counts in sorted(result["by_mutation"].items()):
            print(f"  {name:16s} {counts}")
        for problem in result["problems"][:20]:
            print(f"  PROBLEM {problem}")
    bad = sum(n for kind, n in result["outcomes"].items() if kind not in ("ok", "clean"))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
