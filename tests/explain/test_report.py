"""`rnnkit explain report` (and saliency, gradients) on tiny real runs of every task.

Each run is trained for a couple of steps once per module; the files and sections are
under test, not the quality. The page is opened in headless Chromium where it is
installed: every image must decode, and a screenshot is kept (tmp dir, and
``$RNNKIT_ARTIFACTS`` when set) for a person to look at.
"""

from __future__ import annotations

import csv
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from rnnkit.cli.main import main
from rnnkit.data.pairs import has_simple_prefix, read_pairs
from rnnkit.explain.gradients import gradient_flow
from rnnkit.explain.saliency import saliency
from rnnkit.tasks.run import load_run

pytestmark = pytest.mark.slow


class _Runs:
    """Tiny runs by name (lm, lm-CELL, text, series, forecast, translate), each trained on
    first use."""

    def __init__(self, root: Path, data_dir: Path) -> None:
        self.root, self.data_dir, self.made = root, data_dir, {}

    def __getitem__(self, name: str) -> Path:
        if name not in self.made:
            self.made[name] = _train(name, self.root, self.data_dir)
        return self.made[name]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> _Runs:
    return _Runs(tmp_path_factory.mktemp("explain-runs"), data_dir)


def _train(name: str, root: Path, data_dir: Path) -> Path:
    run = root / name
    common = ["--run-dir", str(run), "--device", "cpu"]
    if name == "lm":
        args = ["lm", "train", "--preset", "demo", "--max-steps", "2", "--hidden-size", "16"]
    elif name.startswith("lm-"):  # another cell, e.g. lm-slstm
        args = ["lm", "train", "--preset", "demo", "--max-steps", "2", "--hidden-size", "8"]
        args += ["--cell", name[3:], "--bptt", "20", "--batch-size", "4"]
    elif name == "text":
        data = _rt_slice(data_dir, root / "rt.csv")
        args = ["classify", "train", "--data", str(data), "--hidden-size", "8"]
        args += ["--embedding-dim", "8", "--epochs", "1", "--pooling", "attention"]
    elif name == "series":  # the recurrent series preset: LSTM-FCN
        args = ["classify", "train", "--data", "BasicMotions", "--max-steps", "2"]
        args += ["--preset", "lstm-fcn"]
    elif name == "forecast":
        args = ["forecast", "train", "--dataset", "sine", "--input-len", "8", "--horizon", "2"]
        args += ["--hidden-size", "4", "--max-steps", "2"]
    else:
        pairs = [p for p in read_pairs(data_dir / "fra-eng" / "fra.txt")[:8000]]
        rows = [p for p in pairs if has_simple_prefix(p[0])][:60]
        tsv = root / "pairs.tsv"
        tsv.write_text("".join(f"{s}\t{t}\n" for s, t in rows), encoding="utf-8")
        args = ["translate", "train", "--preset", "demo", "--data", str(tsv), "--max-steps", "2"]
        args += ["--hidden-size", "8", "--embedding-dim", "8", "--simple-prefixes", "false"]
    assert main([*args, *common]) == 0, name
    return run


def _rt_slice(data_dir: Path, path: Path, n: int = 20) -> Path:
    rows = []
    for label in ("pos", "neg"):
        lines = (data_dir / "rt-polarity" / f"rt-polarity.{label}").read_text().splitlines()
        rows += [(label, s) for s in lines[:n]]
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["label", "text"])
        w.writerows(rows)
    return path


SECTIONS = {
    "lm": ("gradients", "gates", "neurons"),
    "text": ("gradients", "gates", "saliency"),
    "series": ("gradients", "gates", "saliency"),
    "forecast": ("gradients", "gates"),
    "translate": ("gradients", "gates", "saliency"),
}


@pytest.mark.parametrize("name", list(SECTIONS))
def test_report_has_every_section_of_the_task_and_renders(
    name: str, runs: _Runs, tmp_path: Path
) -> None:
    run = runs[name]
    out = tmp_path / "explain"
    assert (
        main(["explain", "report", "--run", str(run), "--out", str(out), "--batch-size", "2"]) == 0
    )
    page = (out / "report.html").read_text()
    for section in SECTIONS[name]:
        assert f'<section id="{section}">' in page, section
    assert page.count("<section ") == len(SECTIONS[name])
    assert "Traceback" not in page
    text = re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "", page)
    assert not re.search(r"(src|href)\s*=\s*['\"]?(https?:|//)|url\(", text)  # no network
    assert "http" not in re.sub(r"<!DOCTYPE[^>]*>", "", text)
    images = page.count("data:image/png;base64,")
    assert images >= len(SECTIONS[name])
    assert len(list(out.glob("*.png"))) >= len(SECTIONS[name])
    _browser_check(out / "report.html", tmp_path, name, images)


