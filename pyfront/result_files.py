"""Classification results as files and as columns.

A result is classify's dict: {"image": path, "top": [{"index", "label", "prob"}, ...]} or
{"image": path, "error": reason}. As columns (Parquet files, and the batches Ray workers hand
back) it is: image (string), error (string, null when classified), index (list of int64),
label (list of string), prob (list of float32, the model's own precision); the lists are empty
for an error.
"""

from __future__ import annotations

import json
import os
from typing import Any

from .errors import PyfrontError

RESULT_COLUMNS = ("error", "index", "label", "prob")
_PARQUET_ROWS = 4096  # rows per row group: bounded memory for any number of images


def _pyarrow() -> Any:
    try:
        import pyarrow
    except ImportError:
        raise PyfrontError(
            "writing Parquet needs pyarrow: pip install pyarrow (it comes with "
            "pip install pyfront[ray])"
        ) from None
    return pyarrow


def result_columns(results: list) -> dict:
    """pyarrow arrays of the columns after `image`, one row per result."""
    pa = _pyarrow()
    tops = [result.get("top", []) for result in results]
    return {
        "error": pa.array([result.get("error") for result in results], pa.string()),
        "index": pa.array([[e["index"] for e in top] for top in tops], pa.list_(pa.int64())),
        "label": pa.array([[e["label"] for e in top] for top in tops], pa.list_(pa.string())),
        "prob": pa.array([[e["prob"] for e in top] for top in tops], pa.list_(pa.float32())),
    }


def result_from_row(image: str, row: dict) -> dict:
    """The result dict of one row of result columns."""
    if row["error"] is not None:
        return {"image": image, "error": row["error"]}
    return {
        "image": image,
        "top": [
            {"index": int(index), "label": label, "prob": float(prob)}
            for index, label, prob in zip(row["index"], row["label"], row["prob"])
        ],
    }


class JsonLinesFile:
    """One JSON object per line, written as results arrive."""

    def __init__(self, path: str):
        self._file = open(path, "w", encoding="utf-8")

    def write(self, result: dict) -> None:
        self._file.write(json.dumps(result) + "\n")

    def close(self) -> None:
        self._file.close()


class ParquetFile:
    """A Parquet file of result columns, written a row group at a time."""

    def __init__(self, path: str):
        pa = _pyarrow()
        import pyarrow.parquet as pq

        self._schema = pa.schema(
            [("image", pa.string())]
            + [(name, array.type) for name, array in result_columns([]).items()]
        )
        self._writer = pq.ParquetWriter(path, self._schema)
        self._pending: list = []

    def write(self, result: dict) -> None:
        self._pending.append(result)
        if len(self._pending) >= _PARQUET_ROWS:
            self._flush()

    def _flush(self) -> None:
        if not self._pending:
            return
        pa = _pyarrow()
        columns = {
            "image": pa.array([r["image"] for r in self._pending], pa.string()),
            **result_columns(self._pending),
        }
        self._writer.write_table(pa.table(columns, schema=self._schema))
        self._pending = []

    def close(self) -> None:
        self._flush()
        self._writer.close()


def open_results_file(path: str):
    """A writer for `path`: Parquet when the name ends in .parquet, JSON lines otherwise."""
    if os.fspath(path).lower().endswith(".parquet"):
        return ParquetFile(path)
    return JsonLinesFile(path)
