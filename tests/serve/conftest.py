"""Tiny real runs of every task for the serve tests, each built once per session (seconds
on one core: sizes of 4 to 16 units and a few training steps; the plumbing is under test)."""

from __future__ import annotations

import socket
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from rnnkit.data.classification import Examples
from rnnkit.data.pairs import has_simple_prefix, read_pairs
from rnnkit.data.series import from_array
from rnnkit.tasks.classify_task import Classifier
from rnnkit.tasks.forecaster import Forecaster
from rnnkit.tasks.lm import TextLM
from rnnkit.tasks.translate import train as train_translate

pytest.importorskip("fastapi")  # the serve extra; the dev set-up installs it


@pytest.fixture(scope="session")
def runs_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("serve-runs")


@pytest.fixture(scope="session")
def lm_run(runs_root: Path, data_dir: Path) -> Path:
    """A char LSTM on a slice of The Time Machine (4 steps)."""
    text = (data_dir / "timemachine" / "timemachine.txt").read_text(encoding="utf-8")
    corpus = runs_root / "tm.txt"
    corpus.write_text(text[5000:17000], encoding="utf-8")
    model = {"embedding_dim": 8, "hidden_size": 16, "num_layers": 1, "dropout": 0.0}
    lm = TextLM.create("demo", model=model, data={"data": str(corpus), "bptt": 16, "batch_size": 4})
    lm.fit(runs_root / "lm", {"progress": False, "eval_every": None, "lr": 1e-2, "max_steps": 4})
    return runs_root / "lm"


@pytest.fixture(scope="session")
def translate_run(runs_root: Path, data_dir: Path) -> Path:
    """A seq2seq with attention on 60 "i am / he is" pairs of fra.txt (2 steps)."""
    rows = [
        p for p in read_pairs(data_dir / "fra-eng" / "fra.txt")[:6000] if has_simple_prefix(p[0])
    ]
    tsv = runs_root / "pairs.tsv"
    tsv.write_text("".join(f"{s}\t{t}\n" for s, t in rows[:60]), encoding="utf-8")
    train_translate(
        "demo", str(runs_root / "translate"), data=str(tsv), simple_prefixes=False, max_steps=2,
        hidden_size=8, embedding_dim=8, progress=False,
        data_options={"val_fraction": 0.1, "test_fraction": 0.1},
    )  # fmt: skip
    return runs_root / "translate"


@pytest.fixture(scope="session")
def forecast_run(runs_root: Path) -> Path:
    """A Gaussian forecaster (intervals) on a daily noisy sine wave (3 steps); its data
    section records the CSV columns (``date``, ``value``), so it also reads CSV text."""
    t = np.arange(200)
    values = np.sin(2 * np.pi * t / 25) + np.random.default_rng(0).normal(size=200) * 0.1
    series = from_array(values, names=["value"], start="2020-01-01", freq="D")
    fc = Forecaster(input_len=8, horizon=3, hidden_size=4, gaussian=True,
                    train={"max_steps": 3, "epochs": 1})  # fmt: skip
    spec = {"target": ["value"], "time_col": "date", "freq": "D"}
    fc.fit(series, run_dir=runs_root / "forecast", extra={"spec": spec})
    return runs_root / "forecast"


@pytest.fixture(scope="session")
def classify_run(runs_root: Path, data_dir: Path) -> Path:
    """A text classifier on 30 + 30 rt-polarity sentences (1 epoch)."""
    texts, labels = [], []
    for label in ("pos", "neg"):
        lines = (data_dir / "rt-polarity" / f"rt-polarity.{label}").read_text().splitlines()
        texts += lines[:30]
        labels += [label] * 30
    ex = Examples(texts, labels, "text", [str(i) for i in range(len(texts))])
    clf = Classifier(model={"hidden_size": 8, "embedding_dim": 8},
                     train={"epochs": 1, "progress": False})  # fmt: skip
    clf.fit(ex, run_dir=runs_root / "classify")
    return runs_root / "classify"


@pytest.fixture(scope="session")
def series_classify_run(runs_root: Path) -> Path:
    """A series classifier (2 features per step): rising vs falling ramps with noise."""
    rng = np.random.default_rng(0)
    items, labels = [], []
    for i in range(40):
        up = i % 2 == 0
        ramp = np.linspace(0, 1, 12) * (1 if up else -1)
        items.append(np.stack([ramp, rng.normal(size=12) * 0.1], axis=1))  # (T, 2)
        labels.append("up" if up else "down")
    ex = Examples(items, labels, "numeric", [str(i) for i in range(40)])
    clf = Classifier(model={"hidden_size": 8}, train={"epochs": 1, "progress": False})
    clf.fit(ex, run_dir=runs_root / "series")
    return runs_root / "series"


@pytest.fixture(scope="session")
def all_runs(
    lm_run: Path, translate_run: Path, forecast_run: Path, classify_run: Path,
    series_classify_run: Path,
) -> list[Path]:  # fmt: skip
    return [lm_run, translate_run, forecast_run, classify_run, series_classify_run]


@pytest.fixture(scope="session")
def server(all_runs: list[Path]) -> Iterator[str]:
    """uvicorn serving every tiny run on 127.0.0.1 at a free port, in a background thread."""
    import uvicorn

    from rnnkit.serve import ServeSettings, create_app

    app = create_app(all_runs, ServeSettings(request_timeout=30))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    for _ in range(100):  # bounded: 10 s
        try:
            urllib.request.urlopen(url + "/health", timeout=1).close()
            break
        except OSError:
            time.sleep(0.1)
    else:
        pytest.fail("the server did not start within 10 s")
    app.state.url = url
    yield url
    srv.should_exit = True
    thread.join(10)
    app.state.close()
