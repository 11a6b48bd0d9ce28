"""Shared fixtures: where the reference data lives, tiny configs, an isolated cache."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def reference_data_dir() -> Path:
    """``$BPE_DATA_DIR``, else ``shared/data`` beside the project root."""
    return Path(os.environ.get("BPE_DATA_DIR", ROOT.parent / "shared" / "data"))


def shared_data_dir() -> Path | None:
    """``$BPE_DATA_DIR`` or ``../shared/data`` beside the project, when it exists."""
    path = reference_data_dir()
    return path if path.is_dir() else None


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The shared reference data; tests needing it are skipped (with the reason) when absent."""
    path = shared_data_dir()
    if path is None:
        pytest.skip("../shared/data not found (set BPE_DATA_DIR to the reference data folder)")
    return path


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Never touch the user's ~/.cache/bpe from tests."""
    monkeypatch.setenv("BPE_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))


@pytest.fixture(autouse=True)
def _pinned_cpu_layout(monkeypatch):
    """One CPU layout for every test (and its subprocesses), whatever a timing probe would pick on
    a loaded machine: tests compare results bit for bit.  The probe itself is tested in
    test_probe.py, which lifts this."""
    monkeypatch.setenv("BPE_PROBE_CPU_LAYOUT", "channels_last")


@pytest.fixture
def tiny_config():
    """A proxy setting that trains in well under a second on digits."""
    from bpe.config import BPEConfig

    return BPEConfig(epochs=1, batch_size=32, channels=2, layers=5, image_size=8, data_fraction=0.3)


@pytest.fixture(autouse=True)
def _small_learned_forests(monkeypatch):
    """The learned blend's forests at 40 trees (nested selection: 10) instead of 200 (50): tests
    check what is fitted on which archs and how it is chosen, not the forests' last digits."""
    import bpe.mip.families as families

    monkeypatch.setitem(families.LEARNED_GRID, "n_estimators", 40)
    monkeypatch.setattr(families, "NESTED_INNER_TREES", 10)


@pytest.fixture(autouse=True)
def _no_confirmation_threshold(monkeypatch):
    """The reference-training confirmation asks above an *estimated* cost, timed on the machine
    running the tests: a loaded machine must not turn a tiny training into a refusal.  The test
    of the confirmation itself sets its own threshold."""
    import math

    import bpe.cli.evaluate as command

    monkeypatch.setattr(command, "CONFIRM_SECONDS", math.inf)
