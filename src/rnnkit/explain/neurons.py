"""Hidden units of a language model over a text, the units that track simple properties, and
the per-token surprisal (Karpathy, Johnson & Fei-Fei 2015, sec. 4.3).

:func:`text_properties` derives per-token signals from the text alone: inside quotes,
inside brackets, position in the line (0 at a line's start, rising to 1 at its end) and word
boundary (the token is whitespace or punctuation, or a word model's ``<eos>``).
:func:`property_units` ranks every unit by the Pearson correlation of its activation with
each signal, so a quote-detecting or line-length-counting cell is found automatically.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from rnnkit.explain.probe import probe
from rnnkit.tasks.run import TaskRun

__all__ = ["NeuronView", "neuron_view", "property_units", "text_properties"]

_OPEN, _CLOSE = "([{", ")]}"


def text_properties(tokens: list[str]) -> dict[str, np.ndarray]:
    """Per-token signals ``{name: (T,)}`` read from the tokens' characters (see the module doc).

    A token's value is taken after it is read (a closing quote ends "inside quotes").
    """
    quote = depth = 0
    inside_quotes, inside_brackets, position, boundary = [], [], [], []
    column, line_starts = 0, []
    for tok in tokens:
        for ch in tok:
            if ch == '"':
                quote ^= 1
            elif ch in _OPEN:
                depth += 1
            elif ch in _CLOSE:
                depth = max(0, depth - 1)
        inside_quotes.append(float(quote))
        inside_brackets.append(float(depth > 0))
        stripped = tok.strip()
        boundary.append(float(tok == "<eos>" or not stripped or not any(c.isalnum() for c in tok)))
        column = 0 if tok in ("\n", "<eos>") else column + len(tok)
        position.append(float(column))
        line_starts.append(tok in ("\n", "<eos>"))
    pos = np.asarray(position)
    # position in line as a fraction of the line's length, so lines of any length compare
    ends = np.flatnonzero(line_starts).tolist() + [len(tokens)]
    start = 0
    for end in ends:
        seg = pos[start:end]
        if seg.size and seg.max() > 0:
            pos[start:end] = seg / seg.max()
        start = end + 1
    return {
        "inside_quotes": np.asarray(inside_quotes),
        "inside_brackets": np.asarray(inside_brackets),
        "position_in_line": pos,
        "word_boundary": np.asarray(boundary),
    }


def property_units(
    hidden: np.ndarray, properties: dict[str, np.ndarray], top: int = 3
) -> pd.DataFrame:
    """The ``top`` units most correlated (|Pearson r|) with each property.

    Args:
        hidden: ``(T, U)`` unit activations over the tokens; properties: ``{name: (T,)}``.

    Returns:
        rows ``property, unit, r`` (a constant property gets no rows: nothing to correlate).
    """
    h = np.asarray(hidden, float)
    rows = []
    hc = h - h.mean(0)
    hn = np.sqrt((hc**2).sum(0))  # (U,)
    for name, signal in properties.items():
        s = np.asarray(signal, float)
        if s.shape != (h.shape[0],):
            raise ValueError(f"property {name!r} must be ({h.shape[0]},), got {s.shape}")
        sc = s - s.mean()
        if not np.any(sc):
            continue
        r = (hc * sc[:, None]).sum(0) / np.maximum(hn * np.sqrt((sc**2).sum()), 1e-12)  # (U,)
        for unit in np.argsort(-np.abs(r))[:top]:
            rows.append({"property": name, "unit": int(unit), "r": float(r[unit])})
    return pd.DataFrame(rows, columns=["property", "unit", "r"])


@dataclass
class NeuronView:
    """A language model read over a text.

    Attributes:
        tokens: the T tokens of the text.
        hidden: ``{layer name: (T, U)}`` unit activations (directions side by side).
        surprisal: ``(T,)`` ``-log2 p(token_t | tokens before)`` in bits (NaN for the first).
        units: :func:`property_units` of every layer, with a ``layer`` column.
        properties: :func:`text_properties` of the tokens.
    """

    tokens: list[str]
    hidden: dict[str, np.ndarray]
    surprisal: np.ndarray
    units: pd.DataFrame
    properties: dict[str, np.ndarray]


def neuron_view(task: TaskRun, text: str, *, top: int = 3) -> NeuronView:
    """Read ``text`` with a language-model run: activations, property units, surprisal."""
    if task.task != "lm":
        raise ValueError(f"neurons needs a language-model (lm) run, got a {task.task!r} run")
    ids = task.encode_prompt(text)  # (T,)
    if ids.numel() < 2:
        raise ValueError(f"`text` must have at least 2 tokens, got {ids.numel()}")
    tokens = task.vocab.decode(ids.tolist())
    model = task.model
    was = model.training
    model.eval()
    try:
        with torch.no_grad(), probe(model) as record:
            logits, _ = model(ids.view(-1, 1).to(next(model.parameters()).device), None)
    finally:
        model.train(was)
    logp = F.log_softmax(logits[:-1, 0].float(), -1)  # (T-1, V)
    nats = -logp.gather(1, ids[1:].view(-1, 1).to(logp.device)).squeeze(1)
    surprisal = np.concatenate([[np.nan], nats.cpu().numpy() / np.log(2)])
    hidden: dict[str, np.ndarray] = {}
    for traces in record.calls:
        for tr in traces:
            name = f"{tr.module} layer {tr.layer}"
            h = tr.hidden[:, 0].double().cpu().numpy()  # (T, H)
            hidden[name] = h if name not in hidden else np.concatenate([hidden[name], h], 1)
    props = text_properties(tokens)
    frames = [property_units(h, props, top).assign(layer=name) for name, h in hidden.items()]
    return NeuronView(tokens, hidden, surprisal, pd.concat(frames, ignore_index=True), props)
