"""Export wrappers: each task network as the ONNX graphs a runtime steps through.

Every wrapper is a plain ``nn.Module`` that calls the task network's own submodules
(embeddings, pooling, attention, bridge, heads), with its recurrent layers called through
:func:`rnnkit.export.trace.recurrent`; the state is flat tensors in and out.

- language model: ``lm``: ``tokens (T, B), h0, [c0] -> logits (T, B, V), h_n, [c_n]``
  (with ``hidden_sizes``, one ``h``/``c`` per layer);
- classifier: ``classify``: ``x (T, B) or (T, B, I), lengths (B,) -> logits (B, C)`` (the
  recurrent classifier, LSTM-FCN and MiniRocket alike);
- translator: ``encoder``: ``src (S, B), lengths (B,) -> values (S, B, K), mask (S, B),
  [keys], h0, [c0], [feed]`` and ``decoder``: ``tokens (B,), h, [c], [feed], values, mask,
  [keys] -> log_probs (B, V), h', [c'], [feed'], [weights (B, S)]``;
- forecaster: ``encoder_rnn`` (and ``decoder_rnn`` in seq2seq mode): ``x (T, B, I), h0,
  [c0] -> y (T, B, H), h_n, [c_n]``, and ``head``: ``features (N, F) -> raw (N, out)``; the
  forecaster's own code (normalisation, the modes' loops, sampled paths) drives them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from rnnkit.export.trace import recurrent
from rnnkit.functional import LSTMState

__all__ = [
    "ClassifierGraph",
    "DecoderGraph",
    "EncoderGraph",
    "GraphSpec",
    "HeadGraph",
    "LMGraph",
    "LSTMFCNGraph",
    "MiniRocketGraph",
    "RecurrentGraph",
    "lm_state_shapes",
]


@dataclass
class GraphSpec:
    """One graph to export: the wrapper, example inputs, names and dynamic axes."""

    name: str
    module: nn.Module
    args: tuple[Any, ...]
    inputs: list[str]
    outputs: list[str]
    dynamic: dict[str, dict[int, str]]


def _flat(state: Any) -> list[Tensor]:
    if isinstance(state, Tensor):
        return [state]
    return [t for part in state for t in _flat(part)]


def _layers_of(model: nn.Module) -> list[nn.Module]:
    layers = getattr(model, "layers", None)
    return list(layers) if layers is not None else [model.rnn]


class LMGraph(nn.Module):
    """A language model's forward with its state as flat tensors (one or two per layer module)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.lstm = model.config.rnn.cell_state

    def forward(self, tokens: Tensor, *flat: Tensor) -> tuple[Tensor, ...]:
        m, per = self.model, 2 if self.lstm else 1
        x = m.embedding(tokens)  # (T, B, E)
        outs: list[Tensor] = []
        for i, layer in enumerate(_layers_of(m)):
            part = flat[i * per : (i + 1) * per]
            hx = LSTMState(*part) if self.lstm else part[0]
            x, state = recurrent(layer, x, None, hx, name=f"rnn{i}")  # (T, B, H_i)
            outs += _flat(state)
        return (m.decoder(x), *outs)  # logits (T, B, V)


def lm_state_shapes(model: nn.Module) -> list[tuple[int, int]]:
    """``(layers, width)`` of each flat state tensor of :class:`LMGraph` (batch in between)."""
    shapes = []
    for layer in _layers_of(model):
        h_out = layer.proj_size or layer.hidden_size
        shapes.append((layer.num_layers, h_out))
        if model.config.rnn.cell_state:
            shapes.append((layer.num_layers, layer.hidden_size))
    return shapes


