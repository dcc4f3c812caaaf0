"""`--help` lists the config groups the command composes."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.helpers.config import ROOT


@pytest.mark.parametrize("script, composed", [
    ("train.py", {"callbacks", "data", "debug", "experiment", "extras", "hparams_search", "logger", "model", "paths",
                  "trainer"}),
    ("eval.py", {"extras", "paths", "trainer"}),
])
def test_help_lists_the_groups_the_command_uses(script: str, composed: set[str]) -> None:
    out = subprocess.run([sys.executable, script, "--help"], cwd=ROOT, capture_output=True, text=True,
                         check=True).stdout
    listing = out.split("== Configuration groups ==")[1].split("== Config ==")[0]
    groups = {line.split(":")[0] for line in listing.splitlines() if ": " in line}
    assert groups == composed, "not eda or baseline (nor, for eval, the training groups), which it does not compose"
