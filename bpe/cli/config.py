"""``bpe config``: print or validate a BPEConfig (library: :mod:`bpe.config`)."""

from __future__ import annotations

import argparse


def register(sub, parents) -> None:
    p = sub.add_parser("config", parents=parents, help="print or validate a BPEConfig (preset name or JSON file)")
    p.add_argument("config", help="preset (bpe = the defaults, bpe-1, bpe-2), a JSON file or a bpe.json to validate")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a field (repeatable)")
    p.add_argument("--out", default=None, help="also write the validated JSON here (NAME.json or a folder/)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from bpe.config import load_config
    from bpe.outputs import atomic_write_text, plan_outputs
    from search_algos.options import key_values

    outputs = plan_outputs(args.out, suffixes=(".json",), default_stem="config", command="bpe config") \
        if args.out else None
    config = load_config(args.config)
    if args.set:
        changes = dict(key_values(args.set, "--set", "KEY=VALUE (e.g. epochs=20)"))
        config = config.merged(changes, source="--set")
    text = config.to_json()
    if outputs is not None:
        atomic_write_text(outputs.main, text)
    print(text, end="")
    return 0
