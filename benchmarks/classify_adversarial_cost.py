"""The cost of a training step with adversarial (``--adversarial``) and virtual adversarial
training (``--virtual-adversarial``), against without.

    .venv/bin/python benchmarks/classify_adversarial_cost.py [--data trec] [--repeat 30]

The ``default`` preset's network on TREC-6 training batches (batch 32), one CPU thread: a
step is the task's step (forward, loss), backward and an Adam update. The settings run
round-robin on the same batches (``_timing.measure_interleaved``), so machine noise hits
both alike; the table gives median milliseconds per step and their ratio. Prints a Markdown
table; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import measure_interleaved, table  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("RNNKIT_DATA_DIR", str(ROOT.parent / "shared" / "data"))

from rnnkit.data.bucketing import BucketLoader  # noqa: E402
from rnnkit.tasks.classify import Classifier, load_data  # noqa: E402
from rnnkit.tasks.presets import load_preset  # noqa: E402


def stepper(eps: float, veps: float, data: str) -> Callable[[], None]:
    """A function running one training step of the default preset's network."""
    p = load_preset("classify", "default")
    opts = {**p["classify"], **p["encoder"], "adversarial": eps, "virtual_adversarial": veps}
    clf = Classifier(p["model"], p["train"], **opts)
    train = load_data(data, val_fraction=0.1)[0]
    x = clf._build(train)
    y, _ = clf.labels.encode(train.labels)
    batches = list(BucketLoader(x, y, 32, shuffle=True, seed=0))
    net = clf.model.train()
    opt = torch.optim.Adam(net.parameters(), lr=4e-3)
    it = iter(range(10**9))

    def step() -> None:
        batch = batches[next(it) % len(batches)]
        opt.zero_grad()
        clf.step(net, batch, None).loss.backward()
        opt.step()

    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default="trec")
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--eps", type=float, default=0.1)
    args = parser.parse_args()
    torch.set_num_threads(1)
    e = args.eps
    settings = {
        "without (`--adversarial 0 --virtual-adversarial 0`)": (0.0, 0.0),
        f"`--adversarial {e}`": (e, 0.0),
        f"`--adversarial {e} --virtual-adversarial {e}`": (e, e),
    }
    fns = {name: stepper(eps, veps, args.data) for name, (eps, veps) in settings.items()}
    t = measure_interleaved(fns, repeat=args.repeat, warmup=5)
    plain = t[next(iter(settings))]
    rows = [[name, f"{1e3 * t[name]:.1f}", f"{t[name] / plain:.2f}"] for name in settings]
    print(table(["training step", "ms / step (median)", "ratio"], rows))


if __name__ == "__main__":
    main()
