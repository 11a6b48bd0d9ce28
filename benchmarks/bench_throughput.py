"""Proxy-training throughput against a plain PyTorch baseline and the machine's own ceiling.

    python benchmarks/bench_throughput.py [--threads 1] [--fraction 0.05] [--epochs 2] [--archs 3]

On the same archs and the same CIFAR-10 images, at the C8 N1 16 px proxy size and the NB201
size (C16 N5 32 px), times:

(a) the project's training loop (``bpe.training.train_and_evaluate``, as every evaluation runs);
(b) a plain PyTorch baseline: a ``DataLoader`` over a ``TensorDataset`` of the uint8 images with
    the standard torchvision transforms per image (to float, pad-4 random crop, horizontal flip,
    resize, normalise), the same network (same seed), SGD (per-tensor, the textbook default) with
    the same cosine schedule and batch, in torch's default layout; and again with the network and
    batches in our layout, to separate the layout's gain from the rest;
(c) the machine's ceiling at the same thread count: a large fp32 matmul and a large 3x3
    convolution, GFLOP/s.

Reports training images/s (validation excluded), the network's FLOPs per image for forward and
backward (3 x 2 x the forward MACs, the usual estimate), the GFLOP/s this reaches and its fraction
of the ceiling (the better of the matmul and the convolution), and the speed-up of (a) over (b).
Then the variants a performance engineer would try on (a)'s step (``--variants``): torch's default
(contiguous) layout against channels-last, and on top of channels-last: bf16 autocast,
``torch.compile``, the optimizer's ``foreach`` and ``fused`` paths; each timed on the first arch's
batches; the input pipeline alone (the plain DataLoader, the loop's previous batch pipeline, ours);
the validation pass at three batch sizes; and (``--jobs-vs-threads``) two one-thread workers against
one two-thread worker.  Prints Markdown tables; ``--out`` writes the figures as JSON.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from bpe.config import BPEConfig
from bpe.data import DatasetSpec, augment_batch, normalize, prepare_split
from bpe.flops import count_macs
from bpe.machine import machine_line
from bpe.runtime import memory_format
from bpe.spaces import get_space
from bpe.training import steps_per_epoch, train_and_evaluate

SIZES = {
    "C8 N1 16px b128 (proxy)": dict(channels=8, layers=5, image_size=16, batch_size=128),
    "C4 N1 8px b64 (found BPE)": dict(channels=4, layers=5, image_size=8, batch_size=64),
    "C16 N5 32px b256 (NB201)": dict(channels=16, layers=17, image_size=32, batch_size=256),
}
#: Steps each variant of our step is timed for, per size (the NB201 size takes seconds a step).
VARIANT_STEPS = {"C8 N1 16px b128 (proxy)": 40, "C4 N1 8px b64 (found BPE)": 100, "C16 N5 32px b256 (NB201)": 5}
#: Variants not tried at a size (compiling the NB201 network takes minutes on this CPU).
SKIP = {("C16 N5 32px b256 (NB201)", "cl+foreach+compile")}


def reference_data_dir() -> Path:
    """``$BPE_DATA_DIR``, else ``shared/data`` beside the project root (the folder above benchmarks/)."""
    return Path(os.environ.get("BPE_DATA_DIR", Path(__file__).resolve().parents[2] / "shared" / "data"))


# -- (c) the machine's ceiling ----------------------------------------------------------------
def best_seconds(fn, repeats: int = 5) -> float:
    fn()  # warm-up
    best = math.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def ceiling() -> dict[str, float]:
    """GFLOP/s of a 2048^3 fp32 matmul and of a 3x3 convolution (batch 32, 128 -> 128 channels, 32x32)."""
    n = 2048
    a, b = torch.randn(n, n), torch.randn(n, n)
    mm = 2 * n**3 / best_seconds(lambda: a @ b) / 1e9
    x, w = torch.randn(32, 128, 32, 32), torch.randn(128, 128, 3, 3)
    conv_flops = 2 * 32 * 128 * 32 * 32 * 128 * 9
    conv = conv_flops / best_seconds(lambda: F.conv2d(x, w, padding=1)) / 1e9
    return {"matmul_gflops": mm, "conv_gflops": conv}


# -- (b) the plain PyTorch baseline -------------------------------------------------------------
def plain_loader(data, size: int, batch: int, seed: int):
    """A DataLoader over a TensorDataset, torchvision transforms per image (the textbook input pipeline)."""
    from torch.utils.data import DataLoader, Dataset, TensorDataset
    from torchvision.transforms import v2

    side = data.train_x.shape[-1]
    transform = v2.Compose([
        v2.ToDtype(torch.float32, scale=True),
        v2.RandomCrop(side, padding=max(1, side // 8)),  # as ours: zero pad 1/8 of the side
        v2.RandomHorizontalFlip(0.5 if data.flip else 0.0),
        v2.Resize(size, antialias=True),
        v2.Normalize(data.mean.tolist(), data.std.tolist()),
    ])

    class Transformed(Dataset):
        def __init__(self, base):
            self.base = base

        def __len__(self):
            return len(self.base)

        def __getitem__(self, i):
            x, y = self.base[i]
            return transform(x), y

    gen = torch.Generator().manual_seed(seed)
    return DataLoader(Transformed(TensorDataset(data.train_x, data.train_y)), batch_size=batch, shuffle=True,
                      drop_last=True, num_workers=0, generator=gen)


def plain_train(arch: str, config: BPEConfig, data, layout: torch.memory_format = torch.contiguous_format) -> float:
    """Training images/s of the plain loop (same net, schedule and batch as ours; the textbook
    optimiser, per-tensor SGD), its network and batches in ``layout``."""
    space = get_space("nb201")
    torch.manual_seed(config.seed)
    model = space.build(arch, num_classes=data.num_classes, **space.net_size(channels=config.channels,
                                                                             layers=config.layers))
    model = model.to(memory_format=layout)
    loader = plain_loader(data, config.image_size, config.batch_size, config.seed)
    optimizer = torch.optim.SGD(model.parameters(), lr=config.learning_rate, momentum=config.momentum,
                                weight_decay=config.weight_decay, nesterov=True)
    total = config.epochs * len(loader)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda k: 0.5 * (1 + math.cos(math.pi * k / total)))
    model.train()
    images = 0
    t0 = time.perf_counter()
    for _ in range(config.epochs):
        for x, y in loader:
            loss = F.cross_entropy(model(x.contiguous(memory_format=layout)), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            images += len(y)
    return images / (time.perf_counter() - t0)


# -- (a) ours, and the variants of its step --------------------------------------------------------
def ours_train(arch: str, config: BPEConfig, data) -> tuple[float, float]:
    """Training images/s of ``train_and_evaluate`` (validation time excluded) and its data-prep share."""
    result = train_and_evaluate(arch, config, data, device="cpu")
    train_s = result.seconds - result.eval_seconds
    images = result.epochs_run * steps_per_epoch(len(data.train_y), config.batch_size) * config.batch_size
    return images / train_s, result.data_seconds / train_s


def variant_train(arch: str, config: BPEConfig, data, variant: str, steps: int) -> float:
    """Images/s of our step (the same augmentation on the same batches) under one variant."""
    space = get_space("nb201")
    torch.manual_seed(config.seed)
    model = space.build(arch, num_classes=data.num_classes, **space.net_size(channels=config.channels,
                                                                             layers=config.layers))
    parts = set(variant.split("+"))  # default | cl, and any of foreach, fused, bf16, compile
    fmt = torch.channels_last if "cl" in parts else torch.contiguous_format
    model = model.to(memory_format=fmt).train()
    params = list(model.parameters())
    optimizer = torch.optim.SGD(params, lr=config.learning_rate, momentum=config.momentum,
                                weight_decay=config.weight_decay, nesterov=True,
                                foreach=True if "foreach" in parts else None, fused=True if "fused" in parts else None)
    step_model = torch.compile(model) if "compile" in parts else model
    autocast = torch.autocast("cpu", dtype=torch.bfloat16) if "bf16" in parts else nullcontext()
    gen = torch.Generator().manual_seed(config.seed)
    n, b = len(data.train_y), config.batch_size

    def batch():
        idx = torch.randint(0, n, (b,), generator=gen)
        x = augment_batch(normalize(data.train_x.index_select(0, idx), data.mean, data.std), gen, size=config.image_size)
        return x.contiguous(memory_format=fmt), data.train_y[idx]

    def step(x, y):
        with autocast:
            loss = F.cross_entropy(step_model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    for _ in range(3 if "compile" in parts else 2):  # warm-up (and compiling)
        step(*batch())
    t0 = time.perf_counter()
    for _ in range(steps):
        step(*batch())
    return steps * b / (time.perf_counter() - t0)


# -- the input pipeline alone -----------------------------------------------------------------------
def _two_gather_batch(data, idx: torch.Tensor, gen: torch.Generator, size: int) -> torch.Tensor:
    """The batch pipeline as the loop had it before: advanced indexing, a gather per axis for the
    crop, then a separate mirrored copy and ``torch.where`` for the flip (same values as ours)."""
    x = normalize(data.train_x[idx], data.mean, data.std)
    n, _, h, w = x.shape
    pad = max(1, h // 8)
    padded = F.pad(x, (pad, pad, pad, pad))
    oy = torch.randint(0, 2 * pad + 1, (n,), generator=gen)
    ox = torch.randint(0, 2 * pad + 1, (n,), generator=gen)
    rows = (oy[:, None] + torch.arange(h)[None, :])[:, None, :, None].expand(n, x.shape[1], h, w + 2 * pad)
    cols = (ox[:, None] + torch.arange(w)[None, :])[:, None, None, :].expand(n, x.shape[1], h, w)
    x = padded.gather(2, rows).gather(3, cols)
    if data.flip:
        x = torch.where((torch.rand(n, generator=gen) < 0.5)[:, None, None, None], x.flip(3), x)
    if size != w:
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=size < w)
    return x.contiguous(memory_format=memory_format(torch.device("cpu")))


def prep_speed(config: BPEConfig, data, batches: int = 20) -> dict[str, float]:
    """Images/s of preparing training batches alone: the plain DataLoader with per-image torchvision
    transforms, the loop's previous batch pipeline, and ours (:class:`bpe.training.BatchStream`)."""
    from bpe.training import BatchStream

    b = min(config.batch_size, len(data.train_y))
    loader = plain_loader(data, config.image_size, b, config.seed)

    read = [0]

    def plain() -> None:  # the loader drops its last partial batch: count what it yields
        read[0] = sum(1 for _ in zip(range(batches), loader))

    gen = torch.Generator().manual_seed(0)
    idx = [torch.randperm(len(data.train_y), generator=gen)[:b] for _ in range(batches)]
    before = lambda: [_two_gather_batch(data, i, gen, config.image_size) for i in idx]  # noqa: E731
    stream = BatchStream(data.train_x, data.train_y, config=config.replace(epochs=1), mean=data.mean, std=data.std,
                         flip=data.flip, generator=torch.Generator().manual_seed(0), device=torch.device("cpu"))
    steps = min(batches, stream.steps_per_epoch)
    ours = lambda: [xb for _, (xb, _) in zip(range(steps), stream.epoch())]  # noqa: E731
    plain_s = best_seconds(plain, 2)
    return {"plain_img_s": read[0] * b / plain_s, "before_img_s": batches * b / best_seconds(before, 2),
            "ours_img_s": steps * b / best_seconds(ours, 2)}


