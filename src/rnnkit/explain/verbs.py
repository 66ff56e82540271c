"""``rnnkit explain gradients|vanishing|gates|neurons|saliency|report``: the CLI verbs.

Plain functions whose signatures and docstrings are the ``--help``; each returns the text
the CLI prints and writes its figures next to the run (or to ``--out``).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from rnnkit.explain.gates import gate_stats
from rnnkit.explain.gradients import gradient_flow
from rnnkit.explain.neurons import neuron_view
from rnnkit.explain.report import gate_panels, gradient_panels, write_report
from rnnkit.explain.saliency import saliency as saliency_of
from rnnkit.explain.vanishing import DEFAULT_TASKS, run_vanishing
from rnnkit.tasks.run import load_run
from rnnkit.viz.explain_plots import plot_gate_histograms, plot_gradient_flow, plot_vanishing

__all__ = ["gates", "gradients", "neurons", "report", "saliency", "vanishing"]


def _out(run: str, out: str | None) -> Path:
    return Path(out) if out else Path(run) / "explain"


def gradients(
    run: str, *, out: str | None = None, batch_size: int = 8, steps: int | None = None
) -> str:
    """||dL/dh_t|| per time step, layer and direction over a batch of the run's own data.

    Prints ||dL/dh_1|| / ||dL/dh_T|| per layer and writes one log-scale plot per layer
    (the scratch engine's curve beside torch's for the cells it has).

    Args:
        run: the run directory (any task).
        out: folder for gradients.png (default: RUN/explain).
        batch_size: rows of the run's data in the batch.
        steps: cap on a language model's window length (default: its bptt).
    """
    flow = gradient_flow(load_run(run), batch_size=batch_size, steps=steps)
    png = plot_gradient_flow(
        gradient_panels(flow.table),
        _out(run, out) / "gradients.png",
        title=f"dL/dh_t of {flow.what}",
    )
    lines = [f"loss: {flow.what}", flow.ratios().to_string(index=False, float_format="%.3g")]
    if flow.table["scratch"].notna().any():
        diff = (flow.table["norm"] - flow.table["scratch"]).abs().max()
        lines.append(f"scratch engine vs torch: max |difference| of the norms {diff:.2g}")
    return "\n".join([*lines, *flow.notes, f"figure: {png}"])


def _listed(value: list | str | int | None) -> list | None:
    return None if value is None else value if isinstance(value, list) else [value]


def vanishing(
    *,
    tasks: list[str] | str | None = None,
    cells: list[str] | str | None = None,
    lengths: list[int] | int | None = None,
    steps: int = 400,
    scan_steps: int = 150,
    hidden_size: int = 32,
    lr: float = 1e-2,
    forget_init: str = "chrono",
    seed: int = 0,
    out: str = "explain-vanishing",
) -> str:
    """The vanishing-gradient experiment (Hochreiter & Schmidhuber 1997): every registered
    cell trained on the adding problem at several lengths; the final MSE against the trivial
    baseline and the ratio ||dL/dh_1|| / ||dL/dh_T|| at initialisation and after training,
    as a table (vanishing.csv), a figure (vanishing.png) and a verdict saying plainly
    whether the tanh RNN fails where the gated cells (LSTM, GRU) succeed. The default takes
    a few minutes on 2 CPU cores.

    Args:
        tasks: adding and/or copy, one name or a list [adding,copy] (default: adding;
            copy recalls one symbol, which the tanh RNN manages at small lengths, so it
            does not separate the cells at this budget).
        cells: registered cell names, one or a list such as [lstm,gru] (default: every
            registered cell; an alias such as rnn_tanh runs once).
        lengths: sequence lengths T, one or a list [10,50,100] (the default).
        steps: Adam steps per run: the budget (raise it for a firmer result).
        scan_steps: steps for cells that run step by step in Python, slower per step (the
            layer-norm cells' explicit scan, a layer with no parallel form such as the sLSTM).
        hidden_size: units of each network.
        lr: Adam's learning rate (the gradient norm is clipped to 1).
        forget_init: forget-gate bias of the LSTM kinds: chrono (log U(1, T-1), Tallec &
            Ollivier 2018), one (Gers et al. 2000) or default (torch's).
        seed: data and initialisation.
        out: folder for vanishing.csv and vanishing.png.
    """
    result = run_vanishing(
        tasks=_listed(tasks) or DEFAULT_TASKS,
        cells=_listed(cells),
        lengths=_listed(lengths) or (10, 50, 100),
        steps=steps,
        scan_steps=scan_steps,
        hidden_size=hidden_size,
        lr=lr,
        forget_init=forget_init,
        seed=seed,
    )
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    t = result.table
    t.to_csv(folder / "vanishing.csv", index=False)
    results = {
        task: {
            cell: (
                g.length.tolist(),
                g.value.tolist(),
                g.ratio_init.tolist(),
                g.ratio_trained.tolist(),
            )
            for cell, g in tg.groupby("cell", sort=False)
        }
        for task, tg in t.groupby("task", sort=False)
    }
    baselines = t.groupby("task").baseline.first().to_dict()
    metrics = t.groupby("task").metric.first().to_dict()
    png = plot_vanishing(results, baselines, metrics, folder / "vanishing.png")
    shown = t.assign(seconds=t.train_seconds.round(1)).drop(columns=["train_seconds", "baseline"])
    with pd.option_context("display.width", 200):
        table = shown.to_string(index=False, float_format="%.3g")
    base = ", ".join(f"{k} {metrics[k]} {v:.3g}" for k, v in baselines.items())
    return "\n".join(
        [
            table,
            f"trivial baseline: {base}; solved: MSE <= half the baseline (accuracy: halfway to 1)",
            "",
            result.verdict,
            *result.notes,
            f"table: {folder / 'vanishing.csv'}",
            f"figure: {png}",
        ]
    )


def gates(run: str, *, out: str | None = None, batch_size: int = 8) -> str:
    """Per layer, each gate's activation distribution and its saturated fraction (< 0.1 or
    > 0.9, Karpathy et al. 2015), over a batch of the run's own data.

    Args:
        run: the run directory (any task).
        out: folder for gates.png (default: RUN/explain).
        batch_size: rows of the run's data in the batch.
    """
    stats = gate_stats(load_run(run), batch_size=batch_size)
    png = plot_gate_histograms(gate_panels(stats.values), _out(run, out) / "gates.png")
    table = stats.table.to_string(index=False, float_format="%.3f")
    return "\n".join([table, *stats.notes, f"figure: {png}"])


def neurons(run: str, text: str, *, out: str | None = None, top: int = 3) -> str:
    """A language model's hidden units over --text: the units most correlated with simple
    properties (inside quotes or brackets, position in line, word boundary) and the
    surprisal of every token.

    Args:
        run: a language-model run directory.
        text: the text to read (its tokens must be in the vocabulary).
        out: folder for the figures (default: RUN/explain).
        top: units listed per property and layer.
    """
    from rnnkit.explain.report import _neurons

    task = load_run(run)
    view = neuron_view(task, text, top=top)
    folder = _out(run, out)
    folder.mkdir(parents=True, exist_ok=True)
    _neurons(task, folder, text)
    surprisal = " ".join(f"{t!r}:{s:.1f}" for t, s in zip(view.tokens, view.surprisal, strict=True))
    return (
        f"{view.units.to_string(index=False, float_format='%.3f')}\n"
        f"surprisal (bits): {surprisal}\nfigures: {folder}"
    )


def saliency(run: str, text: str | None = None, *, out: str | None = None) -> str:
    """Which input steps a decision rests on: gradient x input per token and the
    attention-pooling weights for classify runs (per time step for series classifiers);
    the decoder's attention map for translate runs.

    Args:
        run: a classify or translate run directory.
        text: the input to explain (default: the first input of the run's own data; a
            series classifier always explains its first series).
        out: folder for saliency.png / attention.png (default: RUN/explain).
    """
    s = saliency_of(load_run(run), text)
    lines = [f"prediction: {s.label}"]
    if s.scores is not None:
        lines.append(
            "gradient x input: "
            + " ".join(f"{t!r}:{v:+.3g}" for t, v in zip(s.tokens, s.scores, strict=True))
        )
    if s.attention is not None and s.attention.ndim == 1:
        lines.append(
            "attention pooling: "
            + " ".join(f"{t!r}:{v:.2f}" for t, v in zip(s.tokens, s.attention, strict=True))
        )
    elif s.attention is not None:
        lines.append(f"attention map {s.attention.shape[0]} x {s.attention.shape[1]}")
    from rnnkit.explain.report import saliency_figures

    figures = saliency_figures(s, _out(run, out))
    return "\n".join([*lines, *s.notes, *(f"figure: {f}" for f in figures)])


def report(
    run: str, *, out: str | None = None, text: str | None = None, batch_size: int = 8
) -> str:
    """All explanations that apply to the run in one self-contained HTML page (images
    inline, no network), plus the PNGs beside it.

    Args:
        run: the run directory (any task).
        out: folder for report.html and the PNGs (default: RUN/explain).
        text: the text for neurons / saliency (default: one from the run's own data).
        batch_size: rows of the run's data for gradients and gates.
    """
    path = write_report(load_run(run), _out(run, out), text=text, batch_size=batch_size)
    return f"report: {path}"
