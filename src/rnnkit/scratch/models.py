"""A character language model in NumPy: embedding -> stacked RNN/LSTM/GRU -> linear.

Its parameter names are those of ``rnnkit.models.LanguageModel`` (``embedding.weight``,
``rnn.weight_ih_l0``, ``decoder.weight``, ``decoder.bias``), so a model trained with torch
loads here and generates text without torch (:meth:`CharLM.from_state_dict`).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from rnnkit.scratch.layers import GRU, LSTM, RNN, Recurrent
from rnnkit.scratch.modules import Embedding, Linear, Module, cross_entropy

__all__ = ["CELL_NAMES", "CharLM"]

logger = logging.getLogger(__name__)

CELL_NAMES = ("rnn", "rnn_relu", "rnn_sigmoid", "lstm", "gru")
"""Cell names, as in ``rnnkit.models.LMConfig.cell`` (plus rnn_sigmoid)."""


def _make_rnn(cell: str, input_size: int, hidden_size: int, num_layers: int, **kw) -> Recurrent:
    if cell == "lstm":
        return LSTM(input_size, hidden_size, num_layers, **kw)
    if cell == "gru":
        return GRU(input_size, hidden_size, num_layers, **kw)
    if cell in ("rnn", "rnn_tanh", "rnn_relu", "rnn_sigmoid"):
        nl = "tanh" if cell == "rnn" else cell.split("_")[1]
        return RNN(input_size, hidden_size, num_layers, nl, **kw)
    raise ValueError(f"`cell` must be one of {CELL_NAMES}, got {cell!r}")


class CharLM(Module):
    """Embedding (V, E) -> ``cell`` x L layers of size H -> Linear (H -> V).

    ``proj_size`` P > 0 (LSTM only) projects the LSTM's h to P features; the decoder then
    reads P features.

    ``forward(ids (T, B), state=None) -> logits (T, B, V), state``; ``backward(dlogits)``;
    ``train_step(ids, targets, state)`` does forward, cross-entropy and backward.
    """

    def __init__(
        self,
        vocab_size: int,
        embedding_dim: int,
        hidden_size: int,
        num_layers: int = 1,
        cell: str = "lstm",
        *,
        proj_size: int = 0,
        dtype: type = np.float64,
        rng: np.random.Generator | None = None,
    ) -> None:
        super().__init__()
        rng = rng if rng is not None else np.random.default_rng()
        self.cell = cell
        self.embedding = Embedding(vocab_size, embedding_dim, dtype=dtype, rng=rng)
        kw = {"proj_size": proj_size} if proj_size else {}
        self.rnn = _make_rnn(
            cell, embedding_dim, hidden_size, num_layers, dtype=dtype, rng=rng, **kw
        )
        self.decoder = Linear(proj_size or hidden_size, vocab_size, dtype=dtype, rng=rng)
        self.children = {"embedding": self.embedding, "rnn": self.rnn, "decoder": self.decoder}

    def forward(self, ids: np.ndarray, state: object = None) -> tuple[np.ndarray, object]:
        """ids (T, B) ints -> logits (T, B, V), final state."""
        ids = np.asarray(ids)
        if ids.ndim != 2:
            raise ValueError(f"`ids` must be (T, B) token ids, got shape {ids.shape}")
        emb = self.embedding.forward(ids)  # (T, B, E)
        out, state = self.rnn.forward(emb, state)  # (T, B, H)
        return self.decoder.forward(out), state  # (T, B, V)

    def backward(self, dlogits: np.ndarray) -> None:
        """dlogits (T, B, V): adds every parameter's gradient (the state's is dropped)."""
        dout = self.decoder.backward(dlogits)  # (T, B, H)
        demb, _ = self.rnn.backward(dout)  # (T, B, E)
        self.embedding.backward(demb)

    def train_step(
        self, ids: np.ndarray, targets: np.ndarray, state: object = None
    ) -> tuple[float, object]:
        """Forward, mean cross-entropy over (T, B) and backward. Returns loss, final state."""
        logits, state = self.forward(ids, state)
        V = logits.shape[-1]
        loss, dlogits = cross_entropy(logits.reshape(-1, V), np.asarray(targets).reshape(-1))
        self.backward(dlogits.reshape(logits.shape))  # (T*B, V) -> (T, B, V)
        return loss, state

    def generate(
        self,
        prefix: list[int] | np.ndarray,
        num_tokens: int,
        rng: np.random.Generator | None = None,
        temperature: float = 1.0,
    ) -> list[int]:
        """Continue ``prefix`` (token ids, at least one) by ``num_tokens`` tokens, sampled
        from softmax(logits / temperature) with ``rng``, or greedily when temperature == 0."""
        prefix = list(prefix)
        if not prefix:
            raise ValueError("`prefix` must hold at least one token id")
        if temperature < 0:
            raise ValueError(f"`temperature` must be >= 0, got {temperature}")
        rng = rng if rng is not None else np.random.default_rng()
        logits, state = self.forward(np.array(prefix)[:, None])  # (P, 1, V)
        out = []
        for _ in range(num_tokens):
            last = logits[-1, 0].astype(np.float64)  # (V,)
            if temperature == 0:
                token = int(last.argmax())
            else:
                z = last / temperature
                p = np.exp(z - z.max())
                token = int(rng.choice(len(p), p=p / p.sum()))
            out.append(token)
            logits, state = self.forward(np.array([[token]]), state)  # (1, 1, V)
        return out

    @classmethod
    def from_state_dict(
        cls,
        state: Mapping[str, object],
        prefix: str = "",
        cell: str | None = None,
        dtype: type = np.float64,
    ) -> CharLM:
        """Build a CharLM whose sizes are read off ``state`` (an rnnkit LanguageModel's
        ``state_dict`` or ``model.safetensors`` contents, under ``prefix``) and load it.

        The cell is inferred from ``weight_ih_l0`` (4H rows: lstm, 3H: gru, H: rnn, taken as
        tanh; pass ``cell="rnn_relu"`` for a ReLU RNN). A missing ``decoder.weight`` means
        tied weights: the embedding matrix is used.
        """
        from rnnkit.scratch.interop import load_state_dict

        p = prefix if not prefix or prefix.endswith(".") else prefix + "."
        state = {k[len(p) :]: np.asarray(v) for k, v in state.items() if k.startswith(p)}
        for key in ("embedding.weight", "rnn.weight_ih_l0", "rnn.weight_hh_l0"):
            if key not in state:
                raise KeyError(f"state lacks `{p}{key}`; is `prefix` ({prefix!r}) right?")
        V, E = state["embedding.weight"].shape
        GH, H = state["rnn.weight_hh_l0"].shape
        proj = 0
        if "rnn.weight_hr_l0" in state:  # LSTM with projection: weight_hh is (4H, P)
            proj, H = state["rnn.weight_hr_l0"].shape
        layers = [m for k in state if (m := re.fullmatch(r"rnn\.weight_ih_l(\d+)", k))]
        if any(k.endswith("_reverse") for k in state):
            raise ValueError("a language model is unidirectional; the state has `_reverse` keys")
        inferred = {4: "lstm", 3: "gru", 1: "rnn"}.get(GH // H)
        cell = cell if cell is not None else inferred
        if cell is None:
            raise ValueError(f"cannot infer the cell from `weight_hh_l0` of shape {(GH, H)}")
        if "decoder.weight" not in state:  # tied weights are stored once
            state["decoder.weight"] = state["embedding.weight"]
        model = cls(
            V, E, H, len(layers), cell, proj_size=proj, dtype=dtype, rng=np.random.default_rng(0)
        )
        load_state_dict(model, state)
        return model

    @classmethod
    def from_safetensors(
        cls, path: str | Path, prefix: str = "", cell: str | None = None, dtype: type = np.float64
    ) -> CharLM:
        """:meth:`from_state_dict` on a safetensors file (an rnnkit ``model.safetensors``)."""
        from rnnkit.scratch.interop import read_safetensors

        return cls.from_state_dict(read_safetensors(path), prefix, cell, dtype)
