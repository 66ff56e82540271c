"""Optimizers (SGD with momentum, Adagrad, Adam), gradient clipping, weight initialisers.

Optimizers take the ``params`` and ``grads`` dicts of a scratch module (same keys) and update
the parameter arrays in place, with torch.optim's update rules. Initialisers take an
explicit ``np.random.Generator``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

__all__ = [
    "SGD",
    "Adagrad",
    "Adam",
    "Optimizer",
    "clip_grad_norm",
    "clip_grad_value",
    "init_he",
    "init_orthogonal",
    "init_uniform",
    "init_xavier",
]

Arrays = Mapping[str, np.ndarray]


# ----------------------------------------------------------------------------- initialisers


def init_uniform(
    shape: tuple[int, ...], fan: int, rng: np.random.Generator, dtype: type = np.float64
) -> np.ndarray:
    """U(-1/sqrt(fan), 1/sqrt(fan)): torch's RNN init (fan = H) and Linear init (fan = I)."""
    bound = 1.0 / math.sqrt(fan)
    return rng.uniform(-bound, bound, size=shape).astype(dtype)


def init_xavier(
    shape: tuple[int, int], rng: np.random.Generator, gain: float = 1.0, dtype: type = np.float64
) -> np.ndarray:
    """Glorot uniform for a (out, in) weight: U(+-gain * sqrt(6 / (in + out)))."""
    fan_out, fan_in = shape
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-bound, bound, size=shape).astype(dtype)


def init_he(
    shape: tuple[int, int], rng: np.random.Generator, dtype: type = np.float64
) -> np.ndarray:
    """He (Kaiming) normal for a (out, in) weight feeding a ReLU: N(0, 2 / in)."""
    return (rng.standard_normal(shape) * math.sqrt(2.0 / shape[1])).astype(dtype)


def init_orthogonal(
    shape: tuple[int, int], rng: np.random.Generator, gain: float = 1.0, dtype: type = np.float64
) -> np.ndarray:
    """A (semi-)orthogonal (out, in) matrix from the QR of a Gaussian (Saxe et al. 2014).

    For a stacked (G*H, H) ``weight_hh`` pass one gate block's shape and stack G of them.
    """
    rows, cols = shape
    a = rng.standard_normal((max(rows, cols), min(rows, cols)))  # tall
    q, r = np.linalg.qr(a)  # q: (max, min) with orthonormal columns
    q *= np.sign(np.diag(r))  # sign fix makes the distribution uniform (Haar)
    if rows < cols:
        q = q.T  # (min, max) -> (rows, cols)
    return (gain * q).astype(dtype)


# ----------------------------------------------------------------------------- clipping


def clip_grad_norm(grads: Arrays, max_norm: float, eps: float = 1e-6) -> float:
    """Scale all gradients by ``max_norm / (norm + eps)`` when the global L2 norm exceeds
    ``max_norm`` (torch.nn.utils.clip_grad_norm_). Returns the norm before clipping."""
    total = math.sqrt(sum(float(np.vdot(g, g)) for g in grads.values()))
    coef = max_norm / (total + eps)
    if coef < 1.0:
        for g in grads.values():
            g *= coef
    return total


def clip_grad_value(grads: Arrays, clip_value: float) -> None:
    """Clamp every gradient entry to [-clip_value, clip_value] in place."""
    for g in grads.values():
        np.clip(g, -clip_value, clip_value, out=g)


# ----------------------------------------------------------------------------- optimizers


class Optimizer:
    """Holds the ``params`` / ``grads`` dicts (same keys) and per-parameter state."""

    def __init__(self, params: Arrays, grads: Arrays, lr: float) -> None:
        if set(params) != set(grads):
            raise ValueError(
                f"`params` and `grads` must have the same keys, differ in "
                f"{sorted(set(params) ^ set(grads))}"
            )
        if lr < 0:
            raise ValueError(f"`lr` must be >= 0, got {lr}")
        self.params, self.grads, self.lr = params, grads, lr
        self.state: dict[str, dict] = {k: {} for k in params}
        self.steps = 0

    def step(self) -> None:
        self.steps += 1
        for k, p in self.params.items():
            self._update(p, self.grads[k], self.state[k])

    def _update(self, p: np.ndarray, g: np.ndarray, state: dict) -> None:
        raise NotImplementedError


class SGD(Optimizer):
    """p -= lr * v with v = momentum * v + (1 - dampening) * g (v = g at the first step)."""

    def __init__(
        self,
        params: Arrays,
        grads: Arrays,
        lr: float,
        momentum: float = 0.0,
        dampening: float = 0.0,
        weight_decay: float = 0.0,
        nesterov: bool = False,
    ) -> None:
        super().__init__(params, grads, lr)
        self.momentum, self.dampening = momentum, dampening
        self.weight_decay, self.nesterov = weight_decay, nesterov

    def _update(self, p, g, state):
        if self.weight_decay:
            g = g + self.weight_decay * p
        if self.momentum:
            if "v" not in state:
                state["v"] = g.copy()
            else:
                state["v"] = self.momentum * state["v"] + (1.0 - self.dampening) * g
            g = g + self.momentum * state["v"] if self.nesterov else state["v"]
        p -= self.lr * g


class Adagrad(Optimizer):
    """p -= lr_t * g / (sqrt(sum g^2) + eps), lr_t = lr / (1 + (t - 1) * lr_decay)."""

    def __init__(
        self,
        params: Arrays,
        grads: Arrays,
        lr: float = 0.01,
        lr_decay: float = 0.0,
        weight_decay: float = 0.0,
        initial_accumulator_value: float = 0.0,
        eps: float = 1e-10,
    ) -> None:
        super().__init__(params, grads, lr)
        self.lr_decay, self.weight_decay, self.eps = lr_decay, weight_decay, eps
        for k, p in params.items():
            self.state[k]["sum"] = np.full_like(p, initial_accumulator_value)

    def _update(self, p, g, state):
        if self.weight_decay:
            g = g + self.weight_decay * p
        lr_t = self.lr / (1.0 + (self.steps - 1) * self.lr_decay)
        state["sum"] += g * g
        p -= lr_t * g / (np.sqrt(state["sum"]) + self.eps)


class Adam(Optimizer):
    """Adam (Kingma & Ba) with torch's bias correction; ``weight_decay`` is L2 (not AdamW)."""

    def __init__(
        self,
        params: Arrays,
        grads: Arrays,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(params, grads, lr)
        self.betas, self.eps, self.weight_decay = betas, eps, weight_decay
        for k, p in params.items():
            self.state[k].update(m=np.zeros_like(p), v=np.zeros_like(p))

    def _update(self, p, g, state):
        b1, b2 = self.betas
        if self.weight_decay:
            g = g + self.weight_decay * p
        state["m"] *= b1
        state["m"] += (1.0 - b1) * g  # first moment
        state["v"] *= b2
        state["v"] += (1.0 - b2) * g * g  # second moment
        step_size = self.lr / (1.0 - b1**self.steps)
        denom = np.sqrt(state["v"]) / math.sqrt(1.0 - b2**self.steps) + self.eps
        p -= step_size * state["m"] / denom
