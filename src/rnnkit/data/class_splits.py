"""Stratified splits of classification data, and the checks the training labels must pass.

- :func:`check_classes`: one class is an error (nothing to learn), a class with a single
  example is a warning naming it (it cannot be both trained on and validated);
- :func:`stratified_split`: positions cut into parts by fractions, class by class;
- :func:`validation_split`: a stratified hold-out that is never empty when one is possible.

The hold-out rule (:func:`validation_split`): every class with at least 2 examples gives
``max(1, round(fraction * n_c))`` of them, but never more than ``n_c - 1``, so each such
class is both trained on and validated. Classes with one example stay in training. When
no class has 2 examples, ``fraction`` is 0, or the hold-out would be smaller than
``min_size``, there is no validation set: ``val`` is None and ``reason`` says why; the task
then keeps the last checkpoint instead of choosing one by a validation metric.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from typing import NamedTuple

import torch

__all__ = ["HoldOut", "check_classes", "stratified_split", "validation_split"]

logger = logging.getLogger(__name__)


def check_classes(labels: Sequence[str], *, source: str = "the training data") -> dict[str, int]:
    """Class counts of ``labels``; refuse one class, warn about single-example classes.

    Args:
        labels: N class names (the training data, before any split).
        source: how messages name the data (e.g. the file).

    Returns:
        ``{class: count}``, most common first.

    Raises:
        ValueError: fewer than 2 classes.
    """
    counts = dict(Counter(labels).most_common())
    if len(counts) < 2:
        raise ValueError(
            f"{source}: a classifier needs at least 2 classes, got {len(counts)} "
            f"({list(counts)}); check `label_column` or the file"
        )
    singles = sorted(c for c, n in counts.items() if n == 1)
    if singles:
        logger.warning(
            "%s: %d class(es) with a single example: %s; they cannot be validated and "
            "are hard to learn",
            source,
            len(singles),
            ", ".join(repr(c) for c in singles[:20]),
        )
    return counts


def _shuffled_by_class(labels: Sequence[str], seed: int) -> dict[str, list[int]]:
    """Positions of each class (classes sorted), each list shuffled by one generator."""
    gen = torch.Generator().manual_seed(seed)
    by_class: dict[str, list[int]] = {}
    for i, label in enumerate(labels):
        by_class.setdefault(label, []).append(i)
    out = {}
    for label in sorted(by_class):
        pos = by_class[label]
        out[label] = [pos[j] for j in torch.randperm(len(pos), generator=gen).tolist()]
    return out


def stratified_split(
    labels: Sequence[str], fractions: Sequence[float], *, seed: int = 0
) -> list[list[int]]:
    """Split positions into parts whose class proportions match the whole.

    Each class's positions are shuffled (``seed``) and cut by ``fractions`` (which must sum
    to 1); rounding leftovers go to the first part. The parts are sorted. A class too small
    to reach a part simply has no example there (use :func:`validation_split` for a
    hold-out that is never empty).

    Args:
        labels: N class names.
        fractions: the share of each part, e.g. ``(0.8, 0.1, 0.1)``.
        seed: seed of the shuffle; the same seed gives the same split.
    """
    if not fractions or any(f < 0 for f in fractions) or abs(sum(fractions) - 1.0) > 1e-6:
        raise ValueError(f"`fractions` must be >= 0 and sum to 1, got {list(fractions)}")
    parts: list[list[int]] = [[] for _ in fractions]
    for pos in _shuffled_by_class(labels, seed).values():
        counts = [int(len(pos) * f) for f in fractions]
        counts[0] += len(pos) - sum(counts)
        start = 0
        for part, n in zip(parts, counts, strict=True):
            part.extend(pos[start : start + n])
            start += n
    return [sorted(p) for p in parts]


class HoldOut(NamedTuple):
    """A train / validation split of positions.

    Attributes:
        train: sorted positions to train on.
        val: sorted validation positions, or None when no hold-out is possible.
        reason: why ``val`` is None (empty when there is a validation set).
    """

    train: list[int]
    val: list[int] | None
    reason: str


def validation_split(
    labels: Sequence[str], fraction: float = 0.1, *, seed: int = 0, min_size: int = 1
) -> HoldOut:
    """A stratified hold-out, never empty when one is possible (see the module rule).

    Args:
        labels: N class names of the training data.
        fraction: the share of each class to hold out, in [0, 1).
        seed: seed of the shuffle (the same shuffle as :func:`stratified_split`).
        min_size: the smallest validation set worth choosing a checkpoint on; a smaller
            hold-out is not made (everything trains, ``val`` is None).

    Returns:
        :class:`HoldOut`; with ``val`` None, ``train`` is every position.
    """
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"`fraction` must be in [0, 1), got {fraction}")
    if min_size < 1:
        raise ValueError(f"`min_size` must be >= 1, got {min_size}")
    everything = list(range(len(labels)))
    if fraction == 0.0:
        return HoldOut(everything, None, "no validation set: the validation fraction is 0")
    val: list[int] = []
    for pos in _shuffled_by_class(labels, seed).values():
        if len(pos) >= 2:
            k = min(max(1, round(fraction * len(pos))), len(pos) - 1)
            val.extend(pos[:k])
    if not val:
        reason = (
            f"no validation set: {len(labels)} examples and no class has 2 or more, "
            "so none can be held out"
        )
        return HoldOut(everything, None, reason)
    if len(val) < min_size:
        reason = (
            f"no validation set: a stratified {fraction:g} hold-out of {len(labels)} "
            f"examples gives {len(val)}, fewer than `min_size` {min_size}"
        )
        return HoldOut(everything, None, reason)
    held = set(val)
    return HoldOut([i for i in everything if i not in held], sorted(val), "")
