"""Where a command's results go, and how they are written.

One rule for every command (see the README, "Output files"):

* ``--out NAME.EXT`` names the run's main file when ``EXT`` is one of the suffixes the command
  writes (e.g. ``.json``, ``.csv``, ``.png`` for ``bpe evaluate``); the other files of the run
  are written beside it with the same stem, so ``--out x.csv`` still writes ``x.json``.
* ``--out DIR/`` (a trailing slash) or an existing folder: the files are ``DIR/<default stem>.*``.
* Any other suffix, a place under a regular file or a place that cannot be written is refused
  before any work.
* A run replaces all of its files: a sidecar it does not write this time (the plot under
  ``--no-plot``) is removed, so results and plots of two runs are never mixed.

Every file is written atomically (temporary file + rename) with the user's umask, and JSON is
standard (``null``, never ``NaN``/``Infinity``).
"""

from __future__ import annotations

import datetime
import json
import math
import os
import platform
import subprocess
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bpe import __version__
from bpe.errors import BPEError
from bpe.machine import machine_info

__all__ = ["atomic_write_text", "check_writable", "json_text", "jsonable", "OutputSet", "plan_outputs",
           "run_provenance"]


def run_provenance() -> dict[str, Any]:
    """What produced a result: bpe's version (and git commit when run from a checkout), the
    machine (:func:`bpe.machine.machine_info`: CPU model and ISA flags, cores, Python, torch and
    its CPU dispatch, GPU) and the date, for every results file."""
    info: dict[str, Any] = {"bpe_version": __version__,
                            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                            "machine": {"processor": platform.machine(), "cpu_count": os.cpu_count(), **machine_info()}}
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=5,
                                cwd=Path(__file__).resolve().parent)
        if commit.returncode == 0:
            info["git_commit"] = commit.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pass
    return info


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write ``text`` to ``path`` so readers never see a partial file (mode: 0666 less the umask)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def check_writable(path: str | Path, *, flag: str = "--out") -> Path:
    """Check, before any work, that a file can be written at ``path`` (its folder is created).

    Raises :class:`~bpe.errors.BPEError` naming the problem.
    """
    path = Path(path)
    if path.is_dir():
        raise BPEError(f"{flag} {path} is a directory; give a file name such as {path / 'results.json'}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        os.close(fd)
        os.unlink(tmp)
    except OSError as err:
        raise BPEError(f"{flag} {path} cannot be written ({err.strerror or err}); choose a writable place") from None
    return path


def jsonable(value: Any) -> Any:
    """``value`` with non-finite floats as ``None`` and numpy scalars/arrays as Python values."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):  # numpy scalar or array
        return jsonable(value.tolist())
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, (str, int, bool)):
        return value
    if isinstance(value, Path):
        return str(value)
    return str(value)


def json_text(value: Any, *, indent: int | None = 2) -> str:
    """Standard JSON (no ``NaN``/``Infinity``) of ``value``, ending in a newline."""
    return json.dumps(jsonable(value), indent=indent, allow_nan=False) + "\n"


@dataclass(frozen=True)
class OutputSet:
    """The files of one run: ``stem`` + each suffix (the first is the main file).

    ``earlier`` are the files an earlier run wrote under the same main file (its JSON lists them
    under ``files``): :meth:`finish` removes those this run did not write, so a ``bpe search --out
    r.json`` over an earlier ``bpe evaluate --out r.json`` leaves no ``r.csv`` of the evaluation."""

    stem: Path
    suffixes: tuple[str, ...]
    earlier: tuple[Path, ...] = ()

    @property
    def main(self) -> Path:
        return self.path(self.suffixes[0])

    def path(self, suffix: str) -> Path:
        if suffix not in self.suffixes:
            raise ValueError(f"{suffix} is not one of this run's outputs {self.suffixes}")
        return self.stem.parent / (self.stem.name + suffix)

    def file_names(self) -> list[str]:
        """The names of every file this run may write (what its JSON lists under ``files``)."""
        return [self.path(suffix).name for suffix in self.suffixes]

    def write_json(self, doc: dict[str, Any]) -> Path:
        """Write the run's JSON file (atomically), listing the run's files under ``files``."""
        path = self.path(".json")
        atomic_write_text(path, json_text({**doc, "files": self.file_names()}))
        return path

    def finish(self, written: Iterable[str | Path]) -> list[Path]:
        """Remove this run's files that were not written this time (a stale plot) and an earlier
        run's files under the same name that this one does not write; return ``written``."""
        done = [Path(p) for p in written]
        for path in [self.path(suffix) for suffix in self.suffixes] + list(self.earlier):
            if path not in done and path.is_file():
                path.unlink()
        return done


#: Every suffix a bpe command writes beside its main file (what an earlier run's list may name).
KNOWN_SUFFIXES = (".json", ".csv", ".png", "_importance.png", "_frontier.png", ".pt")


def _earlier_files(main: Path) -> tuple[Path, ...]:
    """The files an earlier bpe run listed in ``main`` (its ``files``), beside it: only names of the
    form ``<stem><a suffix bpe writes>`` in a JSON that bpe wrote (it lists itself); none when
    ``main`` is absent or not such a file."""
    if main.suffix != ".json" or not main.is_file():
        return ()
    try:
        names = json.loads(main.read_text()).get("files")
    except (OSError, ValueError, AttributeError):
        return ()
    if not isinstance(names, list) or main.name not in names:  # not a list this rule wrote
        return ()
    stem = main.with_suffix("").name
    allowed = {stem + suffix for suffix in KNOWN_SUFFIXES} - {main.name}
    return tuple(main.parent / n for n in names if isinstance(n, str) and n in allowed)


def plan_outputs(out: str | Path, *, suffixes: Sequence[str], default_stem: str, flag: str = "--out",
                 command: str = "this command") -> OutputSet:
    """Apply the output rule to ``out`` and check, before any work, that every file can be written."""
    text = str(out)
    path = Path(text)
    suffixes = tuple(suffixes)
    if text.endswith(("/", os.sep)) or path.is_dir():
        stem = path / default_stem
    elif path.suffix.lower() in suffixes:
        stem = path.with_suffix("")
    else:
        what = f"suffix '{path.suffix}'" if path.suffix else "no suffix"
        raise BPEError(
            f"{flag} {text} has {what}; {command} writes {', '.join(s.lstrip('.').upper() for s in suffixes)}: "
            f"give {flag} NAME{suffixes[0]} (the others go beside it, same stem) or a folder ending in /")
    outputs = OutputSet(stem, suffixes, _earlier_files(stem.parent / (stem.name + suffixes[0])))
    for suffix in suffixes:
        target = outputs.path(suffix)
        if target.is_dir():
            raise BPEError(f"{flag}: {target} is a directory; give another name")
        check_writable(target, flag=flag)
    return outputs
