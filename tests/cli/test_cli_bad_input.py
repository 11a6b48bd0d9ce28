"""Bad input to the ``bpe`` CLI: exit code 2, one line ``bpe: error: ...`` naming the problem,
and nothing the user already had (results file, evaluation cache) is touched.

Everything here fails before any training, so the tests are fast.  Truth tables are tiny
CSVs written into ``tmp_path``; no external data is needed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bpe.cli import main
from bpe.spaces import nb201

N_ARCHS = 4
TINY_CONFIG = {"epochs": 1, "batch_size": 32, "channels": 2, "cells_per_stage": 1, "image_size": 8,
               "data_fraction": 0.2}
GOOD_ARCH = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"


# -- helpers ----------------------------------------------------------------------------
def write_truth(path: Path, n: int = N_ARCHS, seed: int = 0) -> Path:
    """A ``arch_str,acc`` table holding exactly the archs ``bpe evaluate --archs n --seed seed`` samples."""
    rng = np.random.default_rng(1234)
    lines = ["arch_str,acc"] + [f"{arch},{rng.uniform(50, 95):.4f}" for arch in nb201.sample(n, seed)]
    path.write_text("\n".join(lines) + "\n")
    return path


def snapshot(*roots: Path) -> dict[str, bytes]:
    """Every file under ``roots`` (relative name -> bytes); also catches files that appear."""
    files = {}
    for i, root in enumerate(roots):
        for p in sorted(root.rglob("*")):
            if p.is_file():
                files[f"{i}/{p.relative_to(root)}"] = p.read_bytes()
    return files


class Env:
    """A tmp workspace: tiny config and truth table, a pre-existing results file and cache."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.config = tmp / "tiny.json"
        self.config.write_text(json.dumps(TINY_CONFIG))
        self.truth = write_truth(tmp / "truth.csv")
        self.out_dir = tmp / "results"
        self.out_dir.mkdir()
        self.out = self.out_dir / "evaluate.json"
        self.out.write_text('{"sentinel": "results of an earlier run"}\n')
        (self.out_dir / "evaluate.csv").write_text("arch,score\nsentinel,1.0\n")
        self.cache = tmp / "cache"
        namespace = self.cache / "0123456789abcdef01234567"
        namespace.mkdir(parents=True)
        (namespace / "fingerprint.json").write_text('{"estimator": "earlier"}')
        (namespace / ("ab" * 16 + ".json")).write_text('{"arch": "sentinel", "score": 1.0, "status": "ok"}')
        self.before = snapshot(self.out_dir, self.cache)

    def argv(self, **overrides: str | None) -> list[str]:
        """``bpe evaluate`` arguments; ``overrides`` replace options (``None`` drops one)."""
        options = {
            "--estimator": str(self.config),
            "--dataset": "digits",
            "--truth": str(self.truth),
            "--metric": "acc",
            "--archs": str(N_ARCHS),
            "--cache-dir": str(self.cache),
            "--out": str(self.out),
        }
        for key, value in overrides.items():
            options["--" + key.replace("_", "-")] = value
        argv = ["evaluate"]
        for key, value in options.items():
            if value is not None:
                argv += [key, value]
        return argv + ["--quiet", "--no-plot"]

    def assert_untouched(self) -> None:
        assert snapshot(self.out_dir, self.cache) == self.before, "bad input changed the results file or the cache"


@pytest.fixture
def env(tmp_path: Path) -> Env:
    return Env(tmp_path)


def run_inprocess(argv: list[str], capsys) -> tuple[int, str, str]:
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def run_subprocess(argv: list[str], tmp_path: Path) -> tuple[int, str, str]:
    env = {**os.environ, "BPE_CACHE_DIR": str(tmp_path / "default-cache"), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", "bpe.cli", *argv], capture_output=True, text=True,
                          env=env, timeout=120)
    return proc.returncode, proc.stdout, proc.stderr


def assert_one_line_error(code: int, out: str, err: str, *needles: str) -> str:
    assert code == 2, f"expected exit code 2, got {code}; stderr:\n{err}"
    lines = err.strip().splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got:\n{err}"
    assert lines[0].startswith("bpe: error: "), lines[0]
    for needle in needles:
        assert needle in lines[0], f"{needle!r} not in {lines[0]!r}"
    assert "Traceback" not in err
    assert "wrote" not in out, "a failed run must not report written files"
    return lines[0]


# -- arch strings ----------------------------------------------------------------------
@pytest.mark.parametrize(
    "text, needle",
    [
        ("|conv_5x5~0|+|none~0|none~1|+|none~0|none~1|none~2|", "unknown op 'conv_5x5'"),
        ("|none~0|+|none~0|none~1|", "expected 3 nodes"),
        ("|none~0|+|none~0|none~1|+|none~0|none~1|none~3|", "bad source index"),
        ("|none~0|+|none~0|+|none~0|none~1|none~2|", "node 2 needs 2 edge(s)"),
    ],
    ids=["unknown-op", "two-nodes", "source-index", "edge-count"],
)
def test_arch_check_rejects_malformed_string(text, needle, capsys):
    """``bpe arch check`` names what is wrong with a malformed NB201 string."""
    code, out, err = run_inprocess(["arch", "check", text], capsys)
    line = assert_one_line_error(code, out, err, needle)
    if needle.startswith("unknown op"):
        assert "allowed ops: none, skip_connect" in line
    assert out == ""


def test_arch_check_subprocess_exit_code(tmp_path):
    """The real console entry point exits 2 with one line (and accepts a good string)."""
    code, out, err = run_subprocess(["arch", "check", GOOD_ARCH, "conv_5x5"], tmp_path)
    assert_one_line_error(code, out, err, "malformed NB201 arch 'conv_5x5'")
    assert out.startswith(GOOD_ARCH), "the valid arch before the bad one is still reported"


