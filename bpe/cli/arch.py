"""``bpe arch check|sample``: validate, describe or sample architectures (library:
:mod:`bpe.spaces`, :mod:`bpe.archlists`)."""

from __future__ import annotations

import argparse

from bpe.cli.common import add_seed_arg, positive


def register(sub, parents) -> None:
    p = sub.add_parser("arch", parents=parents, help="validate, describe or sample architectures")
    commands = p.add_subparsers(dest="arch_command", required=True)
    check = commands.add_parser("check", parents=parents,
                                help="validate arch strings; print the canonical form, the benchmark's index and size")
    check.add_argument("archs", nargs="+")
    check.add_argument("--space", default="nb201")
    check.add_argument("--channels", type=positive, default=16)
    check.add_argument("--cells-per-stage", type=positive, default=5)
    check.set_defaults(func=run_check)
    sample = commands.add_parser("sample", parents=parents,
                                 help="print N archs sampled uniformly without replacement (nested across N)")
    sample.add_argument("n", type=int)
    add_seed_arg(sample, "the sample")
    sample.add_argument("--space", default="nb201")
    sample.set_defaults(func=run_sample)


def run_check(args: argparse.Namespace) -> int:
    from bpe.spaces import get_space

    mod = get_space(args.space)
    for text in args.archs:
        arch = mod.parse(text)
        net = mod.build(arch, channels=args.channels, cells_per_stage=args.cells_per_stage, num_classes=10)
        params = sum(p.numel() for p in net.parameters()) / 1e6
        index = f"{args.space} index {mod.benchmark_index(arch)}\t" if hasattr(mod, "benchmark_index") else ""
        print(f"{arch}\t{index}{params:.6f} M params (C={args.channels}, N={args.cells_per_stage})")
    return 0


def run_sample(args: argparse.Namespace) -> int:
    from bpe.archlists import sample_archs

    for arch in sample_archs(args.space, args.n, args.seed):
        print(arch)
    return 0
