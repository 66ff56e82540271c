"""Shared test set-up: the dataset registry reads the local mirror in ../shared/data."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = (ROOT.parent / "shared" / "data").resolve()

if not SHARED_DATA.is_dir():  # pragma: no cover - a broken checkout, not a skip
    raise RuntimeError(f"tests need the real-data mirror at {SHARED_DATA} (../shared/data)")

# Library code reads this setting; tests never download anything.
os.environ["RNNKIT_DATA_DIR"] = str(SHARED_DATA)
os.environ.setdefault("RNNKIT_CACHE_DIR", str(ROOT / ".rnnkit-cache"))
os.environ.setdefault("MPLBACKEND", "Agg")


def pytest_configure(config: pytest.Config) -> None:
    """One intra-op thread per test process: pytest-xdist runs one worker per core, and tiny
    recurrent steps slow down badly when OpenMP threads oversubscribe the cores."""
    import torch

    torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _one_thread():
    """Every test starts on one intra-op thread (tiny models on a shared 2-core machine run
    far faster so) whatever an earlier test set, and gives the count back afterwards."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The real-data mirror (``../shared/data``)."""
    return SHARED_DATA


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """GPU tests skip cleanly where there is no CUDA device (CI never has one)."""
    try:
        import torch

        has_cuda = torch.cuda.is_available()
    except ImportError:  # pragma: no cover
        has_cuda = False
    if has_cuda:
        return
    skip = pytest.mark.skip(reason="no CUDA device")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)
