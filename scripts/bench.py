"""Benchmarks ResNet-18 side by side on this CPU: pyfront and libtsrt from C in float32 and
bfloat16, the same model as an AOTInductor package (.pt2) through pyfront, the recipe's
torch.jit.load path, eager PyTorch, ONNX Runtime and OpenVINO (float32 and bfloat16 hints), all
on the same weights; batch sizes the model was not warmed for; bf16's
top-1 agreement with fp32; call overhead, cold start and two-thread throughput.

    python scripts/bench.py              # the full run: three interleaved rounds (~10 minutes)
    python scripts/bench.py --quick      # one round, fewer repetitions
    python scripts/bench.py --smoke      # every code path once, tiny repetitions (a test runs it)

The .pt2 package takes about a minute to compile the first time (kept in build/bench/ until
pyfront's package export changes); --smoke leaves it out.

Each measurement runs in a child process of its own, so no runtime shares thread pools or
allocator state with another; the rounds interleave every contender, and each figure is the
median over the rounds of per-round medians, so a burst of load on a shared machine does not
land on one contender only. The CPU (model, cores, bf16/AMX flags) and the load average are
printed and stored with the results: compare ratios from one run, never figures across
machines. Writes build/bench/results.json and results.png (a chart).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "build" / "bench"
CORES = os.cpu_count() or 1
IMAGE = (3, 224, 224)
# The flags that decide what bf16 costs on this CPU: AMX tiles (Sapphire Rapids and later),
# AVX512-BF16 (Cooper Lake, Zen 4 and later), plain AVX-512.
CPU_FLAGS = ("amx_bf16", "amx_tile", "avx512_bf16", "avx512f", "avx2")


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def cpu() -> dict:
    model, flags = "unknown", set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                model = value.strip()
            elif key.strip() == "flags":
                flags = set(value.split())
    except OSError:
        pass
    return {
        "model": model,
        "cores": CORES,
        "flags": [flag for flag in CPU_FLAGS if flag in flags],
        "load_average": os.getloadavg()[0],
    }


def summary(times_ms: list[float], per: int = 1) -> dict:
    ordered = sorted(times_ms)
    p90 = ordered[min(len(ordered) - 1, int(round(0.9 * (len(ordered) - 1))))]
    return {"median_ms": statistics.median(ordered) / per, "p90_ms": p90 / per}


# --- workers: each runs in a child process and prints one JSON line ----------------------------

SETTLE_CALLS = 2  # unmeasured calls between the first call and the timed ones
# The AOTInductor packages of the same model, compiled in each precision.
PACKAGES = {"fp32": "pyfront .pt2 (fp32)", "bf16": "pyfront .pt2 (bf16)"}


def _timed(call, runs: int) -> tuple[float, list[float]]:
    start = time.perf_counter()
    call()
    first = (time.perf_counter() - start) * 1e3
    for _ in range(SETTLE_CALLS):
        call()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        call()
        times.append((time.perf_counter() - start) * 1e3)
    return first, times


def _input(batch: int):
    import numpy as np

    return np.random.default_rng(batch).random((batch, *IMAGE), dtype=np.float32)


def worker_pyfront(args) -> dict:
    """pyfront.Model warmed for `--warm` images (default: the timed batch) at `--precision`."""
    import pyfront

    x = _input(args.batch)
    start = time.perf_counter()
    model = pyfront.Model(
        args.model, warmup=[(args.warm or args.batch, *IMAGE)], precision=args.precision
    )
    load = (time.perf_counter() - start) * 1e3
    first, times = _timed(lambda: model.topk(x, k=5), args.runs)
    return {
        "load_ms": load,
        "first_ms": first,
        "ms": times,
        "fused": model.fused,
        "precision": model.precision,
    }


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


def _softmax_top5(logits):
    import numpy as np

    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return np.argsort(-(e / e.sum(axis=1, keepdims=True)), axis=1)[:, :5]


def worker_onnxruntime(args) -> dict:
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = CORES
    session = onnxruntime.InferenceSession(args.model, options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    x = _input(args.batch)
    first, times = _timed(lambda: _softmax_top5(session.run(None, {name: x})[0]), args.runs)
    return {"first_ms": first, "ms": times, "version": onnxruntime.__version__}


def worker_openvino(args) -> dict:
    """OpenVINO on the ONNX export, reshaped to the timed batch (its fastest use), with the
    precision hint asked for; reports the precision it really runs with."""
    import openvino

    core = openvino.Core()
    network = core.read_model(args.model)
    network.reshape([args.batch, *IMAGE])
    compiled = core.compile_model(
        network,
        "CPU",
        {
            "INFERENCE_PRECISION_HINT": args.precision,
            "PERFORMANCE_HINT": "LATENCY",
            "INFERENCE_NUM_THREADS": CORES,
        },
    )
    request = compiled.create_infer_request()
    x = _input(args.batch)

    def call():
        request.infer({0: x})
        _softmax_top5(request.get_output_tensor(0).data)

    first, times = _timed(call, args.runs)
    return {
        "first_ms": first,
        "ms": times,
        "version": openvino.__version__,
        "precision": compiled.get_property("INFERENCE_PRECISION_HINT").to_string(),
    }


def worker_agreement(args) -> dict:
    """bf16 against fp32 on `--runs` seeded random inputs: how often the top-1 class is the
    same, and the largest logit difference relative to the largest logit."""
    import numpy as np

    import pyfront

    batch = 8
    shape = (batch, *IMAGE)
    fp32 = pyfront.Model(args.model, warmup=[shape])
    bf16 = pyfront.Model(args.model, warmup=[shape], precision="bf16")
    rng = np.random.default_rng(0)
    same = total = 0
    worst = 0.0
    for _ in range(max(1, args.runs // batch)):
        x = rng.standard_normal(shape, dtype=np.float32)
        a, b = fp32.forward(x), bf16.forward(x)
        same += int((a.argmax(1) == b.argmax(1)).sum())
        total += batch
        worst = max(worst, float(np.abs(a - b).max() / np.abs(a).max()))
    return {
        "same_top1": same,
        "inputs": total,
        "worst_relative_logit_difference": worst,
        "precision": bf16.precision,
        "precision_note": bf16.precision_note,
    }


def worker_tiny(args) -> dict:
    """Per-call cost of a 4-element x + 1 model, in microseconds per call."""
    import numpy as np

    x = np.zeros(4, np.float32)
    if args.which == "pyfront":
        import pyfront

        call = pyfront.Model(args.model).forward
    elif args.which == "pyfront-bound":
        import pyfront

        bound = pyfront.Model(args.model).bind(x)
        call = lambda _: bound()  # noqa: E731  (the same call shape as the others)
    else:
        import torch

        call = torch.jit.load(args.model).forward
        x = torch.from_numpy(x)
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
    for _ in range(SETTLE_CALLS + 1):
        model.topk(x)

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
        results[f"{threads}_threads_per_s"] = threads * calls / (time.perf_counter() - start)
    return results


WORKERS = {
    "pyfront": worker_pyfront,
    "recipe": worker_recipe,
    "eager": worker_eager,
    "onnxruntime": worker_onnxruntime,
    "openvino": worker_openvino,
    "agreement": worker_agreement,
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


def run_c(*arguments) -> dict:
    command = [str(ROOT / "build" / "tsrt-bench"), *map(str, arguments)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=1800)
    if result.returncode != 0:
        raise RuntimeError(f"tsrt-bench failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout)


# --- the models ---------------------------------------------------------------------------------


def prepare(with_package: bool) -> dict:
    """The models, all from the same seeded weights (the machines this runs on are offline, so
    the weights are the seeded random initialisation; speed does not depend on their values)."""
    import hashlib
    import warnings

    import torch
    import torchvision

    from pyfront import export, export_pt2

    OUT.mkdir(parents=True, exist_ok=True)
    paths = {
        "default": OUT / "resnet18.pt",
        "plain": OUT / "resnet18-plain.pt",
        "tiny": OUT / "add-one.pt",
        "onnx": OUT / "resnet18.onnx",
    }
    if not paths["default"].exists():
        export.export("resnet18", weights="random", output=paths["default"], seed=0)
    if not paths["plain"].exists():
        export.export("resnet18", weights="random", output=paths["plain"], seed=0, plain=True)
    for precision in PACKAGES if with_package else ():
        # Compiled again whenever the package export changes: a package keeps the settings it
        # was compiled with, so an old one would measure an old export.
        path = paths[f"pt2 {precision}"] = OUT / f"resnet18-{precision}.pt2"
        stamp = path.with_name(path.name + ".source-sha256")
        source = hashlib.sha256(Path(export_pt2.__file__).read_bytes()).hexdigest()
        if not path.exists() or not stamp.exists() or stamp.read_text() != source:
            log(f"compiling {path.name} (about a minute)")
            export.export(
                "resnet18",
                weights="random",
                output=path,
                seed=0,
                format="pt2",
                precision=precision,
            )
            stamp.write_text(source)

    class AddOne(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x + 1

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        torch.jit.script(AddOne()).save(str(paths["tiny"]))
    if not paths["onnx"].exists():
        torch.manual_seed(0)  # the seed export.py's random initialisation uses
        eager = torchvision.models.resnet18(weights=None).eval()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                eager,
                (torch.zeros(1, *IMAGE),),
                str(paths["onnx"]),
                dynamo=False,
                input_names=["x"],
                output_names=["logits"],
                dynamic_axes={"x": {0: "n"}, "logits": {0: "n"}},
            )
    return paths


# --- the plan: what is measured, at which batch sizes --------------------------------------------


def contenders(paths: dict) -> dict:
    """Each latency contender: a function of (batch, runs) returning a worker's raw result."""
    default, plain, onnx = paths["default"], paths["plain"], paths["onnx"]

    def pyfront(precision, warm=0):
        return lambda batch, runs: run_worker(
            "pyfront", model=default, batch=batch, runs=runs, precision=precision, warm=warm
        )

    def c(precision):
        return lambda batch, runs: run_c(default, batch, runs, precision)

    def openvino(hint):
        return lambda batch, runs: run_worker(
            "openvino", model=onnx, batch=batch, runs=runs, precision=hint
        )

    def package(precision):
        return lambda batch, runs: run_worker(
            "pyfront", model=paths[f"pt2 {precision}"], batch=batch, runs=runs
        )

    packages = {name: package(p) for p, name in PACKAGES.items() if f"pt2 {p}" in paths}
    return {
        **packages,
        "pyfront fp32": pyfront("fp32"),
        "pyfront bf16": pyfront("bf16"),
        "C libtsrt fp32": c("fp32"),
        "C libtsrt bf16": c("bf16"),
        "recipe (torch.jit.load)": lambda b, r: run_worker("recipe", model=plain, batch=b, runs=r),
        "eager PyTorch": lambda b, r: run_worker("eager", batch=b, runs=r),
        "ONNX Runtime": lambda b, r: run_worker("onnxruntime", model=onnx, batch=b, runs=r),
        "OpenVINO f32": openvino("f32"),
        "OpenVINO bf16": openvino("bf16"),
        # The batch sizes table: the file's own warm-up shape is one image.
        "pyfront fp32 warmed for 1": pyfront("fp32", warm=1),
    }


