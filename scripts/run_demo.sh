#!/usr/bin/env bash
# The main job end to end: set up, export ResNet-18 to TorchScript, classify the same input
# through pyfront and through build/ts-infer, and check both against torch.jit.load.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash scripts/setup.sh
.venv/bin/python scripts/export.py --model resnet18 --weights random --output build/models/resnet18.pt
.venv/bin/python scripts/compare.py build/models/resnet18.pt