class ClassifierGraph(nn.Module):
    """:class:`~rnnkit.models.classifier.SequenceClassifier`'s forward, lengths inside: ``x``
    ``(T, B)`` ids, ``(T, B, 1 + K)`` ids with subwords, or ``(T, B, I)`` features."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: Tensor, lengths: Tensor) -> Tensor:
        m = self.model
        out, _ = recurrent(m.rnn, m.embed(x), lengths, name="rnn")  # (T, B, D·H)
        return m.head(m.pool(out, lengths))  # (B, C)


class EncoderGraph(nn.Module):
    """:meth:`Seq2Seq.encode` with flat outputs (see the module doc)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, src: Tensor, lengths: Tensor) -> tuple[Tensor, ...]:
        m = self.model
        values, enc_state = recurrent(
            m.encoder.rnn, m.encoder.embedding(src), lengths, name="encoder"
        )  # (S, B, K)
        S = src.shape[0]
        mask = torch.arange(S)[:, None] < lengths[None, :]  # (S, B)
        attention = m.decoder.attention
        keys = [] if attention is None else [attention.prepare(values)]
        state = _flat(m.bridge(enc_state))
        feed = [torch.zeros_like(state[0][0])] if m.decoder.feed_size else []  # (B, H_d)
        return (values, mask, *keys, *state, *feed)


class DecoderGraph(nn.Module):
    """One :meth:`Seq2Seq.step` with flat inputs and outputs (see the module doc)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.lstm = model.config.decoder_rnn.cell_state

    def forward(self, tokens: Tensor, *rest: Tensor) -> tuple[Tensor, ...]:
        dec = self.model.decoder
        n = 2 if self.lstm else 1
        state, rest = rest[:n], rest[n:]
        feed, rest = (rest[0], rest[1:]) if dec.input_feeding else (None, rest)
        values, mask, *keys = rest if dec.attention is not None else (None, None)
        x = dec.embedding(tokens)  # (B, E)
        if feed is not None:
            x = torch.cat([x, feed], -1)  # (B, E + H_d)
        hx = LSTMState(*state) if self.lstm else state[0]
        out, new = recurrent(dec.rnn, x.unsqueeze(0), None, hx, name="decoder")  # (1, B, H_d)
        h = out[0]
        if dec.attention is None:
            att, weights = h, None
        else:
            context, weights = dec.attention(h, values, mask, keys[0] if keys else None)
            att = torch.tanh(dec.combine(torch.cat([context, h], -1)))  # (B, H_d)
        log_probs = torch.log_softmax(dec.out(att), -1)  # (B, V_t)
        outs = [log_probs, *_flat(new)] + ([att] if feed is not None else [])
        return (*outs, *([weights] if weights is not None else []))


class RecurrentGraph(nn.Module):
    """One recurrent layer alone: ``x (T, B, I), h0 (L, B, H_out), [c0 (L, B, H)] ->
    y (T, B, H_out), h_n, [c_n]``."""

    def __init__(self, layer: nn.Module, name: str) -> None:
        super().__init__()
        self.layer = layer
        self.name = name
        self.lstm = getattr(layer, "_scan_mode", "") == "lstm"

    def forward(self, x: Tensor, *state: Tensor) -> tuple[Tensor, ...]:
        hx = LSTMState(*state) if self.lstm else state[0]
        y, new = recurrent(self.layer, x, None, hx, name=self.name)
        return (y, *_flat(new))


class HeadGraph(nn.Module):
    """A head applied to flat rows: ``features (N, F) -> (N, out)``."""

    def __init__(self, head: nn.Module) -> None:
        super().__init__()
        self.head = head

    def forward(self, features: Tensor) -> Tensor:
        return self.head(features)


def average_steps(x: Tensor, lengths: Tensor, k: int) -> tuple[Tensor, Tensor]:
    """:func:`rnnkit.models.lstm_fcn.average_steps` with no shape arithmetic in Python (so
    time stays a dynamic axis): sums of every k valid steps as a stride-k convolution with
    a ones kernel. ``x (T, B, I), lengths (B,) -> (ceil(T/k), B, I), ceil(lengths/k)``."""
    if k == 1:
        return x, lengths
    I = x.shape[2]
    mask = (torch.arange(x.shape[0])[:, None] < lengths[None, :]).to(x.dtype)  # (T, B)
    ones = x.new_ones(1, 1, k)
    rows = (x * mask[..., None]).permute(1, 2, 0).reshape(-1, 1, x.shape[0])  # (B·I, 1, T)
    sums = F.conv1d(F.pad(rows, (0, k - 1)), ones, stride=k)  # (B·I, 1, n)
    sums = sums.reshape(-1, I, sums.shape[-1]).permute(2, 0, 1)  # (n, B, I)
    counts = F.conv1d(F.pad(mask.t()[:, None], (0, k - 1)), ones, stride=k)  # (B, 1, n)
    counts = counts[:, 0].t().clamp(min=1.0)  # (n, B)
    return sums / counts[..., None], torch.div(lengths + (k - 1), k, rounding_mode="floor")


class LSTMFCNGraph(nn.Module):
    """:class:`~rnnkit.models.lstm_fcn.LSTMFCN`'s eval forward, lengths inside, no packing:
    ``x (T, B, I), lengths (B,) -> logits (B, C)``."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: Tensor, lengths: Tensor) -> Tensor:
        m, c = self.model, self.model.config
        x, lengths = average_steps(x, lengths, c.pool)  # (T/k, B, I)
        if c.axis == "channels":  # dimension shuffle: I steps of `width` features
            valid = torch.arange(x.shape[0])[:, None] < lengths[None, :]  # (T, B)
            seq = (x * valid[..., None]).permute(2, 1, 0)  # (I, B, T)
            seq = F.pad(seq, (0, m.width))[..., : m.width]  # zero-padded or cut to width
            out, _ = recurrent(m.rnn, seq, None, name="rnn")  # (I, B, D·H)
            pooled = m.pool(out, torch.ones_like(lengths) * x.shape[2])
        else:
            out, _ = recurrent(m.rnn, x, lengths, name="rnn")  # (T, B, D·H)
            pooled = m.pool(out, lengths)
        return m.head(torch.cat([pooled, m.conv(x, lengths)], dim=-1))  # (B, C)


