"""Repository contracts: the README Quickstart block and .ci/run agree."""

from __future__ import annotations

import re

from conftest import ROOT


def quickstart_lines() -> list[str]:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Quickstart", 1)[1]
    block = re.search(r"```[a-z]*\n(.*?)```", section, re.S).group(1)
    return [line for line in block.splitlines() if line.strip() and not line.startswith("#")]


def test_quickstart_has_two_lines_and_ci_runs_the_test_line():
    lines = quickstart_lines()
    assert len(lines) == 2
    assert lines[0].startswith("pip install . && bpe mip ")
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert lines[1] in ci
