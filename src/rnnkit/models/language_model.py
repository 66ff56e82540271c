"""``LanguageModel``: embedding -> recurrent layers -> output layer over the vocabulary.

The network predicts token ``t+1`` from tokens ``<= t``. It is time-major like every rnnkit
layer: ``x: (T, B)`` token ids in, ``logits: (T, B, V)`` out, plus the recurrent state to
carry into the next window (truncated BPTT) or the next generated token.

>>> import torch
>>> from rnnkit.models.language_model import LanguageModel, LMConfig
>>> from rnnkit.nn import RecurrentSpec
>>> model = LanguageModel(50, LMConfig(embedding_dim=16, rnn=RecurrentSpec(hidden_size=16)))
>>> logits, state = model(torch.zeros(7, 3, dtype=torch.long))
>>> tuple(logits.shape)
(7, 3, 50)

The AWD-LSTM regularisers (Merity, Keskar & Socher 2018, "Regularizing and Optimizing LSTM
Language Models") are options of :class:`LMConfig` and its ``rnn`` spec: embedding dropout
(whole words), locked dropout (``rnn.dropout_kind="locked"``) on the embedding output, between
layers and on the output, weight drop on ``W_hh`` (``rnn.weight_drop``), and activation
regularisation (``ar_alpha``, on the last layer's dropped output) and temporal AR
(``tar_beta``, on consecutive raw outputs), which :func:`rnnkit.tasks.lm.lm_step` adds to the
loss in train mode. AWD's stack has per-layer sizes
(1150, 1150, 400 for a 400-wide tied embedding): ``hidden_sizes=(1150, 1150, 400)`` builds
one single-layer module per size, with the between-layer dropout applied here, and the state
becomes a list with one entry per layer.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import Any

from torch import Tensor, nn

from rnnkit.config import check_types, config_from_dict
from rnnkit.metrics.text import mean_perplexity as perplexity  # exp(mean NLL), inf on overflow
from rnnkit.models.output_layers import build_output, check_output_options
from rnnkit.nn.regularization import LockedDropout, embedding_dropout
from rnnkit.nn.spec import RecurrentSpec, accepts_flat_keys

__all__ = ["LMConfig", "LanguageModel", "perplexity", "bits_per_token"]


@accepts_flat_keys("rnn")
@dataclass(frozen=True)
class LMConfig:
    """The language model's shape. The recurrent stack is ``rnn``; its keys are also taken
    flat (``LMConfig(cell="gru", hidden_size=8)``), see :func:`rnnkit.nn.spec.accepts_flat_keys`."""

    rnn: RecurrentSpec = RecurrentSpec(hidden_size=256, num_layers=2, dropout=0.2)
    """The recurrent stack (cell, H, L, regularisers); one direction only. Its ``dropout``
    also drops the embedding output and the last layer's output, and its ``dropout_kind``
    picks the kind of those dropouts too."""
    embedding_dim: int = 128
    """Size E of the token embedding."""
    hidden_sizes: tuple[int, ...] | None = None
    """Per-layer state sizes (AWD-LSTM: 1150, 1150, 400), overriding ``rnn.hidden_size``
    layer by layer; its length must be ``rnn.num_layers``. None: every layer has H."""
    tie_weights: bool = False
    """Share the embedding and output matrices (Press & Wolf 2017); needs E == H (or P)."""
    input_dropout: float | None = None
    """Dropout on the embedding output (AWD ``dropouti``); None: ``rnn.dropout``."""
    hidden_dropout: float | None = None
    """Dropout between recurrent layers (AWD ``dropouth``); None: ``rnn.dropout``."""
    embedding_dropout: float = 0.0
    """Drop whole words: rows of the embedding matrix, one mask per batch (AWD ``dropoute``)."""
    ar_alpha: float = 0.0
    """Activation regularisation: ``alpha * mean(dropped last-layer output ** 2)``."""
    tar_beta: float = 0.0
    """Temporal AR: ``beta * mean((raw output_t - raw output_{t-1}) ** 2)``."""
    output_layer: str = "softmax"
    """The output layer (:mod:`rnnkit.models.output_layers`): softmax (Linear + full
    cross-entropy), chunked (the same Linear, cross-entropy over row chunks) or adaptive
    (adaptive softmax; with ``tie_weights`` its head shortlist rows are the embedding's)."""
    cutoffs: tuple[int, ...] | None = None
    """adaptive: cluster starts, increasing in (0, V); None: ``min(V // 5, 20000)`` then x4
    while below V (V = 10,000: 2000, 8000)."""
    div_value: float = 4.0
    """adaptive: tail cluster i projects H to ``H // div_value**(i+1)`` features."""
    chunk_rows: int = 1024
    """chunked: rows (time steps x batch) per chunk of the cross-entropy."""

    def __post_init__(self) -> None:
        check_types(self)
        if self.embedding_dim <= 0:
            raise ValueError(f"`embedding_dim` must be > 0, got {self.embedding_dim}")
        if self.rnn.bidirectional:
            raise ValueError("`bidirectional` must be False: a language model reads left to right")
        for name in ("input_dropout", "hidden_dropout", "embedding_dropout"):
            value = getattr(self, name)
            if value is not None and not 0.0 <= value < 1.0:
                raise ValueError(f"`{name}` must be in [0, 1), got {value}")
        check_output_options(self.output_layer, self.div_value, self.chunk_rows)
        for name in ("ar_alpha", "tar_beta"):
            if getattr(self, name) < 0:
                raise ValueError(f"`{name}` must be >= 0, got {getattr(self, name)}")
        if self.hidden_sizes is not None:
            if len(self.hidden_sizes) != self.rnn.num_layers or min(self.hidden_sizes) <= 0:
                raise ValueError(
                    f"`hidden_sizes` must hold `num_layers`={self.rnn.num_layers} positive ints, "
                    f"got {self.hidden_sizes!r}"
                )
            if self.rnn.proj_size:
                raise ValueError("`proj_size` and `hidden_sizes` do not combine; pick one")
        if self.tie_weights and self.embedding_dim != self.output_size:
            which = "`proj_size`" if self.rnn.proj_size else "`hidden_size`"
            which = "`hidden_sizes[-1]`" if self.hidden_sizes else which
            raise ValueError(
                f"`tie_weights` needs `embedding_dim` == {which}, got "
                f"{self.embedding_dim} and {self.output_size}"
            )

    @property
    def output_size(self) -> int:
        """Features of the recurrent output: the last of ``hidden_sizes``, P, or H."""
        if self.hidden_sizes:
            return self.hidden_sizes[-1]
        return self.rnn.output_size

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> LMConfig:
        """Build from a dict, nested (``{"rnn": {...}}``) or flat; an unknown key or a wrong
        type is an error that names it."""
        return config_from_dict(cls, d)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, nested: ``{"rnn": {...}, "embedding_dim": ...}``."""
        return asdict(self)


class LanguageModel(nn.Module):
    """Embedding -> ``num_layers`` recurrent layers -> linear decoder to V logits.

    Args:
        vocab_size: number of tokens V.
        config: the model's shape (:class:`LMConfig`).

    Inputs: ``x, state``
        - ``x``: ``(T, B)`` token ids.
        - ``state``: the recurrent state from the previous call, or None for zeros.

    Outputs: ``logits, state``
        - ``logits``: ``(T, B, V)``.
        - ``state``: ``h_n (L, B, H)``, or ``LSTMState(h, c)`` for an LSTM; with
          ``hidden_sizes``, a list of L such states, each ``(1, B, H_l)``.
    """

    def __init__(self, vocab_size: int, config: LMConfig | None = None) -> None:
        super().__init__()
        if not isinstance(vocab_size, int) or vocab_size <= 0:
            raise ValueError(f"`vocab_size` must be a positive int, got {vocab_size!r}")
        config = config or LMConfig()
        self.vocab_size = vocab_size
        self.config = config
        self.embedding = nn.Embedding(vocab_size, config.embedding_dim)
        c, spec = config, config.rnn
        p_in = spec.dropout if c.input_dropout is None else c.input_dropout
        p_hidden = spec.dropout if c.hidden_dropout is None else c.hidden_dropout
        drop = LockedDropout if spec.dropout_kind == "locked" else nn.Dropout
        self.drop_in = drop(p_in)  # on the embedding output (T, B, E)
        self.drop = drop(spec.dropout)  # on the last layer's output (T, B, H_out)
        if c.hidden_sizes:  # one module per size, dropout between them applied here
            inputs = (c.embedding_dim, *c.hidden_sizes[:-1])
            self.layers = nn.ModuleList(
                replace(spec, hidden_size=h, num_layers=1).build(i)
                for i, h in zip(inputs, c.hidden_sizes, strict=True)
            )
            self.drop_hidden = drop(p_hidden)  # between layers (T, B, H_l)
        else:
            self.rnn = replace(spec, dropout=p_hidden).build(c.embedding_dim)
        adaptive = c.output_layer == "adaptive"
        self.decoder = build_output(
            c.output_layer, c.output_size, vocab_size, cutoffs=c.cutoffs, div_value=c.div_value,
            chunk_rows=c.chunk_rows, shortlist=self.embedding.weight if c.tie_weights else None,
        )  # fmt: skip
        if c.tie_weights and not adaptive:
            self.decoder.weight = self.embedding.weight
        self._init_weights()

    def _init_weights(self) -> None:
        # As PyTorch's word_language_model: small uniform embedding/decoder, zero decoder bias.
        nn.init.uniform_(self.embedding.weight, -0.1, 0.1)
        if self.config.output_layer == "adaptive":
            return  # its head is initialised the same way, its tails as nn.Linear
        if not self.config.tie_weights:
            nn.init.uniform_(self.decoder.weight, -0.1, 0.1)
        nn.init.zeros_(self.decoder.bias)

    def forward(
        self,
        x: Tensor,
        state: Any = None,
        *,
        targets: Tensor | None = None,
        return_hidden: bool = False,
    ) -> Any:
        """``(logits, state)``; with ``return_hidden`` also ``(raw, dropped)``, the last
        layer's output ``(T, B, H_out)`` before and after its dropout (for AR / TAR).

        ``logits (T, B, V)``: scores whose log_softmax is the model's log-probability (the
        adaptive softmax gives the log-probabilities themselves). With ``targets (T, B)``
        the first output is instead the mean NLL (float32 scalar) from the output layer's
        own loss, which never builds the full logits where the layer avoids them."""
        if x.dim() != 2:
            raise ValueError(f"`x` must be (T, B) token ids, got shape {tuple(x.shape)}")
        p_e = self.config.embedding_dropout
        emb = embedding_dropout(x, self.embedding.weight, p_e, training=self.training)
        raw, state = self._recur(self.drop_in(emb), state)  # (T, B, H_out)
        dropped = self.drop(raw)
        if targets is not None:
            logits = self.decoder.loss(dropped, targets)  # () mean NLL
        else:
            logits = self.decoder(dropped)  # (T, B, V)
        return (logits, state, (raw, dropped)) if return_hidden else (logits, state)

    def _recur(self, x: Tensor, state: Any) -> tuple[Tensor, Any]:
        """The recurrent stack on ``x (T, B, E)`` -> ``(T, B, H_out)`` and the new state."""
        if not self.config.hidden_sizes:
            return self.rnn(x, state)
        states = [None] * len(self.layers) if state is None else list(state)
        if len(states) != len(self.layers):
            raise ValueError(
                f"`state` must hold {len(self.layers)} layer states, got {len(states)}"
            )
        for i, layer in enumerate(self.layers):
            if i:
                x = self.drop_hidden(x)
            x, states[i] = layer(x, states[i])  # (T, B, H_i)
        return x, states


def bits_per_token(mean_nll: float) -> float:
    """Mean negative log-likelihood in bits (bits per character for a char model)."""
    return mean_nll / math.log(2)
