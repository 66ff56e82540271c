"""Output layers over a vocabulary: hidden features ``(..., H)`` -> a distribution over V.

One registry (:data:`OUTPUT_LAYERS`, :func:`build_output`) holds the kinds a model can pick
with its ``output_layer`` field:

- ``softmax``: a ``Linear(H, V)`` and the full cross-entropy (the classic decoder).
- ``chunked``: the same ``Linear`` (same parameters, same distribution), whose training loss
  runs over rows in chunks with :func:`chunked_cross_entropy`: the full ``(N, V)`` float32
  logits are never held at once; each chunk's gradients are made in the same pass.
- ``adaptive``: the adaptive softmax of Grave et al. 2017 ("Efficient softmax approximation
  for GPUs"): a head over the ``cutoffs[0]`` most frequent tokens plus one entry per tail
  cluster, and per cluster a down-projection ``H -> H / div_value**(i+1)`` and its own
  softmax. Its distribution is exact (a product of two softmaxes), not a sampled estimate.

Every layer is an ``nn.Module`` with

- ``forward(h) -> (..., V)`` scores whose ``log_softmax`` is the model's log-probability
  (logits for softmax/chunked, the log-probabilities themselves for adaptive), so sampling,
  beam search and ``F.cross_entropy`` work on any of them unchanged;
- ``loss(h, y, reduction, label_smoothing=0.0)``: the negative log-likelihood of targets
  ``y``, in float32 (with ``label_smoothing`` eps: ``(1 - eps) * NLL + eps * mean over V of
  -log p``, as ``F.cross_entropy``'s);
- ``log_prob(h) -> (..., V)``: exact log-probabilities, float32;
- ``predict(h) -> (...)``: the most likely token.

Clusters follow token ids, and rnnkit's :class:`~rnnkit.data.vocab.Vocab` numbers tokens by
descending frequency (its default ``order="frequency"``, specials first), so the clusters are
frequency-sorted. Default cutoffs (:func:`default_cutoffs`): a head shortlist of
``min(V // 5, 20000)`` tokens, then clusters each 4x the previous boundary (V = 10,000 gives
``(2000, 8000)``: clusters 2,000-7,999 and 8,000-9,999).

>>> import torch
>>> layer = build_output("adaptive", 16, 50)
>>> lp = layer.log_prob(torch.randn(3, 16))
>>> tuple(lp.shape), bool(torch.allclose(lp.exp().sum(-1), torch.ones(3)))
((3, 50), True)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "OUTPUT_LAYERS",
    "AdaptiveSoftmaxOutput",
    "ChunkedSoftmaxOutput",
    "SoftmaxOutput",
    "build_output",
    "check_output_options",
    "chunked_cross_entropy",
    "default_cutoffs",
    "output_layer_names",
]

REDUCTIONS = ("mean", "sum", "none")


def _reduce(nll: Tensor, reduction: str) -> Tensor:
    """``nll (N,)`` -> its mean, sum, or itself."""
    if reduction == "mean":
        return nll.mean()
    if reduction == "sum":
        return nll.sum()
    if reduction == "none":
        return nll
    raise ValueError(f"`reduction` must be one of {', '.join(REDUCTIONS)}, got {reduction!r}")


def _check_loss_args(reduction: str, label_smoothing: float) -> None:
    if reduction not in REDUCTIONS:
        raise ValueError(f"`reduction` must be one of {', '.join(REDUCTIONS)}, got {reduction!r}")
    if not 0.0 <= label_smoothing < 1.0:
        raise ValueError(f"`label_smoothing` must be in [0, 1), got {label_smoothing}")


def _wide(t: Tensor) -> Tensor:
    """``t`` in float32 at least (bf16/fp16 under autocast are widened; float64 stays)."""
    return t if t.dtype in (torch.float32, torch.float64) else t.float()


def _rows(h: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
    """Flatten ``h (..., H)`` and ``y (...)`` to ``(N, H)`` and ``(N,)``; shapes checked."""
    if h.shape[:-1] != y.shape:
        raise ValueError(
            f"`targets` must have the hidden's leading shape {tuple(h.shape[:-1])}, "
            f"got {tuple(y.shape)}"
        )
    return h.reshape(-1, h.size(-1)), y.reshape(-1)


class SoftmaxOutput(nn.Linear):
    """``Linear(H, V)`` and the full softmax. A ``nn.Linear`` (``weight (V, H)``,
    ``bias (V,)``), so state dicts, weight tying and export see the classic decoder."""

    def loss(
        self, h: Tensor, y: Tensor, reduction: str = "mean", label_smoothing: float = 0.0
    ) -> Tensor:
        """NLL of ``y (...)`` given ``h (..., H)``, float32: mean, sum or per row ``(N,)``."""
        h, y = _rows(h, y)
        _check_loss_args(reduction, label_smoothing)
        return F.cross_entropy(
            _wide(self(h)), y, reduction=reduction, label_smoothing=label_smoothing
        )  # (N, V) vs (N,)

    def log_prob(self, h: Tensor) -> Tensor:
        """``(..., V)`` float32 log-probabilities."""
        return F.log_softmax(_wide(self(h)), dim=-1)

    def predict(self, h: Tensor) -> Tensor:
        """``(...)`` the most likely token ids."""
        return self(h).argmax(dim=-1)


class _ChunkedCE(torch.autograd.Function):
    """Summed cross-entropy of ``h @ W.T + b`` over row chunks, gradients made in the same
    pass (the backward only scales them); see :func:`chunked_cross_entropy`."""

    @staticmethod
    def forward(
        ctx: Any, h: Tensor, w: Tensor, b: Tensor | None, y: Tensor, rows: int, scale: float
    ) -> Tensor:
        dev = h.device.type
        # Autocast is switched off inside; take its dtype (bf16 under autocast, else the
        # inputs' own) and run the chunks' matmuls in it, the softmax statistics in float32.
        dtype = torch.get_autocast_dtype(dev) if torch.is_autocast_enabled(dev) else h.dtype
        acc = torch.float64 if dtype == torch.float64 else torch.float32
        need_h, need_w = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        need_b = b is not None and ctx.needs_input_grad[2]
        total = torch.zeros((), dtype=acc, device=h.device)
        dh = torch.empty_like(h) if need_h else None  # (N, H)
        dw = torch.zeros(w.shape, dtype=acc, device=w.device) if need_w else None  # (V, H)
        db = torch.zeros(w.size(0), dtype=acc, device=w.device) if need_b else None  # (V,)
        with torch.autocast(dev, enabled=False):
            wc, bc = w.to(dtype), None if b is None else b.to(dtype)
            for s in range(0, h.size(0), rows):
                hs, ys = h[s : s + rows].to(dtype), y[s : s + rows]
                z = hs @ wc.t()  # (n, V)
                z = (z if bc is None else z + bc).to(acc)
                lse = torch.logsumexp(z, dim=-1)  # (n,)
                total += (lse - z.gather(1, ys[:, None]).squeeze(1)).sum()
                if not (need_h or need_w or need_b):
                    continue
                dz = torch.softmax(z, dim=-1)  # (n, V): d(sum of NLL)/dz = softmax - onehot
                dz[torch.arange(ys.numel(), device=dz.device), ys] -= 1.0
                dz *= scale
                if db is not None:
                    db += dz.sum(0)
                dz = dz.to(dtype)
                if dh is not None:
                    dh[s : s + rows] = (dz @ wc).to(h.dtype)  # (n, H)
                if dw is not None:
                    dw += (dz.t() @ hs).to(acc)  # (V, H)
        ctx.save_for_backward(dh, dw, db)
        ctx.dtypes = (w.dtype, None if b is None else b.dtype)
        return total * scale

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Any:
        dh, dw, db = ctx.saved_tensors
        w_dtype, b_dtype = ctx.dtypes
        out_h = None if dh is None else dh * grad.to(dh.dtype)
        out_w = None if dw is None else (dw * grad).to(w_dtype)
        out_b = None if db is None else (db * grad).to(b_dtype)
        return out_h, out_w, out_b, None, None, None


def chunked_cross_entropy(
    h: Tensor,
    weight: Tensor,
    bias: Tensor | None,
    y: Tensor,
    chunk_rows: int = 1024,
    reduction: str = "mean",
) -> Tensor:
    """Cross-entropy of ``z = h @ weight.T + bias`` against ``y``, chunk by chunk.

    Args:
        h: ``(N, H)`` hidden features; weight ``(V, H)``; bias ``(V,)`` or None.
        y: ``(N,)`` target ids.
        chunk_rows: rows per chunk; at most ``(chunk_rows, V)`` logits exist at a time.
        reduction: ``mean`` or ``sum`` over the N rows.

    Returns:
        The scalar loss (float32; float64 for float64 inputs). The forward pass computes
        each chunk's logsumexp and, when gradients are wanted, at once its softmax minus
        one-hot and the gradients of ``h``, ``weight`` and ``bias`` (the same three matmuls
        as the plain loss, no recomputation); the backward pass only scales them. Equal to
        ``F.cross_entropy(h @ weight.T + bias, y, reduction=reduction)`` in value and
        gradient up to summation order. Under autocast the matmuls run in the autocast
        dtype, the softmax statistics and the weight gradient's sum in float32.
    """
    if chunk_rows <= 0:
        raise ValueError(f"`chunk_rows` must be > 0, got {chunk_rows}")
    if reduction not in ("mean", "sum"):
        raise ValueError(f"`reduction` must be 'mean' or 'sum', got {reduction!r}")
    if h.dim() != 2 or y.shape != h.shape[:1]:
        raise ValueError(
            f"`h` must be (N, H) and `y` (N,), got {tuple(h.shape)} and {tuple(y.shape)}"
        )
    if weight.dim() != 2 or weight.shape[1] != h.shape[1]:
        raise ValueError(f"`weight` must be (V, {h.shape[1]}), got {tuple(weight.shape)}")
    if bool(((y < 0) | (y >= weight.shape[0])).any()):  # one device sync per call
        raise ValueError(
            f"target ids `y` must be in [0, {weight.shape[0]}), got {int(y.min())}..{int(y.max())}"
        )
    scale = 1.0 / max(y.numel(), 1) if reduction == "mean" else 1.0
    return _ChunkedCE.apply(h, weight, bias, y, chunk_rows, scale)


class ChunkedSoftmaxOutput(SoftmaxOutput):
    """The softmax layer (same parameters and distribution) with a chunked training loss."""

    def __init__(self, in_features: int, out_features: int, chunk_rows: int = 1024) -> None:
        super().__init__(in_features, out_features)
        if chunk_rows <= 0:
            raise ValueError(f"`chunk_rows` must be > 0, got {chunk_rows}")
        self.chunk_rows = chunk_rows

    def loss(
        self, h: Tensor, y: Tensor, reduction: str = "mean", label_smoothing: float = 0.0
    ) -> Tensor:
        """As :meth:`SoftmaxOutput.loss`, without the full ``(N, V)`` logits for ``mean``
        and ``sum`` (``none``, per-row losses, takes the plain path). Label smoothing adds
        ``eps * (z_y - mean_v z_v)`` per row: ``-mean_v log p_v = lse - mean_v z_v`` and
        ``mean_v z_v = h . mean_v(W_v) + mean(b)``, so it needs no logits either."""
        if reduction == "none":
            return super().loss(h, y, reduction, label_smoothing)
        h, y = _rows(h, y)
        _check_loss_args(reduction, label_smoothing)
        w, b = self.weight, self.bias
        loss = chunked_cross_entropy(h, w, b, y, self.chunk_rows, reduction)
        if not label_smoothing:
            return loss
        hw = _wide(h)  # elementwise products below: no autocast down-cast
        gap = (hw * w[y]).sum(-1) - (hw * w.mean(0)).sum(-1)  # (N,) z_y - mean_v z_v
        if b is not None:
            gap = gap + b[y] - b.mean()
        gap = label_smoothing * gap
        return loss + (gap.mean() if reduction == "mean" else gap.sum())


def default_cutoffs(vocab_size: int) -> tuple[int, ...]:
    """The documented rule: shortlist ``c = clamp(V // 5, 1, 20000)``, then ``4c, 16c, ...``
    while below V. ``V = 10000 -> (2000, 8000)``; ``V = 50 -> (10, 40)``."""
    if vocab_size < 2:
        raise ValueError(f"the adaptive softmax needs `vocab_size` >= 2, got {vocab_size}")
    cut, out = min(max(vocab_size // 5, 1), 20000), []
    while cut < vocab_size:
        out.append(cut)
        cut *= 4
    return tuple(out)


class AdaptiveSoftmaxOutput(nn.Module):
    """Adaptive softmax (Grave et al. 2017) with frequency-sorted clusters.

    ``log p(y | h) = log softmax(head(h))[y]`` for ``y < cutoffs[0]``; for ``y`` in tail
    cluster i, ``log softmax(head(h))[c0 + i] + log softmax(tail_i(h))[y - start_i]``, where
    ``tail_i = Linear(d_i, V_i, bias=False) o Linear(H, d_i, bias=False)`` and
    ``d_i = max(1, H // div_value**(i+1))``, as ``torch.nn.AdaptiveLogSoftmaxWithLoss``.

    Args:
        in_features: H.
        vocab_size: V.
        cutoffs: increasing cluster starts in ``(0, V)``; None: :func:`default_cutoffs`.
        div_value: the tail projections' shrink factor.
        shortlist: a ``(>= c0, H)`` parameter whose first c0 rows become the head's
            shortlist rows (weight tying with the embedding); None: the layer's own.

    Attributes:
        shortlist_weight: ``(c0, H)``, or the tied embedding matrix ``(V, H)`` (rows ``:c0``
            used); cluster_weight ``(n_clusters, H)``; head_bias ``(c0 + n_clusters,)``;
            tails: one ``Sequential(proj, out)`` per cluster.
    """

    def __init__(
        self,
        in_features: int,
        vocab_size: int,
        cutoffs: tuple[int, ...] | None = None,
        div_value: float = 4.0,
        shortlist: nn.Parameter | None = None,
    ) -> None:
        super().__init__()
        cuts = tuple(cutoffs) if cutoffs else default_cutoffs(vocab_size)
        if list(cuts) != sorted(set(cuts)) or cuts[0] <= 0 or cuts[-1] >= vocab_size:
            raise ValueError(
                f"`cutoffs` must be increasing ints in (0, {vocab_size}) (`vocab_size`), "
                f"got {cuts!r}"
            )
        if div_value < 1:
            raise ValueError(f"`div_value` must be >= 1, got {div_value}")
        self.in_features, self.vocab_size, self.div_value = in_features, vocab_size, div_value
        self.cutoffs = cuts
        bounds = (*cuts, vocab_size)
        c0, n_clusters = cuts[0], len(cuts)
        if shortlist is None:
            shortlist = nn.Parameter(torch.empty(c0, in_features).uniform_(-0.1, 0.1))
        elif shortlist.shape[0] < c0 or shortlist.shape[1] != in_features:
            raise ValueError(
                f"`shortlist` must be ({c0}+, {in_features}) for tying, "
                f"got {tuple(shortlist.shape)}"
            )
        self.shortlist_weight = shortlist
        self.cluster_weight = nn.Parameter(torch.empty(n_clusters, in_features).uniform_(-0.1, 0.1))
        self.head_bias = nn.Parameter(torch.zeros(c0 + n_clusters))
        self.tails = nn.ModuleList()
        for i in range(n_clusters):
            d = max(1, int(in_features // div_value ** (i + 1)))
            self.tails.append(
                nn.Sequential(
                    nn.Linear(in_features, d, bias=False),
                    nn.Linear(d, bounds[i + 1] - bounds[i], bias=False),
                )
            )

    def _head(self, h: Tensor) -> Tensor:
        """``(N, H) -> (N, c0 + n_clusters)`` float32 head log-probabilities."""
        w = torch.cat([self.shortlist_weight[: self.cutoffs[0]], self.cluster_weight])
        return F.log_softmax(_wide(F.linear(h, w, self.head_bias)), dim=-1)

    def log_prob(self, h: Tensor) -> Tensor:
        """``(..., V)`` exact float32 log-probabilities."""
        rows = h.reshape(-1, h.size(-1))  # (N, H)
        head = self._head(rows)
        c0 = self.cutoffs[0]
        parts = [head[:, :c0]]
        for i, tail in enumerate(self.tails):
            parts.append(head[:, c0 + i, None] + F.log_softmax(_wide(tail(rows)), dim=-1))
        return torch.cat(parts, dim=-1).reshape(*h.shape[:-1], self.vocab_size)

    def forward(self, h: Tensor) -> Tensor:
        """``(..., V)``: the log-probabilities (valid logits: their log_softmax is themselves)."""
        return self.log_prob(h)

    def loss(
        self, h: Tensor, y: Tensor, reduction: str = "mean", label_smoothing: float = 0.0
    ) -> Tensor:
        """NLL of ``y (...)``: the head for every row, each tail only for its own rows.
        Label smoothing needs every token's log-probability: it takes :meth:`log_prob`."""
        h, y = _rows(h, y)
        _check_loss_args(reduction, label_smoothing)
        if y.numel() and (int(y.min()) < 0 or int(y.max()) >= self.vocab_size):
            raise ValueError(f"`targets` must be ids in [0, {self.vocab_size}), got out of range")
        if label_smoothing:
            lp = self.log_prob(h)  # (N, V)
            nll = -lp.gather(1, y[:, None]).squeeze(1)  # (N,)
            return _reduce((1 - label_smoothing) * nll - label_smoothing * lp.mean(-1), reduction)
        head = self._head(h)  # (N, c0 + n_clusters)
        c0, bounds = self.cutoffs[0], (*self.cutoffs, self.vocab_size)
        cluster = torch.bucketize(y, torch.tensor(self.cutoffs, device=y.device), right=True)
        head_index = torch.where(cluster == 0, y, c0 + cluster - 1)  # (N,)
        logp = head.gather(1, head_index[:, None]).squeeze(1)  # (N,)
        for i, tail in enumerate(self.tails):
            rows = (cluster == i + 1).nonzero().squeeze(1)
            if rows.numel():
                lp = F.log_softmax(_wide(tail(h[rows])), dim=-1)  # (n_i, V_i)
                inner = (y[rows] - bounds[i])[:, None]
                logp = logp.index_add(0, rows, lp.gather(1, inner).squeeze(1))
        return _reduce(-logp, reduction)

    def predict(self, h: Tensor) -> Tensor:
        """``(...)`` the most likely token ids (from the exact log-probabilities)."""
        return self.log_prob(h).argmax(dim=-1)


def _softmax(h: int, v: int, **_: Any) -> nn.Module:
    return SoftmaxOutput(h, v)


def _chunked(h: int, v: int, *, chunk_rows: int = 1024, **_: Any) -> nn.Module:
    return ChunkedSoftmaxOutput(h, v, chunk_rows)


def _adaptive(
    h: int,
    v: int,
    *,
    cutoffs: tuple[int, ...] | None = None,
    div_value: float = 4.0,
    shortlist: nn.Parameter | None = None,
    **_: Any,
) -> nn.Module:
    return AdaptiveSoftmaxOutput(h, v, cutoffs, div_value, shortlist)


OUTPUT_LAYERS: dict[str, tuple[Callable[..., nn.Module], str]] = {
    "softmax": (_softmax, "Linear(H, V) and the full softmax cross-entropy."),
    "chunked": (
        _chunked,
        "the softmax's Linear with a cross-entropy over row chunks (no full float32 logits).",
    ),
    "adaptive": (_adaptive, "adaptive softmax (Grave et al. 2017): frequency-sorted clusters."),
}
"""name -> (builder ``(H, V, **options) -> module``, one-line description)."""


def output_layer_names() -> list[str]:
    """The registered output layers, in registration order."""
    return list(OUTPUT_LAYERS)


def check_output_options(output_layer: str, div_value: float, chunk_rows: int) -> None:
    """Validate a model config's output-layer fields (``output_layer``, ``div_value``,
    ``chunk_rows``; ``cutoffs`` are checked against V when the layer is built)."""
    if output_layer not in OUTPUT_LAYERS:
        raise ValueError(
            f"`output_layer` must be one of {', '.join(OUTPUT_LAYERS)}, got {output_layer!r}"
        )
    if div_value < 1 or chunk_rows <= 0:
        raise ValueError(
            f"`div_value` must be >= 1 and `chunk_rows` > 0, got {div_value} and {chunk_rows}"
        )


def build_output(name: str, in_features: int, vocab_size: int, **options: Any) -> nn.Module:
    """Build the output layer ``name`` for ``H = in_features`` and ``V = vocab_size``.

    ``options``: ``chunk_rows`` (chunked), ``cutoffs``, ``div_value``, ``shortlist``
    (adaptive); options another kind does not use are ignored.
    """
    if name not in OUTPUT_LAYERS:
        raise ValueError(f"`output_layer` must be one of {', '.join(OUTPUT_LAYERS)}, got {name!r}")
    return OUTPUT_LAYERS[name][0](in_features, vocab_size, **options)
