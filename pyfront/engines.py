"""Where `pyfront classify` runs: in this process ("local") or on Ray ("ray"). Both yield the
same results, in the order of the images; see classify.classify."""

from __future__ import annotations

import sys
from typing import Generator, Optional

ENGINES = ("local", "ray")


def classify_results(
    images: list,
    model_path: str,
    model_options: dict,
    *,
    engine: str,
    k: int,
    batch_size: int,
    progress: bool,
    address: Optional[str] = None,
    workers: Optional[int] = None,
    cpus_per_worker: float = 1,
) -> Generator[dict, None, None]:
    """classify's results for `images` under the model file `model_path`, loaded with
    `model_options`. Raises PyfrontError when the model cannot be loaded or run, or Ray
    cannot be used; unreadable images are results with an "error"."""
    if engine == "local":
        from .classify import classify
        from .model import Model

        model = Model(model_path, **model_options)
        if model.precision_note:
            print(f"pyfront classify: {model.precision_note}", file=sys.stderr)
        yield from classify(images, model, k, batch_size, progress)
        return
    if engine != "ray":
        raise ValueError(f"unknown engine {engine!r}")
    from ._ray_engine import classify_on_ray, ray_session
    from ._recipe import recipe_for_file

    # The driver only fingerprints the file; every worker loads it and checks the fingerprint.
    recipe = recipe_for_file("Model", model_path, model_options)
    if not images:
        return
    with ray_session(address):
        yield from classify_on_ray(
            images, recipe, k, batch_size, workers, cpus_per_worker, progress
        )
