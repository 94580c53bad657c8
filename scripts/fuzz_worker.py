"""Child process of fuzz.py: loads and runs model files named on stdin, one per line, and
answers one line each: "ok", "clean <ErrorType>: <message>" for an error pyfront reported, or
"unclean <ErrorType>: <message>" for any other Python exception (a bug). A crash or hang
shows up to the parent as a dead or silent child.
"""

import sys

import numpy as np

import pyfront

INPUT = np.random.default_rng(0).random((2, 3, 16, 16), dtype=np.float32)


def exercise(path: str) -> None:
    with pyfront.Model(path) as model:
        for name in model.method_names():
            model.schema(name)
        model.extra_files
        model.parameter_count
        model.forward(INPUT)
        model.topk(INPUT, k=3)


def main() -> int:
    for line in sys.stdin:
        path = line.rstrip("\n")
        try:
            exercise(path)
            answer = "ok"
        except pyfront.PyfrontError as error:
            answer = f"clean {type(error).__name__}: {str(error).splitlines()[0][:200]}"
        except Exception as error:  # noqa: BLE001 - anything else is what we are looking for
            answer = f"unclean {type(error).__name__}: {str(error)[:200]!r}"
        sys.stdout.write(answer.replace("\n", " ") + "\n")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