def plan(smoke: bool, quick: bool) -> tuple[list[tuple[str, int]], dict[int, int], int]:
    """(contender, batch) pairs of one round, timed calls per batch size, and rounds."""
    main_batches = (1,) if smoke else (1, 8)
    pairs = [(name, batch) for batch in main_batches for name in PACKAGES.values() if not smoke]
    pairs += [
        (name, batch)
        for batch in main_batches
        for name in (
            "pyfront fp32",
            "pyfront bf16",
            "C libtsrt fp32",
            "C libtsrt bf16",
            "recipe (torch.jit.load)",
            "eager PyTorch",
            "ONNX Runtime",
            "OpenVINO f32",
            "OpenVINO bf16",
        )
    ]
    sizes = (1, 3) if smoke else (1, 3, 8, 16)
    for batch in sizes:
        pairs.append(("pyfront fp32 warmed for 1", batch))
        if batch not in main_batches:
            pairs.append(("pyfront fp32", batch))
    if smoke:
        return pairs, {1: 2, 3: 2}, 1
    if quick:
        return pairs, {1: 12, 3: 6, 8: 4, 16: 3}, 1
    return pairs, {1: 30, 3: 15, 8: 10, 16: 6}, 3


# --- the run ------------------------------------------------------------------------------------


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="one round, fewer repetitions")
    mode.add_argument("--smoke", action="store_true", help="every path once, tiny repetitions")
    parser.add_argument("--rounds", type=int, help="interleaved rounds (default 3; 1 if quick)")
    parser.add_argument("--json", type=Path, default=OUT / "results.json")
    parser.add_argument("--worker", choices=sorted(WORKERS), help=argparse.SUPPRESS)
    parser.add_argument("--model", help=argparse.SUPPRESS)
    parser.add_argument("--batch", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--warm", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--runs", type=int, default=20, help=argparse.SUPPRESS)
    parser.add_argument("--precision", default="fp32", help=argparse.SUPPRESS)
    parser.add_argument("--which", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(WORKERS[args.worker](args)))
        return 0

    machine = cpu()
    log(f"CPU: {machine['model']}, {CORES} cores, flags {' '.join(machine['flags'])}")
    log(f"load average before: {machine['load_average']:.2f}")
    paths = prepare(with_package=not args.smoke)
    pairs, runs, rounds = plan(args.smoke, args.quick)
    rounds = args.rounds or rounds
    measure = contenders(paths)
    raw: dict[tuple[str, int], list[dict]] = {}
    for round_number in range(rounds):
        # A different order each round (seeded): a contender's place in the round (after a
        # cold start, after a heavy neighbour) is then not the same bias every time.
        order = list(pairs)
        random.Random(round_number).shuffle(order)
        for name, batch in order:
            log(f"round {round_number + 1}/{rounds}, batch {batch}: {name}")
            raw.setdefault((name, batch), []).append(measure[name](batch, runs[batch]))

    results: dict = {"machine": machine, "rounds": rounds, "latency": {}}
    for name, batch in sorted(pairs, key=lambda pair: pair[1]):  # the plan's order, by batch
        samples = raw[(name, batch)]
        per_round = [summary(s["ms"], per=batch) for s in samples]
        results["latency"].setdefault(str(batch), {})[name] = {
            "median_ms": statistics.median(r["median_ms"] for r in per_round),
            "p90_ms": statistics.median(r["p90_ms"] for r in per_round),
            "first_call_ms": statistics.median(s["first_ms"] for s in samples),
            "round_medians_ms": [r["median_ms"] for r in per_round],
            **{key: samples[-1][key] for key in ("precision", "fused") if key in samples[-1]},
        }

    log("bf16 against fp32: top-1 on seeded random inputs")
    results["bf16_agreement"] = run_worker(
        "agreement", model=paths["default"], runs=16 if args.smoke else 200
    )
    log("call overhead: x + 1 on 4 elements")
    tiny_rounds, tiny_runs = (1, 3) if args.smoke else (3, 4) if args.quick else (3, 10)
    tiny_paths = {
        "pyfront Model.forward": "pyfront",
        "pyfront Model.bind(x)()": "pyfront-bound",
        "torch.jit.load forward": "torch",
    }
    tiny_samples: dict = {name: [] for name in tiny_paths}
    c_samples: dict = {"us": [], "into_us": []}
    for _ in range(tiny_rounds):  # a process each, interleaved
        for name, which in tiny_paths.items():
            tiny_samples[name] += run_worker(
                "tiny", model=paths["tiny"], runs=tiny_runs, which=which
            )["ms"]
        for key, values in run_c("--calls", paths["tiny"], tiny_runs).items():
            c_samples[key] += values
    results["tiny_call_us"] = {name: summary(values) for name, values in tiny_samples.items()}
    results["tiny_call_us"]["C tsrt_model_run_tensor"] = summary(c_samples["us"])
    results["tiny_call_us"]["C tsrt_model_run_tensor_into"] = summary(c_samples["into_us"])
    log("cold start: a new process loads ResNet-18 and prints its top-5")
    results["cold_start"] = cold_start(paths["default"], 1 if args.smoke else 5)
    log("two threads on one model, one intra-op thread each")
    results["threads"] = run_worker("threads", model=paths["default"], runs=2 if args.smoke else 30)
    results["machine"]["load_average_after"] = os.getloadavg()[0]

    results["ratios"] = ratios(results)
    print(report(results))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=1))
    log(f"wrote {args.json}")
    chart(results, args.json.with_suffix(".png"))
    log(f"wrote {args.json.with_suffix('.png')}")
    return 0


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


