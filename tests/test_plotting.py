"""Plot text that fits: titles name files, not folders, and wrap; legends sit outside the axes;
``bpe score`` draws how its estimators agree and ``--no-plot`` removes an earlier PNG."""

from __future__ import annotations

from bpe.cli import main
from bpe.plotting import new_figure, set_title, short_text

TINY = ["--channels", "4", "--cells-per-stage", "1", "--image-size", "8", "--batch-size", "16"]


def test_titles_shorten_paths_and_wrap():
    text = "bpe(epochs=2) on cifar10 vs ../shared/data/nb201/nb201_groundtruth.csv (v11): 3.1 s/arch, /tmp/x/y.csv"
    assert short_text(text) == "bpe(epochs=2) on cifar10 vs nb201_groundtruth.csv (v11): 3.1 s/arch, y.csv"
    fig, ax = new_figure()
    set_title(ax, "word " * 40 + "\n/very/long/path/to/a/file.json", width=50)
    lines = ax.get_title().splitlines()
    assert len(lines) >= 4 and max(map(len, lines)) <= 50 and lines[-1] == "file.json"


def test_score_writes_an_agreement_plot_and_no_plot_removes_it(tmp_path):
    out = tmp_path / "s.csv"
    argv = ["score", "--estimator", "params,flops,naswot", "--dataset", "digits", "--archs", "6", "--quiet",
            "--no-cache", "--out", str(out), *TINY]
    assert main(argv) == 0
    assert out.with_suffix(".png").stat().st_size > 1000
    assert main([*argv, "--no-plot"]) == 0
    assert not out.with_suffix(".png").exists() and out.is_file()
