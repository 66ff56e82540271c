"""The confusion-matrix PNG is written and shape errors are clear."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rnnkit.viz.confusion import plot_confusion


def test_writes_a_png(tmp_path: Path) -> None:
    out = plot_confusion(np.array([[3, 1], [0, 4]]), ["neg", "pos"], tmp_path / "sub" / "cm.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 2000


def test_shape_mismatch(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="expected \\(3, 3\\)"):
        plot_confusion(np.zeros((2, 2)), ["a", "b", "c"], tmp_path / "cm.png")
