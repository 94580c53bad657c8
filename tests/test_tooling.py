"""The project's own tools keep working as the code they look at changes."""

from __future__ import annotations

import sys

from conftest import ROOT

sys.path.insert(0, str(ROOT / "scripts"))
import mutate  # noqa: E402


def test_every_mutant_still_finds_the_code_it_mutates():
    """A mutant whose original text moved would make scripts/mutate.py stop; found here first."""
    assert mutate.stale(mutate.MUTANTS) == []
    assert {m.file for m in mutate.MUTANTS} >= {"pyfront/errors.py", "shim/src/model.cpp"}
