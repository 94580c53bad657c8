"""The `pyfront` command line."""
from __future__ import annotations

import argparse
import sys

from . import config


def _config(args) -> int:
    wanted = [name for name in ("cflags", "libs", "includedir", "libdir") if getattr(args, name)]
    if not wanted:
        args.parser.error("say what to print: --cflags, --libs, --includedir or --libdir")
    print(" ".join(getattr(config, name)() for name in wanted))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pyfront", description="Run TorchScript models through libtsrt, without torch.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True
    cfg = commands.add_parser(
        "config", help="print flags to compile and link C programs against libtsrt",
        description="Print what a C compiler needs to use libtsrt, as pkg-config would: "
                    "cc $(pyfront config --cflags) prog.c $(pyfront config --libs)")
    cfg.add_argument("--cflags", action="store_true", help="compiler flags (include path)")
    cfg.add_argument("--libs", action="store_true", help="linker flags (library, rpath)")
    cfg.add_argument("--includedir", action="store_true", help="folder holding tsrt.h")
    cfg.add_argument("--libdir", action="store_true", help="folder holding libtsrt.so")
    cfg.set_defaults(handler=_config, parser=cfg)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
