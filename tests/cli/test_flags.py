"""Every flag takes effect or is refused before any work (issue: flags that were silently
ignored): `bpe search` on an unreachable cluster or with a one-shot method on one, --scheduler
without a cluster backend, a repeated --algo, an
unknown or absent device even when every result is cached, live-only options with --tabular,
and --archs as a file (one-column CSVs included) wherever it is taken."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from bpe.cli import main
from bpe.spaces import nb201

from support import mip_argv, record_files


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert err.startswith("bpe: error:") and len(err.splitlines()) == 1, err
    return err


@pytest.mark.parametrize("extra, says", [
    (["--backend", "dask", "--scheduler", "tcp://127.0.0.1:1"], "cannot reach the Dask scheduler"),
    (["--backend", "ray", "--scheduler", "127.0.0.1:1"], "cannot reach the Ray cluster"),
    (["--scheduler", "tcp://127.0.0.1:1"], "needs --backend dask or ray"),
    (["--algo", "random,random"], "more than once"),
])
def test_bpe_search_refuses_what_it_would_ignore(extra, says, tmp_path, capsys):
    argv = ["search", "--algo", "random", "--estimator", "params", "--budget", "3", "--runs", "1",
            "--cache-dir", str(tmp_path / "c"), "--out", str(tmp_path / "s.json"), "--quiet", *extra]
    if "--algo" in extra:
        argv[argv.index("--algo") + 1:argv.index("--algo") + 2] = []
        argv.remove("--algo")
    assert main(argv) == 2
    assert says in _one_line_error(capsys)
    assert not (tmp_path / "s.json").exists()


@pytest.mark.parametrize("device", ["tpu", *(["cuda"] if not torch.cuda.is_available() else [])])
def test_an_unusable_device_is_refused_even_when_everything_is_cached(device, tmp_path, capsys):
    common = ["score", "--estimator", "params", "--archs", "3", "--cache-dir", str(tmp_path / "c"), "--quiet"]
    assert main([*common, "--out", str(tmp_path / "a.csv")]) == 0  # every result now cached
    assert main([*common, "--device", device, "--out", str(tmp_path / "b.csv")]) == 2
    assert "device" in _one_line_error(capsys) and not (tmp_path / "b.csv").exists()


def test_tabular_mip_refuses_live_only_options(tmp_path, capsys, data_dir):
    out = tmp_path / "bpe.json"
    argv = ["mip", "--tabular", str(data_dir / "bpe_paper"), "--max-cost", "0.6", "--out", str(out), "--quiet"]
    for extra, flag in ((["--archs", "10"], "--archs"), (["--truth", "x.csv"], "--truth"),
                        (["--dataset", "cifar10"], "--dataset"), (["--knobs", "cpu"], "--knobs")):
        assert main([*argv, *extra]) == 2
        assert flag in _one_line_error(capsys) and not out.exists()


@pytest.mark.parametrize("column", ["index", "arch_str"])
def test_a_one_column_csv_lists_archs(column, tmp_path):
    from bpe.spaces import get_space

    archs = [get_space("nb201").from_benchmark_index(i) for i in (5, 17, 99)]
    values = [5, 17, 99] if column == "index" else [str(a) for a in archs]
    listing = tmp_path / "archs.csv"
    listing.write_text(column + "\n" + "\n".join(map(str, values)) + "\n")
    assert main(["score", "--estimator", "params", "--archs", str(listing), "--cache-dir", str(tmp_path / "c"),
                 "--out", str(tmp_path / "s.csv"), "--quiet"]) == 0
    import pandas as pd

    assert list(pd.read_csv(tmp_path / "s.csv")["arch"]) == [str(a) for a in archs]


@pytest.mark.slow  # a live MIP run
def test_mip_takes_a_file_of_labelled_archs(tmp_path):
    archs = [str(a) for a in nb201.sample(5, 3)]
    listing = tmp_path / "archs.txt"
    listing.write_text("\n".join(archs) + "\n")
    out = tmp_path / "bpe.json"
    argv = mip_argv(tmp_path, out, tmp_path / "c", "--rounds", "1")
    argv[argv.index("--archs") + 1] = str(listing)
    assert main(argv) == 0
    labelled = json.loads(Path(out).read_text())["measured"]["archs"]
    assert sorted(labelled) == sorted(archs) and labelled != archs  # in a seeded random order, as a sample is
    assert record_files(tmp_path / "c")


@pytest.mark.parametrize("estimator", ["params", "synflow"])
def test_an_estimator_that_reads_no_images_needs_no_data_files(estimator, tmp_path, monkeypatch):
    """Was: `bpe evaluate --estimator params` demanded the dataset's files (and tried to download
    CIFAR-10) although it reads no image."""
    import bpe.data
    import bpe.scoring

    def no_download(*args, **kwargs):
        raise AssertionError("the dataset was loaded")

    # every module that binds the name (bpe.data.check_data_files reads it from bpe.data)
    for module in (bpe.data, bpe.scoring):
        monkeypatch.setattr(module, "load_arrays", no_download)
    archs = [str(a) for a in nb201.sample(5, 0)]
    truth = tmp_path / "truth.csv"
    truth.write_text("arch_str,acc\n" + "\n".join(f"{a},{80 + i}" for i, a in enumerate(archs)) + "\n")
    out = tmp_path / "e.json"
    assert main(["evaluate", "--estimator", estimator, "--dataset", "cifar10", "--data-dir", str(tmp_path / "none"),
                 "--truth", str(truth), "--metric", "acc", "--archs", str(truth), "--cache-dir", str(tmp_path / "c"),
                 "--out", str(out), "--quiet", "--no-plot", "--noise-archs", "0"]) == 0
    assert json.loads(out.read_text())["n_archs"] == 5


def _subparsers(parser):
    """(command words, parser) of every (sub)command, depth first."""
    import argparse

    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield name, sub
                for deeper, subsub in _subparsers(sub):
                    yield f"{name} {deeper}", subsub


def test_every_flag_of_every_command_is_read():
    """Walk every subcommand's parser: each option's value is read somewhere in the CLI code (the
    command's module, the CLI modules it imports from, or the shared helpers); a flag declared and
    never read would be ignored."""
    import inspect
    import re

    import bpe.cli as cli
    import bpe.cli.common as common

    sources = {p.stem: p.read_text() for p in Path(inspect.getfile(cli)).parent.glob("*.py")}
    shared = sources["common"] + sources["__init__"] + inspect.getsource(common)
    unread = []
    for words, sub in _subparsers(cli.build_parser()):
        module = sources.get(words.split()[0], "")
        module += "".join(sources[m] for m in re.findall(r"from bpe\.cli\.(\w+) import", module))  # its helpers
        for action in sub._actions:
            if not action.option_strings or action.dest in ("help", "func", "command"):
                continue
            pattern = re.compile(rf"args\.{action.dest}\b|getattr\(args, \"{action.dest}\"|\"{action.dest}\"")
            if not pattern.search(module) and not pattern.search(shared):
                unread.append(f"bpe {words} {action.option_strings[0]}")
    assert not unread, f"flags never read: {unread}"


def test_a_one_shot_search_refuses_a_cluster_backend(tmp_path, capsys):
    config = tmp_path / "c.json"
    config.write_text(json.dumps({"epochs": 1, "channels": 2, "cells_per_stage": 1, "image_size": 8}))
    assert main(["search", "--algo", "darts", "--estimator", str(config), "--runs", "1", "--backend", "dask",
                 "--out", str(tmp_path / "s.json"), "--quiet"]) == 2
    assert "cannot use --backend dask" in _one_line_error(capsys) and not (tmp_path / "s.json").exists()
