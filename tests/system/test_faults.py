"""Faults, the way job systems test them: a write that fails for lack of space or permission is one
clear error with earlier results and the cache intact; two processes sharing one cache on
overlapping archs agree with an undisturbed run and leave no corrupt entry (slow tier)."""

from __future__ import annotations

import errno
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd
import pytest

import bpe.outputs as outputs
from bpe.cli import main

TINY = {"epochs": 1, "batch_size": 32, "channels": 2, "cells_per_stage": 1, "image_size": 8, "data_fraction": 0.2}


def _cache_entries(cache: Path) -> list[Path]:
    return sorted(p for p in cache.glob("*/*.json") if p.name != "fingerprint.json")


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EACCES])
def test_a_failed_write_is_one_error_and_nothing_is_lost(code, tmp_path, monkeypatch, capsys):
    config = tmp_path / "tiny.json"
    config.write_text(json.dumps(TINY))
    cache, out = tmp_path / "cache", tmp_path / "s.csv"
    common = ["score", "--estimator", str(config), "--cache-dir", str(cache), "--quiet", "--jobs", "1"]
    assert main([*common, "--archs", "3", "--out", str(out)]) == 0
    before = {p: p.read_bytes() for p in [out, *_cache_entries(cache)]}
    real = tempfile.mkstemp

    def full_disk(*args, dir=None, **kwargs):  # noqa: A002 - mkstemp's own keyword
        if dir is not None and Path(dir).resolve().is_relative_to(cache.resolve()):
            raise OSError(code, "No space left on device" if code == errno.ENOSPC else "Permission denied", str(dir))
        return real(*args, dir=dir, **kwargs)

    monkeypatch.setattr(outputs.tempfile, "mkstemp", full_disk)
    assert main([*common, "--archs", "5", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("bpe: error: cannot write") and len(err.splitlines()) == 1
    assert ("No space left" if code == errno.ENOSPC else "Permission denied") in err
    assert {p: p.read_bytes() for p in before} == before  # earlier results and cache entries untouched
    assert not list(cache.rglob("*.tmp")) and not list(tmp_path.glob(".s.csv.*"))


@pytest.mark.slow  # two subprocesses at once
def test_two_processes_sharing_a_cache_agree_with_an_undisturbed_run(tmp_path):
    config = tmp_path / "tiny.json"
    config.write_text(json.dumps({**TINY, "epochs": 2}))
    shared, alone = tmp_path / "shared", tmp_path / "alone"

    def argv(archs: int, cache: Path, out: Path) -> list[str]:
        return [sys.executable, "-m", "bpe.cli", "score", "--estimator", str(config), "--archs", str(archs),
                "--cache-dir", str(cache), "--out", str(out), "--quiet", "--jobs", "1"]

    procs = [subprocess.Popen(argv(n, shared, tmp_path / f"p{n}.csv"), stderr=subprocess.PIPE, text=True)
             for n in (6, 8)]  # nested samples: the first 6 archs overlap
    for p in procs:
        assert p.wait(timeout=600) == 0, p.stderr.read()
    assert subprocess.run(argv(8, alone, tmp_path / "alone.csv"), capture_output=True, text=True).returncode == 0
    reference = pd.read_csv(tmp_path / "alone.csv").set_index("arch")
    for n in (6, 8):
        got = pd.read_csv(tmp_path / f"p{n}.csv").set_index("arch")
        assert list(got.index) == list(reference.index[:n])
        assert (got["tiny"] == reference.loc[got.index, "tiny"]).all()
    entries = _cache_entries(shared)
    assert len(entries) == 8 and all(json.loads(p.read_text())["score"] is not None for p in entries)
    assert not list(shared.rglob("*.tmp"))


@pytest.mark.parametrize("damage", ["truncated", "garbage", "not a record", "unreadable"])
def test_a_damaged_cache_entry_is_recomputed_with_a_warning(damage, tmp_path, caplog, monkeypatch):
    """A truncated, garbage, wrongly shaped or unreadable cache entry is recomputed (with a warning
    naming the file): no crash, and the scores equal those of an undisturbed run."""
    import logging

    config = tmp_path / "tiny.json"
    config.write_text(json.dumps(TINY))
    cache, out = tmp_path / "cache", tmp_path / "s.csv"
    argv = ["score", "--estimator", str(config), "--cache-dir", str(cache), "--quiet", "--jobs", "1", "--archs", "3",
            "--no-plot", "--out", str(out)]
    assert main(argv) == 0
    clean = pd.read_csv(out)
    entry = _cache_entries(cache)[1]
    if damage == "truncated":
        entry.write_bytes(entry.read_bytes()[: len(entry.read_bytes()) // 2])
    elif damage == "garbage":
        entry.write_bytes(b"\x00\xff garbage \x9c" * 10)
    elif damage == "not a record":
        entry.write_text("[1, 2, 3]")
    else:  # a permission error (root reads any file, so the refusal is simulated)
        real = Path.read_text

        def refuse(self, *args, **kwargs):
            if self == entry:
                raise PermissionError(13, "Permission denied", str(self))
            return real(self, *args, **kwargs)

        monkeypatch.setattr(Path, "read_text", refuse)
    caplog.set_level(logging.WARNING, logger="bpe.cache")
    assert main(argv) == 0
    assert any(entry.name in r.getMessage() and "recomputed" in r.getMessage() for r in caplog.records)
    pd.testing.assert_frame_equal(pd.read_csv(out).drop(columns=[c for c in clean if c.endswith("_seconds")]),
                                  clean.drop(columns=[c for c in clean if c.endswith("_seconds")]))
