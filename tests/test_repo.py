"""Repository contracts: the README Quickstart block and .ci/run agree."""

from __future__ import annotations

import re
from pathlib import Path

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


def test_importing_bpe_leaves_drivers_and_experiments_out():
    """One-way imports: the library never imports the drivers or the experiments (only the CLI
    does, lazily, inside a command)."""
    import subprocess
    import sys

    code = ("import sys, bpe, bpe.cli, bpe.evaluate, bpe.scoring, bpe.mip, bpe.parallel, bpe.estimators; "
            "bpe.cli.build_parser(); "
            "bad = [m for m in sys.modules if m.split('.')[0] in ('search_algos', 'experiments')]; "
            "print(bad); sys.exit(1 if bad else 0)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_no_module_level_import_of_drivers_in_the_library():
    offenders = []
    for path in (ROOT / "bpe").rglob("*.py"):
        for line in path.read_text().splitlines():
            if re.match(r"^(from|import) (search_algos|experiments)\b", line):
                offenders.append(f"{path.relative_to(ROOT)}: {line}")
    assert not offenders, offenders


def test_cli_modules_are_thin():
    sizes = {p.name: len(p.read_text().splitlines()) for p in (ROOT / "bpe" / "cli").glob("*.py")}
    assert sizes and max(sizes.values()) <= 150, sizes


def test_ruff_is_clean():
    """`ruff check` (configured in pyproject.toml) finds nothing; skipped only where ruff is not
    installed (it is part of the test extra)."""
    import shutil
    import subprocess
    import sys

    ruff = shutil.which("ruff") or shutil.which("ruff", path=str(Path(sys.executable).parent))
    if ruff is None:
        import pytest

        pytest.skip("ruff is not installed: pip install -e '.[test]'")
    proc = subprocess.run([ruff, "check", "."], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout[-3000:]
