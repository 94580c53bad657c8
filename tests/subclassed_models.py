"""Users' subclasses of Model and IsolatedModel, importable by the processes that unpickle them:
constructors with their own arguments, an attribute each sets, and a method of their own."""

from __future__ import annotations

import numpy as np

import pyfront


class Labelled(pyfront.Model):
    """A classifier that names its classes."""

    constructed = 0  # how many times __init__ ran; unpickling must not run it

    def __init__(self, labels: list[str], path: str, **options) -> None:
        type(self).constructed += 1
        self.labels = list(labels)  # set before the base loads: still the subclass's own
        super().__init__(path, **options)
        self.calls = 0

    def best_labels(self, batch: np.ndarray) -> list[str]:
        self.calls += 1
        return [self.labels[index] for index in self.forward(batch).argmax(1)]


class LabelledIsolated(pyfront.IsolatedModel):
    """The same for a model run in a worker process."""

    def __init__(self, path: str, labels: list[str]) -> None:
        super().__init__(path, timeout=60, freeze=False)
        self.labels = list(labels)

    def best_labels(self, batch: np.ndarray) -> list[str]:
        return [self.labels[index] for index in self.forward(batch).argmax(1)]
