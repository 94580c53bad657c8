"""One loaded copy of a model per process: the cache behind `infer` and behind unpickling.

Entries are keyed by what was loaded (the kind of model, the file's real path or the bytes'
digest, and the load options) and carry the signature of the file they were loaded from
(device, inode, size, modification time), so a file replaced since is never served from here.
A handful of entries is plenty; a model dropped from the cache is freed once no caller still
holds it.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from typing import Any, NamedTuple, Optional

_CAPACITY = 8


class Entry(NamedTuple):
    signature: Optional[tuple]  # file_signature() of the file it was loaded from, or None
    digest: Optional[str]  # sha256 of that file or of the bytes, when someone needed it
    model: Any  # a Model or an IsolatedModel


_entries: OrderedDict[tuple, Entry] = OrderedDict()
_lock = threading.Lock()


def file_signature(path: str) -> tuple:
    """What changes when a file is replaced or rewritten; raises OSError."""
    info = os.stat(path)
    return (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns)


def lookup(key: tuple, signature: Optional[tuple]) -> Optional[Entry]:
    """The entry for `key` if it was loaded from a file with this signature and is still open."""
    with _lock:
        entry = _entries.get(key)
        if entry is None or entry.signature != signature or entry.model.closed:
            return None
        _entries.move_to_end(key)
        return entry


def store(key: tuple, signature: Optional[tuple], model: Any, digest: Optional[str] = None) -> None:
    """Keeps `model` as the one copy for `key`, replacing any older one."""
    with _lock:
        _entries[key] = Entry(signature, digest, model)
        _entries.move_to_end(key)
        while len(_entries) > _CAPACITY:
            _entries.popitem(last=False)


def clear() -> None:
    with _lock:
        _entries.clear()


def options_key(options: dict) -> tuple:
    """Load options as a hashable, order-independent part of a key."""
    return tuple(sorted((name, _hashable(value)) for name, value in options.items()))


def _hashable(value: Any) -> Any:
    if isinstance(value, dict):
        return ("dict", options_key(value))
    if isinstance(value, (list, tuple)):
        return tuple(_hashable(item) for item in value)
    try:
        hash(value)
    except TypeError:
        return ("repr", repr(value))
    return value
