"""One output rule for every command: ``--out`` with a suffix the command writes names the main
file and the others go beside it (same stem); a folder (``DIR/``) gets ``<command>.*``; any
other suffix, or a place that cannot be written, is refused with exit 2 before any work."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bpe.cli import main
from bpe.spaces import nb201

from support import write_records

TINY = ["--channels", "4", "--cells-per-stage", "1", "--image-size", "8", "--batch-size", "16"]


@pytest.fixture(scope="module")
def full_table(tmp_path_factory):
    """A table over all 15,625 NB201 archs with the four true-accuracy columns (search needs them)."""
    archs = [str(a) for a in nb201.enumerate_archs()]
    convs = np.array([9 * a.count("conv_3x3") + a.count("conv_1x1") for a in archs], dtype=float)
    frame = pd.DataFrame({"arch_str": archs})
    for i, col in enumerate(("v11_cifar10valid_valid", "v11_cifar10_test", "v11_cifar100_test", "v11_imagenet16_test")):
        frame[col] = 50 + convs + 0.001 * np.arange(len(archs)) + i
    frame["nats_cifar10valid_train_sec_per_epoch"] = 10.0
    path = tmp_path_factory.mktemp("t") / "table.csv"
    frame.to_csv(path, index=False)
    return path


def command(name, tmp_path, table):
    """argv of a cheap run of each command (without --out)."""
    scores = tmp_path / "in_scores.csv"
    if name == "correlate" and not scores.exists():
        assert main(["score", "--estimator", "params", "--dataset", "digits", "--archs", "6", "--out", str(scores),
                     "--quiet", "--no-cache", *TINY]) == 0
    records = tmp_path / "records"
    if name == "mip" and not records.exists():
        write_records(records, n_settings=8, n_archs=12)
    return {
        "score": ["score", "--estimator", "params", "--dataset", "digits", "--archs", "4", "--quiet", "--no-cache", *TINY],
        "correlate": ["correlate", "--scores", str(scores), "--truth", str(table), "--metric", "v11_cifar10_test"],
        "search": ["search", "--algo", "random", "--estimator", "oracle", "--truth", str(table), "--budget", "5",
                   "--quiet"],
        "mip": ["mip", "--tabular", str(records), "--per-round", "3", "--rounds", "1", "--forest-seeds", "2", "--quiet"],
        "config": ["config", "bpe-1"],
    }[name]


#: command -> (files written for --out NAME.main, the stem a folder gets, refused suffix)
WRITES = {
    "score": ([".csv", ".json", ".png"], "scores", ".txt"),
    "correlate": ([".json", ".png"], "correlations", ".csv"),
    "search": ([".json", ".png"], "search", ".csv"),
    "mip": ([".json", "_importance.png", "_frontier.png"], "bpe", ".csv"),
    "config": ([".json"], "config", ".csv"),
}


@pytest.mark.parametrize("name", sorted(WRITES))
def test_out_forms(name, tmp_path, full_table, capsys):
    suffixes, stem, refused = WRITES[name]
    argv = command(name, tmp_path, full_table)
    for given in {suffixes[0], suffixes[-1]} if not suffixes[-1].startswith("_") else {suffixes[0]}:
        out = tmp_path / f"run{given.replace('.', '_')}" / f"x{given}"
        assert main([*argv, "--out", str(out)]) == 0, capsys.readouterr().err
        for suffix in suffixes:
            assert (out.parent / f"x{suffix}").is_file(), (given, suffix)
    folder = tmp_path / "folder"
    assert main([*argv, "--out", str(folder) + "/"]) == 0
    assert all((folder / f"{stem}{s}").is_file() for s in suffixes)
    capsys.readouterr()
    for bad in (tmp_path / f"y{refused}", Path("/proc/bpe/y" + suffixes[0])):
        assert main([*argv, "--out", str(bad)]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and ("suffix" in err or "cannot be written" in err), err
        assert not bad.exists()


def test_correlate_refuses_a_header_only_scores_file(tmp_path, full_table, capsys):
    empty = tmp_path / "empty.csv"
    empty.write_text("arch,naswot,naswot_seconds\n")
    assert main(["correlate", "--scores", str(empty), "--truth", str(full_table), "--out", str(tmp_path / "c.json")]) == 2
    assert "no rows" in capsys.readouterr().err and not (tmp_path / "c.json").exists()


def test_score_out_under_a_file_is_refused_before_scoring(tmp_path, capsys):
    (tmp_path / "file").write_text("")
    assert main(["score", "--estimator", "params", "--dataset", "digits", "--archs", "4", "--quiet",
                 "--cache-dir", str(tmp_path / "c"), "--out", str(tmp_path / "file" / "s.csv"), *TINY]) == 2
    assert "cannot be written" in capsys.readouterr().err
    assert not (tmp_path / "c").exists() or not list((tmp_path / "c").rglob("*.json"))


def test_results_record_code_version_and_machine(tmp_path):
    out = tmp_path / "s.csv"
    assert main(["score", "--estimator", "params", "--dataset", "digits", "--archs", "2", "--quiet", "--no-cache",
                 "--out", str(out), *TINY]) == 0
    provenance = json.loads(out.with_suffix(".json").read_text())["provenance"]
    assert provenance["bpe_version"] and provenance["machine"]["cpu_count"] >= 1 and provenance["date"]


def test_a_run_over_another_commands_files_leaves_none_of_them(tmp_path, full_table):
    """``bpe search --out r.json`` over an earlier ``bpe evaluate --out r.json``: the evaluation's
    r.csv (listed in its r.json) is removed, r.png is the search's; a file no bpe run listed stays."""
    out = tmp_path / "r.json"
    assert main(["evaluate", "--estimator", "oracle", "--truth", str(full_table), "--metric", "v11_cifar10_test",
                 "--archs", "8", "--no-cache", "--quiet", "--noise-archs", "0", "--out", str(out)]) == 0
    assert (tmp_path / "r.csv").is_file() and "r.csv" in json.loads(out.read_text())["files"]
    (tmp_path / "r_notes.csv").write_text("mine\n")
    assert main([*command("search", tmp_path, full_table), "--out", str(out)]) == 0
    assert not (tmp_path / "r.csv").exists()
    assert (tmp_path / "r.png").is_file() and (tmp_path / "r_notes.csv").read_text() == "mine\n"
    assert json.loads(out.read_text())["files"] == ["r.json", "r.png"]


def test_a_renamed_or_foreign_json_never_gets_its_listed_files_deleted(tmp_path, full_table):
    """Only a list bpe wrote for this very file counts: a results file renamed from another stem,
    or a user's JSON with a `files` key, leaves every listed file alone."""
    out = tmp_path / "r.json"
    (tmp_path / "r_v2.csv").write_text("keep\n")
    (tmp_path / "r.csv").write_text("keep too\n")
    out.write_text(json.dumps({"files": ["r_v2.json", "r_v2.csv"]}))  # renamed from r_v2.json
    assert main([*command("search", tmp_path, full_table), "--out", str(out)]) == 0
    assert (tmp_path / "r_v2.csv").read_text() == "keep\n" and (tmp_path / "r.csv").read_text() == "keep too\n"