# what the page says the cell shows, besides dL/dh_t and LSTM/GRU gates
NEW_CELLS = {"slstm": "dL/dc_t", "mlstm": "dL/dC_t", "rglru": "recurrence r_t"}


@pytest.mark.parametrize("cell", list(NEW_CELLS))
def test_report_of_a_language_model_with_a_new_cell(cell: str, runs: _Runs, tmp_path: Path) -> None:
    out = tmp_path / "explain"
    run = runs[f"lm-{cell}"]
    assert (
        main(["explain", "report", "--run", str(run), "--out", str(out), "--batch-size", "2"]) == 0
    )
    page = (out / "report.html").read_text()
    for section in SECTIONS["lm"]:
        assert f'<section id="{section}">' in page, section
    assert NEW_CELLS[cell] in page and "Traceback" not in page


def test_saliency_of_a_text_classifier(runs: _Runs) -> None:
    task = load_run(runs["text"])
    s = saliency(task, "a gorgeous , witty , seductive movie")
    assert len(s.tokens) == 7 and s.tokens[0] == "a" and len(s.scores) == len(s.tokens)
    assert np.isfinite(s.scores).all() and np.abs(s.scores).sum() > 0
    assert s.attention is not None and s.attention.sum() == pytest.approx(1.0, abs=1e-5)
    assert s.label in task.labels.names


def test_saliency_of_a_series_classifier_is_per_time_step(runs: _Runs) -> None:
    task = load_run(runs["series"])
    s = saliency(task, None)
    assert len(s.scores) == len(s.tokens) > 10 and np.isfinite(s.scores).all()
    assert any("LSTM-FCN" in n or "lstm-fcn" in n for n in s.notes)


def test_translate_attention_maps(runs: _Runs) -> None:
    task = load_run(runs["translate"])
    s = saliency(task, "i am cold .")
    assert s.scores is None and s.attention is not None
    assert s.attention.shape == (len(s.target_tokens), len(s.tokens))
    np.testing.assert_allclose(s.attention.sum(1), 1.0, atol=1e-5)


def test_gradients_of_a_forecast_run(runs: _Runs, capsys) -> None:  # noqa: ANN001
    flow = gradient_flow(load_run(runs["forecast"]), batch_size=4)
    assert "forecast" in flow.what
    ratios = flow.ratios()
    assert len(ratios) >= 1 and (ratios.steps == 8).all()  # input_len 8 encoder steps
    assert flow.table["norm"].gt(0).all()
    assert main(["explain", "gradients", "--run", str(runs["forecast"])]) == 0
    assert "ratio" in capsys.readouterr().out


def test_lstm_fcn_probes_its_lstm_branch(runs: _Runs) -> None:
    flow = gradient_flow(load_run(runs["series"]), batch_size=2)
    assert len(flow.table) > 0 and flow.table["norm"].gt(0).any()


def _browser_check(page: Path, tmp: Path, name: str, images: int) -> None:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("no `chromium` or `chromium-browser` on PATH (scripts/browser.sh installs it)")
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=5000"]
    flags += [f"--user-data-dir={tmp / 'chromium-profile'}", "--hide-scrollbars"]
    dom = subprocess.run(
        [browser, *flags, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120
    ).stdout
    assert 'data-images-ok="true"' in dom, dom[-500:]
    assert f'data-image-count="{images}"' in dom
    shot = tmp / f"report-{name}.png"
    subprocess.run(
        [browser, *flags, "--window-size=1280,2400", f"--screenshot={shot}", page.as_uri()],
        capture_output=True,
        timeout=120,
    )
    assert shot.is_file() and shot.stat().st_size > 10_000
    keep = os.environ.get("RNNKIT_ARTIFACTS")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, Path(keep) / shot.name)
