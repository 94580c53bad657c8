"""Pickling models by recipe: how to load them, never their weights.

A pickled `Model` or `IsolatedModel` holds the absolute path of its file and a fingerprint of
that file (size, modification time, sha256), or, for a model loaded from bytes, the bytes; and
every option given to its constructor, whatever they are (they are recorded generically, so a
new load option travels without changes here). Unpickling loads the model again, once per
process: copies unpickled later in the same process share the first (see _cache.py), except
models that keep state between calls, which each get their own, since sharing would mix their
state. A pickle carries no state a model's methods built up.

An instance of a user's subclass of Model or IsolatedModel pickles as pickle pickles any
object: its class by reference and its own attributes (those its pyfront base's constructor
did not set) as state, restored without calling the subclass's constructor. The model itself
is loaded by the pyfront base class from the same recipe, with the same checks. Each
unpickled subclass instance is a load of its own: pickle sets the attributes on the object it
gets back, and on a shared copy they would leak into every other unpickle of the pickle.

The fingerprint is taken against the file as it was when the model was loaded; pickling fails
if the file changed since. Unpickling compares size and sha256 with the file found under the
same path and refuses a different one (ModelChangedError). The modification time is reported,
not compared: copying the file to another machine changes it without changing the model.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import os
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from . import _cache
from .errors import ModelChangedError, ModelLoadError, ModelNotFoundError

RECIPE_VERSION = 1
_KINDS = ("Model", "IsolatedModel")
_HASH_CHUNK = 1 << 20


@dataclass
class _LoadRecord:
    """What a constructor was given, kept on the object it built."""

    path: Optional[str]  # absolute, resolved against the working folder at load time
    data: Optional[bytes]
    options: dict
    signature: Optional[tuple]  # _cache.file_signature(path) just before the load
    digest: Optional[tuple] = None  # (signature, sha256) once computed
    # The attributes the pyfront constructor set: a subclass's are the others.
    base_attributes: frozenset = frozenset()


@dataclass(frozen=True)
class Recipe:
    """How to load a model again, in this process or another one."""

    kind: str  # "Model" or "IsolatedModel"
    options: dict
    path: Optional[str] = None
    size: Optional[int] = None
    mtime_ns: Optional[int] = None
    sha256: Optional[str] = None
    data: Optional[bytes] = field(default=None, repr=False)
    host: str = ""
    version: int = RECIPE_VERSION

    def load(self) -> Any:
        return restore(self)


def records_load(init: Callable) -> Callable:
    """Decorates Model.__init__ and IsolatedModel.__init__: keeps the source and every
    argument given, so that pickle can load the same model again."""
    signature = inspect.signature(init)

    @functools.wraps(init)
    def wrapper(self, source, *args, **kwargs):
        bound = signature.bind(self, source, *args, **kwargs)
        options: dict = {}
        for name, value in list(bound.arguments.items())[2:]:
            if signature.parameters[name].kind is inspect.Parameter.VAR_KEYWORD:
                options.update(value)
            else:
                options[name] = value
        # An iterator (a generator of warm-up shapes, say) would be used up by the load.
        options = {
            name: list(value) if isinstance(value, Iterator) else value
            for name, value in options.items()
        }
        before = set(vars(self))  # a subclass may set attributes before calling its base
        self._load_record = _record_source(source, options)
        init(self, source, **options)
        self._load_record.base_attributes = frozenset(vars(self).keys() - before)

    return wrapper


def _record_source(source: Any, options: dict) -> _LoadRecord:
    if isinstance(source, bytes):
        return _LoadRecord(None, source, options, None)
    if isinstance(source, (bytearray, memoryview)):
        return _LoadRecord(None, bytes(source), options, None)  # the caller may change it
    try:
        path = os.path.abspath(os.fspath(source))
        if isinstance(path, bytes):
            path = os.fsdecode(path)
        signature: Optional[tuple] = _cache.file_signature(path)
    except (TypeError, ValueError, OSError):
        return _LoadRecord(None, None, options, None)  # the constructor reports the problem
    return _LoadRecord(path, None, options, signature)


def reduce(model: Any) -> tuple:
    """`__reduce__` of Model and IsolatedModel, and of their subclasses."""
    recipe = recipe_of(model)
    if type(model) is _model_class(recipe.kind):
        return restore, (recipe,)
    return restore_subclass, (type(model), recipe), _own_state(model)


def _own_state(model: Any) -> Optional[dict]:
    """A subclass instance's own attributes, as pickle's default state (None when there are
    none); the base's attributes belong to the loaded model and are made again by the load."""
    base = model._load_record.base_attributes
    return {name: value for name, value in vars(model).items() if name not in base} or None