# --- the report ---------------------------------------------------------------------------------


def ratios(results: dict) -> dict:
    """The ratios the targets are stated in; each compares figures of this one run."""
    out = {}
    for batch, row in results["latency"].items():
        if "pyfront fp32" not in row:
            continue
        ours = row["pyfront fp32"]["median_ms"]
        if "OpenVINO f32" in row:
            best = min(row["ONNX Runtime"]["median_ms"], row["OpenVINO f32"]["median_ms"])
            out[f"batch {batch}: pyfront fp32 / best of ONNX Runtime, OpenVINO f32"] = ours / best
            out[f"batch {batch}: pyfront bf16 / OpenVINO bf16"] = (
                row["pyfront bf16"]["median_ms"] / row["OpenVINO bf16"]["median_ms"]
            )
            out[f"batch {batch}: pyfront bf16 / pyfront fp32"] = (
                row["pyfront bf16"]["median_ms"] / ours
            )
        for precision, name in PACKAGES.items():
            if name in row:
                out[f"batch {batch}: .pt2 package / TorchScript file, {precision}"] = (
                    row[name]["median_ms"] / row[f"pyfront {precision}"]["median_ms"]
                )
        if "pyfront fp32 warmed for 1" in row:
            out[f"batch {batch}: not warmed for / warmed for"] = (
                row["pyfront fp32 warmed for 1"]["median_ms"] / ours
            )
    agreement = results["bf16_agreement"]
    out["bf16 top-1 equal to fp32"] = agreement["same_top1"] / agreement["inputs"]
    tiny = results["tiny_call_us"]
    for name in ("pyfront Model.forward", "pyfront Model.bind(x)()"):
        out[f"x + 1 call: {name} / torch.jit.load"] = (
            tiny[name]["median_ms"] / tiny["torch.jit.load forward"]["median_ms"]
        )
    cold = results["cold_start"]
    out["cold start: pyfront / torch"] = cold["pyfront"]["median_ms"] / cold["torch"]["median_ms"]
    threads = results["threads"]
    out["two caller threads / one"] = threads["2_threads_per_s"] / threads["1_threads_per_s"]
    return out


