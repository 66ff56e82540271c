"""Figures of ``rnnkit explain``: gradient flow, gate histograms, the vanishing experiment,
hidden-unit heat-maps and per-token bars. Each takes plain arrays and writes a PNG."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib.ticker import MaxNLocator

from rnnkit.viz._figure import new_figure, save_figure

__all__ = [
    "plot_gate_histograms",
    "plot_gradient_flow",
    "plot_token_values",
    "plot_unit_heatmap",
    "plot_vanishing",
]

Curves = Mapping[str, Sequence[float] | np.ndarray]


def _grid(n: int, width: float = 5.0, height: float = 3.2) -> tuple:
    cols = min(n, 3)
    rows = (n + cols - 1) // cols
    fig = new_figure(figsize=(width * cols, height * rows), layout="constrained")
    return fig, [fig.add_subplot(rows, cols, i + 1) for i in range(n)]


def plot_gradient_flow(
    panels: Mapping[str, Curves], path: str | os.PathLike[str], *, title: str = ""
) -> Path:
    """One log-scale panel per layer: ``panels[layer title][curve label] = norms (T,)``
    against the step t = 1..T (a label ending in "scratch" is drawn dashed). The norm is of
    ``dL/dh_t``, or of the state the panel's title names (``(dL/dC_t)``)."""
    if not panels:
        raise ValueError("`panels` must hold at least one layer's curves")
    fig, axes = _grid(len(panels))
    for ax, (name, curves) in zip(axes, panels.items(), strict=True):
        for label, values in curves.items():
            v = np.asarray(values, float)
            t = np.arange(1, len(v) + 1)
            style = "--" if label.endswith("scratch") else "-"
            ax.plot(t, np.where(v > 0, v, np.nan), style, label=label)
        ax.set_yscale("log")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set(title=name, xlabel="time step t", ylabel="gradient norm")
        ax.legend(fontsize="small")
    if title:
        fig.suptitle(title)
    return save_figure(fig, path)


def plot_gate_histograms(
    panels: Mapping[str, Mapping[str, np.ndarray]], path: str | os.PathLike[str]
) -> Path:
    """One panel per layer: a histogram of each gate's activations (``panels[layer][gate]``)."""
    if not panels:
        raise ValueError("`panels` must hold at least one layer's gates")
    fig, axes = _grid(len(panels))
    for ax, (name, gates) in zip(axes, panels.items(), strict=True):
        for gate, values in gates.items():
            ax.hist(np.asarray(values, float), bins=40, histtype="step", density=True, label=gate)
        for edge in (0.1, 0.9):
            ax.axvline(edge, color="grey", lw=0.6, ls=":")
        ax.set(title=name, xlabel="activation", ylabel="density")
        ax.legend(fontsize="small")
    return save_figure(fig, path)


def plot_vanishing(
    results: Mapping[str, Mapping[str, tuple[Sequence[float], ...]]],
    baselines: Mapping[str, float],
    metrics: Mapping[str, str],
    path: str | os.PathLike[str],
) -> Path:
    """Per task one row of panels: the final figure against T, the gradient ratio at
    initialisation and (where given) after training.

    ``results[task][cell] = (lengths, values, ratios_at_init[, ratios_trained])``.
    """
    panels = 3 if any(len(v) > 3 for c in results.values() for v in c.values()) else 2
    fig, axes = _grid(panels * len(results), width=4.6)
    for i, (task, cells) in enumerate(results.items()):
        ax = axes[panels * i]
        for j, (cell, (lengths, values, *ratio)) in enumerate(cells.items()):
            # 10 colours, then the next line style: no two cells look alike
            fmt, color = ("o-", "s--", "^:")[j // 10 % 3], f"C{j % 10}"
            ax.plot(lengths, values, fmt, color=color, label=cell)
            for k, r in enumerate(ratio[: panels - 1]):
                r = np.where(np.asarray(r, float) > 0, r, np.nan)
                axes[panels * i + 1 + k].plot(lengths, r, fmt, color=color, label=cell)
        ax.axhline(baselines[task], color="black", ls="--", lw=1, label="trivial baseline")
        ax.set(title=f"{task}: final {metrics[task]}", xlabel="sequence length T")
        ax.legend(fontsize="x-small", ncol=2)
        for k, when in enumerate(("at init", "after training")[: panels - 1]):
            ax_r = axes[panels * i + 1 + k]
            ax_r.set(title=f"{task}: ||dL/dh_1|| / ||dL/dh_T|| {when}", xlabel="sequence length T")
            ax_r.set_yscale("log")
    return save_figure(fig, path)


def plot_unit_heatmap(
    values: np.ndarray,
    tokens: Sequence[str],
    units: Sequence[int],
    path: str | os.PathLike[str],
    *,
    title: str = "",
) -> Path:
    """``values (U, T)``: units (rows, labelled ``units``) over the tokens (columns)."""
    v = np.asarray(values, float)
    if v.shape != (len(units), len(tokens)):
        raise ValueError(
            f"`values` must be (units, tokens) = ({len(units)}, {len(tokens)}), got {v.shape}"
        )
    fig = new_figure(
        figsize=(max(6, 0.18 * len(tokens) + 2), max(2.5, 0.25 * len(units) + 1.5)),
        layout="constrained",
    )
    ax = fig.add_subplot()
    image = ax.imshow(v, aspect="auto", cmap="RdBu_r", vmin=-1, vmax=1, interpolation="nearest")
    ax.set_xticks(range(len(tokens)), [t if t.strip() else "␣" for t in tokens], fontsize=7)
    ax.set_yticks(range(len(units)), [str(u) for u in units], fontsize=7)
    ax.set(xlabel="token", ylabel="unit", title=title)
    fig.colorbar(image, ax=ax, fraction=0.03)
    return save_figure(fig, path)


def plot_token_values(
    tokens: Sequence[str], values: Sequence[float], path: str | os.PathLike[str], *, title: str = ""
) -> Path:
    """A bar per token (surprisal, gradient x input ...)."""
    v = np.asarray(values, float)
    if len(v) != len(tokens):
        raise ValueError(f"`values` must have one value per token ({len(tokens)}), got {len(v)}")
    fig = new_figure(figsize=(min(14, max(6, 0.25 * len(tokens) + 2)), 3), layout="constrained")
    ax = fig.add_subplot()
    ax.bar(range(len(v)), v, color=np.where(v >= 0, "tab:red", "tab:blue"))
    every = max(1, -(-len(tokens) // 48))  # at most ~48 labels: a long series is labelled sparsely
    ticks = range(0, len(tokens), every)
    labels = [tokens[i] if tokens[i].strip() else "␣" for i in ticks]
    ax.set_xticks(ticks, labels, fontsize=7, rotation=90)
    ax.set(title=title)
    return save_figure(fig, path)
