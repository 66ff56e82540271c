"""The scratch module protocol, embedding, linear layer, and losses with their gradients.

A scratch ``Module`` keeps its arrays in two dicts with the same keys: ``params`` (updated
in place by the optimizers) and ``grads`` (``backward`` adds into them, ``zero_grad``
clears them). Composite modules list their children in ``children``; ``parameters()`` and
``gradients()`` then give flat dicts with dotted names (``rnn.weight_ih_l0``), as torch's
``state_dict`` does.
"""

from __future__ import annotations

import numpy as np

from rnnkit.scratch.optim import init_uniform

__all__ = ["Embedding", "Linear", "Module", "check_sizes", "cross_entropy", "mse_loss"]


def check_sizes(**sizes: object) -> None:
    """Each keyword must be a positive int, else a ValueError naming it (``input_size=3``)."""
    for name, value in sizes.items():
        if not isinstance(value, int) or value <= 0:
            raise ValueError(f"`{name}` must be a positive int, got {value!r}")


class Module:
    """Base of scratch modules: ``params``, ``grads``, ``children``; see the module docstring."""

    def __init__(self) -> None:
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}
        self.children: dict[str, Module] = {}

    def parameters(self) -> dict[str, np.ndarray]:
        """All parameters, dotted names -> the arrays themselves (not copies)."""
        out = dict(self.params)
        for prefix, child in self.children.items():
            out.update({f"{prefix}.{k}": v for k, v in child.parameters().items()})
        return out

    def gradients(self) -> dict[str, np.ndarray]:
        """All gradients, same keys as :meth:`parameters`."""
        out = dict(self.grads)
        for prefix, child in self.children.items():
            out.update({f"{prefix}.{k}": v for k, v in child.gradients().items()})
        return out

    def zero_grad(self) -> None:
        """Set every gradient to zero (allocating them the first time)."""
        for k, p in self.params.items():
            if k in self.grads:
                self.grads[k].fill(0.0)
            else:
                self.grads[k] = np.zeros_like(p)
        for child in self.children.values():
            child.zero_grad()


class Embedding(Module):
    """Lookup table ``weight`` (V, E), initialised N(0, 1) as torch. ids (...) -> (..., E)."""

    def __init__(
        self,
        num_embeddings: int,
        embedding_dim: int,
        *,
        dtype: type = np.float64,
        rng: np.random.Generator | None = None,
    ) -> None:
        super().__init__()
        rng = rng if rng is not None else np.random.default_rng()
        self.params["weight"] = rng.standard_normal((num_embeddings, embedding_dim)).astype(dtype)
        self.zero_grad()
        self._ids: np.ndarray | None = None

    def forward(self, ids: np.ndarray) -> np.ndarray:
        ids = np.asarray(ids)
        V = self.params["weight"].shape[0]
        if ids.size and (ids.min() < 0 or ids.max() >= V):
            raise ValueError(f"`ids` must lie in [0, {V}) (`num_embeddings`), got {ids.max()}")
        self._ids = ids
        return self.params["weight"][ids]

    def backward(self, dout: np.ndarray) -> None:
        """dout (..., E): rows of ``weight`` receive the sum of their lookups' gradients."""
        E = self.params["weight"].shape[1]
        np.add.at(self.grads["weight"], self._ids.reshape(-1), dout.reshape(-1, E))  # (N, E)


class Linear(Module):
    """y = x @ weight.T + bias; weight (O, I), bias (O,), initialised as torch.nn.Linear."""

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        *,
        dtype: type = np.float64,
        rng: np.random.Generator | None = None,
    ) -> None:
        super().__init__()
        rng = rng if rng is not None else np.random.default_rng()
        # torch: kaiming_uniform(a=sqrt(5)) = U(+-1/sqrt(I)) for weight and bias alike
        self.params["weight"] = init_uniform((out_features, in_features), in_features, rng, dtype)
        if bias:
            self.params["bias"] = init_uniform((out_features,), in_features, rng, dtype)
        self.zero_grad()
        self._x: np.ndarray | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        """x (..., I) -> (..., O)."""
        W = self.params["weight"]
        if x.shape[-1] != W.shape[1]:
            raise ValueError(f"input has {x.shape[-1]} features, expected {W.shape[1]}")
        self._x = x
        y = x @ W.T
        return y + self.params["bias"] if "bias" in self.params else y

    def backward(self, dy: np.ndarray) -> np.ndarray:
        """dy (..., O) -> dx (..., I); adds dW = dy.T @ x and db = sum dy."""
        W, x = self.params["weight"], self._x
        dy2 = dy.reshape(-1, W.shape[0])  # (N, O)
        self.grads["weight"] += dy2.T @ x.reshape(-1, W.shape[1])  # y = x @ W.T -> dL/dW
        if "bias" in self.params:
            self.grads["bias"] += dy2.sum(axis=0)  # bias broadcast over N -> sum
        return dy @ W  # y = x @ W.T -> dL/dx


def cross_entropy(
    logits: np.ndarray, targets: np.ndarray, ignore_index: int | None = None
) -> tuple[float, np.ndarray]:
    """Mean softmax cross-entropy. logits (N, C), targets (N,) ints -> loss, dlogits (N, C).

    Rows whose target equals ``ignore_index`` count neither in the loss nor in the mean.
    """
    if logits.ndim != 2 or targets.shape != logits.shape[:1]:
        raise ValueError(
            f"`logits` must be (N, C) and `targets` (N,), got {logits.shape} and {targets.shape}"
        )
    keep = np.ones(len(targets), bool) if ignore_index is None else targets != ignore_index
    n = max(int(keep.sum()), 1)
    safe = np.where(keep, targets, 0)
    shifted = logits - logits.max(axis=1, keepdims=True)  # softmax is shift-invariant
    log_z = np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    log_p = shifted - log_z  # (N, C) log-softmax
    rows = np.arange(len(targets))
    loss = -(log_p[rows, safe] * keep).sum() / n
    dlogits = np.exp(log_p)  # d(-log p_y)/dlogits = softmax - onehot(y)
    dlogits[rows, safe] -= 1.0
    dlogits *= keep[:, None] / n
    return float(loss), dlogits


def mse_loss(pred: np.ndarray, target: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean squared error over all entries -> loss, dpred (same shape as pred)."""
    if pred.shape != target.shape:
        raise ValueError(f"`pred` and `target` must match, got {pred.shape} and {target.shape}")
    diff = pred - target
    return float((diff * diff).mean()), 2.0 * diff / diff.size  # d mean(diff^2)/dpred
