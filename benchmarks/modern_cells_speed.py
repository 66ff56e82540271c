"""Training speed (forward + backward) of sLSTM, mLSTM and RG-LRU vs torch.nn.LSTM and vs
plain-PyTorch references written from the papers, measured in one run.

    nice -n 10 python benchmarks/modern_cells_speed.py                  # T=1024, B=16, H=256
    python benchmarks/modern_cells_speed.py --steps 256 --repeat 5
    python benchmarks/modern_cells_speed.py --quick                     # smoke run

Each callable is one forward and one backward of ``output.sum()`` (train mode, input
``(T, B, I)`` with I = H, one layer, no input gradient), called round-robin (alternating
rounds) so machine noise hits all alike; 1 torch thread by default. Prints a Markdown table
of median seconds and the ratio to ``torch.nn.LSTM`` (oneDNN/ATen's fused kernel), with the
load average. The "reference" rows are the papers' equations written the plain way in this
file (a Python loop over time for each cell, the stabilised exponential gating included;
the mLSTM reference also in the paper's parallel form, timed only for T <= 512: at
T = 1024 its (B, NH, T, T) matrices are what the chunkwise form avoids). They check
nothing; they show what rnnkit's forms buy. They step through time with ``unbind`` rather
than ``x[t]``, whose backward fills a whole (T, ...) zero tensor per step (O(T²) traffic).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import measure_interleaved, table  # noqa: E402
from rnnkit.nn import MLSTM, RGLRU, SLSTM  # noqa: E402


class RefSLSTM(nn.Module):
    """sLSTM from Beck et al. 2024 eqs. (8)-(17), a loop over t: block-diagonal R per head."""

    def __init__(self, size: int, heads: int = 4) -> None:
        super().__init__()
        self.heads, self.d = heads, size // heads
        self.w = nn.Linear(size, 4 * size)
        self.r = nn.Parameter(torch.randn(heads, self.d, 4 * self.d) / math.sqrt(self.d))

    def forward(self, x: Tensor) -> Tensor:
        T, B, H = x.shape
        wx = self.w(x)  # (T, B, 4H)
        h = c = n = m = x.new_zeros(B, H)
        outs = []
        for wx_t in wx.unbind(0):  # unbind, not wx[t]: see the module doc
            rh = torch.einsum("bnd,nde->bne", h.view(B, self.heads, self.d), self.r)
            rh = rh.view(B, self.heads, 4, self.d).transpose(1, 2).reshape(B, 4 * H)
            i_, f_, z_, o_ = (wx_t + rh).chunk(4, -1)
            log_f = F.logsigmoid(f_)
            m_new = torch.maximum(log_f + m, i_)
            i, f = torch.exp(i_ - m_new), torch.exp(log_f + m - m_new)
            c = f * c + i * torch.tanh(z_)
            n = f * n + i
            h = torch.sigmoid(o_) * c / n
            m = m_new
            outs.append(h)
        return torch.stack(outs)


class RefMLSTM(nn.Module):
    """mLSTM from Beck et al. 2024 eqs. (19)-(27): the recurrent loop, or the parallel form."""

    def __init__(self, size: int, heads: int = 4, parallel: bool = False) -> None:
        super().__init__()
        self.heads, self.d, self.parallel = heads, size // heads, parallel
        self.qkvo = nn.Linear(size, 4 * size)
        self.gates = nn.Linear(size, 2 * heads)

    def forward(self, x: Tensor) -> Tensor:
        T, B, H = x.shape
        q, k, v, o = self.qkvo(x).view(T, B, 4, self.heads, self.d).unbind(2)  # (T, B, NH, d)
        k = k / math.sqrt(self.d)
        i_, f_ = self.gates(x).chunk(2, -1)  # (T, B, NH)
        log_f = F.logsigmoid(f_)
        h = self._parallel(q, k, v, i_, log_f) if self.parallel else self._loop(q, k, v, i_, log_f)
        return torch.sigmoid(o).flatten(-2) * h.flatten(-2)  # (T, B, H)

    def _loop(self, q: Tensor, k: Tensor, v: Tensor, i_: Tensor, log_f: Tensor) -> Tensor:
        T, B, NH, d = q.shape
        C, n, m = q.new_zeros(B, NH, d, d), q.new_zeros(B, NH, d), q.new_zeros(B, NH)
        outs = []
        for qt, kt, vt, it, lft in zip(*(a.unbind(0) for a in (q, k, v, i_, log_f)), strict=True):
            m_new = torch.maximum(lft + m, it)
            i = torch.exp(it - m_new)[..., None]
            f = torch.exp(lft + m - m_new)[..., None]
            C = f[..., None] * C + i[..., None] * kt[..., :, None] * vt[..., None, :]
            n = f * n + i * kt
            num = (C * qt[..., :, None]).sum(-2)  # C^T q
            den = torch.maximum((n * qt).sum(-1).abs(), torch.exp(-m_new))
            outs.append(num / den[..., None])
            m = m_new
        return torch.stack(outs)

    def _parallel(self, q: Tensor, k: Tensor, v: Tensor, i_: Tensor, log_f: Tensor) -> Tensor:
        T = q.size(0)
        q, k, v = (a.permute(1, 2, 0, 3) for a in (q, k, v))  # (B, NH, T, d)
        cum = log_f.cumsum(0).permute(1, 2, 0)  # (B, NH, T)
        log_d = cum[..., :, None] - cum[..., None, :] + i_.permute(1, 2, 0)[..., None, :]
        log_d = log_d.masked_fill(~torch.ones(T, T, dtype=torch.bool).tril(), -math.inf)
        m = log_d.amax(-1, keepdim=True)  # (B, NH, T, 1)
        s = (q @ k.transpose(-1, -2)) * torch.exp(log_d - m)  # (B, NH, T, T)
        den = torch.maximum(s.sum(-1, keepdim=True).abs(), torch.exp(-m))
        return ((s / den) @ v).permute(2, 0, 1, 3)  # (T, B, NH, d)


class RefRGLRU(nn.Module):
    """RG-LRU from De et al. 2024 eqs. (1)-(4), a loop over t."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.w = nn.Linear(size, 3 * size)
        self.lam = nn.Parameter(torch.logit(torch.rand(size) * 0.099 + 0.9) / 8)

    def forward(self, x: Tensor) -> Tensor:
        u, r, i = self.w(x).chunk(3, -1)  # (T, B, H)
        log_a = -8.0 * torch.sigmoid(r) * F.softplus(-self.lam)
        a = torch.exp(log_a)
        b = torch.sqrt(1 - a * a) * torch.sigmoid(i) * u
        h, outs = torch.zeros_like(u[0]), []
        for a_t, b_t in zip(a.unbind(0), b.unbind(0), strict=True):
            h = a_t * h + b_t
            outs.append(h)
        return torch.stack(outs)


