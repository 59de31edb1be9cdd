#!/usr/bin/env python3
"""torch.ops.kalmanscan.kla_scan on a GPU against a plain-PyTorch implementation of the same
recurrence (kla/torch/python/kla_recurrence.py: a loop over tokens, differentiated by autograd),
in the same run, at the shapes of issue 5 §5: forward and forward+backward time, tokens/s and peak
memory. The baseline runs only up to L = 4096 (its L sequential steps and O(B·L·M·S) saved
activations make longer sequences too slow for one call).

    python3 bench/kla/torch_scan_bench.py build/kla/torch/libkalmanscan_torch.so [--reps N]

Times are medians of --reps timed calls after one warm-up, by CUDA events; peak memory is
torch.cuda.max_memory_allocated during one call minus what was allocated before it (the inputs).
fp32 inputs; the loss is Σ y + Σ y_var, so every input gets a gradient.
"""
import argparse
import pathlib
import statistics
import sys

import torch

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "kla" / "torch" / "python"))
from kla_recurrence import kla_recurrence  # noqa: E402

SHAPES = [(8, 1024, 1024, 16), (8, 2048, 1024, 16), (8, 2048, 2048, 16), (8, 4096, 1024, 16),
          (8, 2048, 1024, 64), (1, 65536, 1024, 16)]
BASELINE_MAX_L = 4096


def inputs(B, L, M, S, device):
    g = torch.Generator(device=device).manual_seed(0)
    f = dict(device=device, dtype=torch.float32, generator=g)
    x = [torch.randn(B, L, M, **f), torch.rand(B, L, M, **f) + 0.5,
         torch.nn.functional.normalize(torch.randn(B, L, S, **f), dim=-1),
         torch.nn.functional.normalize(torch.randn(B, L, S, **f), dim=-1),
         torch.rand(M, S, **f) * 0.39 + 0.6, torch.rand(M, S, **f) * 0.18 + 0.02]
    return [t.requires_grad_(True) for t in x]


def measure(fn, reps):
    """Median milliseconds of fn() over reps calls after one warm-up, and its peak extra memory."""
    fn()
    torch.cuda.synchronize()
    base = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    times = []
    for _ in range(reps):
        start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        stop.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(stop))
    return statistics.median(times), (torch.cuda.max_memory_allocated() - base) / 2**30


def forward(scan, x):
    def run():
        with torch.no_grad():
            scan(*x)
    return run


def forward_backward(scan, x):
    def run():
        y, y_var, _, _ = scan(*x)
        torch.autograd.grad(y.sum() + y_var.sum(), x)
    return run


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("library")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--baseline-reps", type=int, default=1)
    ap.add_argument("--no-baseline", action="store_true")
    args = ap.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("torch_scan_bench: no CUDA device")
    torch.ops.load_library(args.library)
    op = lambda *x: torch.ops.kalmanscan.kla_scan(*x, None, None)  # noqa: E731
    print(f"# {torch.cuda.get_device_name()}, torch {torch.__version__}, fp32 inputs; times in ms (median), "
          f"memory = peak extra GiB; baseline = plain PyTorch ops recurrence with autograd")
    print("| B, L, M, S | impl | forward ms | fwd+bwd ms | fwd tokens/s | fwd+bwd tokens/s | fwd GiB | fwd+bwd GiB |")
    print("|---|---|---|---|---|---|---|---|")
    for B, L, M, S in SHAPES:
        x = inputs(B, L, M, S, "cuda")
        impls = [("kalmanscan op", op, args.reps)]
        if L <= BASELINE_MAX_L and not args.no_baseline:
            impls.append(("PyTorch ops", kla_recurrence, args.baseline_reps))
        ms = {}
        for name, scan, reps in impls:
            f_ms, f_gib = measure(forward(scan, x), reps)
            fb_ms, fb_gib = measure(forward_backward(scan, x), reps)
            ms[name] = (f_ms, fb_ms)
            print(f"| {B}, {L}, {M}, {S} | {name} | {f_ms:.3f} | {fb_ms:.3f} | {B * L / f_ms * 1e3:.3g} | "
                  f"{B * L / fb_ms * 1e3:.3g} | {f_gib:.3f} | {fb_gib:.3f} |", flush=True)
        if len(ms) == 2:
            (fo, fbo), (fp, fbp) = ms["kalmanscan op"], ms["PyTorch ops"]
            print(f"| {B}, {L}, {M}, {S} | speed-up | {fp / fo:.1f}x | {fbp / fbo:.1f}x | | | | |", flush=True)
        del x
        torch.cuda.empty_cache()


if __name__ == "__main__":
    sys.exit(main())
