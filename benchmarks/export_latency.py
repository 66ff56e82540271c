"""Generation speed of an exported language model: torch eager vs onnxruntime vs NumPy.

Per-token latency of greedy generation at batch 1 and tokens/s at batch 32, for the demo
preset's network (char LSTM, E=64, H=256, L=2, V=100) and a PTB-small-shaped one (word
LSTM, E=200, H=200, L=2, V=10000). The weights are random (speed does not depend on them);
each backend steps the same network one token at a time through rnnkit's one sampling
loop, and the backends are measured in alternating rounds (best of the rounds).

    python benchmarks/export_latency.py [--tokens 64] [--rounds 3]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from rnnkit.decoding.generate import generate
from rnnkit.export.adapters import adapter_for
from rnnkit.export.cache import read_manifest
from rnnkit.export.numpy_bundle import export_numpy
from rnnkit.export.onnx_export import export_onnx
from rnnkit.export.runtime_onnx import onnxruntime
from rnnkit.models.language_model import LanguageModel, LMConfig
from rnnkit.nn import RecurrentSpec
from rnnkit.scratch.runtime import BundleRuntime

MODELS = {
    "demo (char LSTM 64/256x2, V=100)": (100, LMConfig(embedding_dim=64, rnn=RecurrentSpec(
        hidden_size=256, num_layers=2))),
    "ptb-small (word LSTM 200/200x2, V=10k)": (10000, LMConfig(embedding_dim=200, rnn=RecurrentSpec(
        hidden_size=200, num_layers=2))),
}  # fmt: skip


def backends(model: LanguageModel, tmp: Path) -> dict[str, torch.nn.Module]:
    ort = onnxruntime()
    export_onnx(model, tmp / "onnx", "lm")
    manifest = read_manifest(tmp / "onnx")
    options = ort.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()
    session = ort.InferenceSession(str(tmp / "onnx" / "lm.onnx"), options)
    names = manifest["graphs"]["lm"]["inputs"]

    def run(graph, inputs):
        return session.run(None, dict(zip(names, inputs, strict=True)))

    export_numpy(model, tmp / "numpy", "lm")
    numpy_rt = BundleRuntime.load(tmp / "numpy").run
    return {
        "torch eager": model,
        "onnxruntime": adapter_for(model, run, manifest),
        "numpy": adapter_for(model, numpy_rt, manifest),
    }


def timed(net: torch.nn.Module, batch: int, tokens: int) -> float:
    """Seconds to generate ``tokens`` tokens greedily for ``batch`` rows."""
    prompt = torch.ones(4, dtype=torch.long)

    def step(x, state):
        return net(x, state)

    start = time.perf_counter()
    with torch.no_grad():
        generate(step, prompt, None, tokens, temperature=0, num_samples=batch)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; random weights\n")
    print("| model | backend | ms/token, batch 1 | tokens/s, batch 32 |")
    print("|---|---|---:|---:|")
    for title, (vocab, config) in MODELS.items():
        model = LanguageModel(vocab, config).eval()
        with tempfile.TemporaryDirectory() as tmp:
            nets = backends(model, Path(tmp))
            best = {name: [float("inf"), float("inf")] for name in nets}
            for _ in range(args.rounds):  # alternating rounds: drift hits every backend
                for name, net in nets.items():
                    best[name][0] = min(best[name][0], timed(net, 1, args.tokens))
                    best[name][1] = min(best[name][1], timed(net, 32, args.tokens))
            for name, (one, many) in best.items():
                per_token = 1000 * one / args.tokens
                print(f"| {title} | {name} | {per_token:.2f} | {32 * args.tokens / many:,.0f} |")


if __name__ == "__main__":
    main()
