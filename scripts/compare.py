"""Classifies the same inputs through pyfront, build/ts-infer and torch.jit.load and shows that
they agree. Exits non-zero if they do not.

Usage: compare.py MODEL.pt

This process never imports torch: the torch.jit.load reference runs in a child process.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
TS_INFER = ROOT / "build" / "ts-infer"
K = 5


def reference(model: str, batch: np.ndarray) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "input.npy"
        np.save(path, batch)
        out = subprocess.run(
            [sys.executable, str(ROOT / "scripts" / "reference_topk.py"), model, str(path), str(K)],
            check=True,
            capture_output=True,
            text=True,
        )
    return json.loads(out.stdout)


def ts_infer(model: str) -> list[int]:
    out = subprocess.run([str(TS_INFER), model], check=True, capture_output=True, text=True)
    lines = out.stdout.splitlines()
    start = lines.index("Model loaded successfully") + 1
    return [int(line) for line in lines[start : start + K]]


def main(model: str) -> int:
    import pyfront

    ones = np.ones((1, 3, 224, 224), np.float32)  # ts-infer's input, as in the recipe
    batch = np.random.default_rng(0).random((4, 3, 224, 224), dtype=np.float32)

    print(f"model: {model}   libtorch {pyfront.libtorch_version()}   top-{K}")
    ok = True

    ours_ones = pyfront.infer(model, ones, K)
    ref_ones = reference(model, ones)
    c_ones = ts_infer(model)
    rows = [
        ("pyfront (cffi -> libtsrt)", ours_ones.indices[0].tolist()),
        ("build/ts-infer (C -> libtsrt)", c_ones),
        ("torch.jit.load in Python", ref_ones["indices"][0]),
    ]
    print("\ninput of ones, 1x3x224x224:")
    for name, indices in rows:
        print(f"  {name:32s} {indices}")
    ok &= rows[0][1] == rows[1][1] == rows[2][1]

    ours = pyfront.infer(model, batch, K)
    ref = reference(model, batch)
    logits = pyfront.Model(model).forward(batch)
    same_indices = ours.indices.tolist() == ref["indices"]
    prob_diff = float(np.abs(ours.probs - np.asarray(ref["probs"], np.float32)).max())
    logit_diff = float(np.abs(logits - np.asarray(ref["logits"], np.float32)).max())
    print("\nrandom batch, 4x3x224x224 (pyfront vs torch.jit.load):")
    for row, (a, b) in enumerate(zip(ours.indices.tolist(), ref["indices"])):
        print(f"  image {row}: pyfront {a}  torch {b}")
    print(f"  max |prob difference|  {prob_diff:.2e}")
    print(f"  max |logit difference| {logit_diff:.2e}")
    ok &= same_indices and prob_diff <= 1e-5 and logit_diff <= 1e-4

    print(f"\ntorch imported by this process: {'torch' in sys.modules}")
    ok &= "torch" not in sys.modules
    print("AGREE" if ok else "DISAGREE")
    return 0 if ok else 1


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1]))
