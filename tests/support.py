"""Helpers several test modules share (tests/ is on ``sys.path`` through its conftest): tiny
live-MIP command lines, synthetic tabular records, tiny training-free scorers."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from bpe.data import DatasetSpec
from bpe.estimators import create_estimator

# -- a tiny live MIP on the embedded digits data ---------------------------------------------
TINY_KNOBS = {
    "epochs": {"values": [1, 2], "cost": "increasing", "scale": "log"},
    "channels": [2, 4],
    "learning_rate": {"values": [0.05, 0.1], "cost": "none"},
    "report": ["valid_accuracy", "valid_loss", "tse", "tse_e1"],
}
TINY_REFERENCE = {"epochs": 3, "batch_size": 32, "channels": 4, "cells_per_stage": 1, "image_size": 8,
                  "data_fraction": 0.3}
TINY_BASE = {"batch_size": 32, "cells_per_stage": 1, "image_size": 8, "data_fraction": 0.3}


def write(path: Path, obj) -> str:
    path.write_text(json.dumps(obj))
    return str(path)


def mip_argv(tmp: Path, out: Path, cache: Path, *extra: str, archs: int = 5, families: bool = False) -> list[str]:
    """A tiny live MIP run; settings only (no scorer candidates, no confirmation split) unless ``families``."""
    return ["mip", "--dataset", "digits", "--truth", "reference",
            "--reference-config", write(tmp / "ref.json", TINY_REFERENCE),
            "--knobs", write(tmp / "knobs.json", TINY_KNOBS), "--base-config", write(tmp / "base.json", TINY_BASE),
            "--archs", str(archs), "--per-round", "2", "--forest-seeds", "2", "--cache-dir", str(cache),
            "--out", str(out), "--quiet", *([] if families else ["--confirm", "0", "--scorers", "none"]), *extra]


def record_files(cache: Path) -> list[Path]:
    return sorted(p for p in cache.glob("*/*.json") if p.name != "fingerprint.json")


# -- synthetic tabular records ------------------------------------------------------------

TAB_KNOBS = {
    "epochs": (5, 10, 20, 40),
    "batch_size": (64, 128, 256),
    "learning_rate": (0.03, 0.1),
    "layers": (4, 8, 16, 20),
    "float_bits": (16, 32),
    "channels": (8, 16),
    "cutout_length": (0, 16),
    "image_size": (16, 32),
}


def write_records(folder: Path, *, n_settings: int = 16, n_archs: int = 30, seed: int = 0,
                  constant: str | None = None) -> pd.DataFrame:
    """Synthetic BPE-style records: the rank agreement with the truth grows strongly with
    layers x epochs and does not depend on cutout_length (or any other knob).

    ``constant``: name of a setting whose accuracies are all equal (its rho is undefined)."""
    rng = np.random.default_rng(seed)
    rows, seen = [], set()
    while len(rows) < n_settings:
        s = {k: v[int(rng.integers(len(v)))] for k, v in TAB_KNOBS.items()}
        if tuple(s.values()) in seen:
            continue
        seen.add(tuple(s.values()))
        cost = (1e-4 * s["epochs"] * s["layers"] * s["channels"] * (s["image_size"] / 16) ** 2
                * (128 / s["batch_size"]) ** 0.5)
        rows.append({"setting": f"s{len(rows):02d}", **s, "gpu_hours_per_net": round(cost, 6)})
    settings = pd.DataFrame(rows)
    truth = rng.normal(95.0, 1.0, n_archs)
    acc = {"arch_id": np.arange(n_archs)}
    for r in rows:
        scale = 200.0 / (r["layers"] * r["epochs"])
        acc[r["setting"]] = np.round(truth + rng.normal(0.0, scale, n_archs), 3)
    if constant is not None:
        acc[constant] = np.full(n_archs, 50.0)
    folder.mkdir(parents=True, exist_ok=True)
    settings.to_csv(folder / "settings.csv", index=False)
    pd.DataFrame(acc).to_csv(folder / "accuracies.csv", index=False)
    pd.DataFrame({"arch_id": np.arange(n_archs), "accuracy": np.round(truth, 3),
                  "genotype": [f"Genotype(arch={i})" for i in range(n_archs)]}).to_csv(
        folder / "ground_truth.csv", index=False)
    return settings


# -- tiny training-free scorers ----------------------------------------------------------------

TINY = dict(channels=4, cells_per_stage=1, image_size=8, batch_size=8)


def tiny(name, **kw):
    return create_estimator(name, dataset=DatasetSpec("digits"), device="cpu", **{**TINY, **kw})
