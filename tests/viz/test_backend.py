"""Every plotter leaves pyplot alone: the user's backend and open figures are untouched."""

from __future__ import annotations

import numpy as np

from rnnkit.viz.attention import plot_attention
from rnnkit.viz.confusion import plot_confusion
from rnnkit.viz.curves import plot_loss
from rnnkit.viz.forecast import ForecastSegment, plot_forecast


def test_plotters_keep_the_users_backend_and_register_no_figures(tmp_path) -> None:
    import matplotlib
    import matplotlib.pyplot as plt

    before = matplotlib.get_backend()
    plt.switch_backend("svg")  # stands for a notebook's inline backend
    try:
        plot_attention(np.full((2, 3), 1 / 3), ["a", "b", "c"], ["x", "<eos>"], tmp_path / "a.png")
        plot_confusion(np.eye(2, dtype=int), ["p", "q"], tmp_path / "c.png")
        plot_loss([{"step": 1, "split": "train", "train_loss": 1.0}], tmp_path / "l.png")
        plot_forecast(
            tmp_path / "sub" / "f.png", history_index=[0, 1], history=np.ones(2),
            segments=[ForecastSegment([2, 3], np.ones((2, 1)))],
        )  # fmt: skip
        assert matplotlib.get_backend() == "svg"
        assert plt.get_fignums() == []
    finally:
        plt.switch_backend(before)
    for name in ("a.png", "c.png", "l.png", "sub/f.png"):
        assert (tmp_path / name).read_bytes()[:4] == b"\x89PNG"
    assert not list(tmp_path.rglob(".*.tmp"))  # written under a temporary name, then renamed
