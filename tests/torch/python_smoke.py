#!/usr/bin/env python3
"""Loads libkalmanscan_torch.so into Python's PyTorch and checks torch.ops.kalmanscan.kla_scan:
forward and gradients on the CPU in fp64 against the same recurrence written with torch ops, and,
when a GPU and the CUDA kernels are present, CUDA (fp32) against CPU (fp64), normwise.

    python3 tests/torch/python_smoke.py build/kla/torch/libkalmanscan_torch.so
"""
import pathlib
import sys

import torch

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "kla" / "torch" / "python"))
from kla_recurrence import kla_recurrence  # noqa: E402


def problem(B, L, M, S, dtype, device):
    g = torch.Generator().manual_seed(0)
    x = [torch.randn(B, L, M, generator=g, dtype=torch.float64), torch.rand(B, L, M, generator=g, dtype=torch.float64) + 0.5,
         torch.randn(B, L, S, generator=g, dtype=torch.float64) / S ** 0.5,
         torch.randn(B, L, S, generator=g, dtype=torch.float64) / S ** 0.5,
         torch.rand(M, S, generator=g, dtype=torch.float64) * 0.39 + 0.6, torch.rand(M, S, generator=g, dtype=torch.float64) * 0.18 + 0.02]
    return [t.to(dtype=dtype, device=device).requires_grad_(True) for t in x]


def run(f, x):
    out = f(*x)
    loss = sum((o * (i + 1)).sum() for i, o in enumerate(out))
    return [o.detach() for o in out], [g.detach() for g in torch.autograd.grad(loss, x)]


def rel(a, b):
    a, b = a.double().cpu(), b.double().cpu()
    return ((a - b).norm() / b.norm()).item()


def main():
    torch.ops.load_library(sys.argv[1])
    op = lambda *x: torch.ops.kalmanscan.kla_scan(*x, None, None)
    x = problem(2, 33, 8, 4, torch.float64, "cpu")
    out, grads = run(op, x)
    out_r, grads_r = run(kla_recurrence, x)
    worst = max([rel(a, b) for a, b in zip(out, out_r)] + [rel(a, b) for a, b in zip(grads, grads_r)])
    print(f"CPU fp64 op vs torch recurrence: worst normwise error {worst:.2e}")
    ok = worst < 1e-10
    if torch.cuda.is_available():
        xc = problem(2, 33, 8, 4, torch.float32, "cuda")
        out_c, grads_c = run(op, xc)
        worst_out = max(rel(a, b) for a, b in zip(out_c, out))
        worst_grad = max(rel(a, b) for a, b in zip(grads_c, grads))
        print(f"CUDA fp32 op vs CPU fp64: outputs {worst_out:.2e}, gradients {worst_grad:.2e}")
        ok = ok and worst_out < 1e-5 and worst_grad < 1e-3
    print("OK" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
