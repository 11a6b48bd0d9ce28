"""Training-step time in torch's default layout against channels-last, at the small sizes MIP
measures: the figures behind ``bpe.runtime.CPU_LAYOUT`` (channels-last for every CPU network).

    python benchmarks/bench_layout_steps.py [--space nb201] [--archs 8] [--repeats 2] [--steps 40]
    python benchmarks/bench_layout_steps.py --space darts --archs 4 --steps 15 --sizes 4,5,8,32 8,5,8,64 8,8,16,64

For each size (``C,layers,pixels,batch``), ``--archs`` seeded archs are each timed ``--repeats``
times in both layouts, interleaved (so drift in the machine hits both alike), on one thread: SGD
steps with Nesterov momentum on one random batch after a short warm-up.  Prints the mean step
time per layout and their ratio as a Markdown table.
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F

from bpe.machine import machine_line
from bpe.spaces import get_space

DEFAULT_SIZES = ("4,5,8,32", "4,5,8,64", "4,8,8,32", "8,5,8,64", "8,8,8,64", "16,5,8,64")


def step_ms(space, arch, *, channels: int, layers: int, pixels: int, batch: int, fmt: torch.memory_format,
            steps: int) -> float:
    """Mean milliseconds of one training step of ``arch`` at this size in layout ``fmt``."""
    torch.manual_seed(0)
    model = space.build(arch, num_classes=10, **space.net_size(channels=channels, layers=layers))
    model = model.to(memory_format=fmt).train()
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True, weight_decay=5e-4, foreach=True)
    x = torch.randn(batch, 3, pixels, pixels).contiguous(memory_format=fmt)
    y = torch.randint(0, 10, (batch,))

    def step() -> None:
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for _ in range(3):
        step()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    return (time.perf_counter() - t0) / steps * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--space", default="nb201")
    parser.add_argument("--archs", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--sizes", nargs="*", default=list(DEFAULT_SIZES), help="C,layers,pixels,batch each")
    args = parser.parse_args()
    print(machine_line(), flush=True)  # where these figures hold
    torch.set_num_threads(1)
    space = get_space(args.space)
    archs = space.sample(args.archs, 0)
    print(f"{args.space}: {args.archs} seeded archs x {args.repeats} repeats, {args.steps} steps each, 1 thread")
    print("| size | default layout, ms/step | channels-last, ms/step | gain |")
    print("|---|---|---|---|")
    for spec in args.sizes:
        channels, layers, pixels, batch = (int(v) for v in spec.split(","))
        total = {torch.contiguous_format: 0.0, torch.channels_last: 0.0}
        for arch in archs:
            for _ in range(args.repeats):
                for fmt in total:
                    total[fmt] += step_ms(space, arch, channels=channels, layers=layers, pixels=pixels, batch=batch,
                                          fmt=fmt, steps=args.steps)
        n = args.archs * args.repeats
        flat, cl = total[torch.contiguous_format] / n, total[torch.channels_last] / n
        size = space.describe_size(channels=channels, layers=layers)
        print(f"| {size}, {pixels} px, batch {batch} | {flat:.2f} | {cl:.2f} | {flat / cl:.2f}x |")


if __name__ == "__main__":
    main()
