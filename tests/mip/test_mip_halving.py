"""Successive halving over archs in live MIP (``--halving``): nested rungs, promotion of the better
half, the chosen setting measured on every search arch, and importance fitted on the rho every
setting has on the same (first-rung) archs."""

from __future__ import annotations

import json

import pytest

import bpe.mip.search as search
from bpe.cli import main
from bpe.errors import ConfigError
from bpe.mip.job import auto_halving
from bpe.mip.search import MIPSettings, rungs

from support import mip_argv


def test_rungs_double_up_to_the_whole_sample():
    assert rungs(18, 70) == [18, 36, 70]
    assert rungs(5, 20) == [5, 10, 20]
    assert rungs(10, 20) == [10, 20]
    assert rungs(None, 20) == [20] and rungs(20, 20) == [20]
    assert auto_halving(70) == 18 and auto_halving(39) is None
    with pytest.raises(ConfigError, match="at least 5 archs"):
        MIPSettings(halving=3)


@pytest.mark.slow  # a live MIP run on 20 archs over three rungs (about 12 s)
def test_halving_promotes_the_better_half_and_chooses_on_every_arch(tmp_path, monkeypatch):
    seen_rhos = []
    original = search.knob_importance

    def spy(knobs, settings, rho, **kwargs):
        seen_rhos.append(list(rho))
        return original(knobs, settings, rho, **kwargs)

    monkeypatch.setattr(search, "knob_importance", spy)
    out = tmp_path / "bpe.json"
    assert main(mip_argv(tmp_path, out, tmp_path / "c", "--halving", "5", "--rounds", "2", archs=20)) == 0
    doc = json.loads(out.read_text())
    halving = doc["mip"]["halving"]
    assert halving["rungs"] == [5, 10, 20]
    trajectory = doc["trajectory"]
    # every result keeps its first-rung rho; nested rungs: each further rung on more archs
    assert all(t["extra"]["rungs"][0]["n_archs"] == 5 for t in trajectory)
    assert all([r["n_archs"] for r in t["extra"]["rungs"]] == [5, 10, 20][: t["extra"]["rung"] + 1]
               for t in trajectory)
    assert all(t["n_archs"] == t["extra"]["rungs"][-1]["n_archs"] for t in trajectory)
    # a setting goes on only from the better half of those at its rung then (the leader's final
    # promotion aside); some stay behind
    settings = {json.dumps({k: v for k, v in t["setting"].items() if k != "report"}, sort_keys=True): t["extra"]["rung"]
                for t in trajectory}
    by_halving = [p for p in halving["promotions"] if p["why"].startswith("top half")]
    assert by_halving and all(p["rank"] <= int(p["why"].split()[3]) // 2 for p in by_halving)
    assert any(lv == 0 for lv in settings.values()), "nothing was left on the first rung"
    # the chosen setting rests on every search arch, and is the best of those that do
    chosen = doc["measured"]
    assert chosen["n_archs"] == 20
    complete = [t for t in trajectory if t["n_archs"] == 20 and t["spearman"] is not None]
    assert chosen["spearman"] == pytest.approx(max(t["spearman"] for t in complete))
    # the forests saw each setting's first-rung rho, not its rho on more archs
    assert seen_rhos
    first_rung = [t["extra"]["rungs"][0]["spearman"] for t in trajectory]
    last = seen_rhos[-1]
    assert last == pytest.approx([float("nan") if v is None else v for v in first_rung[: len(last)]], nan_ok=True)


def test_halving_is_refused_where_it_cannot_work(tmp_path, capsys):
    for value, needle in (("3", "number of archs >= 5"), ("abc", "auto, off or"), ("20", "not below the 20 search")):
        assert main(mip_argv(tmp_path, tmp_path / "bpe.json", tmp_path / "c", "--halving", value, archs=20)) == 2
        assert needle in capsys.readouterr().err
    assert not (tmp_path / "bpe.json").exists()


def test_a_last_rung_of_a_few_archs_is_merged():
    assert rungs(12, 50) == [12, 24, 50] and rungs(10, 41) == [10, 20, 41] and rungs(10, 80) == [10, 20, 40, 80]