def _one_worker(task: tuple[str, dict, float, int]) -> float:
    """A worker process of the jobs-vs-threads test: our loop on one thread (data re-read here)."""
    arch, config_dict, fraction, threads = task
    torch.set_num_threads(threads)
    data_dir = reference_data_dir() / "cifar10"
    spec = DatasetSpec("cifar10", str(data_dir)) if data_dir.is_dir() else DatasetSpec("digits")
    return ours_train(arch, BPEConfig.from_dict(config_dict), prepare_split(spec, fraction))[0]


def jobs_vs_threads(arch: str, config: BPEConfig, fraction: float) -> dict[str, float]:
    """Total training images/s of the machine's 2 cores used as 2 one-thread workers (``--jobs 2``)
    against 1 worker with 2 threads."""
    import multiprocessing as mp

    task = (arch, config.to_dict(), fraction, 1)
    with mp.get_context("spawn").Pool(2) as pool:
        pool.map(_one_worker, [task, task])  # warm-up: imports, data
        two_jobs = sum(pool.map(_one_worker, [task, task]))
    with mp.get_context("spawn").Pool(1) as pool:
        pool.map(_one_worker, [(arch, config.to_dict(), fraction, 2)])
        two_threads = pool.map(_one_worker, [(arch, config.to_dict(), fraction, 2)])[0]
    return {"two_jobs_one_thread": two_jobs, "one_job_two_threads": two_threads}


