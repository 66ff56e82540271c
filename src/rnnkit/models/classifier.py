"""``SequenceClassifier``: input layer -> RNN/LSTM/GRU -> masked pooling -> linear head.

Many-to-one classification of variable-length sequences. Inputs are time-major and padded:
token ids ``x: (T, B)`` (embedding) or features ``x: (T, B, I)`` (linear projection), with
``lengths: (B,)``. By default the batch runs as a ``PackedSequence``, so padded steps cost
no computation and cannot leak into any state; pooling then reads only valid steps.

>>> import torch
>>> from rnnkit.models.classifier import ClassifierConfig, SequenceClassifier
>>> from rnnkit.nn import RecurrentSpec
>>> config = ClassifierConfig(num_classes=3, vocab_size=20, rnn=RecurrentSpec(hidden_size=8))
>>> model = SequenceClassifier(config)
>>> logits = model(torch.ones(6, 2, dtype=torch.long), torch.tensor([6, 3]))
>>> tuple(logits.shape)
(2, 3)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from rnnkit.config import check_types, config_from_dict
from rnnkit.models.pooling import POOLINGS, Pooling
from rnnkit.nn.spec import RecurrentSpec, accepts_flat_keys

__all__ = ["ClassifierConfig", "SequenceClassifier"]


@accepts_flat_keys("rnn")
@dataclass(frozen=True)
class ClassifierConfig:
    """The classifier's shape. Give exactly one of ``vocab_size`` (text) or ``input_size``.

    The recurrent stack is ``rnn``; its keys are also taken flat
    (``ClassifierConfig(num_classes=2, vocab_size=9, cell="gru", hidden_size=8)``)."""

    num_classes: int
    """Number of classes C (set from the label map)."""
    vocab_size: int | None = None
    """Token inputs: vocabulary size V, for the embedding (set from the vocabulary)."""
    input_size: int | None = None
    """Numeric inputs: number of features I per step (set from the data)."""
    embedding_dim: int = 128
    """Size E of the token embedding or of the linear input projection."""
    project_input: bool = True
    """Numeric inputs only: pass features through a linear projection to E (else feed I)."""
    rnn: RecurrentSpec = RecurrentSpec(hidden_size=128)
    """The recurrent stack (cell, H, L, directions, regularisers). Its ``dropout`` also drops
    the inputs and the pooled vector before the head (train mode only)."""
    pooling: str = "last"
    """How outputs become one vector: last, mean, max or attention (all masked)."""
    padding_idx: int = 0
    """Token id of padding (the vocabulary's ``<pad>``); its embedding stays zero."""
    unk_idx: int = 1
    """Token id of ``<unk>`` (set from the vocabulary): what ``token_dropout`` puts in."""
    token_dropout: float = 0.0
    """Token inputs, train mode only: replace each token by ``<unk>`` with this probability
    (word dropout), so the ``<unk>`` embedding that unseen words get at test time is
    trained, and no single word is relied on."""
    subword_buckets: int = 0
    """Token inputs: hash buckets of character n-grams (set from the input encoder; 0:
    none). Then ``x`` is ``(T, B, 1 + K)``: each token's id, then its K n-gram ids (0:
    padding), and a token's vector is its word vector plus the mean of its n-gram vectors
    (fastText's subwords), so a word never seen in training is more than ``<unk>``."""

    def __post_init__(self) -> None:
        check_types(self)
        for name in ("num_classes", "embedding_dim"):
            if getattr(self, name) <= 0:
                raise ValueError(f"`{name}` must be > 0, got {getattr(self, name)}")
        if (self.vocab_size is None) == (self.input_size is None):
            raise ValueError(
                "give exactly one of `vocab_size` (token inputs) or `input_size` (features), "
                f"got vocab_size={self.vocab_size}, input_size={self.input_size}"
            )
        for name in ("vocab_size", "input_size"):
            if getattr(self, name) is not None and getattr(self, name) <= 0:
                raise ValueError(f"`{name}` must be > 0, got {getattr(self, name)}")
        if self.pooling not in POOLINGS:
            raise ValueError(
                f"`pooling` must be one of {', '.join(POOLINGS)}, got {self.pooling!r}"
            )
        if not 0.0 <= self.token_dropout < 1.0:
            raise ValueError(f"`token_dropout` must be in [0, 1), got {self.token_dropout}")
        if self.subword_buckets < 0 or self.subword_buckets == 1:
            raise ValueError(f"`subword_buckets` must be 0 or >= 2, got {self.subword_buckets}")
        if self.subword_buckets and self.vocab_size is None:
            raise ValueError("`subword_buckets` needs token inputs (`vocab_size`)")

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ClassifierConfig:
        """Build from a dict, nested (``{"rnn": {...}}``) or flat; an unknown key or a wrong
        type is an error that names it."""
        return config_from_dict(cls, d)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, nested: ``{"rnn": {...}, "num_classes": ...}``."""
        return asdict(self)


class SequenceClassifier(nn.Module):
    """Input layer -> ``num_layers`` recurrent layers -> masked pooling -> linear to C logits.

    Args:
        config: the classifier's shape (:class:`ClassifierConfig`).

    Inputs: ``x, lengths``
        - ``x``: ``(T, B)`` token ids, or ``(T, B, I)`` features, padded after each row's end.
        - ``lengths``: ``(B,)`` valid steps per row (default: all ``T``).
        - ``packed`` (keyword): run the RNN on a ``PackedSequence`` (default). ``False`` runs
          the padded batch as it is (a reference path: identical for one direction, but a
          reverse direction would then read padding first).

    Outputs: ``logits`` ``(B, C)``.
    """

    def __init__(self, config: ClassifierConfig) -> None:
        super().__init__()
        self.config = config
        c = config
        if c.vocab_size is not None:
            self.input_layer: nn.Module = nn.Embedding(
                c.vocab_size, c.embedding_dim, padding_idx=c.padding_idx
            )
            rnn_in = c.embedding_dim
            if c.subword_buckets:
                self.subword = nn.Embedding(c.subword_buckets, c.embedding_dim, padding_idx=0)
                with torch.no_grad():  # small at first: the word vector leads (as measured)
                    self.subword.weight.normal_(0.0, 0.1)[0].zero_()
        elif c.project_input:
            self.input_layer = nn.Linear(c.input_size, c.embedding_dim)
            rnn_in = c.embedding_dim
        else:
            self.input_layer = nn.Identity()
            rnn_in = c.input_size
        self.drop = nn.Dropout(c.rnn.dropout)
        self.rnn = c.rnn.build(rnn_in)
        self.pool = Pooling(c.pooling, c.rnn.output_size, c.rnn.directions)  # F = D * H_out
        self.head = nn.Linear(c.rnn.output_size, c.num_classes)

    def _check(self, x: Tensor, lengths: Tensor | None) -> Tensor:
        c = self.config
        dims = 3 if c.subword_buckets else 2
        if c.vocab_size is not None and (x.dim() != dims or x.is_floating_point()):
            want = "(T, B, 1 + K) token and n-gram ids" if dims == 3 else "(T, B) token ids"
            raise ValueError(f"`x` must be {want}, got {x.dtype} {tuple(x.shape)}")
        if c.input_size is not None:
            if x.dim() != 3:
                raise ValueError(f"`x` must be (T, B, I) features, got shape {tuple(x.shape)}")
            if x.shape[-1] != c.input_size:
                raise ValueError(
                    f"input has {x.shape[-1]} features, the model expects {c.input_size} "
                    "(`input_size`)"
                )
        T, B = x.shape[:2]
        if lengths is None:
            return torch.full((B,), T, dtype=torch.long)
        if lengths.shape != (B,):
            raise ValueError(f"`lengths` must have shape ({B},), got {tuple(lengths.shape)}")
        return lengths

    def embed(self, x: Tensor) -> Tensor:
        """The input layer: ``(T, B)`` ids (``(T, B, 1 + K)`` with subwords) or ``(T, B, I)``
        features -> ``(T, B, E)``, with word dropout in train mode."""
        c = self.config
        if c.vocab_size is None:
            return self.input_layer(x)
        words = x[..., 0] if c.subword_buckets else x  # (T, B)
        if self.training and c.token_dropout > 0:
            hit = torch.rand(words.shape, device=x.device) < c.token_dropout
            words = words.masked_fill(hit & (words != c.padding_idx), c.unk_idx)
        out = self.input_layer(words)  # (T, B, E)
        if c.subword_buckets:
            grams = x[..., 1:]  # (T, B, K)
            count = (grams > 0).sum(-1, keepdim=True).clamp_min(1).to(out.dtype)
            out = out + self.subword(grams).sum(-2) / count
        return out

    def forward(self, x: Tensor, lengths: Tensor | None = None, *, packed: bool = True) -> Tensor:
        lengths = self._check(x, lengths)
        return self.forward_embedded(self.embed(x), lengths, packed=packed)

    def forward_embedded(self, embedded: Tensor, lengths: Tensor, *, packed: bool = True) -> Tensor:
        """The network after its input layer: ``(T, B, E)`` embedded inputs (:meth:`embed`'s
        output, perhaps perturbed) and ``(B,)`` lengths -> ``(B, C)`` logits."""
        T = embedded.shape[0]
        inputs = self.drop(embedded)  # (T, B, E)
        if packed:
            seq = pack_padded_sequence(inputs, lengths.cpu(), enforce_sorted=False)
            out, _ = self.rnn(seq)
            out, _ = pad_packed_sequence(out, total_length=T)  # (T, B, D*H)
        else:
            out, _ = self.rnn(inputs)  # (T, B, D*H)
        pooled = self.pool(out, lengths.to(out.device))  # (B, D*H)
        return self.head(self.drop(pooled))  # (B, C)
