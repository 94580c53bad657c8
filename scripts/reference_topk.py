"""The recipe's path, for comparison: torch.jit.load + forward + softmax + topk in Python.

Usage: reference_topk.py MODEL INPUT.npy K  ->  prints JSON {"indices", "probs", "logits"}.
Runs in its own process so that callers can stay free of torch.
"""

import json
import sys

import numpy as np
import torch


def main(model_path: str, input_path: str, k: str) -> int:
    model = torch.jit.load(model_path).eval()
    batch = torch.from_numpy(np.load(input_path))
    with torch.inference_mode():
        logits = model(batch)
        top = torch.softmax(logits, 1).topk(int(k), 1)
    json.dump(
        {"indices": top.indices.tolist(), "probs": top.values.tolist(), "logits": logits.tolist()},
        sys.stdout,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
