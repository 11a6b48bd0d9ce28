"""``bpe truth convert``: the official NAS-Bench-201 file as a compact CSV table (library:
:mod:`bpe.truth`)."""

from __future__ import annotations

import argparse

from bpe.errors import BPEError


def register(sub, parents) -> None:
    p = sub.add_parser("truth", parents=parents, help="ground-truth utilities")
    commands = p.add_subparsers(dest="truth_command", required=True)
    conv = commands.add_parser("convert", parents=parents, help="convert the official NB201 file to a compact CSV table")
    conv.add_argument("source", help="nb201:PATH.pth")
    conv.add_argument("--out", required=True, help="NAME.csv or a folder/")
    conv.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from bpe.outputs import plan_outputs
    from bpe.truth import load_truth

    if not args.source.startswith("nb201:"):
        raise BPEError("truth convert reads the official file: pass nb201:PATH.pth")
    outputs = plan_outputs(args.out, suffixes=(".csv",), default_stem="nb201_groundtruth", command="bpe truth convert")
    print(f"wrote {load_truth(args.source).to_table(outputs.main)}")
    return 0
