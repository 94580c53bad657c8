"""Benchmarks ResNet-18 side by side: pyfront, libtsrt from C, the recipe's torch.jit.load path,
eager PyTorch and (when installed) ONNX Runtime, on the same weights; plus call overhead, cold
start, first call and two-thread throughput. Prints a table of medians, p90 and ratios, and
writes JSON (and a PNG chart where matplotlib is installed).

    python scripts/bench.py                 # the full run (a few minutes)
    python scripts/bench.py --quick         # fewer repetitions
    pip install onnxruntime onnx            # optional: adds ONNX Runtime (CPU provider)

Each contender runs in its own child process, one after another, so none shares thread pools
or allocator state with another; ratios compare runs made side by side in this one run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "build" / "bench"
CORES = os.cpu_count() or 1


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def summary(times_ms: list[float], per: int = 1) -> dict:
    ordered = sorted(times_ms)
    p90 = ordered[min(len(ordered) - 1, int(round(0.9 * (len(ordered) - 1))))]
    return {
        "median_ms": statistics.median(ordered) / per,
        "p90_ms": p90 / per,
        "runs": len(ordered),
    }


# --- workers: each runs in a child process and prints one JSON line --------------------------


def _timed(call, runs: int) -> tuple[float, list[float]]:
    start = time.perf_counter()
    call()
    first = (time.perf_counter() - start) * 1e3
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        call()
        times.append((time.perf_counter() - start) * 1e3)
    return first, times


def _input(batch: int):
    import numpy as np

    return np.random.default_rng(batch).random((batch, 3, 224, 224), dtype=np.float32)


def worker_pyfront(args) -> dict:
    import pyfront

    x = _input(args.batch)
    start = time.perf_counter()
    model = pyfront.Model(args.model, warmup=[x.shape])
    load = (time.perf_counter() - start) * 1e3
    first, times = _timed(lambda: model.topk(x, k=5), args.runs)
    return {"load_ms": load, "first_ms": first, "ms": times, "fused": model.fused}


def worker_recipe(args) -> dict:
    import torch

    x = torch.from_numpy(_input(args.batch))
    model = torch.jit.load(args.model).eval()

    def call():
        with torch.no_grad():
            torch.softmax(model(x), 1).topk(5)

    first, times = _timed(call, args.runs)
    return {"first_ms": first, "ms": times}


def worker_eager(args) -> dict:
    import torch
    import torchvision

    torch.manual_seed(0)
    model = torchvision.models.resnet18(weights=None).eval()
    x = torch.from_numpy(_input(args.batch))

    def call():
        with torch.inference_mode():
            torch.softmax(model(x), 1).topk(5)

    first, times = _timed(call, args.runs)
    return {"first_ms": first, "ms": times}


def worker_onnxruntime(args) -> dict:
    import numpy as np
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = CORES
    session = onnxruntime.InferenceSession(args.model, options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    x = _input(args.batch)

    def call():
        logits = session.run(None, {name: x})[0]
        e = np.exp(logits - logits.max(axis=1, keepdims=True))
        np.argsort(-(e / e.sum(axis=1, keepdims=True)), axis=1)[:, :5]

    first, times = _timed(call, args.runs)
    return {"first_ms": first, "ms": times, "version": onnxruntime.__version__}


def worker_tiny(args) -> dict:
    """Per-call cost of a 4-element x + 1 model, in microseconds per call."""
    import numpy as np

    x = np.zeros(4, np.float32)
    if args.which == "pyfront":
        import pyfront

        model = pyfront.Model(args.model)
        call = model.forward
    else:
        import torch

        model = torch.jit.load(args.model)
        tx = torch.from_numpy(x)
        call = model.forward
        x = tx
    for _ in range(2000):
        call(x)
    samples = []
    for _ in range(args.runs):
        start = time.perf_counter()
        for _ in range(1000):
            call(x)
        samples.append((time.perf_counter() - start) * 1e3)  # ms per 1000 calls = us per call
    return {"ms": samples}


def worker_threads(args) -> dict:
    """Throughput of one Model with 1 intra-op thread: one caller thread, then two."""
    import threading

    import pyfront

    pyfront.set_num_threads(1)
    x = _input(1)
    model = pyfront.Model(args.model, warmup=[x.shape])
    calls = args.runs

    def work():
        for _ in range(calls):
            model.topk(x)

    results = {}
    for threads in (1, 2):
        workers = [threading.Thread(target=work) for _ in range(threads)]
        start = time.perf_counter()
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        elapsed = time.perf_counter() - start
        results[f"{threads}_threads_per_s"] = threads * calls / elapsed
    return results


WORKERS = {
    "pyfront": worker_pyfront,
    "recipe": worker_recipe,
    "eager": worker_eager,
    "onnxruntime": worker_onnxruntime,
    "tiny": worker_tiny,
    "threads": worker_threads,
}


def run_worker(name: str, **kwargs) -> dict:
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", name]
    for key, value in kwargs.items():
        command += [f"--{key}", str(value)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=1800)
    if result.returncode != 0:
        raise RuntimeError(f"{name} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


# --- artefacts ---------------------------------------------------------------------------------


def prepare() -> dict:
    """The models, all from the same seeded weights."""
    sys.path.insert(0, str(ROOT / "scripts"))
    import warnings

    import torch

    import export

    OUT.mkdir(parents=True, exist_ok=True)
    paths = {
        "default": OUT / "resnet18.pt",
        "plain": OUT / "resnet18-plain.pt",
        "tiny": OUT / "add-one.pt",
    }
    if not paths["default"].exists():
        export.export("resnet18", output=paths["default"], seed=0)
    if not paths["plain"].exists():
        export.export("resnet18", output=paths["plain"], seed=0, plain=True)

    class AddOne(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x + 1

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        torch.jit.script(AddOne()).save(str(paths["tiny"]))
    try:
        import onnx  # noqa: F401  (the exporter needs it)
        import onnxruntime  # noqa: F401
        import torchvision

        onnx_path = OUT / "resnet18.onnx"
        if not onnx_path.exists():
            torch.manual_seed(0)
            eager = torchvision.models.resnet18(weights=None).eval()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                torch.onnx.export(
                    eager,
                    (torch.zeros(1, 3, 224, 224),),
                    str(onnx_path),
                    dynamo=False,
                    input_names=["x"],
                    output_names=["logits"],
                    dynamic_axes={"x": {0: "n"}, "logits": {0: "n"}},
                )
        paths["onnx"] = onnx_path
    except ImportError:
        log(
            "onnxruntime or onnx not installed: ONNX Runtime is left out "
            "(pip install onnxruntime onnx)"
        )
    return paths


def cold_start(model: Path, runs: int) -> dict:
    """Wall time of a whole new process that loads the model and prints its top-5."""
    pyfront_code = (
        "import numpy as np, pyfront; "
        f"print(pyfront.infer({str(model)!r}, np.ones((3, 224, 224), np.float32))"
        ".indices[0].tolist())"
    )
    torch_code = (
        "import torch; "
        f"m = torch.jit.load({str(model)!r}); "
        "print(torch.softmax(m(torch.ones(1, 3, 224, 224)), 1).topk(5).indices[0].tolist())"
    )
    results = {}
    for name, code in (("pyfront", pyfront_code), ("torch", torch_code)):
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
            times.append((time.perf_counter() - start) * 1e3)
        results[name] = summary(times)
    return results


# --- report -------------------------------------------------------------------------------------


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    parser.add_argument("--json", type=Path, default=OUT / "results.json")
    parser.add_argument("--worker", choices=sorted(WORKERS), help=argparse.SUPPRESS)
    parser.add_argument("--model", help=argparse.SUPPRESS)
    parser.add_argument("--batch", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--runs", type=int, default=20, help=argparse.SUPPRESS)
    parser.add_argument("--which", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(WORKERS[args.worker](args)))
        return 0

    runs = {1: 10 if args.quick else 30, 8: 4 if args.quick else 12}
    paths = prepare()
    results = {"machine": {"cores": CORES}, "latency": {}, "ratios": {}}
    c_bench = ROOT / "build" / "tsrt-bench"
    for batch in (1, 8):
        row = {}
        contenders = [
            (
                "pyfront",
                lambda: run_worker(
                    "pyfront", model=paths["default"], batch=batch, runs=runs[batch]
                ),
            ),
            (
                "C (libtsrt)",
                lambda: json.loads(
                    subprocess.run(
                        [str(c_bench), str(paths["default"]), str(batch), str(runs[batch])],
                        check=True,
                        capture_output=True,
                        text=True,
                    ).stdout
                ),
            ),
            (
                "recipe (torch.jit.load)",
                lambda: run_worker("recipe", model=paths["plain"], batch=batch, runs=runs[batch]),
            ),
            ("eager PyTorch", lambda: run_worker("eager", batch=batch, runs=runs[batch])),
        ]
        if "onnx" in paths:
            contenders.append(
                (
                    "ONNX Runtime",
                    lambda: run_worker(
                        "onnxruntime", model=paths["onnx"], batch=batch, runs=runs[batch]
                    ),
                )
            )
        for name, measure in contenders:
            log(f"batch {batch}: {name}")
            raw = measure()
            row[name] = {
                **summary(raw["ms"], per=batch),
                "first_ms": raw.get("first_ms"),
                **({"fused": raw["fused"]} if "fused" in raw else {}),
            }
        results["latency"][f"batch {batch}"] = row

    log("call overhead: x + 1 on 4 elements")
    tiny_runs = 10 if args.quick else 30
    results["tiny_call_us"] = {
        "pyfront Model.forward": summary(
            run_worker("tiny", model=paths["tiny"], runs=tiny_runs, which="pyfront")["ms"]
        ),
        "torch.jit.load forward": summary(
            run_worker("tiny", model=paths["tiny"], runs=tiny_runs, which="torch")["ms"]
        ),
    }
    log("cold start: a new process loads ResNet-18 and prints its top-5")
    results["cold_start"] = cold_start(paths["default"], 3 if args.quick else 5)
    log("two threads on one model, one intra-op thread each")
    results["threads"] = run_worker(
        "threads", model=paths["default"], runs=10 if args.quick else 30
    )

    report(results)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=1))
    log(f"wrote {args.json}")
    chart(results, args.json.with_suffix(".png"))
    return 0


def report(results: dict) -> None:
    ratios = results["ratios"]
    lines = [
        "| batch | path | median ms/image | p90 | vs ONNX Runtime | vs recipe | first call |",
        "|---|---|---|---|---|---|---|",
    ]
    for batch, row in results["latency"].items():
        ort = row.get("ONNX Runtime", {}).get("median_ms")
        recipe = row["recipe (torch.jit.load)"]["median_ms"]
        for name, r in row.items():
            vs_ort = f"{r['median_ms'] / ort:.2f}x" if ort else "n/a"
            vs_recipe = f"{r['median_ms'] / recipe:.2f}x"
            first = f"{r['first_ms']:.1f} ms" if r.get("first_ms") is not None else ""
            lines.append(
                f"| {batch.split()[1]} | {name} | {r['median_ms']:.2f} | "
                f"{r['p90_ms']:.2f} | {vs_ort} | {vs_recipe} | {first} |"
            )
            ratios[f"{batch} {name} vs recipe"] = r["median_ms"] / recipe
            if ort:
                ratios[f"{batch} {name} vs ONNX Runtime"] = r["median_ms"] / ort
        ours = row["pyfront"]
        ratios[f"{batch} pyfront first call vs median"] = ours["first_ms"] / (
            ours["median_ms"] * int(batch.split()[1])
        )
    tiny = results["tiny_call_us"]
    ratios["tiny call pyfront vs torch.jit.load"] = (
        tiny["pyfront Model.forward"]["median_ms"] / tiny["torch.jit.load forward"]["median_ms"]
    )
    cold = results["cold_start"]
    ratios["cold start pyfront vs torch"] = (
        cold["pyfront"]["median_ms"] / cold["torch"]["median_ms"]
    )
    threads = results["threads"]
    ratios["two threads throughput vs one"] = (
        threads["2_threads_per_s"] / threads["1_threads_per_s"]
    )
    lines += [
        "",
        "| measure | pyfront | PyTorch | ratio |",
        "|---|---|---|---|",
        f"| x + 1 call, us | {tiny['pyfront Model.forward']['median_ms']:.2f} | "
        f"{tiny['torch.jit.load forward']['median_ms']:.2f} | "
        f"{ratios['tiny call pyfront vs torch.jit.load']:.2f}x |",
        f"| cold start, ms | {cold['pyfront']['median_ms']:.0f} | "
        f"{cold['torch']['median_ms']:.0f} | {ratios['cold start pyfront vs torch']:.2f}x |",
        f"| 2 threads vs 1, calls/s | {threads['2_threads_per_s']:.1f} | "
        f"{threads['1_threads_per_s']:.1f} (1 thread) | "
        f"{ratios['two threads throughput vs one']:.2f}x |",
    ]
    print("\n".join(lines))


def chart(results: dict, path: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    figure, axes = plt.subplots(1, len(results["latency"]), figsize=(11, 4))
    for axis, (batch, row) in zip(axes, results["latency"].items()):
        names = list(row)
        axis.barh(names, [row[n]["median_ms"] for n in names], color="#4477aa")
        axis.set_title(f"ResNet-18, {batch}: ms per image (median)")
        axis.invert_yaxis()
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    log(f"wrote {path}")


if __name__ == "__main__":
    sys.exit(main())
