"""The class `pyfront classify --engine ray` runs in Ray's workers. Imports Ray."""

from __future__ import annotations

from typing import Any, Optional

import pyarrow as pa

from .errors import PyfrontError
from .ray import ImageClassifier
from .result_files import result_columns


class ReportingClassifier(ImageClassifier):
    """ImageClassifier for rows that each hold one model batch: `first` (the position of its
    first image among all) and `paths`, as the local run groups them, so that every image goes
    through the model in the same company and gets the very numbers it gets locally. Returns
    a row per image: `i` (its position), `path`, the result columns, and `failure`: null, or
    the name of the pyfront exception that stopped the model (`error` then has its message),
    since Ray hands the driver only the text of an exception raised in a worker."""

    def __init__(self, model: Any, k: int):
        self.failure: Optional[PyfrontError] = None
        try:
            super().__init__(model, k)
        except PyfrontError as error:
            self.failure = error

    def __call__(self, batch: Any) -> Any:
        positions: list = []
        paths: list = []
        results: list = []
        for first, chunk in zip(batch["first"], batch["paths"]):
            chunk = [str(path) for path in chunk]
            positions.extend(range(int(first), int(first) + len(chunk)))
            paths.extend(chunk)
            if self.failure is None:
                try:
                    results.extend(self.classify(chunk))
                except PyfrontError as error:
                    self.failure = error
        if self.failure is not None:
            results = [{"error": str(self.failure)} for _ in paths]
        failure = type(self.failure).__name__ if self.failure is not None else None
        return pa.table(
            {
                "i": pa.array(positions, pa.int64()),
                "path": pa.array(paths, pa.string()),
                **result_columns(results),
                "failure": pa.array([failure] * len(paths), pa.string()),
            }
        )