def report(results: dict) -> str:
    machine = results["machine"]
    lines = [
        f"CPU: {machine['model']}, {machine['cores']} cores, flags: "
        f"{' '.join(machine['flags']) or 'none of ' + ' '.join(CPU_FLAGS)}; load average "
        f"{machine['load_average']:.2f} before, {machine['load_average_after']:.2f} after; "
        f"{results['rounds']} interleaved round(s)",
        "",
        "| batch | path | ms per image (median) | p90 | round medians, min-max | first call, ms "
        "| runs in |",
        "|---|---|---|---|---|---|---|",
    ]
    for batch, row in sorted(results["latency"].items(), key=lambda item: int(item[0])):
        for name, r in row.items():
            lines.append(
                f"| {batch} | {name} | {r['median_ms']:.2f} | {r['p90_ms']:.2f} | "
                f"{min(r['round_medians_ms']):.2f}-{max(r['round_medians_ms']):.2f} | "
                f"{r['first_call_ms']:.1f} | {r.get('precision', '')} |"
            )
    tiny = results["tiny_call_us"]
    agreement = results["bf16_agreement"]
    lines += [
        "",
        f"bf16 top-1 equal to fp32: {agreement['same_top1']}/{agreement['inputs']} inputs "
        f"(bf16 model runs in {agreement['precision']}; worst logit difference "
        f"{agreement['worst_relative_logit_difference']:.4f} of the largest logit)",
        "x + 1 on 4 elements, us per call: "
        + ", ".join(f"{name} {value['median_ms']:.2f}" for name, value in tiny.items()),
        f"cold start, ms: pyfront {results['cold_start']['pyfront']['median_ms']:.0f}, "
        f"torch {results['cold_start']['torch']['median_ms']:.0f}",
        "",
        "| ratio | value |",
        "|---|---|",
    ]
    lines += [f"| {name} | {value:.2f} |" for name, value in results["ratios"].items()]
    return "\n".join(lines)