def step_fn(layer: nn.Module, x: Tensor):
    """One forward+backward of ``layer`` on ``x``."""

    def run() -> None:
        layer.zero_grad(set_to_none=True)
        out = layer(x)
        out = out[0] if isinstance(out, tuple) else out  # (T, B, H)
        out.sum().backward()

    return run


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    p.add_argument("--steps", type=int, default=1024, help="T")
    p.add_argument("--batch", type=int, default=16, help="B")
    p.add_argument("--hidden", type=int, default=256, help="H (= I)")
    p.add_argument("--chunk", type=int, nargs="+", default=[64], help="mLSTM chunk sizes")
    p.add_argument("--repeat", type=int, default=3, help="measured rounds")
    p.add_argument("--no-reference", action="store_true", help="skip the reference loops")
    p.add_argument("--quick", action="store_true", help="tiny sizes, 1 round")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.quick:
        args.steps, args.hidden, args.repeat = 64, 32, 1
    T, B, H = args.steps, args.batch, args.hidden
    torch.manual_seed(0)
    x = torch.randn(T, B, H)
    layers: dict[str, nn.Module] = {"torch.nn.LSTM": nn.LSTM(H, H)}
    layers["rnnkit SLSTM"] = SLSTM(H, H)
    for chunk in args.chunk:
        layers[f"rnnkit MLSTM chunkwise {chunk}"] = MLSTM(H, H, mode="chunkwise", chunk_size=chunk)
    layers["rnnkit RGLRU"] = RGLRU(H, H)
    if not args.no_reference:
        layers["reference sLSTM (loop)"] = RefSLSTM(H)
        layers["reference mLSTM (loop)"] = RefMLSTM(H)
        if T <= 512:  # (B, NH, T, T) matrices: too big for a shared machine at T = 1024
            layers["reference mLSTM (parallel)"] = RefMLSTM(H, parallel=True)
        layers["reference RG-LRU (loop)"] = RefRGLRU(H)
    fns = {name: step_fn(layer, x) for name, layer in layers.items()}
    times = measure_interleaved(fns, repeat=args.repeat, warmup=1)
    base = times["torch.nn.LSTM"]
    rows = [[name, t, f"{t / base:.2f}x"] for name, t in times.items()]
    print(f"T={T} B={B} H={H}, forward+backward, {args.threads} thread(s), median of "
          f"{args.repeat} alternating rounds, load {os.getloadavg()[0]:.1f}, torch "
          f"{torch.__version__}")  # fmt: skip
    print(table(["layer", "seconds", "time / torch.nn.LSTM"], rows))


if __name__ == "__main__":
    main()
