"""Which weights an export uses, and torchvision's pretrained ones with a clear failure.

`--weights` takes `default` (torchvision's DEFAULT weights of the model, the recipe's
`pretrained=True`; what an export uses when `--weights` is not given), `random` (a seeded random
initialisation) or the path of a local state_dict. torchvision downloads its weights once into
torch's hub cache ($TORCH_HOME/hub/checkpoints) and reads them from there afterwards, offline
too; when the file is neither there nor downloadable, the export stops with what it looked for
and the two ways out.
"""

from __future__ import annotations

import os
import pickle
import socket
from pathlib import Path
from urllib.parse import urlparse

DEFAULT, RANDOM = "default", "random"
WAYS_OUT = (
    "pass --weights PATH (a local state_dict) or --weights random (a seeded random "
    "initialisation whose predictions mean nothing)"
)
# Seconds each connect or read of the download may wait: an unreachable server fails the
# export in seconds instead of hanging for minutes; a slow but live one still downloads.
DOWNLOAD_TIMEOUT = 20.0


class PretrainedError(ValueError):
    """The pretrained weights cannot be had; the message says what was looked for and what to do."""


def weights_argument(text: str) -> str | Path:
    """`--weights` on a command line: the word `default` or `random`, else a path (a file
    really named `random` is `./random`)."""
    return text if text in (DEFAULT, RANDOM) else Path(text)


def choice(weights) -> str | Path:
    """`weights` of the Python API as `default`, `random` or a Path."""
    if weights is None:
        raise PretrainedError(
            "weights=None is ambiguous here: pass weights='default' (torchvision's pretrained "
            "weights), weights='random' (a seeded random initialisation) or the path of a "
            "state_dict"
        )
    if isinstance(weights, str):
        return weights_argument(weights)
    return Path(weights)


def default_weights(name: str):
    """torchvision's DEFAULT weights enum of the model `name`."""
    import torchvision

    try:
        return torchvision.models.get_model_weights(name).DEFAULT
    except (ValueError, AttributeError):
        raise PretrainedError(
            f"torchvision has no pretrained weights for {name}; {WAYS_OUT}"
        ) from None


def weights_name(weights) -> str:
    """ "ResNet18_Weights.IMAGENET1K_V1": how the metadata names a torchvision weights enum."""
    return f"{type(weights).__name__}.{weights.name}"


def cache_path(url: str) -> Path:
    """Where torch.hub keeps (and looks for) the file downloaded from `url`."""
    import torch

    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(urlparse(url).path)


def build_pretrained(builder, name: str, **options):
    """`builder(weights=DEFAULT, **options)`: the model with torchvision's pretrained weights,
    read from torch's hub cache or downloaded into it; PretrainedError when neither works.
    Returns the model and the weights' name."""
    weights = default_weights(name)
    cached = cache_path(weights.url)
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT)  # urllib's urlopen, as torch.hub calls it, has none
    try:
        model = builder(weights=weights, **options)
    except (OSError, RuntimeError, pickle.UnpicklingError, EOFError) as error:
        # OSError: urllib's URLError and HTTPError, timeouts, a full disk; RuntimeError: a
        # download whose hash is wrong; all of them: a cached file torch.load cannot read.
        if not isinstance(error, OSError) and cached.exists():
            raise PretrainedError(
                f"cannot read {name}'s pretrained weights {weights_name(weights)} from torch's "
                f"cache {cached}: {_reason(error)}. Delete that file to download it again, "
                f"or {WAYS_OUT}"
            ) from None
        raise PretrainedError(
            f"cannot get {name}'s pretrained weights {weights_name(weights)}: downloading "
            f"{weights.url} failed ({_reason(error)}) and torch's cache has no {cached}. Copy "
            f"that file there, or {WAYS_OUT}"
        ) from None
    finally:
        socket.setdefaulttimeout(previous)
    return model, weights_name(weights)


def _reason(error: Exception) -> str:
    """The error's first line; URLError's is the socket error it wraps."""
    reason = getattr(error, "reason", None)
    text = str(reason if reason is not None else error).strip()
    return text.splitlines()[0] if text else type(error).__name__
