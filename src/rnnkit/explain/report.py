"""One self-contained HTML page with every explanation that applies to a run, plus its PNGs.

Images are written beside the page and also inlined as base64 ``data:`` URIs, so the page
needs no network and no neighbouring files. A small inline script sets
``data-images-ok="true"`` on ``<body>`` once every image has decoded (``naturalWidth > 0``),
which a headless browser check reads back.
"""

from __future__ import annotations

import base64
import html
import logging
from pathlib import Path

import numpy as np

from rnnkit.explain.batches import default_text
from rnnkit.explain.gates import gate_stats
from rnnkit.explain.gradients import gradient_flow
from rnnkit.explain.neurons import neuron_view
from rnnkit.explain.saliency import Saliency, saliency
from rnnkit.tasks.run import TaskRun
from rnnkit.viz.attention import plot_attention
from rnnkit.viz.explain_plots import (
    plot_gate_histograms,
    plot_gradient_flow,
    plot_token_values,
    plot_unit_heatmap,
)

__all__ = ["SECTIONS", "gate_panels", "gradient_panels", "saliency_figures", "write_report"]

log = logging.getLogger(__name__)

SECTIONS = {
    "lm": ("gradients", "gates", "neurons"),
    "classify": ("gradients", "gates", "saliency"),
    "translate": ("gradients", "gates", "saliency"),
    "forecast": ("gradients", "gates"),
}
"""The sections of a task's report, in order."""

_CHECK = """<script>
window.addEventListener('load', function () {
  var imgs = Array.prototype.slice.call(document.images);
  var ok = imgs.every(function (i) { return i.complete && i.naturalWidth > 0; });
  document.body.setAttribute('data-images-ok', ok ? 'true' : 'false');
  document.body.setAttribute('data-image-count', String(imgs.length));
});
</script>"""


def gradient_panels(table) -> dict:  # noqa: ANN001 - a DataFrame
    """``{layer title: {label: norms}}`` from :class:`GradientFlow`'s table, for the figure."""
    panels: dict = {}
    for (module, layer, d), g in table.groupby(["module", "layer", "direction"], sort=False):
        title = f"{module or 'rnn'} layer {layer}"
        if "state" in g and (g["state"] != "h").any():
            title += f" (dL/d{g['state'].iloc[0]}_t)"  # mLSTM: its memory C_t
        label = "reverse" if d else "forward"
        panels.setdefault(title, {})[f"{label} torch"] = g["norm"].to_numpy()
        if "scratch" in g and g["scratch"].notna().all():
            panels[title][f"{label} scratch"] = g["scratch"].to_numpy()
    return panels


def gate_panels(values: dict) -> dict:
    """``{layer title: {gate: values}}`` from :class:`GateStats`' values."""
    panels: dict = {}
    for (module, layer, d, gate), v in values.items():
        title = f"{module or 'rnn'} layer {layer}" + (" reverse" if d else "")
        panels.setdefault(title, {})[gate] = v
    return panels


def _img(path: Path, alt: str) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def _notes(notes: list[str]) -> str:
    return "".join(f'<p class="note">{html.escape(n)}</p>' for n in notes)


def _gradients(task: TaskRun, out: Path, batch_size: int) -> str:
    flow = gradient_flow(task, batch_size=batch_size)
    png = plot_gradient_flow(
        gradient_panels(flow.table), out / "gradients.png", title=f"dL/dh_t of {flow.what}"
    )
    return (
        f"<p>Loss: {html.escape(flow.what)}.</p>{_notes(flow.notes)}"
        f"{flow.ratios().to_html(index=False, float_format='%.3g')}{_img(png, 'gradients')}"
    )


def _gates(task: TaskRun, out: Path, batch_size: int) -> str:
    stats = gate_stats(task, batch_size=batch_size)
    png = plot_gate_histograms(gate_panels(stats.values), out / "gates.png")
    return (
        f"{_notes(stats.notes)}{stats.table.to_html(index=False, float_format='%.3f')}"
        f"{_img(png, 'gates')}"
    )


