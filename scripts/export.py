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
    main,
    metadata,
    parse_args,
    sanity_check,
)

if __name__ == "__main__":
    # torchvision's detection and segmentation models have their own export.
    if export_detection.handles(sys.argv[1:]):
        sys.exit(export_detection.main(sys.argv[1:]))
    sys.exit(main())
