"""Where the experiments find the reference data (CIFAR-10 arrays, NB201 tables).

This is a fact of the repository layout, not of the library: ``$BPE_DATA_DIR``, else
``../shared/data`` beside the project root (the folder above ``experiments/``).
"""

from __future__ import annotations

import os
from pathlib import Path

#: The project root: the folder above ``experiments/``.
PROJECT_ROOT = Path(__file__).resolve().parent.parent


def reference_data_dir() -> Path:
    """``$BPE_DATA_DIR``, else ``shared/data`` beside the project root."""
    return Path(os.environ.get("BPE_DATA_DIR", PROJECT_ROOT.parent / "shared" / "data"))
