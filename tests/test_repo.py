"""Repository contracts: the README Quickstart block and .ci/run agree."""

from __future__ import annotations

import ast
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
    # the runtime policy, the estimator interface, the MIP study and report, the executor and the
    # search loop (with its schedulers and typed results) import no torch: every estimator, driver
    # and the CLI read them before any torch work is asked for
    code = ("import sys, bpe.runtime, bpe.estimators.base, bpe.mip.study, bpe.mip.report, bpe.parallel, "
            "search_algos.loop, search_algos.fidelity, search_algos.experiment; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'torch')[:3]); "
            "sys.exit(1 if 'torch' in sys.modules else 0)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_no_module_level_import_of_drivers_in_the_library():
    offenders = []
    for path in (ROOT / "bpe").rglob("*.py"):
        for line in path.read_text().splitlines():
            if re.match(r"^(from|import) (search_algos|experiments)\b", line):
                offenders.append(f"{path.relative_to(ROOT)}: {line}")
    assert not offenders, offenders


#: Third-party packages a function may import locally: heavy to import (torch and what pulls it
#: in, scikit-learn, pandas...) or optional (the dask/ray/nb201 extras).  Stdlib and light
#: modules are imported at the top of the module.
LOCAL_IMPORT_PACKAGES = frozenset({
    "torch", "torchvision", "sklearn", "optuna", "matplotlib", "pandas", "scipy", "joblib", "dask",
    "distributed", "ray", "nas_201_api", "nats_bench", "tqdm", "psutil", "platformdirs", "sqlalchemy",
})

#: Project modules a function may import locally, each with its reason, checked below:
#: ("torch", why) / ("pandas", why): the module imports that package at module level (itself or
#: through another entry of the same kind); ("cycle", partner): the module imports ``partner``
#: at module level, so ``partner`` cannot import it at the top.
LOCAL_IMPORT_MODULES: dict[str, tuple[str, str]] = {
    "bpe.training": ("torch", "the training loop"),
    "bpe.tables": ("pandas", "reading a user's CSV table (~0.3 s)"),
    "bpe.flops": ("torch", "MAC counting with forward hooks"),
    "bpe.spaces.nb201.model": ("torch", "the NB201 network modules"),
    "bpe.spaces.nb201.supernet": ("torch", "the NB201 supernet"),
    "bpe.spaces.darts.model": ("torch", "the DARTS network modules"),
    "bpe.spaces.darts.supernet": ("torch", "the DARTS supernet"),
    "bpe.spaces.nb201": ("cycle", "bpe.spaces.base"),  # spaces register themselves; the registry loads them lazily
    "bpe.spaces.darts": ("cycle", "bpe.spaces.base"),
    "bpe.spaces.nb201.features": ("cycle", "bpe.spaces.nb201"),
    "bpe.estimators.proxy": ("torch", "proxy training"),
    "bpe.estimators.zero_cost": ("torch", "training-free scorers"),
    "bpe.estimators.meco": ("torch", "MeCo scorer"),
    "bpe.estimators.zico": ("torch", "ZiCo scorer"),
    "bpe.estimators.swap": ("torch", "SWAP scorers"),
    "bpe.estimators.az_nas": ("torch", "AZ-NAS scorers"),
    "bpe.estimators.vkdnw": ("torch", "VKDNW scorers"),
    "bpe.estimators.renas": ("torch", "ranking predictor"),
    "search_algos.oneshot": ("torch", "one-shot supernets"),
    "bpe.scoring": ("pandas", "bpe.predictors reads a scores CSV through it"),
    "bpe.estimators.oracle": ("cycle", "bpe.estimators"),  # registers itself; the registry loads it lazily
    "bpe.estimators.vote": ("cycle", "bpe.estimators"),
    "bpe.estimators.learned": ("cycle", "bpe.estimators"),
    "search_algos.drivers": ("cycle", "search_algos.base"),  # the same for the search drivers
    "search_algos.optuna_drivers": ("cycle", "search_algos.base"),
}


def _library_modules() -> dict[str, Path]:
    """Dotted name -> file of every module of bpe (but the lazy CLI) and search_algos."""
    modules = {}
    for package in ("bpe", "search_algos"):
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            if parts[:2] == ("bpe", "cli"):
                continue
            modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


def _import_targets(node: ast.Import | ast.ImportFrom, module: str, is_package: bool) -> list[str]:
    """The modules an import statement loads (``from pkg import submodule`` names the submodule)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = node.module or ""
    if node.level:  # relative: resolved against the importing module's package
        package = module.split(".") if is_package else module.split(".")[:-1]
        base = ".".join(package[:len(package) - node.level + 1] + ([base] if base else []))
    names = [f"{base}.{alias.name}" for alias in node.names]
    submodules = [n for n in names if (ROOT / Path(*n.split("."))).with_suffix(".py").is_file()
                  or (ROOT / Path(*n.split(".")) / "__init__.py").is_file()]
    return submodules or [base]


def _imports(path: Path, module: str) -> tuple[list[tuple[int, str]], list[tuple[int, str]]]:
    """(module-level, function-level) imports of a file as (line, imported module)."""
    top: list[tuple[int, str]] = []
    local: list[tuple[int, str]] = []
    is_package = path.name == "__init__.py"

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                found = [(child.lineno, t) for t in _import_targets(child, module, is_package)]
                (local if in_function else top).extend(found)
            visit(child, in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)))

    visit(ast.parse(path.read_text()), False)
    return top, local


def test_function_local_imports_are_justified():
    """Design rule: a function imports locally only what is torch-heavy, heavy or optional
    (:data:`LOCAL_IMPORT_PACKAGES`), a project module that is itself heavy or would close an
    import cycle (:data:`LOCAL_IMPORT_MODULES`, each with its reason), or, from inside ``bpe``, the
    ``search_algos`` drivers (the library never imports them at module level).  Everything else
    (stdlib, light project modules) goes at the top of the module.  ``bpe/cli`` is exempt: it
    imports lazily so that ``bpe --help`` stays fast."""
    modules = _library_modules()
    imports = {name: _imports(path, name) for name, path in modules.items()}
    offenders = []
    for name, (_, local) in imports.items():
        for line, target in local:
            root_package = target.split(".")[0]
            if (root_package in LOCAL_IMPORT_PACKAGES or target in LOCAL_IMPORT_MODULES
                    or (name.split(".")[0] == "bpe" and root_package == "search_algos")):
                continue
            offenders.append(f"{modules[name].relative_to(ROOT)}:{line}: {target}")
    assert not offenders, ("function-level imports of light or stdlib modules; move them to the top of the "
                           "module, or list a heavy/cyclic one in LOCAL_IMPORT_MODULES with its reason: "
                           + "; ".join(offenders))

    # every entry's reason holds
    def top_targets(module: str) -> set[str]:
        return {target for _, target in imports[module][0]}

    wrong = []
    for module, (kind, detail) in LOCAL_IMPORT_MODULES.items():
        if module not in modules:
            wrong.append(f"{module}: no such module")
        elif kind == "cycle":
            if detail not in top_targets(module):
                wrong.append(f"{module}: listed as a cycle with {detail}, but does not import it at module level")
        elif not any(t.split(".")[0] == kind or LOCAL_IMPORT_MODULES.get(t, ("",))[0] == kind
                     for t in top_targets(module)):
            wrong.append(f"{module}: listed as {kind}-heavy, but imports no {kind} at module level")
    assert not wrong, wrong


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


def test_mip_runs_over_a_setting_source_without_asking_which():
    """MIP's algorithm (bpe/mip/search.py) never branches on the kind of source (live, tabular):
    what differs is a method of the source (bpe/mip/evaluators.py)."""
    import ast

    tree = ast.parse((ROOT / "bpe" / "mip" / "search.py").read_text())
    names = [n for n in ast.walk(tree) if isinstance(n, (ast.Name, ast.Attribute, ast.arg))
             and "tabular" in (getattr(n, "id", None) or getattr(n, "attr", None) or getattr(n, "arg", None) or "")]
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)
             and n.func.id == "isinstance" and any("Evaluator" in ast.unparse(a) for a in n.args[1:])]
    assert not names and not calls, [ast.unparse(n) for n in names + calls]


def test_readme_is_short_and_the_docs_site_builds_strictly(tmp_path):
    """The README stays a five-minute read (at most 250 lines); the manual and the results are a
    MkDocs site that builds with --strict (no broken link, no page left out of the build), its
    command reference generated from the parsers."""
    import subprocess
    import sys

    assert len((ROOT / "README.md").read_text().splitlines()) <= 250
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-d", str(tmp_path / "site")],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    reference = (tmp_path / "site" / "reference-cli" / "index.html").read_text()
    assert "bpe mip" in reference and "--halving" in reference and "bpe search" in reference


def test_the_cli_reads_no_result_dict_by_string_key():
    """Job functions return dataclasses; the CLI prints their attributes (``x["key"]`` and
    ``x.get("key")`` appear nowhere in bpe/cli, but for a space's declared network size)."""
    import ast

    found = []
    for path in sorted((ROOT / "bpe" / "cli").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            keyed = (isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant)
                     and isinstance(node.slice.value, str))
            got = (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get"
                   and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str))
            if (keyed or got) and "eval_size" not in ast.unparse(node):
                found.append(f"{path.name}:{node.lineno}: {ast.unparse(node)}")
    assert not found, found
