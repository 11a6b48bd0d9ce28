"""User-facing error types.

Every problem a user can fix (a malformed architecture string, a config typo, a missing
data file, ...) is raised as a subclass of :class:`BPEError`.  The CLI turns these into
one line on stderr and exit code 2; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class BPEError(Exception):
    """Base class of every error caused by bad user input (the CLI exits with code 2)."""


class ArchStringError(BPEError, ValueError):
    """A malformed or invalid architecture string."""


class ConfigError(BPEError, ValueError):
    """An invalid configuration value, an unknown key, or an unreadable config file."""


class DataError(BPEError, ValueError):
    """A missing, unreadable or inconsistent dataset."""


class TruthError(BPEError, ValueError):
    """A missing or inconsistent ground-truth source (table, NB201 file, metric column)."""


class EstimatorError(BPEError, ValueError):
    """An unknown estimator name or invalid estimator options."""
