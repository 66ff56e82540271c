"""``LanguageModel``: embedding -> recurrent layers -> output layer over the vocabulary.

The network predicts token ``t+1`` from tokens ``<= t``. It is time-major like every rnnkit
layer: ``x: (T, B)`` token ids in, ``logits: (T, B, V)`` out, plus the recurrent state to
carry into the next window (truncated BPTT) or the next generated token.

>>> import torch
>>> from rnnkit.models.language_model import LanguageModel, LMConfig
>>> model = LanguageModel(50, LMConfig(embedding_dim=16, hidden_size=16))
>>> logits, state = model(torch.zeros(7, 3, dtype=torch.long))
>>> tuple(logits.shape)
(7, 3, 50)
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any

from torch import Tensor, nn

__all__ = ["LMConfig", "LanguageModel", "perplexity", "bits_per_token"]


@dataclass(frozen=True)
class LMConfig:
    """The language model's shape."""

    cell: str = "lstm"
    """Recurrent layer by name: rnn, rnn_relu, lstm, gru (see ``rnnkit.nn.make_rnn``)."""
    embedding_dim: int = 128
    """Size E of the token embedding."""
    hidden_size: int = 256
    """Size H of the recurrent state."""
    num_layers: int = 2
    """Number L of stacked recurrent layers."""
    dropout: float = 0.2
    """Dropout on the embedding, between layers and on the output (train mode only)."""
    tie_weights: bool = False
    """Share the embedding and output matrices (Press & Wolf 2017); needs E == H."""

    def __post_init__(self) -> None:
        for name in ("embedding_dim", "hidden_size", "num_layers"):
            value = getattr(self, name)
            if not isinstance(value, int) or value <= 0:
                raise ValueError(f"`{name}` must be a positive int, got {value!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"`dropout` must be in [0, 1), got {self.dropout}")
        if self.tie_weights and self.embedding_dim != self.hidden_size:
            raise ValueError(
                "`tie_weights` needs `embedding_dim` == `hidden_size`, got "
                f"{self.embedding_dim} and {self.hidden_size}"
            )

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> LMConfig:
        """Build from a dict; an unknown key is an error that names it."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown LMConfig keys {unknown}; expected some of {sorted(known)}")
        return cls(**d)

    def to_dict(self) -> dict[str, Any]:
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
        - ``state``: ``h_n (L, B, H)``, or ``LSTMState(h, c)`` for an LSTM.
    """

    def __init__(self, vocab_size: int, config: LMConfig | None = None) -> None:
        super().__init__()
        from rnnkit.nn import make_rnn

        if not isinstance(vocab_size, int) or vocab_size <= 0:
            raise ValueError(f"`vocab_size` must be a positive int, got {vocab_size!r}")
        config = config or LMConfig()
        self.vocab_size = vocab_size
        self.config = config
        self.embedding = nn.Embedding(vocab_size, config.embedding_dim)
        self.drop = nn.Dropout(config.dropout)
        self.rnn = make_rnn(
            config.cell,
            config.embedding_dim,
            config.hidden_size,
            config.num_layers,
            dropout=config.dropout if config.num_layers > 1 else 0.0,
        )
        self.decoder = nn.Linear(config.hidden_size, vocab_size)
        if config.tie_weights:
            self.decoder.weight = self.embedding.weight
        self._init_weights()

    def _init_weights(self) -> None:
        # As PyTorch's word_language_model: small uniform embedding/decoder, zero decoder bias.
        nn.init.uniform_(self.embedding.weight, -0.1, 0.1)
        if not self.config.tie_weights:
            nn.init.uniform_(self.decoder.weight, -0.1, 0.1)
        nn.init.zeros_(self.decoder.bias)

    def forward(self, x: Tensor, state: Any = None) -> tuple[Tensor, Any]:
        if x.dim() != 2:
            raise ValueError(f"`x` must be (T, B) token ids, got shape {tuple(x.shape)}")
        emb = self.drop(self.embedding(x))  # (T, B, E)
        out, state = self.rnn(emb, state)  # (T, B, H)
        logits = self.decoder(self.drop(out))  # (T, B, V)
        return logits, state


def perplexity(mean_nll: float) -> float:
    """``exp`` of the mean negative log-likelihood per token (nats), inf on overflow."""
    return math.exp(mean_nll) if mean_nll < 700 else math.inf


def bits_per_token(mean_nll: float) -> float:
    """Mean negative log-likelihood in bits (bits per character for a char model)."""
    return mean_nll / math.log(2)
