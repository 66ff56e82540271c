"""Drop-in networks that run an exported model: the task code steps them as the torch one.

An adapter has the torch network's methods the tasks and decoders call (``forward`` of a
language model or classifier (LSTM-FCN and MiniRocket too); ``encode`` and ``step`` of a translator;
a forecaster's whole ``ForecastNet`` code, its layers and head swapped), takes and returns
torch tensors and states of the same structure, and runs the exported graphs through an
*executor* ``run(graph, inputs: list[np.ndarray]) -> list[np.ndarray]`` (onnxruntime or the
NumPy engine). So greedy, sampled and beam decoding run through the one sampling loop and
the one beam search, and forecasts through the forecaster's own loops, whatever the backend.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from rnnkit.functional import LSTMState
from rnnkit.models.forecaster import ForecastNet
from rnnkit.models.seq2seq import DecoderState, Memory

__all__ = [
    "ClassifierAdapter",
    "Executor",
    "ForecastAdapter",
    "LMAdapter",
    "Seq2SeqAdapter",
    "adapter_for",
]

Executor = Callable[[str, list[np.ndarray]], list[np.ndarray]]


def _np(t: Tensor) -> np.ndarray:
    t = t.detach().cpu()
    return t.numpy() if not t.is_floating_point() else t.float().numpy()


def _t(a: np.ndarray) -> Tensor:
    return torch.from_numpy(np.ascontiguousarray(a))


class _Adapter(nn.Module):
    """Base: the torch network's ``config``; one empty parameter, so ``next(parameters())``
    names the device (CPU) as the task code expects."""

    def __init__(self, model: nn.Module, run: Executor) -> None:
        super().__init__()
        self.config = model.config
        self.run = run
        self.anchor = nn.Parameter(torch.zeros(0), requires_grad=False)


class LMAdapter(_Adapter):
    """``forward(x (T, B), state) -> (logits (T, B, V), state)`` as :class:`LanguageModel`."""

    def __init__(self, model: nn.Module, run: Executor, shapes: list[list[int]]) -> None:
        super().__init__(model, run)
        self.shapes = [tuple(s) for s in shapes]  # (layers, width) of each flat state tensor
        self.lstm = model.config.rnn.cell_state
        self.per_layer = bool(model.config.hidden_sizes)

    def _flat(self, state: Any, batch: int) -> list[np.ndarray]:
        if state is None:
            return [np.zeros((n, batch, w), np.float32) for n, w in self.shapes]
        parts = list(state) if self.per_layer else [state]
        flat = [t for p in parts for t in (p if self.lstm else (p,))]
        return [_np(t) for t in flat]

    def _state(self, flat: list[np.ndarray]) -> Any:
        ts = [_t(a) for a in flat]
        per = 2 if self.lstm else 1
        states = [LSTMState(*ts[i : i + 2]) if self.lstm else ts[i] for i in range(0, len(ts), per)]
        return states if self.per_layer else states[0]

    def forward(self, x: Tensor, state: Any = None) -> tuple[Tensor, Any]:
        out = self.run("lm", [_np(x.long()), *self._flat(state, x.shape[1])])
        return _t(out[0]), self._state(out[1:])


class ClassifierAdapter(_Adapter):
    """``forward(x, lengths=None) -> logits (B, C)`` as :class:`SequenceClassifier`,
    :class:`LSTMFCN` and :class:`MiniRocket`."""

    def forward(self, x: Tensor, lengths: Tensor | None = None, **_: Any) -> Tensor:
        if lengths is None:
            lengths = torch.full((x.shape[1],), x.shape[0], dtype=torch.long)
        text = getattr(self.config, "vocab_size", None) is not None  # LSTM-FCN, MiniRocket: series
        x = x.long() if text else x.float()
        return _t(self.run("classify", [_np(x), _np(lengths.long())])[0])


class Seq2SeqAdapter(_Adapter):
    """``encode`` and ``step`` as :class:`Seq2Seq` (the decoders use nothing else)."""

    def __init__(self, model: nn.Module, run: Executor) -> None:
        super().__init__(model, run)
        self.lstm = model.config.decoder_rnn.cell_state
        self.feeds = bool(model.decoder.feed_size)
        self.feed_size = model.decoder.feed_size
        self.attends = model.decoder.attention is not None

    def encode(self, src: Tensor, src_lengths: Tensor) -> tuple[DecoderState, Memory]:
        out = [_t(a) for a in self.run("encoder", [_np(src.long()), _np(src_lengths.long())])]
        values, mask = out[0], out[1]
        rest = out[2:]
        keys = rest.pop(0) if self.attends else None
        rnn = LSTMState(rest[0], rest[1]) if self.lstm else rest[0]
        n = 2 if self.lstm else 1
        feed = rest[n] if self.feeds else values.new_zeros(src.shape[1], 0)
        return DecoderState(rnn, feed), Memory(values, mask.bool(), keys)

    def step(
        self, tokens: Tensor, state: DecoderState, memory: Memory
    ) -> tuple[Tensor, DecoderState, Tensor | None]:
        rnn = list(state.rnn) if self.lstm else [state.rnn]
        ins = [tokens.long(), *rnn, *([state.feed] if self.feeds else [])]
        if self.attends:
            keys = [memory.keys] if memory.keys is not None else []
            ins += [memory.values, memory.mask, *keys]
        out = [_t(a) for a in self.run("decoder", [_np(t) for t in ins])]
        n = 2 if self.lstm else 1
        new = LSTMState(*out[1:3]) if self.lstm else out[1]
        feed = out[1 + n] if self.feeds else state.feed
        weights = out[-1] if self.attends else None
        return out[0], DecoderState(new, feed), weights


class _RecurrentRunner(nn.Module):
    """``forward(x (T, B, I), hx=None) -> (y (T, B, H_out), state)`` as an rnnkit layer,
    running the graph ``graph`` (``x, h0, [c0] -> y, h_n, [c_n]``)."""

    def __init__(self, run: Executor, graph: str, shapes: list[list[int]]) -> None:
        super().__init__()
        self.run, self.graph = run, graph
        self.shapes = [tuple(s) for s in shapes]  # (layers, width) of h [and c]

    def forward(self, x: Tensor, hx: Any = None) -> tuple[Tensor, Any]:
        if hx is None:
            state = [np.zeros((n, x.shape[1], w), np.float32) for n, w in self.shapes]
        else:
            state = [_np(t) for t in (hx if isinstance(hx, tuple) else (hx,))]
        y, *new = (_t(a) for a in self.run(self.graph, [_np(x.float()), *state]))
        return y, (LSTMState(*new) if len(new) == 2 else new[0])


class _HeadRunner(nn.Module):
    """``forward(features (..., F)) -> (..., out)`` through the ``head`` graph (rows flat)."""

    def __init__(self, run: Executor) -> None:
        super().__init__()
        self.run = run

    def forward(self, features: Tensor) -> Tensor:
        lead = features.shape[:-1]
        flat = _np(features.reshape(-1, features.shape[-1]).float())  # (N, F)
        raw = _t(self.run("head", [flat])[0])  # (N, out)
        return raw.reshape(*lead, raw.shape[-1])


class ForecastAdapter(ForecastNet):
    """A :class:`ForecastNet` whose recurrent layers and head run exported graphs.

    Everything else is ForecastNet's own code (instance normalisation, the four modes, the
    autoregressive loop, sampled paths with their torch generator), so every backend runs
    the same forecasting code and draws the same noise. ``ForecastNet.__init__`` is not
    called: it would build torch layers only to replace them.
    """

    def __init__(self, model: nn.Module, run: Executor, shapes: list[list[int]]) -> None:
        nn.Module.__init__(self)
        self.config = model.config
        self.encoder = _RecurrentRunner(run, "encoder_rnn", shapes)
        self.head = _HeadRunner(run)
        if model.config.mode == "seq2seq":
            self.decoder = _RecurrentRunner(run, "decoder_rnn", shapes)
        self.anchor = nn.Parameter(torch.zeros(0), requires_grad=False)
        self.eval()  # an export computes the eval forward only (many_to_one's K steps)


def adapter_for(model: nn.Module, run: Executor, manifest: dict[str, Any]) -> nn.Module:
    """The adapter of ``model``'s class, running graphs through ``run``."""
    name = type(model).__name__
    if name == "LanguageModel":
        return LMAdapter(model, run, manifest["state"])
    if name in ("SequenceClassifier", "LSTMFCN", "MiniRocket"):
        return ClassifierAdapter(model, run)
    if name == "Seq2Seq":
        return Seq2SeqAdapter(model, run)
    if name == "ForecastNet":
        return ForecastAdapter(model, run, manifest["state"])
    raise ValueError(f"network {name} has no exported runtime; exportable: LanguageModel, "
                     "SequenceClassifier, LSTMFCN, MiniRocket, Seq2Seq, ForecastNet")  # fmt: skip