def test_evaluate_truth_table_with_malformed_arch(env, capsys):
    """A bad arch string inside the truth table is reported with the table's name."""
    env.truth.write_text(env.truth.read_text() + "|conv_5x5~0|+|none~0|none~1|+|none~0|none~1|none~2|,70.0\n")
    code, out, err = run_inprocess(env.argv(), capsys)
    assert_one_line_error(code, out, err, "truth table", "unknown op 'conv_5x5'")
    env.assert_untouched()


# -- estimator and config --------------------------------------------------------------
def test_unknown_estimator_suggests_close_name(env, tmp_path):
    """A typo in --estimator names the estimator and suggests the close one (real exit code)."""
    code, out, err = run_subprocess(env.argv(estimator="oracel"), tmp_path)
    assert_one_line_error(code, out, err, "unknown estimator 'oracel'", "did you mean 'oracle'?")
    env.assert_untouched()


def test_config_unknown_key_suggests_field(env, capsys):
    """A misspelt config key ('epoch') is named and 'epochs' suggested."""
    env.config.write_text(json.dumps({**TINY_CONFIG, "epoch": 3}))
    code, out, err = run_inprocess(env.argv(), capsys)
    assert_one_line_error(code, out, err, "unknown key 'epoch'", "did you mean 'epochs'?", str(env.config))
    env.assert_untouched()


def test_config_out_of_range_value(env, capsys):
    """An out-of-range knob (image_size 2) is named with its allowed range."""
    env.config.write_text(json.dumps({**TINY_CONFIG, "image_size": 2}))
    code, out, err = run_inprocess(env.argv(), capsys)
    assert_one_line_error(code, out, err, "image_size must be in 4..256, got 2")
    env.assert_untouched()


def test_config_not_json(env, capsys):
    """A config file that is not JSON is reported as such, with the file name."""
    env.config.write_text('{"epochs": 1, "batch_size": 32,,}')
    code, out, err = run_inprocess(env.argv(), capsys)
    assert_one_line_error(code, out, err, str(env.config), "is not valid JSON")
    env.assert_untouched()


# -- data ------------------------------------------------------------------------------
def test_missing_data_dir(env, capsys):
    """A --data-dir that does not exist is reported before any work."""
    missing = env.tmp / "no-such-folder"
    code, out, err = run_inprocess(env.argv(dataset="folder", data_dir=str(missing)), capsys)
    assert_one_line_error(code, out, err, str(missing), "does not exist")
    env.assert_untouched()


def test_data_dir_with_digits(env, capsys):
    """digits ships with scikit-learn: a --data-dir for it is a mistake, reported, not ignored."""
    missing = env.tmp / "no-such-folder"
    code, out, err = run_inprocess(env.argv(estimator="oracle", data_dir=str(missing)), capsys)
    assert_one_line_error(code, out, err, "takes no --data-dir", "--dataset folder")
    env.assert_untouched()


def make_array_folder(folder: Path) -> Path:
    """A tiny valid array folder (train_x.npy, train_y.npy, test_x.npy, test_y.npy)."""
    folder.mkdir()
    rng = np.random.default_rng(0)
    for split, n in (("train", 20), ("test", 10)):
        np.save(folder / f"{split}_x.npy", rng.integers(0, 256, (n, 8, 8, 3), dtype=np.uint8))
        np.save(folder / f"{split}_y.npy", np.arange(n) % 2)
    return folder


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_corrupt_npy_in_array_folder(env, tmp_path, damage, capsys):
    """A corrupt train_x.npy is named before any training starts."""
    folder = make_array_folder(tmp_path / "arrays")
    bad = folder / "train_x.npy"
    if damage == "garbage":
        bad.write_bytes(b"this is not a numpy file\x00\x01\x02" * 10)
    else:
        bad.write_bytes(bad.read_bytes()[:200])
    code, out, err = run_inprocess(env.argv(dataset="folder", data_dir=str(folder)), capsys)
    assert_one_line_error(code, out, err, "train_x.npy", "corrupt")
    env.assert_untouched()


def test_corrupt_npy_subprocess(env, tmp_path):
    """Same through the real entry point: exit code 2 and one line on stderr."""
    folder = make_array_folder(tmp_path / "arrays")
    (folder / "train_x.npy").write_bytes(b"\x00garbage\xff" * 40)
    code, out, err = run_subprocess(env.argv(dataset="folder", data_dir=str(folder)), tmp_path)
    assert_one_line_error(code, out, err, "train_x.npy", "corrupt")
    env.assert_untouched()


# -- truth -----------------------------------------------------------------------------
def test_truth_file_missing(env, capsys):
    """A --truth table that does not exist is named."""
    missing = env.tmp / "missing.csv"
    code, out, err = run_inprocess(env.argv(truth=str(missing)), capsys)
    assert_one_line_error(code, out, err, str(missing), "does not exist")
    env.assert_untouched()


def test_truth_metric_column_missing(env, capsys):
    """A --metric that is not a column of the table is named, with the columns available."""
    code, out, err = run_inprocess(env.argv(metric="valid_acc"), capsys)
    assert_one_line_error(code, out, err, "metric 'valid_acc'", "choose one of acc")
    env.assert_untouched()


# -- sample ----------------------------------------------------------------------------
@pytest.mark.parametrize("n", ["0", "1"])
def test_empty_or_single_sample(env, n, capsys):
    """--archs 0 (or 1) cannot give a rank correlation and is refused up front."""
    code, out, err = run_inprocess(env.argv(archs=n), capsys)
    assert_one_line_error(code, out, err, "--archs must be at least 2", f"got {n}")
    env.assert_untouched()
