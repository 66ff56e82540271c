"""word2vec in NumPy: skip-gram and CBOW with negative sampling, gradient written by hand.

Two matrices (word2vec.c's ``syn0`` and ``syn1neg``): ``W_in (V, E)``, the word vectors,
initialised uniform in ``[-0.5/E, 0.5/E)``, and ``W_out (V, E)``, the output vectors,
initialised to zeros (as word2vec.c and gensim do).

For an example with input vector ``h`` (skip-gram: ``W_in[context]``; CBOW: the mean of the
context words' ``W_in`` rows), positive output word ``t`` (the centre word) and negatives
``n_1..n_K``, the loss of negative sampling (Mikolov et al. 2013, eq. 4) is::

    L = -log σ(u_t · h) - Σ_k log σ(-u_{n_k} · h)          u_w = W_out[w]

and with ``s_j = u_j · h`` and ``g_j = σ(s_j) - y_j`` (``y = 1`` for ``t``, 0 for negatives)::

    ∂L/∂u_j = g_j h          ∂L/∂h = Σ_j g_j u_j

A negative that happens to be the target itself is skipped (its ``g`` is 0), as word2vec.c
and gensim skip it. The loss of a batch is the *sum* over its examples: one SGD step on a
batch, ``W -= alpha ∂L/∂W``, adds what word2vec's per-example steps add, all computed from
the weights before the batch (word2vec.c updates after every example; a batch is what makes
the torch engine fast, and the difference is second order in ``alpha``).

CBOW's ``W_in`` update follows word2vec.c and gensim (``cbow_mean=1``): every context word
receives the whole ``∂L/∂h``, not the true gradient ``∂L/∂h / count`` of the mean;
:func:`cbow_loss_and_grad` returns the true gradient, and :func:`sgd_step` applies word2vec's
rule (documented and tested against both).
"""

from __future__ import annotations

import numpy as np

from rnnkit.scratch.w2v_sampling import Batch

__all__ = [
    "cbow_loss_and_grad",
    "dense_grads",
    "init_weights",
    "sg_loss_and_grad",
    "sgd_step",
]


def init_weights(
    vocab_size: int, dim: int, rng: np.random.Generator, dtype: type = np.float32
) -> tuple[np.ndarray, np.ndarray]:
    """``(W_in, W_out)``, both ``(V, E)``: uniform(-0.5/E, 0.5/E) and zeros."""
    w_in = ((rng.random((vocab_size, dim)) - 0.5) / dim).astype(dtype)
    return w_in, np.zeros((vocab_size, dim), dtype=dtype)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    """σ(x) without overflow for large |x|."""
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _output_side(
    h: np.ndarray, w_out: np.ndarray, targets: np.ndarray, negatives: np.ndarray
) -> tuple[float, np.ndarray, np.ndarray, np.ndarray]:
    """Loss, ``∂L/∂h (P, E)``, ``∂L/∂u (P, 1+K, E)`` and the output rows ``(P, 1+K)``."""
    rows = np.concatenate([targets[:, None], negatives], axis=1)  # (P, 1+K)
    u = w_out[rows]  # (P, 1+K, E)
    s = np.einsum("pke,pe->pk", u, h)  # (P, 1+K)
    y = np.zeros_like(s)
    y[:, 0] = 1.0
    live = np.ones_like(s)
    live[:, 1:] = negatives != targets[:, None]  # a negative equal to the target is skipped
    g = (_sigmoid(s) - y) * live  # (P, 1+K)
    sign = 1.0 - 2.0 * y  # log σ(s) for the target, log σ(-s) for negatives
    loss = float(np.sum(live * np.logaddexp(0.0, sign * s)))  # -log σ(-sign s)
    d_h = np.einsum("pk,pke->pe", g, u)  # (P, E)
    d_u = g[:, :, None] * h[:, None, :]  # (P, 1+K, E)
    return loss, d_h, d_u, rows


def sg_loss_and_grad(
    w_in: np.ndarray, w_out: np.ndarray, inputs: np.ndarray, targets: np.ndarray,
    negatives: np.ndarray,
) -> tuple[float, np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
    """Skip-gram: loss and gradient of a batch, per example.

    Args:
        w_in, w_out: ``(V, E)``.
        inputs: ``(P,)`` ids whose ``W_in`` row is ``h``; targets: ``(P,)``;
            negatives: ``(P, K)``.

    Returns:
        ``(loss, d_in (P, E), d_out (P, 1+K, E), out_rows (P, 1+K))``: ``d_in[p]`` is
        ``∂L/∂W_in[inputs[p]]``'s share from example ``p``, ``d_out[p, j]`` that of
        ``W_out[out_rows[p, j]]`` (see :func:`dense_grads`).
    """
    return _output_side(w_in[inputs], w_out, targets, negatives)


def cbow_loss_and_grad(
    w_in: np.ndarray, w_out: np.ndarray, contexts: np.ndarray, mask: np.ndarray,
    targets: np.ndarray, negatives: np.ndarray,
) -> tuple[float, np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
    """CBOW (``h`` the mean of the context vectors): loss and gradient of a batch.

    Args:
        contexts: ``(P, C)`` context ids, padded; mask: ``(P, C)`` 1 at real contexts.

    Returns:
        ``(loss, d_in (P, C, E), d_out (P, 1+K, E), out_rows (P, 1+K))``: ``d_in[p, c]``,
        the true gradient ``mask ∂L/∂h / count``, belongs to ``W_in[contexts[p, c]]``.
    """
    mask = mask.astype(w_in.dtype)
    count = mask.sum(axis=1, keepdims=True)  # (P, 1)
    h = np.einsum("pc,pce->pe", mask, w_in[contexts]) / count  # (P, E)
    loss, d_h, d_u, rows = _output_side(h, w_out, targets, negatives)
    d_in = (mask / count)[:, :, None] * d_h[:, None, :]  # (P, C, E)
    return loss, d_in, d_u, rows


def dense_grads(
    shape: tuple[int, int], in_rows: np.ndarray, d_in: np.ndarray, out_rows: np.ndarray,
    d_out: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Per-example gradients summed into ``(dW_in (V, E), dW_out (V, E))``."""
    dw_in = np.zeros(shape, dtype=d_in.dtype)
    dw_out = np.zeros(shape, dtype=d_out.dtype)
    np.add.at(dw_in, in_rows.reshape(-1), d_in.reshape(-1, shape[1]))
    np.add.at(dw_out, out_rows.reshape(-1), d_out.reshape(-1, shape[1]))
    return dw_in, dw_out


def sgd_step(w_in: np.ndarray, w_out: np.ndarray, batch: Batch, alpha: float) -> float:
    """One SGD step on ``batch`` in place (``W -= alpha ∂L/∂W``); returns the batch's loss.

    Skip-gram when ``batch.mask`` is None, else CBOW with word2vec's input update (every
    context row gets ``-alpha ∂L/∂h``; see the module docstring).
    """
    if batch.mask is None:
        loss, d_in, d_out, rows = sg_loss_and_grad(
            w_in, w_out, batch.inputs, batch.targets, batch.negatives
        )
    else:
        loss, d_in, d_out, rows = cbow_loss_and_grad(
            w_in, w_out, batch.inputs, batch.mask, batch.targets, batch.negatives
        )
        d_in = d_in * batch.mask.sum(axis=1)[:, None, None]  # ∂L/∂h for each context
    dw_in, dw_out = dense_grads(w_in.shape, batch.inputs, d_in, rows, d_out)
    w_in -= (alpha * dw_in).astype(w_in.dtype)
    w_out -= (alpha * dw_out).astype(w_out.dtype)
    return loss
