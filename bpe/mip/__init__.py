"""Minimum Importance Pruning: knob spaces, setting evaluators (live or tabular), the cost
model, knob importance, the MIP loop and its ``bpe.json`` output."""

from bpe.mip.evaluators import LiveEvaluator, SettingResult, TabularEvaluator, read_tabular_records
from bpe.mip.knobs import KNOB_PRESETS, KnobGrid, KnobSpace, knob_preset, load_knobs
from bpe.mip.search import MIPResult, MIPSettings, choose, frontier, random_settings_search, run_mip

__all__ = [
    "KNOB_PRESETS", "KnobGrid", "KnobSpace", "knob_preset", "load_knobs",
    "LiveEvaluator", "TabularEvaluator", "SettingResult", "read_tabular_records",
    "MIPSettings", "MIPResult", "run_mip", "random_settings_search", "choose", "frontier",
]
