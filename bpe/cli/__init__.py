"""The ``bpe`` command line: one module per command, each parsing its arguments and calling one
library function.  Only this package prints.  Bad input exits with code 2 and one line naming
the problem; Ctrl-C exits with 130 (finished evaluations are cached, a rerun resumes)."""

from __future__ import annotations

import argparse
import errno
import logging
import os
import sys
from collections.abc import Sequence

from bpe import __version__
from bpe.errors import BPEError

__all__ = ["main", "build_parser"]

#: The command modules, in the order ``bpe --help`` lists them.
COMMANDS = ("evaluate", "score", "correlate", "search", "mip", "predictor", "config", "arch", "truth")


class Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line (and exit 2)."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    import importlib

    from bpe.cli.common import add_verbosity

    parser = Parser(prog="bpe", description="Budgeted performance estimators for NAS.")
    parser.add_argument("--version", action="version", version=f"bpe {__version__}")
    add_verbosity(parser, top=True)
    shared = argparse.ArgumentParser(add_help=False)
    add_verbosity(shared, top=False)
    sub = parser.add_subparsers(dest="command", required=True)
    for name in COMMANDS:
        importlib.import_module(f"bpe.cli.{name}").register(sub, parents=[shared])
    return parser


def _configure_logging(verbose: int, quiet: bool) -> None:
    level = logging.ERROR if quiet else [logging.WARNING, logging.INFO, logging.DEBUG][min(verbose, 2)]
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    if quiet or verbose == 0:  # Dask's INFO lines about workers and schedulers
        for name in ("distributed", "ray"):
            logging.getLogger(name).setLevel(logging.ERROR if quiet else logging.WARNING)


#: Errors of a write that failed for lack of space or permission: one line, exit 2.
_WRITE_ERRORS = {errno.ENOSPC, errno.EACCES, errno.EPERM, errno.EROFS, errno.EDQUOT}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``bpe`` console script; returns the exit code."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exit_:  # --help, --version, or a usage error (exit 2, one line on stderr)
        return int(exit_.code or 0)
    _configure_logging(args.verbose, args.quiet)
    try:
        return int(args.func(args) or 0)
    except BPEError as err:
        print(f"bpe: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("bpe: interrupted; finished evaluations are cached, rerun to resume", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `bpe arch sample 100 | head -1`: the reader has gone, which is fine
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except OSError as err:
        if err.errno not in _WRITE_ERRORS:
            raise
        where = f" {err.filename}" if err.filename else ""
        print(f"bpe: error: cannot write{where}: {err.strerror or err}; free space or fix the permissions, then "
              "rerun (finished evaluations are cached; files are replaced whole, so no result was half-written)",
              file=sys.stderr)
        return 2