def recipe_of(model: Any) -> Recipe:
    """The recipe of a loaded model; fingerprints its file (once per file version)."""
    kind = _kind_of(type(model))
    record: _LoadRecord = model._load_record
    if record.data is not None:
        return Recipe(kind, dict(record.options), data=record.data, host=socket.gethostname())
    if record.path is None or record.signature is None:
        raise ModelLoadError(f"{model!r} has no file to pickle a recipe of")
    try:
        now = _cache.file_signature(record.path)
    except OSError:
        now = None
    if now != record.signature:
        raise ModelChangedError(
            f"the model file {record.path} changed or disappeared since this model was loaded "
            f"from it, so a pickle could not load the same model again; load the file again "
            f"and pickle the new model"
        )
    if record.digest is None or record.digest[0] != now:
        record.digest = (now, _sha256_of_file(record.path, now))
    return Recipe(
        kind,
        dict(record.options),
        path=record.path,
        size=now[2],
        mtime_ns=now[3],
        sha256=record.digest[1],
        host=socket.gethostname(),
    )


def recipe_for_file(kind: str, path: str, options: dict) -> Recipe:
    """A recipe for loading `path` with `options` elsewhere, without loading it here."""
    path = os.path.abspath(path)
    try:
        signature = _cache.file_signature(path)
    except FileNotFoundError:
        error = ModelNotFoundError(f"model file not found: '{path}'")
        error.filename = path
        raise error from None
    except OSError as error:
        raise ModelLoadError(f"cannot read the model file '{path}': {error.strerror}") from None
    return Recipe(
        kind,
        dict(options),
        path=path,
        size=signature[2],
        mtime_ns=signature[3],
        sha256=_sha256_of_file(path, signature),
        host=socket.gethostname(),
    )


def restore(recipe: Recipe) -> Any:
    """Unpickles a model: the process's shared copy when there is one, else a new load."""
    cls = _checked_class(recipe)
    if recipe.data is not None:
        return _restore_bytes(recipe, recipe.data, cls, share=True)
    return _restore_file(recipe, cls, share=True)


def restore_subclass(subclass: Any, recipe: Recipe) -> Any:
    """Unpickles an instance of a subclass: loaded by its pyfront base class into a new
    instance of `subclass`, whose own constructor is not called (nor is it by pickle); pickle
    then sets the instance's own attributes. Never shared: see the module's docstring."""
    base: Any = _checked_class(recipe)
    _check_subclass(subclass, base)

    def load(source: Any, **options: Any) -> Any:
        model = subclass.__new__(subclass)  # as pickle makes an object: no __init__
        base.__init__(model, source, **options)
        return model

    if recipe.data is not None:
        return _restore_bytes(recipe, recipe.data, load, share=False)
    return _restore_file(recipe, load, share=False)


def _check_subclass(subclass: Any, base: type) -> None:
    if not (isinstance(subclass, type) and issubclass(subclass, base)):
        raise ModelLoadError(
            f"a pickled {base.__name__} names {subclass!r} as its class, which is not a "
            f"subclass of {base.__name__}; unpickle it where the same classes are installed"
        )


# The type each field of a recipe must have; a pickle is data from elsewhere, and a field of
# another type (a damaged or hand-made pickle) must end in a clear error, not a TypeError deep
# inside the load.
_FIELD_TYPES: dict[str, tuple] = {
    "kind": (str,),
    "options": (dict,),
    "path": (str, type(None)),
    "size": (int, type(None)),
    "mtime_ns": (int, type(None)),
    "sha256": (str, type(None)),
    "data": (bytes, type(None)),
    "host": (str,),
    "version": (int,),
}


def _checked_class(recipe: Recipe) -> type:
    """The pyfront class that loads `recipe`, once sure this pyfront understands it."""
    if not isinstance(recipe, Recipe):
        raise ModelLoadError(f"a pickled pyfront model holds {type(recipe).__name__}, not a recipe")
    for name, types in _FIELD_TYPES.items():
        value = getattr(recipe, name)
        if not isinstance(value, types) or isinstance(value, bool):
            raise ModelLoadError(
                f"this pickled model's recipe is damaged: its {name} is {type(value).__name__} "
                f"{value!r:.60}; pickle the model again"
            )
    if recipe.version > RECIPE_VERSION:
        raise ModelLoadError(
            "this pickled model was made by a newer pyfront; install the same pyfront version "
            "on every machine that unpickles it"
        )
    if recipe.kind not in _KINDS or any(not isinstance(name, str) for name in recipe.options):
        raise ModelLoadError(
            f"this pickled model's recipe is damaged: kind {recipe.kind!r:.40}, options "
            f"{sorted(map(repr, recipe.options))!r:.80}; pickle the model again"
        )
    if (recipe.path is None) == (recipe.data is None) or (
        recipe.path is not None and (recipe.size is None or recipe.sha256 is None)
    ):
        raise ModelLoadError(
            "this pickled model's recipe is damaged: it must hold the model's bytes, or name a "
            "file with its size and sha256; pickle the model again"
        )
    cls = _model_class(recipe.kind)
    try:
        inspect.signature(cls).bind("source", **recipe.options)
    except TypeError as error:
        raise ModelLoadError(
            f"this pyfront cannot load the pickled model ({error}); install the same pyfront "
            f"version on every machine that unpickles it"
        ) from None
    return cls


