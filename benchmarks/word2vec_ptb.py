"""word2vec on PTB: rnnkit's engine against gensim's Word2Vec, same run, same settings.

    nice python benchmarks/word2vec_ptb.py [--seeds 3] [--model sg] [--threads 2]

Both train on ptb.train.txt (dim 100, window 5, negative 5, sample 1e-3, min-count 5, 5
epochs, 2 threads), alternating, one seed after another. Timed: the training alone (the
vocabulary is built before the clock starts, for both). words/s counts the corpus tokens
of all epochs (887,521 x 5, out-of-vocabulary tokens included) divided by that time, the
same count for both; gensim's own "effective words" (after sub-sampling) are printed beside
it. Quality: both models' vectors go through the same evaluator, rnnkit.embed.evaluate
(analogy accuracy on questions-words.txt over the 30,000 most frequent words, Spearman on
WordSim-353 and SimLex-999), out-of-vocabulary questions and pairs counted.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from rnnkit.data.registry import dataset_path
from rnnkit.data.word_vectors import WordVectors
from rnnkit.embed.evaluate import analogy_accuracy, similarity_correlation
from rnnkit.embed.run import Word2VecConfig, Word2VecRun

SETTINGS = {"dim": 100, "window": 5, "negative": 5, "sample": 1e-3, "min_count": 5, "epochs": 5}


def quality(wv: WordVectors, sim_dir: Path) -> dict[str, str]:
    analogy = analogy_accuracy(wv, sim_dir / "questions-words.txt").total
    out = {"analogy": f"{analogy.accuracy:.3f} ({analogy.total} q, {analogy.oov} OOV)"}
    for name, file in (("ws353", "wordsim353.tsv"), ("simlex", "simlex999.txt")):
        r = similarity_correlation(wv, sim_dir / file)
        out[name] = f"{r.spearman:.3f} ({r.pairs} pairs, {r.oov} OOV)"
    return out


def run_gensim(path: Path, model: str, seed: int, threads: int) -> tuple[dict, WordVectors]:
    from gensim.models import Word2Vec

    sentences = [line.split() for line in path.read_text(encoding="utf-8").splitlines()]
    w2v = Word2Vec(
        vector_size=SETTINGS["dim"], window=SETTINGS["window"], negative=SETTINGS["negative"],
        sample=SETTINGS["sample"], min_count=SETTINGS["min_count"], sg=int(model == "sg"),
        workers=threads, seed=seed, hs=0,
    )  # fmt: skip
    w2v.build_vocab(sentences)
    raw = sum(len(s) for s in sentences)
    start = time.perf_counter()
    effective, _ = w2v.train(sentences, total_examples=len(sentences), epochs=SETTINGS["epochs"])
    seconds = time.perf_counter() - start
    figures = {
        "seconds": seconds, "words_s": raw * SETTINGS["epochs"] / seconds,
        "effective_words_s": effective / seconds,
    }  # fmt: skip
    return figures, WordVectors(w2v.wv.index_to_key, w2v.wv.vectors)


def run_ours(path: Path, model: str, seed: int, threads: int) -> tuple[dict, WordVectors]:
    cfg = Word2VecConfig(
        model=model, dim=SETTINGS["dim"], window=SETTINGS["window"],
        negative=SETTINGS["negative"], sample=SETTINGS["sample"], epochs=SETTINGS["epochs"],
        alpha=0.025 if model == "sg" else 0.05, seed=seed,
    )  # fmt: skip
    run = Word2VecRun.create(cfg, str(path), min_count=SETTINGS["min_count"])
    assert run.corpus is not None
    raw = run.corpus.raw_words
    tmp = Path(tempfile.mkdtemp(prefix="w2v-bench-"))
    try:
        start = time.perf_counter()
        figures = run.fit(tmp / "run", threads=threads, progress=False)
        seconds = time.perf_counter() - start  # includes writing vectors.txt/.bin
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    out = {
        "seconds": seconds, "words_s": raw * SETTINGS["epochs"] / seconds,
        "effective_words_s": float("nan"), "kernel": figures["c_kernel"],
    }  # fmt: skip
    return out, run.vectors()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--model", choices=("sg", "cbow"), default="sg")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    path = Path(dataset_path("ptb", "ptb.train.txt"))
    sim_dir = Path(dataset_path("word-similarity", "questions-words.txt")).parent
    rows = []
    for seed in range(args.seeds):
        for name, fn in (("gensim", run_gensim), ("rnnkit", run_ours)):
            figures, wv = fn(path, args.model, seed, args.threads)
            rows.append({"engine": name, "seed": seed, **figures, **quality(wv, sim_dir)})
            print(f"# {name} seed {seed}: {figures['words_s']:.0f} words/s", flush=True)
    print(f"\nword2vec {args.model} on PTB train, {SETTINGS}, {args.threads} threads, "
          f"{os.cpu_count()} CPUs\n")  # fmt: skip
    print("| engine | seed | train s | words/s | gensim effective words/s | analogy acc. "
          "| WordSim-353 rho | SimLex-999 rho |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        eff = "" if np.isnan(r["effective_words_s"]) else f"{r['effective_words_s']:.0f}"
        print(f"| {r['engine']} | {r['seed']} | {r['seconds']:.1f} | {r['words_s']:.0f} | {eff} "
              f"| {r['analogy']} | {r['ws353']} | {r['simlex']} |")  # fmt: skip
    for name in ("gensim", "rnnkit"):
        speeds = [r["words_s"] for r in rows if r["engine"] == name]
        print(f"\n{name}: mean {np.mean(speeds):.0f} words/s over {len(speeds)} seeds", end="")
    ratio = np.mean([r["words_s"] for r in rows if r["engine"] == "rnnkit"]) / np.mean(
        [r["words_s"] for r in rows if r["engine"] == "gensim"]
    )
    print(f"\nrnnkit / gensim speed: {ratio:.2f}")


if __name__ == "__main__":
    main()
