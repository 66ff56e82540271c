"""The attention heatmap writes a PNG of the right shape and checks its inputs."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from rnnkit.viz.attention import plot_attention


def test_writes_a_png(tmp_path: Path) -> None:
    w = torch.softmax(torch.randn(4, 3), -1)
    out = plot_attention(
        w, ["je", "suis", "."], ["i", "am", ".", "<eos>"], tmp_path / "a" / "x.png"
    )
    assert out.exists() and out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_shape_mismatch_is_named(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"\(2, 3\), got \(3, 2\)"):
        plot_attention([[0.5, 0.5]] * 3, ["a", "b", "c"], ["x", "y"], tmp_path / "x.png")
