"""Loading a state_dict into a model for export, with one clear message for each usual mistake:
no such file, a file that holds something other than a state_dict (a whole pickled model, a
training checkpoint with the state_dict inside, a TorchScript file), and the weights of
another architecture (instead of torch's wall of "Missing key(s)")."""

from __future__ import annotations

import pickle
import warnings
import zipfile
from collections.abc import Mapping
from pathlib import Path

_SAVE_HINT = "--weights takes a state_dict saved with torch.save(model.state_dict(), PATH)"
_EXAMPLES = 3


class WeightsError(ValueError):
    """The weights file cannot be loaded into the model; the message says why and what to do."""


def load_weights(model, name: str, path: Path) -> None:
    """Loads the state_dict stored at `path` into `model` (torchvision's `name`)."""
    if not path.exists():
        raise WeightsError(
            f"no weights file '{path}'. {_SAVE_HINT}; without --weights, {name} gets "
            f"torchvision's pretrained weights, with --weights random a seeded random "
            f"initialisation"
        )
    if path.is_dir():
        raise WeightsError(f"'{path}' is a directory, not a weights file. {_SAVE_HINT}")
    state = _state_dict_in(_read(path), path)
    _check_fits(model.state_dict(), state, name, path)
    model.load_state_dict(state)


def _read(path: Path):
    import torch

    if _is_export_archive(path):
        raise WeightsError(
            f"'{path}' is a torch.export archive (.pt2), not a state_dict. {_SAVE_HINT}"
        )
    try:
        with warnings.catch_warnings():  # the TorchScript case below says it better
            warnings.filterwarnings("ignore", message=".*looks like a TorchScript archive")
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        if _written_by_torch_save(path):
            raise WeightsError(
                f"'{path}' holds more than tensors (a whole model saved with "
                f"torch.save(model)?), which torch.load refuses to read safely. Save its "
                f"state_dict instead; in Python, for a file you trust (loading it runs code "
                f"from it): torch.save(torch.load('{path}', weights_only=False).state_dict(), "
                f"'weights.pth')"
            ) from None
        raise WeightsError(f"'{path}' is not a file written by torch.save. {_SAVE_HINT}") from None
    except RuntimeError as error:
        if "TorchScript" in str(error):
            raise WeightsError(
                f"'{path}' is a TorchScript file already, not a state_dict: pyfront runs it as "
                f"it is (pyfront classify --model {path} IMAGE...)"
            ) from None
        reason = str(error).split(". This is an internal miniz error")[0].splitlines()[0]
        raise WeightsError(f"torch.load cannot read '{path}': {reason}. {_SAVE_HINT}") from None


def _is_export_archive(path: Path) -> bool:
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as archive:
        return any(n.endswith("/archive_format") for n in archive.namelist())


def _written_by_torch_save(path: Path) -> bool:
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            return any(n.endswith("/data.pkl") or n == "data.pkl" for n in archive.namelist())
    with open(path, "rb") as file:  # the legacy format: a pickle of torch.save's magic number
        return file.read(4) == b"\x80\x02\x8a\x0a"


def _is_state_dict(value) -> bool:
    import torch

    return (
        isinstance(value, Mapping)
        and bool(value)
        and all(
            isinstance(key, str) and isinstance(item, torch.Tensor) for key, item in value.items()
        )
    )


def _state_dict_in(loaded, path: Path):
    if _is_state_dict(loaded):
        return loaded
    if isinstance(loaded, Mapping):
        inside = [key for key, value in loaded.items() if _is_state_dict(value)]
        if inside:
            raise WeightsError(
                f"'{path}' is a training checkpoint, not a state_dict: its entry {inside[0]!r} "
                f"holds one. Save that alone; in Python: "
                f"torch.save(torch.load('{path}')[{inside[0]!r}], 'weights.pth')"
            )
        keys = ", ".join(repr(key) for key in list(loaded)[:5]) or "none"
        raise WeightsError(
            f"'{path}' holds a dict that is not a state_dict of tensors (its "
            f"keys: {keys}). {_SAVE_HINT}"
        )
    raise WeightsError(f"'{path}' holds a {type(loaded).__name__}, not a state_dict. {_SAVE_HINT}")


def _examples(names) -> str:
    shown = ", ".join(names[:_EXAMPLES])
    return shown + (", ..." if len(names) > _EXAMPLES else "")


def _check_fits(expected: Mapping, state: Mapping, name: str, path: Path) -> None:
    missing = [key for key in expected if key not in state]
    unexpected = [key for key in state if key not in expected]
    reshaped = [
        key
        for key in expected
        if key in state and tuple(state[key].shape) != tuple(expected[key].shape)
    ]
    if not (missing or unexpected or reshaped):
        return
    problems = []
    if missing:
        problems.append(
            f"{len(missing)} of {name}'s {len(expected)} tensors are not in it "
            f"({_examples(missing)})"
        )
    if unexpected:
        problems.append(
            f"{len(unexpected)} of its {len(state)} tensors are not {name}'s "
            f"({_examples(unexpected)})"
        )
    if reshaped:
        key = reshaped[0]
        problems.append(
            f"{len(reshaped)} have another shape ({key}: "
            f"{list(state[key].shape)} in the file, {list(expected[key].shape)} "
            f"in {name})"
        )
    message = f"the weights in '{path}' do not fit {name}: " + "; ".join(problems) + ". "
    prefix = "module."
    if (
        unexpected
        and all(key.startswith(prefix) for key in state)
        and {key[len(prefix) :] for key in state} == set(expected)
    ):
        message += (
            "Its names start with 'module.' (saved from nn.DataParallel): save "
            "model.module.state_dict() instead"
        )
    elif reshaped and not (missing or unexpected):
        message += (
            f"Same layers, other sizes: weights trained for another number of "
            f"classes? export builds torchvision's {name} as published"
        )
    else:
        message += "Pass the --model these weights were trained for"
    raise WeightsError(message)