def _restore_bytes(recipe: Recipe, data: bytes, load: Callable, share: bool) -> Any:
    options = recipe.options
    digest = hashlib.sha256(data).hexdigest()
    key = (recipe.kind, f"sha256:{digest}", _cache.options_key(options))
    entry = _cache.lookup(key, None) if share else None
    if entry is not None and not entry.model.keeps_state:
        return entry.model
    model = load(data, **options)
    if share and not model.keeps_state:
        _cache.store(key, None, model, digest)
    return model


def _restore_file(recipe: Recipe, load: Callable, share: bool) -> Any:
    path = str(recipe.path)
    host = socket.gethostname()
    signature = _signature_on_this_host(recipe, path)
    key = (recipe.kind, os.path.realpath(path), _cache.options_key(recipe.options))
    entry = _cache.lookup(key, signature) if share else None
    if entry is not None and not entry.model.keeps_state:
        digest = entry.digest or _sha256_of_file(path, signature)
        _check_same_file(recipe, path, signature, digest)
        if entry.digest is None:
            _cache.store(key, signature, entry.model, digest)
        return entry.model
    digest = _sha256_of_file(path, signature)
    _check_same_file(recipe, path, signature, digest)
    model = load(path, **recipe.options)
    if model._load_record.signature != signature:  # replaced between hashing and loading
        model.close()
        raise ModelChangedError(
            f"the model file {path} on host {host} changed while it was "
            f"being loaded; try again once it is complete"
        )
    if share and not model.keeps_state:
        _cache.store(key, signature, model, digest)
    return model


def _signature_on_this_host(recipe: Recipe, path: str) -> tuple:
    host = socket.gethostname()
    try:
        return _cache.file_signature(path)
    except FileNotFoundError:
        error = ModelNotFoundError(
            f"the model file {path} does not exist on host {host} (process {os.getpid()}): a "
            f"pickled model holds its file's path, not its weights, so every machine that "
            f"unpickles it needs the same file at that path (it was pickled on host "
            f"{recipe.host})"
        )
        error.filename = path
        raise error from None
    except OSError as error:
        raise ModelLoadError(
            f"cannot read the model file {path} on host {host}: {error.strerror}"
        ) from None


def _check_same_file(recipe: Recipe, path: str, signature: tuple, digest: str) -> None:
    if signature[2] == recipe.size and digest == recipe.sha256:
        return
    raise ModelChangedError(
        f"the model file {path} on host {socket.gethostname()} changed since the model was "
        f"pickled: it now has {signature[2]:,} bytes, sha256 {digest[:16]}..., modified "
        f"{_when(signature[3])}; the pickle was made from {recipe.size:,} bytes, sha256 "
        f"{str(recipe.sha256)[:16]}..., modified {_when(recipe.mtime_ns)} on host "
        f"{recipe.host}. Put that file back, or load the new file and pickle that model"
    )


def _sha256_of_file(path: str, signature: tuple) -> str:
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as file:
            for chunk in iter(lambda: file.read(_HASH_CHUNK), b""):
                digest.update(chunk)
    except OSError as error:
        raise ModelLoadError(
            f"cannot read the model file {path} on host {socket.gethostname()}: {error.strerror}"
        ) from None
    if _cache.file_signature(path) != signature:
        raise ModelChangedError(
            f"the model file {path} changed while it was being read; try again once it is complete"
        )
    return digest.hexdigest()


def _when(mtime_ns: Optional[int]) -> str:
    if mtime_ns is None:
        return "at an unknown time"
    try:
        return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(mtime_ns / 1e9))
    except (ValueError, OverflowError, OSError):  # no date a time_t can hold
        return "at an unknown time"


def _kind_of(model_type: type) -> str:
    """ "Model" or "IsolatedModel": the pyfront class `model_type` is or derives from."""
    for kind in _KINDS:
        if issubclass(model_type, _model_class(kind)):
            return kind
    raise ModelLoadError(f"{model_type!r} is neither a pyfront Model nor an IsolatedModel")


def _model_class(kind: str) -> type:
    if kind == "Model":
        from .model import Model

        return Model
    if kind == "IsolatedModel":
        from .isolated import IsolatedModel

        return IsolatedModel
    raise ModelLoadError(
        f"a pickled model of unknown kind {kind!r}; install the same pyfront "
        f"version on every machine that unpickles it"
    )