def eval_speed(arch: str, config: BPEConfig, data, batch: int) -> float:
    """Validation images/s of ``evaluate_model`` with ``batch`` images per forward pass."""
    import bpe.runtime as runtime
    import bpe.training as training

    space = get_space("nb201")
    dev = torch.device("cpu")
    model = space.build(arch, num_classes=data.num_classes, **space.net_size(channels=config.channels,
                                                                             layers=config.layers))
    layout = runtime.memory_format(dev)
    model = model.to(memory_format=layout)
    saved, training.EVAL_BATCH = training.EVAL_BATCH, batch
    try:
        run = lambda: training.evaluate_model(model, data.valid_x, data.valid_y, mean=data.mean,  # noqa: E731
                                              std=data.std, image_size=config.image_size, device=dev,
                                              layout=layout)
        return len(data.valid_y) / best_seconds(run, repeats=2)
    finally:
        training.EVAL_BATCH = saved


def flops_per_image(arch: str, config: BPEConfig) -> float:
    """Forward + backward FLOPs of one image: 3 x 2 x forward MACs."""
    space = get_space("nb201")
    net = space.build(arch, num_classes=10, **space.net_size(channels=config.channels, layers=config.layers))
    return 6.0 * count_macs(net, (1, 3, config.image_size, config.image_size))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1 = one evaluation per core, as --jobs runs)")
    parser.add_argument("--fraction", type=float, default=0.05, help="of the 25k CIFAR-10 train split")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--archs", type=int, default=3, help="seeded NB201 archs, timed on each and averaged")
    parser.add_argument("--sizes", default=",".join(SIZES))
    parser.add_argument("--variants",
                        default="default,default+foreach,cl,cl+foreach,cl+fused,cl+foreach+bf16,cl+foreach+compile",
                        help="variants of our step to time: default or cl (channels-last) layout, +foreach or +fused "
                             "(SGD), +bf16 (autocast), +compile (torch.compile); '' for none")
    parser.add_argument("--jobs-vs-threads", action="store_true",
                        help="also time 2 one-thread workers against 1 two-thread worker (uses both cores)")
    parser.add_argument("--out", default=None, help="write the figures as JSON here")
    args = parser.parse_args()
    print(machine_line(), flush=True)  # where these figures hold
    torch.set_num_threads(args.threads)
    data_dir = reference_data_dir() / "cifar10"
    spec = DatasetSpec("cifar10", str(data_dir)) if data_dir.is_dir() else DatasetSpec("digits")
    data = prepare_split(spec, args.fraction)
    archs = [str(a) for a in get_space("nb201").sample(args.archs, 0)]
    peak = ceiling()
    top = max(peak.values())
    torch.set_num_threads(2)
    peak_two = ceiling()  # both cores, for the machine's total
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s); {spec.name}, {len(data.train_y)} "
          f"train images; {args.archs} archs x {args.epochs} epochs per size")
    print(f"ceiling at {args.threads} thread(s): matmul {peak['matmul_gflops']:.1f} GFLOP/s, 3x3 conv "
          f"{peak['conv_gflops']:.1f} GFLOP/s; at 2 threads: {peak_two['matmul_gflops']:.1f}, "
          f"{peak_two['conv_gflops']:.1f}\n")
    rows, variants, evals, parallel, preps = [], [], [], [], []
    for name in [s for s in args.sizes.split(",") if s]:
        config = BPEConfig(epochs=args.epochs, data_fraction=args.fraction, learning_rate=0.1, **SIZES[name])
        flops = float(np.mean([flops_per_image(a, config) for a in archs]))
        ours_train(archs[0], config.replace(epochs=1), data)  # warm-up
        ours = [ours_train(a, config, data) for a in archs]
        plain_train(archs[0], config.replace(epochs=1), data)  # warm-up
        plain = [plain_train(a, config, data) for a in archs]
        layout = memory_format(torch.device("cpu"))
        plain_ours_layout = [plain_train(a, config, data, layout) for a in archs]
        ours_ips = float(np.mean([o[0] for o in ours]))
        plain_ips = float(np.mean(plain))
        row = {"size": name, "flops_per_image": flops, "ours_img_s": ours_ips, "plain_img_s": plain_ips,
               "plain_our_layout_img_s": float(np.mean(plain_ours_layout)),
               "layout": "channels_last" if layout == torch.channels_last else "default",
               "speedup": ours_ips / plain_ips, "data_share": float(np.mean([o[1] for o in ours])),
               "ours_gflops": ours_ips * flops / 1e9, "plain_gflops": plain_ips * flops / 1e9}
        row["ours_ceiling_fraction"] = row["ours_gflops"] / top
        row["plain_ceiling_fraction"] = row["plain_gflops"] / top
        rows.append(row)
        for variant in [v for v in args.variants.split(",") if v and (name, v) not in SKIP]:
            try:
                ips = variant_train(archs[0], config, data, variant, VARIANT_STEPS[name])  # the first arch
            except Exception as err:  # e.g. torch.compile without a working C++ toolchain: say so, go on
                print(f"{name}, {variant}: failed ({type(err).__name__}: {str(err).splitlines()[0][:120]})")
                ips = math.nan
            variants.append({"size": name, "variant": variant, "img_s": ips})
        if args.jobs_vs_threads:
            parallel.append({"size": name, **jobs_vs_threads(archs[0], config, args.fraction)})
        preps.append({"size": name, **prep_speed(config, data)})
        evals.extend({"size": name, "eval_batch": b, "img_s": eval_speed(archs[0], config, data, b)}
                     for b in (256, 1024, 4096))
    print("| size | FLOPs/img (fwd+bwd) | ours img/s (layout) | plain PyTorch img/s | ours / plain "
          "| plain in our layout img/s | ours GFLOP/s | of ceiling | plain of ceiling | ours data prep |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['size']} | {r['flops_per_image'] / 1e6:.1f} M | {r['ours_img_s']:.0f} ({r['layout']}) | "
              f"{r['plain_img_s']:.0f} | {r['speedup']:.2f}x | {r['plain_our_layout_img_s']:.0f} | "
              f"{r['ours_gflops']:.2f} | {100 * r['ours_ceiling_fraction']:.1f}% | "
              f"{100 * r['plain_ceiling_fraction']:.1f}% | {100 * r['data_share']:.1f}% |")
    if variants:
        print("\n| size | variant of our step | img/s | vs default layout, per-tensor SGD |")
        print("|---|---|---|---|")
        for v in variants:
            base = next((x["img_s"] for x in variants if x["size"] == v["size"] and x["variant"] == "default"), math.nan)
            print(f"| {v['size']} | {v['variant']} | {v['img_s']:.0f} | {v['img_s'] / base:.2f}x |")
    if parallel:
        print("\n| size | 2 workers x 1 thread, img/s in all | 1 worker x 2 threads, img/s |")
        print("|---|---|---|")
        for p in parallel:
            print(f"| {p['size']} | {p['two_jobs_one_thread']:.0f} | {p['one_job_two_threads']:.0f} |")
    print("\n| size | batch prep img/s: plain DataLoader | previous pipeline (two gathers + flip) | ours (one gather) "
          "| ours / previous |")
    print("|---|---|---|---|---|")
    for p in preps:
        print(f"| {p['size']} | {p['plain_img_s']:.0f} | {p['before_img_s']:.0f} | {p['ours_img_s']:.0f} | "
              f"{p['ours_img_s'] / p['before_img_s']:.2f}x |")
    print("\n| size | validation batch | validation img/s |")
    print("|---|---|---|")
    for e in evals:
        print(f"| {e['size']} | {e['eval_batch']} | {e['img_s']:.0f} |")
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        figures = {"ceiling": peak, "ceiling_two_threads": peak_two, "threads": args.threads, "rows": rows,
                   "variants": variants, "validation": evals, "jobs_vs_threads": parallel, "batch_prep": preps,
                   "archs": archs}
        Path(args.out).write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