class MiniRocketGraph(nn.Module):
    """:class:`~rnnkit.models.minirocket.MiniRocket`'s forward, lengths inside, its plan of
    dilations unrolled: ``x (T, B, I), lengths (B,) -> logits (B, C)``.

    The convolutions and counting windows are the model's own (:meth:`MiniRocket.convolve`,
    :meth:`MiniRocket.window`, which read every size from the inputs, so tracing bakes in
    no T or B); the PPV counts compare each step with all of a (dilation, kernel)'s biases
    at once, ``(B, 84, T, c)``, where the eager model sorts or works in chunks (ONNX has no
    searchsorted).
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: Tensor, lengths: Tensor) -> Tensor:
        m = self.model
        K = m.kernels.shape[0]
        t = torch.arange(x.shape[0])  # (T,)
        valid = t[:, None] < lengths[None, :]  # (T, B)
        lengths = valid.sum(0)  # (B,) at most T
        x = x * valid[..., None].to(x.dtype)  # steps past a row's end are the zero padding
        feats, pos = [], 0
        for i, (d, c) in enumerate(m.plan):
            out = m.convolve(x, i)  # (B, 84, T)
            lo, hi = m.window(lengths, d, padded=i % 2 == 0)  # (B,), (B,)
            inside = (t[None] >= lo[:, None]) & (t[None] < hi[:, None])  # (B, T)
            b = m.biases[pos : pos + K * c].view(K, c)
            above = out[..., None] > b[None, :, None, :]  # (B, 84, T, c)
            counts = (above & inside[:, None, :, None]).to(x.dtype).sum(2)  # (B, 84, c)
            share = counts / (hi - lo).clamp(min=1).to(x.dtype)[:, None, None]
            feats.append(share.reshape(-1, K * c))  # (B, 84·c)
            pos += K * c
        z = (torch.cat(feats, dim=1) - m.mean) / m.std  # (B, F)
        return m.head(z)  # (B, C)
