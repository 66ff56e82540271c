"""/v1/classify on a MiniRocket run (the default series classifier, torch backend)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from rnnkit.data.classification import Examples
from rnnkit.serve import ServeSettings, create_app
from rnnkit.tasks.classify_task import Classifier


def _ramps(n: int, seed: int) -> Examples:
    """Rising vs falling ramps of 12 steps, with a noise channel (as conftest's series run)."""
    rng = np.random.default_rng(seed)
    items, labels = [], []
    for i in range(n):
        up = i % 2 == 0
        ramp = np.linspace(0, 1, 12) * (1 if up else -1)
        items.append(np.stack([ramp, rng.normal(size=12) * 0.1], axis=1))  # (T, 2)
        labels.append("up" if up else "down")
    return Examples(items, labels, "numeric", [str(i) for i in range(n)])


@pytest.fixture(scope="module")
def minirocket_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = tmp_path_factory.mktemp("serve-minirocket") / "rocket"
    clf = Classifier(arch="minirocket", model={"num_features": 168})
    clf.fit(_ramps(40, seed=0), run_dir=run)
    config = json.loads((run / "config.json").read_text(encoding="utf-8"))
    assert config["classify"]["arch"] == "minirocket" and config["model"]["num_features"] == 168
    return run


@pytest.fixture(scope="module")
def client(minirocket_run: Path) -> Iterator[TestClient]:
    app = create_app([minirocket_run], ServeSettings(max_items=4))
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


def test_classifies_ramps(client: TestClient) -> None:
    models = client.get("/v1/models").json()["models"]
    assert [m["task"] for m in models] == ["classify"]
    assert models[0]["accepts"] == {"input": "series", "labels": ["down", "up"], "features": 2}
    name = models[0]["name"]
    held_out = _ramps(4, seed=1)
    series = [np.asarray(item).tolist() for item in held_out.items]
    series[3] = series[3][:9]  # a shorter series in the same request
    r = client.post("/v1/classify", json={"model": name, "series": series})
    assert r.status_code == 200, r.text
    preds = r.json()["predictions"]
    assert [p["label"] for p in preds] == held_out.labels
    for p in preds:
        assert set(p["probabilities"]) == {"down", "up"}
        assert sum(p["probabilities"].values()) == pytest.approx(1.0, abs=1e-5)
    r = client.post("/v1/classify", json={"model": name, "series": [[[1.0, 2.0, 3.0]]]})
    assert r.status_code == 422 and "series[0]" in r.text  # 3 features, the run takes 2
