"""Export a torchvision classification model to a TorchScript file that pyfront and libtsrt run.

The same as `pyfront export` (the code is pyfront/export.py); kept so that a checkout can run
`python scripts/export.py --model resnet18 --output resnet18.pt`.
"""

from __future__ import annotations

import sys
from pathlib import Path

try:
    import pyfront.export  # noqa: F401
except ImportError:  # a checkout whose package is not installed: use the one beside this script
    sys.path.append(str(Path(__file__).resolve().parent.parent))

from pyfront import export_detection  # noqa: E402
from pyfront.export import (  # noqa: E402,F401
    META_FILE,
    PARAMETERS_FILE,
    SHAPES_FILE,
    ExportError,
    build_model,
    export,
    metadata,
    parse_args,
    sanity_check,
)
from pyfront.export import main as export_classifier  # noqa: E402


def main(argv=None) -> int:
    """Exports a classifier as `pyfront export` does, or a torchvision detection or
    segmentation model, which has its own export."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if export_detection.handles(argv):
        return export_detection.main(argv)
    return export_classifier(argv)


if __name__ == "__main__":
    sys.exit(main())