def _coloured(tokens: list[str], values: np.ndarray, *, relative: bool = False) -> str:
    """Tokens on a background whose strength is |value| / max |value| (red +, blue -);
    ``relative``: (value - min) / (max - min), for values that are all positive (surprisal)."""
    finite = values[np.isfinite(values)]
    low = finite.min() if relative and finite.size else 0.0
    top = np.abs(finite - low).max() if finite.size else 1.0
    spans = []
    for tok, v in zip(tokens, values, strict=True):
        a = 0.0 if not np.isfinite(v) else 0.8 * min(1.0, abs(v - low) / max(top, 1e-12))
        colour = "255,0,0" if v >= 0 else "0,0,255"
        text = html.escape(tok).replace("\n", "⏎<br>")
        spans.append(
            f'<span style="background: rgba({colour},{a:.2f})" title="{v:.3g}">{text}</span>'
        )
    words = any(len(t) > 1 for t in tokens)  # word tokens get a space between them
    return f'<p class="tokens">{(" " if words else "").join(spans)}</p>'


def _neurons(task: TaskRun, out: Path, text: str) -> str:
    view = neuron_view(task, text)
    head = "<h3>Surprisal (bits) per token: the lowest clear, the highest red</h3>"
    parts = [head, _coloured(view.tokens, view.surprisal, relative=True)]
    for i, (layer, h) in enumerate(view.hidden.items()):
        units = view.units[view.units.layer == layer].unit.unique().tolist()[:12]
        units = units or list(range(min(12, h.shape[1])))
        png = plot_unit_heatmap(
            np.tanh(h[:, units].T),
            view.tokens,
            units,
            out / f"neurons-{i}.png",
            title=f"{layer}: units most correlated with a property",
        )
        parts.append(_img(png, f"neurons {layer}"))
    parts.append(view.units.to_html(index=False, float_format="%.3f"))
    return "".join(parts)


def saliency_figures(s: Saliency, out: Path) -> list[Path]:
    """Write saliency.png (gradient x input) and attention.png where ``s`` has them."""
    out.mkdir(parents=True, exist_ok=True)
    figures = []
    if s.scores is not None:
        figures.append(
            plot_token_values(s.tokens, s.scores, out / "saliency.png", title="gradient x input")
        )
    if s.attention is not None and s.attention.ndim == 1:
        figures.append(
            plot_token_values(
                s.tokens, s.attention, out / "attention.png", title="attention-pooling weights"
            )
        )
    elif s.attention is not None:
        figures.append(
            plot_attention(s.attention, s.tokens, s.target_tokens, out / "attention.png")
        )
    return figures


def _saliency(task: TaskRun, out: Path, text: str | None) -> str:
    s = saliency(task, text)
    parts = [f"<p>Prediction: <b>{html.escape(s.label)}</b></p>", _notes(s.notes)]
    if s.scores is not None and (task.task != "classify" or task.encoder.kind == "text"):
        parts.append(_coloured(s.tokens, s.scores))
    parts += [_img(png, png.stem) for png in saliency_figures(s, out)]
    return "".join(parts)


def write_report(
    task: TaskRun, out_dir: str | Path, *, text: str | None = None, batch_size: int = 8
) -> Path:
    """Write ``out_dir/report.html`` and its PNGs for ``task``; returns the page's path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    sections = SECTIONS[task.task]
    body = []
    for name in sections:
        if name == "gradients":
            content = _gradients(task, out, batch_size)
        elif name == "gates":
            content = _gates(task, out, batch_size)
        else:
            content = (
                _neurons(task, out, text or default_text(task))
                if name == "neurons"
                else _saliency(task, out, text)
            )
        body.append(f'<section id="{name}"><h2>{name}</h2>{content}</section>')
    title = f"rnnkit explain: {task.task} run {task.run_dir or ''}"
    page = (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        "<style>body{font-family:sans-serif;max-width:1200px;margin:auto}img{max-width:100%}"
        "table{border-collapse:collapse;font-size:12px}td,th{border:1px solid #ccc;padding:2px 6px}"
        ".note{color:#a50}.tokens{font-family:monospace;line-height:1.8}</style></head>"
        f"<body><h1>{html.escape(title)}</h1>{''.join(body)}{_CHECK}</body></html>"
    )
    path = out / "report.html"
    path.write_text(page, encoding="utf-8")
    log.info("wrote %s (%s)", path, ", ".join(sections))
    return path
