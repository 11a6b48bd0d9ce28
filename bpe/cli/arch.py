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
    check.add_argument("--channels", type=positive, default=None,
                       help="network channels (default: the space's fully trained network)")
    check.add_argument("--layers", type=positive, default=None,
                       help="network layers (default: the space's fully trained network; NB201: 17 = 5 cells per stage)")
    check.set_defaults(func=run_check)
    sample = commands.add_parser("sample", parents=parents,
                                 help="print N archs sampled uniformly without replacement (nested across N)")
    sample.add_argument("n", type=int)
    add_seed_arg(sample, "the sample")
    sample.add_argument("--space", default="nb201")
    sample.set_defaults(func=run_sample)


def run_check(args: argparse.Namespace) -> int:
    from bpe.spaces import get_space

    space = get_space(args.space)
    channels = args.channels or space.eval_size["channels"]
    layers = args.layers or space.eval_size["layers"]
    for text in args.archs:
        arch = space.parse(text)
        net = space.build(arch, num_classes=10, **space.net_size(channels=channels, layers=layers))
        params = sum(p.numel() for p in net.parameters()) / 1e6
        index = f"{args.space} index {space.benchmark_index(arch)}\t" if hasattr(space, "benchmark_index") else ""
        print(f"{arch}\t{index}{params:.6f} M params ({space.describe_size(channels=channels, layers=layers)})")
    return 0


def run_sample(args: argparse.Namespace) -> int:
    from bpe.archlists import sample_archs

    for arch in sample_archs(args.space, args.n, args.seed):
        print(arch)
    return 0