def chart(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    main_batches = [b for b, row in results["latency"].items() if "OpenVINO f32" in row]
    figure, axes = plt.subplots(1, len(main_batches) + 1, figsize=(6 * len(main_batches) + 5, 4.6))
    for axis, batch in zip(axes, main_batches):
        row = {name: r for name, r in results["latency"][batch].items() if "warmed for" not in name}
        names = list(row)
        colours = ["#cc6677" if "bf16" in name else "#4477aa" for name in names]
        axis.barh(names, [row[n]["median_ms"] for n in names], color=colours)
        axis.set_title(f"batch {batch}: ms per image (median; red = bf16)")
        axis.invert_yaxis()
    sizes = sorted((int(b) for b in results["latency"]), key=int)
    warmed = [results["latency"][str(s)].get("pyfront fp32", {}).get("median_ms") for s in sizes]
    cold = [
        results["latency"][str(s)].get("pyfront fp32 warmed for 1", {}).get("median_ms")
        for s in sizes
    ]
    axes[-1].plot(sizes, warmed, "o-", label="warmed for this batch size")
    axes[-1].plot(sizes, cold, "s--", label="warmed for 1 image only")
    axes[-1].set_ylim(bottom=0)
    axes[-1].set_xlabel("batch size")
    axes[-1].set_ylabel("ms per image")
    axes[-1].set_title("pyfront fp32 by batch size")
    axes[-1].legend()
    machine = results["machine"]
    figure.suptitle(
        f"ResNet-18 on {machine['model']} ({machine['cores']} cores; {', '.join(machine['flags'])})"
    )
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


if __name__ == "__main__":
    sys.exit(main())
