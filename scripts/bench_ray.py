"""Throughput of `pyfront classify` in this process against `--engine ray`, and what Ray adds.

    .venv/bin/python scripts/bench_ray.py [--model FILE] [--images 256] [--rounds 3]

Each configuration classifies a folder of N generated images and one of n (n = one batch per
worker), as a whole command in its own process, in interleaved rounds. The steady rate is
(N - n) / (t_N - t_n), which leaves out what a run pays once (starting Python, loading the
model, starting Ray's workers); that fixed cost is t_n. The Ray runs go to a one-node cluster
started here on loopback (so Ray's own start-up is left out; it is measured separately as the
cost of `--engine ray` without an address). Not a test: figures depend on the machine and on
what else runs on it.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOOPBACK_ONLY = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"
ONE_THREAD = "<one thread>"  # a marker in a setup's arguments, not passed to pyfront


def cpu_name() -> str:
    flags = set()
    name = "unknown CPU"
    with open("/proc/cpuinfo") as info:
        for line in info:
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                name = value.strip()
            elif key.strip() == "flags":
                flags = set(value.split())
    extras = [flag for flag in ("avx512f", "avx512_bf16", "amx_bf16") if flag in flags]
    return f"{name}, {os.cpu_count()} cores ({', '.join(extras) or 'no AVX-512'})"


def make_images(folder: Path, count: int) -> None:
    import numpy as np
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(count):  # camera-like sizes, both formats
        pixels = rng.integers(0, 256, (480, 640, 3), dtype=np.uint8)
        suffix = "jpg" if i % 2 else "png"
        Image.fromarray(pixels).save(folder / f"{i:05d}.{suffix}")


def timed_run(args: list, env: dict) -> float:
    if ONE_THREAD in args:  # the local run limited to one intra-op thread, as a 1-CPU worker is
        args = [a for a in args if a != ONE_THREAD]
        env = dict(env, OMP_NUM_THREADS="1")
    start = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "pyfront", *args], capture_output=True, text=True, env=env
    )
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        sys.exit(f"failed: pyfront {' '.join(args)}\n{result.stderr[-3000:]}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="TorchScript file (default: export ResNet-18)")
    parser.add_argument("--images", type=int, default=256, help="images in the large run")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    os.environ[LOOPBACK_ONLY] = "0"  # before Ray is imported: everything on 127.0.0.1
    import ray
    from ray.cluster_utils import Cluster

    load_at_start = os.getloadavg()[0]  # other work on the machine skews every figure
    work = Path(tempfile.mkdtemp(prefix="bench-ray-"))
    model = args.model
    if model is None:
        sys.path.insert(0, str(ROOT / "scripts"))
        import export

        model = str(
            export.export("resnet18", weights="random", output=work / "resnet18.pt", seed=0)
        )
    cores = os.cpu_count() or 1
    small_count = args.batch_size * cores  # one batch for each worker of the widest setup
    make_images(work / "large", args.images)
    make_images(work / "small", small_count)

    common = ["--model", model, "--batch-size", str(args.batch_size), "--no-progress"]
    env = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(
            os.pathsep
        ),
    )
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": cores})
    try:
        ray_args = ["--engine", "ray", "--address", cluster.address]
        setups = {
            "local": [],
            "local, 1 thread": [ONE_THREAD],
            f"ray, 1 worker x {cores} CPUs": [
                *ray_args,
                "--workers",
                "1",
                "--cpus-per-worker",
                str(cores),
            ],
            "ray, 1 worker x 1 CPU": [*ray_args, "--workers", "1", "--cpus-per-worker", "1"],
            f"ray, {cores} workers x 1 CPU": [
                *ray_args,
                "--workers",
                str(cores),
                "--cpus-per-worker",
                "1",
            ],
        }
        times: dict = {name: {"large": [], "small": []} for name in setups}
        own_ray: list = []
        for round_ in range(args.rounds):
            order = list(setups.items())
            for name, extra in order if round_ % 2 == 0 else order[::-1]:  # spread drift
                for size in ("large", "small"):
                    output = str(work / f"out-{size}.jsonl")
                    times[name][size].append(
                        timed_run(
                            ["classify", str(work / size), *common, *extra, "--output", output], env
                        )
                    )
            own_ray.append(
                timed_run(
                    [
                        "classify",
                        str(work / "small"),
                        *common,
                        "--engine",
                        "ray",
                        "--output",
                        str(work / "o.jsonl"),
                    ],
                    env,
                )
            )
            print(f"round {round_ + 1}/{args.rounds} done", file=sys.stderr)
    finally:
        ray.shutdown()
        cluster.shutdown()

    print(
        f"load average at the end {os.getloadavg()[0]:.1f}, at the start {load_at_start:.1f}; "
        f"CPU: {cpu_name()}; model {Path(model).name}; batch size {args.batch_size}; "
        f"{args.images} and {small_count} images of 640x480 (PNG and JPEG); "
        f"medians of {args.rounds} interleaved rounds\n"
    )
    print("| engine | images/s (steady) | ms/image | fixed cost per run, s |")
    print("|---|---|---|---|")
    rates = {}
    for name in setups:
        large = statistics.median(times[name]["large"])
        small = statistics.median(times[name]["small"])
        rate = (args.images - small_count) / (large - small)
        rates[name] = rate
        print(f"| {name} | {rate:.1f} | {1000 / rate:.1f} | {small:.1f} |")
    same_threads = f"ray, 1 worker x {cores} CPUs"
    overhead_ms = 1000 / rates[same_threads] - 1000 / rates["local"]
    fixed = statistics.median(times[same_threads]["small"]) - statistics.median(
        times["local"]["small"]
    )
    one_cpu = 1000 / rates["ray, 1 worker x 1 CPU"] - 1000 / rates["local, 1 thread"]
    print(
        f"\nRay adds {one_cpu:+.1f} ms per image with one CPU (1 worker x 1 CPU against the "
        f"local run on one thread), {overhead_ms:+.1f} ms (1 worker with the local run's "
        f"{cores} threads against the local run) and {fixed:+.1f} s per run on a running "
        f"cluster; `--engine ray` without --address (starting Ray for the run) took "
        f"{statistics.median(own_ray):.1f} s for {small_count} images."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
