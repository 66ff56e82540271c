"""Encoders for sequence classification, fitted on the training split, saved with a run as JSON.

- :class:`LabelMap`: class names <-> ids (an unseen label is an error or a reported count);
- :class:`InputEncoder`: tokenizer + ``Vocab`` for text (unseen tokens -> ``<unk>``,
  counted), per-feature standardisation for numeric sequences;
- :func:`balanced_class_weights`: ``N / (C * count_c)`` for a weighted loss.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import torch
from torch import Tensor

from rnnkit.data.subwords import SubwordHasher

if TYPE_CHECKING:  # annotations only: classification imports this module
    from rnnkit.data.classification import Examples

__all__ = ["SUBWORD_SLOTS", "InputEncoder", "LabelMap", "balanced_class_weights"]

SUBWORD_SLOTS = 24
"""Character n-grams kept per token with ``subwords`` (a word of up to 9 letters keeps all
of its 3- to 5-grams)."""


class LabelMap:
    """Class names <-> ids ``0..C-1`` (names sorted, so the same labels give the same ids).

    Args:
        names: the C class names in id order.
    """

    def __init__(self, names: Sequence[str]) -> None:
        if len(set(names)) != len(names) or not names:
            raise ValueError(f"`names` must be unique and non-empty, got {list(names)}")
        self.names = [str(n) for n in names]
        self._ids = {n: i for i, n in enumerate(self.names)}

    @classmethod
    def fit(cls, labels: Sequence[str]) -> LabelMap:
        """The classes present in ``labels`` (the training split).

        Raises:
            ValueError: fewer than 2 classes (a classifier would have nothing to learn).
        """
        names = sorted(set(labels), key=lambda s: (len(s), s) if s.isdigit() else (0, s))
        if len(names) < 2:
            raise ValueError(
                f"the training labels must hold at least 2 classes, got {len(names)} ({names})"
            )
        return cls(names)

    def __len__(self) -> int:
        return len(self.names)

    def encode(
        self, labels: Sequence[str], *, on_unknown: Literal["error", "skip"] = "error"
    ) -> tuple[Tensor, list[int]]:
        """Class ids ``(N',)`` and the positions kept.

        Args:
            labels: class names.
            on_unknown: ``"error"``: a label never seen in training raises ValueError naming
                it; ``"skip"``: such examples are dropped (the caller reports how many).
        """
        unknown = sorted({lab for lab in labels if lab not in self._ids})
        if unknown and on_unknown == "error":
            raise ValueError(
                f"labels never seen in training: {unknown[:10]} "
                f"({sum(lab not in self._ids for lab in labels)} examples); known: {self.names}"
            )
        kept = [i for i, lab in enumerate(labels) if lab in self._ids]
        ids = torch.tensor([self._ids[labels[i]] for i in kept], dtype=torch.long)
        return ids, kept

    def to_dict(self) -> dict[str, Any]:
        return {"format": "rnnkit.labels", "names": self.names}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> LabelMap:
        if not isinstance(d, dict) or d.get("format") != "rnnkit.labels":
            raise ValueError("not a label map (expected format 'rnnkit.labels')")
        return cls(d["names"])


class InputEncoder:
    """Turns raw items into tensors; fitted on the training split only.

    Text: ``lowercase`` -> tokenizer (``rnnkit.data.tokenizers``) -> ``Vocab`` ids
    ``(T_i,)``; tokens never seen in training become ``<unk>`` and are counted. With
    ``subwords`` (hash buckets), each token's row also holds its character n-gram ids
    (:mod:`rnnkit.data.subwords`): ``(T_i, 1 + SUBWORD_SLOTS)``, the word id first. Numbers:
    ``(T_i, I)`` arrays standardised per feature (mean/std over all training steps).

    Args:
        kind: ``"text"`` or ``"numeric"``.
        tokenizer: ``"word-punct"``, ``"word"`` or ``"char"`` (text only).
        lowercase: lowercase texts first (text only).
        min_freq, max_size: vocabulary limits (text only).
        standardize: scale features to mean 0, std 1 (numeric only).
        subwords: hash buckets of character 3- to 5-grams per token (text only; 0: none).
    """

    def __init__(
        self,
        kind: Literal["text", "numeric"],
        *,
        tokenizer: str = "word-punct",
        lowercase: bool = True,
        min_freq: int = 1,
        max_size: int | None = None,
        standardize: bool = True,
        subwords: int = 0,
    ) -> None:
        if kind not in ("text", "numeric"):
            raise ValueError(f"`kind` must be 'text' or 'numeric', got {kind!r}")
        if subwords < 0 or subwords == 1:
            raise ValueError(f"`subwords` must be 0 (none) or >= 2 hash buckets, got {subwords}")
        self.subwords = subwords
        self._hasher = SubwordHasher(subwords, slots=SUBWORD_SLOTS) if subwords else None
        self.kind, self.tokenizer, self.lowercase = kind, tokenizer, lowercase
        self.min_freq, self.max_size, self.standardize = min_freq, max_size, standardize
        self.vocab: Any = None
        self.mean: np.ndarray | None = None
        self.std: np.ndarray | None = None
        self.input_size: int | None = None
        self.last_unknown = 0  # tokens mapped to <unk> by the last encode()
        self.last_tokens = 0

    def _tokens(self, text: str) -> list[str]:
        from rnnkit.data.tokenizers import get_tokenizer

        kwargs = {"eos_token": None} if self.tokenizer == "word" else {}
        return get_tokenizer(self.tokenizer, **kwargs).tokenize(
            text.lower() if self.lowercase else text
        )

    def fit(self, examples: Examples) -> InputEncoder:
        """Build the vocabulary or the feature statistics from the training examples."""
        self._check_kind(examples)
        if self.kind == "text":
            from rnnkit.data.vocab import Vocab

            self.vocab = Vocab.build(
                [self._tokens(t) for t in examples.items],
                min_freq=self.min_freq,
                max_size=self.max_size,
                specials=("<pad>", "<unk>"),
            )
            return self
        sizes = {np.shape(s)[1] for s in examples.items}
        if len(sizes) != 1:
            raise ValueError(f"sequences have different feature counts {sorted(sizes)}")
        self.input_size = sizes.pop()
        steps = np.concatenate(examples.items, axis=0)  # (sum T_i, I)
        self.mean = steps.mean(axis=0) if self.standardize else np.zeros(self.input_size)
        std = steps.std(axis=0) if self.standardize else np.ones(self.input_size)
        self.std = np.where(std > 1e-12, std, 1.0)
        return self

    def _check_kind(self, examples: Examples) -> None:
        if examples.kind != self.kind:
            raise ValueError(f"the model takes {self.kind} inputs, got {examples.kind} examples")

    def unknown_note(self) -> str | None:
        """The last :meth:`encode`'s count of tokens never seen in training, as a sentence
        (None when there were none, or for numeric inputs)."""
        if self.kind != "text" or not self.last_unknown:
            return None
        unknown, total = self.last_unknown, self.last_tokens
        grams = " (their character n-grams still count)" if self.subwords else ""
        return (
            f"{unknown} of {total} tokens ({100.0 * unknown / total:.2f}%) "
            f"never seen in training -> <unk>{grams}"
        )

    def encode(self, examples: Examples) -> list[Tensor]:
        """N tensors: ``(T_i,)`` int64 token ids or ``(T_i, I)`` float32 features."""
        self._check_kind(examples)
        if self.kind == "text":
            if self.vocab is None:
                raise ValueError("the encoder is not fitted; call fit() on training examples")
            out, unknown, total = [], 0, 0
            for i, text in enumerate(examples.items):
                tokens = self._tokens(text)
                if not tokens:
                    raise ValueError(f"example {examples.ids[i]!r} has no tokens (empty text)")
                unknown += sum(t not in self.vocab for t in tokens)
                total += len(tokens)
                ids = torch.tensor(self.vocab.encode(tokens), dtype=torch.long)  # (T_i,)
                if self._hasher is not None:
                    grams = torch.tensor([self._hasher.ids(t) for t in tokens], dtype=torch.long)
                    ids = torch.cat([ids[:, None], grams], dim=1)  # (T_i, 1 + slots)
                out.append(ids)
            self.last_unknown, self.last_tokens = unknown, total
            return out
        if self.mean is None or self.std is None:
            raise ValueError("the encoder is not fitted; call fit() on training examples")
        out = []
        for i, s in enumerate(examples.items):
            s = np.asarray(s, dtype=np.float64)
            if s.ndim != 2 or s.shape[1] != self.input_size:
                raise ValueError(
                    f"example {examples.ids[i]!r} has shape {s.shape}, expected (T, "
                    f"{self.input_size}) (input has {s.shape[-1]} features, the model expects "
                    f"{self.input_size})"
                )
            if s.shape[0] == 0:
                raise ValueError(f"example {examples.ids[i]!r} has no time steps")
            out.append(torch.from_numpy(((s - self.mean) / self.std).astype(np.float32)))
        return out

    @property
    def vocab_size(self) -> int | None:
        return None if self.vocab is None else len(self.vocab)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "format": "rnnkit.classify.inputs",
            "kind": self.kind,
            "tokenizer": self.tokenizer,
            "lowercase": self.lowercase,
            "min_freq": self.min_freq,
            "max_size": self.max_size,
            "standardize": self.standardize,
            "subwords": self.subwords,
        }
        if self.kind == "text":
            d["vocab"] = None if self.vocab is None else self.vocab.to_dict()
        else:
            d["input_size"] = self.input_size
            d["mean"] = None if self.mean is None else self.mean.tolist()
            d["std"] = None if self.std is None else self.std.tolist()
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> InputEncoder:
        if not isinstance(d, dict) or d.get("format") != "rnnkit.classify.inputs":
            raise ValueError("not an input encoder (expected format 'rnnkit.classify.inputs')")
        enc = cls(
            d["kind"],
            tokenizer=d["tokenizer"],
            lowercase=d["lowercase"],
            min_freq=d["min_freq"],
            max_size=d["max_size"],
            standardize=d["standardize"],
            subwords=d.get("subwords", 0),
        )
        if enc.kind == "text" and d.get("vocab") is not None:
            from rnnkit.data.vocab import Vocab

            enc.vocab = Vocab.from_dict(d["vocab"])
        elif d.get("mean") is not None:
            enc.input_size = d["input_size"]
            enc.mean, enc.std = np.asarray(d["mean"]), np.asarray(d["std"])
        return enc


def balanced_class_weights(targets: Tensor, num_classes: int) -> Tensor:
    """``N / (C * count_c)`` per class ``(C,)`` (1 for a class with no examples)."""
    counts = torch.bincount(targets, minlength=num_classes).double()  # (C,)
    weights = torch.where(counts > 0, len(targets) / (num_classes * counts.clamp(min=1)), 1.0)
    return weights.float()
