"""Architecture samples and lists: what ``--archs`` means for every command.

``--archs`` is a number (that many archs of the space, the first N of one seeded permutation,
so samples of one seed are nested and growing a sample reuses the cache), ``all``, or a file:
one arch per line (``#`` comments and blank lines ignored) or a CSV with one of the columns
:data:`ARCH_COLUMNS` (``index`` is the benchmark's own index).  A file that lists an arch
twice counts it once (with a warning).
"""

from __future__ import annotations

import io
import logging
from pathlib import Path
from typing import Any

import numpy as np

from bpe.errors import BPEError
from bpe.spaces import get_space

__all__ = ["ARCH_COLUMNS", "sample_archs", "read_arch_list", "resolve_archs"]

log = logging.getLogger(__name__)

#: Column names an arch list CSV may use (ours, the NB201 table's, NAS-Bench-Suite-Zero's,
#: the benchmark index).
ARCH_COLUMNS = ("arch", "arch_str", "net_str", "cellstr", "index")


def sample_archs(space: str, n: int, seed: int, *, minimum: int = 1, why: str = "") -> list[str]:
    """The first ``n`` archs of ``space``'s seeded permutation (nested across ``n``)."""
    mod = get_space(space)
    if not isinstance(seed, int) or seed < 0:
        raise BPEError(f"--seed must be an integer >= 0, got {seed}")
    if not isinstance(n, int) or n < minimum:
        raise BPEError(f"--archs must be at least {minimum}{why}, got {n}")
    if n > mod.size:
        raise BPEError(f"--archs must be at most {mod.size} (the size of {space}), got {n}")
    return [str(a) for a in mod.sample_nested(n, seed)]


def _from_index(space: str, value: Any, where: str) -> str:
    mod = get_space(space)
    if not hasattr(mod, "from_benchmark_index"):
        raise BPEError(f"{where}: the {space} space has no benchmark index; list arch strings instead")
    try:
        return str(mod.from_benchmark_index(int(value)))
    except (TypeError, ValueError):
        raise BPEError(f"{where}: '{value}' is not a benchmark index (an integer)") from None


def _is_arch(text: str, space: str) -> bool:
    try:
        get_space(space).parse(text)
    except BPEError:
        return False
    return True


def read_arch_list(path: str | Path, space: str) -> list[str]:
    """Archs listed in ``path`` (see the module doc), validated, each once, in file order."""
    path = Path(path)
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as err:
        raise BPEError(f"cannot read the arch list {path} ({err}); give a text file, one arch per line") from None
    lines = [line.strip() for line in text.splitlines()]
    lines = [line for line in lines if line and not line.startswith("#")]
    column = "arch"
    header = lines[0] if lines else ""
    if (header.strip('"') in ARCH_COLUMNS  # a one-column CSV: its header alone
            or ("," in header and not _is_arch(header, space))):  # a CSV (a DARTS genotype holds commas
        # too: a first line that is an arch of the space makes a plain list)
        import pandas as pd  # heavy (~0.3 s): only a CSV list needs it

        try:
            frame = pd.read_csv(io.StringIO("\n".join(lines)))
        except (ValueError, pd.errors.ParserError) as err:
            raise BPEError(f"cannot read {path} as CSV ({err})") from None
        column = next((c for c in ARCH_COLUMNS if c in frame.columns), None)
        if column is None:
            raise BPEError(f"{path} has no arch column ({'/'.join(ARCH_COLUMNS)}); "
                           f"its columns: {', '.join(map(str, frame.columns))}")
        lines = ["" if pd.isna(a) else str(a).strip() for a in frame[column]]
    if not lines:
        raise BPEError(f"{path} lists no architectures; put one arch string per line")
    parse = get_space(space).parse
    archs: list[str] = []
    for i, line in enumerate(lines, 1):
        where = f"{path}, entry {i}"
        if column == "index":
            archs.append(_from_index(space, line, where))
            continue
        try:
            archs.append(str(parse(line)))
        except BPEError as err:
            raise BPEError(f"{where}: {err}") from None
    unique = list(dict.fromkeys(archs))
    if len(unique) < len(archs):
        log.warning("%s lists %d archs, %d of them more than once: each is counted once (%d archs)",
                    path, len(archs), len(archs) - len(unique), len(unique))
    return unique


def resolve_archs(spec: str | int, space: str, seed: int, *, minimum: int = 1, why: str = "",
                  truth: Any = None) -> list[str]:
    """What ``--archs`` names: a number (seeded, nested sample), ``all`` or an arch-list file.

    In a space that cannot be listed (DARTS) with a ``truth`` that lists its archs (a benchmark
    with ``archs()``, such as the BPE paper's 100 cells), ``all`` is every arch of the truth and a
    number is that many of them (the first of one seeded permutation, nested across numbers);
    otherwise ``all`` is the whole space and a number a sample of the space."""
    text = str(spec)
    mod = get_space(space)
    listed = None
    if not mod.enumerable and truth is not None and hasattr(truth, "archs"):
        listed = [str(mod.to_arch(a)) for a in truth.archs()]
    if text == "all":
        return listed if listed is not None else [str(a) for a in mod.enumerate_archs()]
    try:
        n = int(text)
    except ValueError:
        if Path(text).is_file():
            archs = read_arch_list(Path(text), space)
            if len(archs) < minimum:
                raise BPEError(f"{text} lists {len(archs)} distinct arch(s); at least {minimum} archs are needed{why}") from None
            return archs
        if "/" in text or "." in text:
            raise BPEError(f"--archs: the file {text} does not exist (give a number, 'all' or an existing file "
                           f"of archs)") from None
        raise BPEError(f"--archs takes a number, 'all' or a file of archs (one per line, or a CSV with an "
                       f"'arch' column), got '{text}'") from None
    if listed is not None:
        if not isinstance(seed, int) or seed < 0:
            raise BPEError(f"--seed must be an integer >= 0, got {seed}")
        if not minimum <= n <= len(listed):
            raise BPEError(f"--archs must be within {minimum}..{len(listed)} (the archs the truth lists{why}), got {n}")
        return [listed[i] for i in np.random.default_rng(seed).permutation(len(listed))[:n]]
    return sample_archs(space, n, seed, minimum=minimum, why=why)
