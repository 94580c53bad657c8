"""libtsrt's C declarations, read from the tsrt.h this package ships: the only copy of them.

cffi's ABI mode takes declarations as C text. Rather than keep a hand copy that can drift from
the header, the shipped header itself is turned into that text:

- preprocessor lines are dropped, except `#define NAME <integer>` constants, which cffi
  understands and exposes on the loaded library;
- `#ifdef __cplusplus` blocks (the `extern "C"` braces) are left out;
- macros the header defines for attributes (`TSRT_API`, `TSRT_NODISCARD`, ...) are removed
  where they are used, since cffi neither knows nor needs them;
- `#define NAME "text"` strings (the version) and `#define NAME <decimal>` numbers (a
  tolerance), which cffi's declarations cannot hold, are collected for Python.

So a function added to tsrt.h is callable from Python with no Python edit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_DIRECTIVE = re.compile(r"^\s*#\s*(\w+)\s*(.*)$")
_DEFINE = re.compile(r"^(\w+)(\([^)]*\))?\s*(.*)$")
_INTEGER = re.compile(r"^\(?\s*(-?(?:0[xX][0-9a-fA-F]+|\d+))[uUlL]*\s*\)?$")
_STRING = re.compile(r'^"((?:[^"\\]|\\.)*)"$')
_DECIMAL = re.compile(r"^\(?\s*(-?\d+\.\d*(?:[eE][-+]?\d+)?)\s*\)?$")


@dataclass
class Declarations:
    cdef: str
    integers: dict = field(default_factory=dict)  # NAME -> int, from #define
    strings: dict = field(default_factory=dict)  # NAME -> str, from #define
    decimals: dict = field(default_factory=dict)  # NAME -> float, from #define


def parse(text: str) -> Declarations:
    """The cffi declarations, integer constants and string constants of a C header."""
    kept: list[str] = []
    integers: dict = {}
    strings: dict = {}
    decimals: dict = {}
    attribute_macros: set = set()
    skipping: list[bool] = []  # one entry per open #if: whether that branch is left out
    cplusplus_levels: list[bool] = []  # whether that #if tests __cplusplus
    text = re.sub(r"\\\n", " ", text)  # continued lines
    for line in text.splitlines():
        directive = _DIRECTIVE.match(line)
        if directive is None:
            if not any(skipping):
                kept.append(line)
            continue
        word, rest = directive.group(1), _strip_comment(directive.group(2))
        if word in ("if", "ifdef", "ifndef"):
            # Only C++-specific branches are left out; others hold nothing cffi must not see.
            about_cplusplus = "__cplusplus" in rest
            skipping.append(about_cplusplus and word != "ifndef" and "!" not in rest)
            cplusplus_levels.append(about_cplusplus)
        elif word in ("else", "elif"):
            if skipping and cplusplus_levels[-1]:
                skipping[-1] = not skipping[-1]
        elif word == "endif":
            if skipping:
                skipping.pop()
                cplusplus_levels.pop()
        elif word == "define" and not any(skipping):
            define = _DEFINE.match(rest)
            if define is None:
                continue
            name, params, value = define.groups()
            integer, string = _INTEGER.match(value), _STRING.match(value)
            decimal = _DECIMAL.match(value)
            if params is None and integer:
                integers[name] = int(integer.group(1), 0)
                kept.append(f"#define {name} {integers[name]}")
            elif params is None and string:
                strings[name] = string.group(1)
            elif params is None and decimal:
                decimals[name] = float(decimal.group(1))
            else:
                attribute_macros.add((name, params is not None))
    body = "\n".join(kept)
    for name, takes_arguments in attribute_macros:
        pattern = rf"\b{name}\b\s*\([^)]*\)" if takes_arguments else rf"\b{name}\b"
        body = re.sub(pattern, "", body)
    return Declarations(body, integers, strings, decimals)


def _strip_comment(text: str) -> str:
    return re.sub(r"/\*.*?\*/|//.*$", "", text).strip()
