"""plot_loss: train and validation loss vs step from metrics.csv or rows."""

from __future__ import annotations

import matplotlib.image as mpimg
import pytest

from rnnkit.train.metrics_log import MetricsLog
from rnnkit.viz.curves import kept_step, plot_loss


def rows():
    out = [{"step": s, "epoch": 0, "split": "train", "train_loss": 2.0 / s} for s in range(1, 9)]
    out += [{"step": s, "epoch": 0, "split": "val", "val_loss": 1.5 / s} for s in (4, 8)]
    return out


def test_plot_from_csv_writes_png(tmp_path):
    log = MetricsLog(tmp_path / "metrics.csv")
    for r in rows():
        log.append(r)
    path = plot_loss(tmp_path / "metrics.csv", tmp_path / "loss.png", title="run")
    assert path == tmp_path / "loss.png"
    img = mpimg.imread(path)
    assert img.shape[0] > 100 and img.shape[1] > 100
    assert img[..., :3].std() > 0.01  # something was drawn


def test_plot_lines_follow_the_rows(tmp_path, monkeypatch):
    drawn = []
    from matplotlib.axes import Axes

    real = Axes.plot

    def spy(self, *args, **kw):
        drawn.append((kw.get("label"), list(args[0]), list(args[1])))
        return real(self, *args, **kw)

    monkeypatch.setattr(Axes, "plot", spy)
    plot_loss(rows(), tmp_path / "x.png")
    assert drawn[0] == ("train", list(range(1, 9)), [2.0 / s for s in range(1, 9)])
    assert drawn[1] == ("validation", [4, 8], [1.5 / 4, 1.5 / 8])

    # adversarial training's rows: the clean loss is the train curve, the trained one faint
    drawn.clear()
    adv = [{**r, "train_clean_loss": r["train_loss"] / 2} for r in rows() if "train_loss" in r]
    plot_loss(adv + rows()[8:], tmp_path / "y.png")
    labels = [d[0] for d in drawn]
    assert labels == ["train (trained: clean + perturbed)", "train (clean)", "validation"]
    assert drawn[1][2] == [1.0 / s for s in range(1, 9)]


def test_plot_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="metrics_csv_or_rows"):
        plot_loss(tmp_path / "none.csv", tmp_path / "x.png")
    with pytest.raises(ValueError, match="no train_loss or val_loss"):
        plot_loss([{"step": 1, "split": "train"}], tmp_path / "x.png")


def test_kept_step_is_the_best_evaluation_whatever_the_metric(tmp_path, monkeypatch):
    evals = [(4, 1.0, 1.0), (8, 0.8, 0.8), (12, 0.9, 0.8), (16, 0.95, 0.8)]  # step, loss, best
    val = [{"step": s, "split": "val", "val_loss": v, "best": b} for s, v, b in evals]
    assert kept_step(rows()[:8] + val) == 8
    acc = [{"step": s, "split": "val", "best": b} for s, b in [(4, 0.5), (8, 0.7), (12, 0.7)]]
    assert kept_step(acc) == 8  # a maximised metric: the running best is its max
    assert kept_step(rows()) is None  # rows without `best` (older metrics.csv): no line
    log = MetricsLog(tmp_path / "metrics.csv")  # read back from a csv, as `best` is written
    for r in rows()[:8] + val:
        log.append(r)
    from matplotlib.axes import Axes

    lines, real = [], Axes.axvline
    monkeypatch.setattr(
        Axes, "axvline", lambda self, x, **kw: lines.append(x) or real(self, x, **kw)
    )
    plot_loss(tmp_path / "metrics.csv", tmp_path / "x.png")
    assert lines == [8]
