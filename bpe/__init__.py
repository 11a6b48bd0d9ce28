"""bpe: budgeted performance estimators for neural architecture search."""

from __future__ import annotations

import logging

__all__ = ["__version__"]
__version__ = "0.1.0"

logging.getLogger(__name__).addHandler(logging.NullHandler())
