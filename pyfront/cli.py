"""The `pyfront` command line: classify images, detect objects, describe a model file, export a
torchvision classifier, print link flags. Errors are one message; `--debug` adds Python
tracebacks and loads models with debug info (TorchScript tracebacks in the model's errors)."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys

from . import config
from .engines import ENGINES


def _config(args) -> int:
    names = ("cflags", "libs", "includedir", "libdir", "torchvision_ops")
    wanted = [name for name in names if getattr(args, name)]
    if not wanted:
        args.parser.error(
            "say what to print: --cflags, --libs, --includedir, --libdir or --torchvision-ops"
        )
    try:
        print(" ".join(getattr(config, name)() for name in wanted))
    except LookupError as error:
        print(f"pyfront config: {error.args[0]}", file=sys.stderr)
        return 1
    return 0


def _classify(args) -> int:
    from .engines import classify_results
    from .errors import PyfrontError
    from .inputs import expand_images
    from .result_files import open_results_file

    if args.k < 1 or args.batch_size < 1:
        args.parser.error("--k and --batch-size must be at least 1")
    ray_only = (args.address, args.workers, args.cpus_per_worker)
    if args.engine != "ray" and any(value is not None for value in ray_only):
        args.parser.error("--address, --workers and --cpus-per-worker go with --engine ray")
    if (args.workers is not None and args.workers < 1) or (
        args.cpus_per_worker is not None and args.cpus_per_worker <= 0
    ):
        args.parser.error("--workers and --cpus-per-worker must be positive")
    if args.json and args.output:
        args.parser.error("--json prints the results, --output writes them to a file: pick one")
    images, empty_folders = expand_images(args.images)
    for folder in empty_folders:
        print(f"pyfront classify: no image files in {folder}", file=sys.stderr)
    progress = (
        args.progress
        if args.progress is not None
        else (sys.stderr.isatty() and len(images) > args.batch_size)
    )
    failures = len(empty_folders)
    results = []
    sink = None
    try:
        if args.output:
            sink = open_results_file(args.output)
        with contextlib.closing(
            classify_results(
                images,
                args.model,
                {"debug_info": args.debug, "precision": args.precision},
                engine=args.engine,
                k=args.k,
                batch_size=args.batch_size,
                progress=progress,
                address=args.address,
                workers=args.workers,
                cpus_per_worker=args.cpus_per_worker or 1,
            )
        ) as classified:
            for result in classified:
                if "error" in result:
                    failures += 1
                    print(
                        f"pyfront classify: cannot read {result['image']}: {result['error']}",
                        file=sys.stderr,
                    )
                if sink:
                    sink.write(result)
                elif args.json:
                    results.append(result)
                else:
                    _print_result(result)
    except (PyfrontError, OSError) as error:  # the model, the engine or the output file
        print(f"pyfront classify: {error}", file=sys.stderr)
        return 2
    finally:
        if sink:
            sink.close()
    if args.json:
        json.dump(results, sys.stdout, indent=1)
        print()
    return 1 if failures else 0


def _print_result(result: dict) -> None:
    print(result["image"])
    if "error" in result:
        print(f"  error: {result['error']}")
        return
    width = max(len(entry["label"]) for entry in result["top"])
    for rank, entry in enumerate(result["top"], 1):
        print(f"  {rank}. {entry['label']:<{width}}  {entry['prob']:.4f}  (class {entry['index']})")


def _detect(args) -> int:
    from .detect import check_detector, detect
    from .errors import PyfrontError
    from .model import Model

    try:
        model = Model(args.model)
        check_detector(model)
    except PyfrontError as error:
        print(f"pyfront detect: {error}", file=sys.stderr)
        return 2
    progress = (
        args.progress
        if args.progress is not None
        else (sys.stderr.isatty() and len(args.images) > 1)
    )
    failures = 0
    results = []
    try:
        for result in detect(args.images, model, args.threshold, args.out, progress):
            if "error" in result:
                failures += 1
                print(
                    f"pyfront detect: cannot read {result['image']}: {result['error']}",
                    file=sys.stderr,
                )
            if args.json:
                results.append(result)
            else:
                _print_detections(result)
    except PyfrontError as error:  # the model itself failed on an image
        print(f"pyfront detect: {error}", file=sys.stderr)
        return 2
    except OSError as error:  # --out cannot be written
        print(f"pyfront detect: cannot write the drawn image: {error}", file=sys.stderr)
        return 2
    if args.json:
        json.dump(results, sys.stdout, indent=1)
        print()
    return 1 if failures else 0


def _print_detections(result: dict) -> None:
    print(result["image"])
    if "error" in result:
        print(f"  error: {result['error']}")
        return
    found = result["detections"]
    if not found:
        print("  (nothing above the threshold)")
    width = max((len(entry["label"]) for entry in found), default=0)
    for entry in found:
        box = ", ".join(f"{v:7.1f}" for v in entry["box"])
        print(f"  {entry['label']:<{width}}  {entry['score']:.4f}  [{box}]")
    if "output" in result:
        print(f"  drawn: {result['output']}")


def _add_detect_command(commands) -> None:
    detect = commands.add_parser(
        "detect",
        help="find objects in image files with a TorchScript detection model",
        description="Run a detection model (torchvision's, exported with scripts/export.py) "
        "on each image and print its detections: label, score and box "
        "[x1, y1, x2, y2] in the image's pixels, best first. Unreadable files "
        "are reported on stderr and make the exit status 1; the others are "
        "still processed. Models needing torchvision's operators load when the "
        "torchvision package is installed.",
    )
    detect.add_argument("images", nargs="+", metavar="IMAGE", help="image files")
    detect.add_argument(
        "--model", required=True, metavar="FILE", help="TorchScript detection model"
    )
    detect.add_argument(
        "--threshold",
        type=float,
        default=None,
        help="lowest score shown (default: the file's metadata, else 0.5)",
    )
    detect.add_argument(
        "--json",
        action="store_true",
        help='print a JSON list of {"image", "width", "height", "detections": '
        '[{"box", "index", "label", "score"}]} (or {"image", "error"})',
    )
    detect.add_argument(
        "--out",
        metavar="DIR",
        help="write a copy of each image with the boxes and labels drawn into DIR",
    )
    detect.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="progress bar on stderr (default: when stderr is a terminal and "
        "there is more than one image)",
    )
    detect.set_defaults(handler=_detect, parser=detect)


def _info(args) -> int:
    import pyfront

    from .errors import PyfrontError

    try:
        model = pyfront.Model(args.model, freeze=False, warmup=[])  # the file as saved
    except PyfrontError as error:
        print(f"pyfront info: {error}", file=sys.stderr)
        return 2
    meta = model.metadata
    info = {
        "file": args.model,
        "format": model.format,
        "size_bytes": os.path.getsize(args.model),
        "libtorch": pyfront.libtorch_version(),
        "methods": {name: model.schema(name) for name in model.method_names()},
        "parameters": model.parameter_count or meta.get("parameters", 0),
        "frozen": model.frozen,
        "keeps_state": model.keeps_state,
        "extra_files": {name: len(data) for name, data in model.extra_files.items()},
        "metadata": {key: value for key, value in meta.items() if key != "labels"},
        "labels": len(meta.get("labels") or []),
        "cpu_native_bf16": pyfront.cpu_has_native_bf16(),
    }
    if model.format == "pt2":  # fixed when the package was compiled
        info["compiled_precision"] = model.precision
    if args.precision:  # load it as classify would, to see what it runs with
        try:
            loaded = pyfront.Model(args.model, precision=args.precision)
        except PyfrontError as error:
            print(f"pyfront info: {error}", file=sys.stderr)
            return 2
        info["precision"] = {
            "asked": args.precision,
            "runs": loaded.precision,
            "fused": loaded.fused,
            "note": loaded.precision_note,
        }
    if args.json:
        json.dump(info, sys.stdout, indent=1)
        print()
        return 0
    print(f"file        {info['file']} ({info['size_bytes']:,} bytes)")
    print(
        "format      "
        + (
            f"AOTInductor package (.pt2) compiled in {info['compiled_precision']}: compiled "
            "native code, runs inside the process"
            if info["format"] == "pt2"
            else "TorchScript"
        )
    )
    print(f"libtorch    {info['libtorch']} (the version libtsrt runs it on)")
    print(
        f"parameters  {info['parameters']:,}"
        + (
            " (from the file's metadata; the frozen weights are constants)"
            if not model.parameter_count and meta.get("parameters")
            else ""
        )
    )
    print(
        f"frozen      {'yes' if info['frozen'] else 'no'};"
        f" keeps state between calls: {'yes' if info['keeps_state'] else 'no'}"
    )
    print(
        f"bf16        {'native' if info['cpu_native_bf16'] else 'not native'} on this CPU"
        f" (precision 'auto' runs {'bf16' if info['cpu_native_bf16'] else 'fp32'})"
    )
    if "precision" in info:
        runs = info["precision"]
        print(
            f"precision   {runs['runs']} when asked for {runs['asked']}"
            f"{', fused' if runs['fused'] else ''}" + (f": {runs['note']}" if runs["note"] else "")
        )
    print("methods")
    for schema in info["methods"].values():
        print(f"  {schema}")
    print("extra files")
    for name, size in info["extra_files"].items():
        print(f"  {name} ({size:,} bytes)")
    if not info["extra_files"]:
        print("  (none)")
    if meta:
        print("metadata")
        for key, value in info["metadata"].items():
            print(f"  {key}: {json.dumps(value)}")
        print(f"  labels: {info['labels']}")
    return 0


def _export(args) -> int:
    from .export import run

    return run(args, "pyfront export")


def _add_debug(parser: argparse.ArgumentParser, default) -> None:
    parser.add_argument(
        "--debug",
        action="store_true",
        default=default,
        help="show tracebacks (Python's, and TorchScript's in model errors)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pyfront",
        description="Run TorchScript models through libtsrt, without importing torch.",
    )
    _add_debug(parser, False)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True

    classify = commands.add_parser(
        "classify",
        help="classify image files with a TorchScript classifier",
        description="Read images (JPEG, PNG and whatever else Pillow reads, in any mode), "
        "preprocess them as the model's metadata says (ImageNet's resize 256, "
        "centre crop 224 and normalisation by default), and print each one's "
        "top-k labels with probabilities. Unreadable files are reported on "
        "stderr and make the exit status 1; the others are still classified.",
    )
    classify.add_argument(
        "images",
        nargs="+",
        metavar="IMAGE",
        help="image files, or folders to search for them (recursively)",
    )
    classify.add_argument(
        "--model",
        required=True,
        metavar="FILE",
        help="TorchScript file (as written by scripts/export.py)",
    )
    classify.add_argument("--k", type=int, default=5, help="how many classes per image (5)")
    classify.add_argument("--batch-size", type=int, default=8, help="images per forward call (8)")
    classify.add_argument(
        "--json",
        action="store_true",
        help='print a JSON list of {"image", "top": [{"index", "label", '
        '"prob"}]} (or {"image", "error"})',
    )
    classify.add_argument(
        "--precision",
        choices=("fp32", "bf16", "auto"),
        default="fp32",
        help="fp32 (default), bf16 (checked against fp32 when loading; "
        "falls back to it), or auto: bf16 where the CPU has it natively",
    )
    classify.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="progress bar on stderr (default: when stderr is a terminal "
        "and there is more than one batch)",
    )
    classify.add_argument(
        "--output",
        metavar="FILE",
        help="write the results to FILE instead of printing them: JSON lines "
        "(one object per image, as --json prints them), or Parquet when "
        "FILE ends in .parquet",
    )
    classify.add_argument(
        "--engine",
        choices=ENGINES,
        default="local",
        help="where to run: in this process (local, the default) or on a "
        "Ray cluster (ray; needs pip install pyfront[ray])",
    )
    classify.add_argument(
        "--address",
        metavar="ADDR",
        help="with --engine ray: the cluster's address, HOST:PORT as `ray "
        "start --head` prints it (default: start Ray on this machine "
        "for the run)",
    )
    classify.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="with --engine ray: model copies (Ray actors) "
        "(default: as many as the cluster's CPUs allow)",
    )
    classify.add_argument(
        "--cpus-per-worker",
        type=float,
        metavar="C",
        help="with --engine ray: CPUs Ray reserves for each worker, which "
        "runs libtorch with that many threads (1)",
    )
    _add_debug(classify, argparse.SUPPRESS)  # after the command too; the top-level one else
    classify.set_defaults(handler=_classify, parser=classify)

    _add_detect_command(commands)

    info = commands.add_parser(
        "info",
        help="describe a model file",
        description="Print a model file's methods and schemas, extra files and metadata, "
        "parameter count, size, and the libtorch version it will run on.",
    )
    info.add_argument("model", metavar="FILE", help="TorchScript file")
    info.add_argument("--json", action="store_true", help="print JSON")
    info.add_argument(
        "--precision",
        choices=("fp32", "bf16", "auto"),
        help="also load the model as classify would with this precision and say what it runs with",
    )
    _add_debug(info, argparse.SUPPRESS)
    info.set_defaults(handler=_info, parser=info)

    from .export import __doc__ as export_doc
    from .export import add_arguments as add_export_arguments

    export = commands.add_parser(
        "export",
        help="export a torchvision classifier to a TorchScript file (needs torch)",
        description=export_doc.split("\n\n")[0] + " Imports torch and torchvision, which "
        "only this command needs.",
    )
    add_export_arguments(export)
    _add_debug(export, argparse.SUPPRESS)
    export.set_defaults(handler=_export, parser=export)

    cfg = commands.add_parser(
        "config",
        help="print flags to compile and link C programs against libtsrt",
        description="Print what a C compiler needs to use libtsrt, as pkg-config would: "
        "cc $(pyfront config --cflags) prog.c $(pyfront config --libs)",
    )
    cfg.add_argument("--cflags", action="store_true", help="compiler flags (include path)")
    cfg.add_argument("--libs", action="store_true", help="linker flags (library, rpath)")
    cfg.add_argument("--includedir", action="store_true", help="folder holding tsrt.h")
    cfg.add_argument("--libdir", action="store_true", help="folder holding libtsrt.so")
    cfg.add_argument(
        "--torchvision-ops",
        action="store_true",
        help="the library of torchvision's operators for C programs (load it with "
        "tsrt_load_library, or ts-infer --ops), as "
        "scripts/build_torchvision_ops.sh builds it",
    )
    cfg.set_defaults(handler=_config, parser=cfg)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except KeyboardInterrupt:
        return 130
    except Exception as error:  # noqa: BLE001 - one message, not a traceback, unless --debug
        if args.debug:
            raise
        print(
            f"pyfront {args.command}: {type(error).__name__}: {error}\n"
            f"(pyfront --debug {args.command} ... shows the traceback)",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())
