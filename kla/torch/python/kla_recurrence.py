"""The KLA recurrence (DESIGN.md §4) written step by step with plain PyTorch operations.

It is the independent reference of python_smoke.py and the plain-PyTorch baseline of
bench/kla/torch_scan_bench.py: same arguments, floors and results as
torch.ops.kalmanscan.kla_scan(v, lam_v, k, q, a_bar, p_bar, lam0, eta0), differentiated by
autograd, which keeps O(B·L·M·S) activations and runs L sequential steps.
"""
import torch

P_BAR_MIN = 1e-12  # p̄'s floor (kla/tensors.hpp)
PHI_MIN = 1e-12    # φ's floor


def kla_recurrence(v, lam_v, k, q, a_bar, p_bar, lam0=None, eta0=None):
    """v, lam_v [B, L, M]; k, q [B, L, S]; a_bar, p_bar [M, S]; lam0, eta0 [B, M, S] or None
    (λ₀ = 1, η₀ = 0). Returns y, y_var [B, L, M] and lam_T, eta_T [B, M, S]."""
    B, L, M = v.shape
    S = k.shape[2]
    lam = lam0 if lam0 is not None else torch.ones(B, M, S, dtype=v.dtype, device=v.device)
    eta = eta0 if eta0 is not None else torch.zeros(B, M, S, dtype=v.dtype, device=v.device)
    p = p_bar.clamp_min(P_BAR_MIN)
    a2 = a_bar * a_bar
    ys, y_vars = [], []
    for t in range(L):
        lv, vt = lam_v[:, t, :, None], v[:, t, :, None]  # [B, M, 1]
        kt, qt = k[:, t, None, :], q[:, t, None, :]      # [B, 1, S]
        phi = (lv * kt * kt).clamp_min(PHI_MIN)
        D = a2 + p * lam
        lam = ((1 + p * phi) * lam + a2 * phi) / D  # Möbius map [[1 + p̄φ, ā²φ], [p̄, ā²]]
        eta = (a_bar / D) * eta + lv * vt * kt       # affine given λ
        ys.append((qt * eta / lam).sum(2))
        y_vars.append((qt * qt / lam).sum(2))
    return torch.stack(ys, 1), torch.stack(y_vars, 1), lam, eta
