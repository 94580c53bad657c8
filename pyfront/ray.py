"""Classifying image files with Ray Data (`pip install pyfront[ray]`).

    import ray
    import pyfront
    from pyfront.ray import ImageClassifier

    files = ray.data.from_items([{"path": p} for p in image_paths])   # the workers read them
    results = files.map_batches(
        ImageClassifier, fn_constructor_kwargs={"model": pyfront.Model("resnet18.pt"), "k": 5},
        batch_size=16, compute=ray.data.ActorPoolStrategy(size=2), num_cpus=1)

The Model travels as its recipe (its file's absolute path, a fingerprint of the file and its
load options: a few hundred bytes), so every machine needs the file at the same path; each
worker process loads it once and refuses a file that differs from the one the driver saw.
Each worker runs libtorch with as many threads as the CPUs Ray granted it (`num_cpus`), so
workers sharing a machine do not oversubscribe its cores.

Importing this module imports Ray; nothing else in pyfront does.
"""

from __future__ import annotations

import os
from typing import Any

from ._ray_engine import import_ray
from ._recipe import Recipe
from .classify import classify_batch, labels_of
from .preprocess import Preprocessing
from .result_files import result_columns

ray = import_ray()  # first: without Ray, the error says how to install it

import pyarrow as pa  # noqa: E402  (installed with ray[data])

__all__ = ["ImageClassifier", "use_assigned_cpus"]


def use_assigned_cpus() -> int:
    """Sets libtorch's threads in this process to the CPUs Ray assigned to the calling task or
    actor (at least one) and returns that number. Outside Ray it changes nothing and returns
    the current count."""
    from ._runtime import get_num_threads, set_num_threads

    if not ray.is_initialized():
        return get_num_threads()
    cpus = ray.get_runtime_context().get_assigned_resources().get("CPU", 0)
    threads = max(1, int(cpus))
    set_num_threads(threads)
    return threads


class ImageClassifier:
    """A callable class for `Dataset.map_batches`: reads the image files named in a batch's
    `column`, preprocesses them as `pyfront classify` does (the model's metadata says how) and
    adds their top-k as the columns `error` (null, or why the file could not be read),
    `index`, `label` and `prob` (lists of k, most probable first). Other one-dimensional
    columns of the batch are passed through; the result is a pyarrow Table.

    `model` is a Model or IsolatedModel (unpickled once per worker process), or a path that
    each worker loads as it finds it.
    """

    def __init__(self, model: Any, k: int = 5, column: str = "path"):
        self.threads = use_assigned_cpus()  # before loading: the warm-up runs with them
        if isinstance(model, Recipe):  # from classify --engine ray: its driver loads no model
            model = model.load()
        elif isinstance(model, (str, os.PathLike)):
            from .infer import _cached_model

            model = _cached_model(model)
        self.model, self.k, self.column = model, k, column
        self.spec = Preprocessing.from_metadata(model.metadata)
        self.labels = labels_of(model)

    def __call__(self, batch: Any) -> Any:
        if isinstance(batch, pa.Table):
            columns = {name: batch.column(name) for name in batch.column_names}
        else:  # Ray Data's default batch format: {column: numpy array}
            columns = {
                name: pa.array(list(values))
                for name, values in batch.items()
                if getattr(values, "ndim", 1) == 1
            }
        paths = [str(path) for path in columns[self.column].to_pylist()]
        columns.update(result_columns(self.classify(paths)))
        return pa.table(columns)

    def classify(self, paths: list) -> list:
        """classify's results for `paths`, run through the model as one batch."""
        return classify_batch(paths, self.model, self.spec, self.labels, self.k)
