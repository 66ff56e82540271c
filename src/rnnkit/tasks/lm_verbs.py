"""``rnnkit lm train|generate|eval``: the language model's CLI verbs (plain functions).

Their signatures and docstrings are the ``--help``. ``train`` takes the run and layer flags
every task shares (:mod:`rnnkit.tasks.flags`); a flag left out takes the preset's value,
which the help line shows for the ``demo`` preset.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from typing import Any

from rnnkit.data.lm_corpus import LMDataConfig
from rnnkit.models.language_model import LMConfig
from rnnkit.tasks.flags import (
    given,
    layer_overrides,
    preset_help,
    preset_values,
    shared_docs,
    train_overrides,
)
from rnnkit.tasks.lm import TextLM
from rnnkit.tasks.presets import load_preset, start_sections
from rnnkit.tasks.pretrained import EMBEDDINGS, Pretrained
from rnnkit.train import TrainConfig

__all__ = ["LMReport", "evaluate", "generate", "train"]

log = logging.getLogger(__name__)

HELP_PRESET = "demo"  # the preset whose values the help lines show (train's default)
DEMO_DATA = "python-docs"  # the demo preset's own corpus


def default_preset(data: str | None) -> str:
    """``demo`` without ``--data`` (or with the demo's own corpus), ``default`` for any other
    text: the demo's three epochs are sized for its corpus, while ``default`` trains by steps
    and stops when the validation loss stops improving."""
    return "demo" if data in (None, DEMO_DATA) else "default"


@dataclass
class LMReport:
    """What ``rnnkit lm train`` reports: figures and samples before and after training."""

    run_dir: str
    metrics: dict[str, Any]
    samples_before: list[str]
    samples_after: list[str]

    def __str__(self) -> str:
        lines = [f"run directory: {self.run_dir}"]
        lines += [
            f"  {k}: {v:.4g}" if isinstance(v, float) else f"  {k}: {v}"
            for k, v in self.metrics.items()
        ]
        for title, samples in (("before", self.samples_before), ("after", self.samples_after)):
            if samples:
                lines.append(f"=== samples {title} training ===")
                lines.append(format_samples(samples))
        return "\n".join(lines)


def format_samples(samples: list[str]) -> str:
    """Samples one below the other, each under a ``--- sample i of n ---`` rule."""
    out = []
    for i, text in enumerate(samples, 1):
        out += [f"--- sample {i} of {len(samples)} ---", text.rstrip("\n")]
    return "\n".join(out)


@preset_help(
    preset_values(load_preset("lm", HELP_PRESET), TrainConfig, LMDataConfig, LMConfig),
    HELP_PRESET,
)
@shared_docs
def train(
    preset: str | None = None,
    run_dir: str = "runs/lm",
    data: str | None = None,
    encoding: str | None = None,
    level: str | None = None,
    cell: str | None = None,
    hidden_size: int | None = None,
    num_layers: int | None = None,
    bidirectional: bool | None = None,
    dropout: float | None = None,
    num_heads: int | None = None,
    chunk_size: int | None = None,
    forget_gate: str | None = None,
    embedding_dim: int | None = None,
    tie_weights: bool | None = None,
    output_layer: str | None = None,
    precision: str | None = None,
    embeddings: str | None = None,
    freeze_embeddings: bool | None = None,
    bptt: int | None = None,
    batch_size: int | None = None,
    epochs: int | None = None,
    optimizer: str | None = None,
    lr: float | None = None,
    clip_norm: float | None = None,
    resume: bool = False,
    device: str | None = None,
    max_steps: int | None = None,
    max_time: float | None = None,
    seed: int = 0,
    progress: bool | None = None,
    checkpoint_every: int | None = None,
    checkpoint_minutes: float | None = None,
    ema: float | None = None,
    prompt: str | None = None,
    num_samples: int = 2,
    sample_length: int = 200,
    temperature: float = 0.8,
    train_options: dict[str, Any] | None = None,
) -> LMReport:
    """Train a language model; print samples before and after, save checkpoints and loss.png.

    Args:
        preset: starting configuration (rnnkit lm presets): demo (char LSTM on the built-in
            Python docs), default (your own text: up to 2,000 steps with early stopping),
            ptb-small, ptb-small-fast, ptb-medium, awd-ptb, timemachine-d2l, timemachine,
            shakespeare. Every other flag overrides it. Without it: demo without --data,
            default with it.
        {run flags}
        data: a dataset name (rnnkit data list), name/file, a text file, or a folder with
            *train*.txt, *valid*.txt and *test*.txt.
        encoding: the text files' encoding, e.g. latin-1 or cp1252.
        level: char, word (whitespace words, as PTB) or word-punct (punctuation split off:
            for raw prose).
        {layer flags}
        embedding_dim: size of the token embedding.
        tie_weights: share embedding and output weights (needs embedding_dim == hidden_size).
        output_layer: {output layers}; more options (cutoffs, div_value, chunk_rows) in a
            preset's model section.
        precision: fp32, bf16 (autocast, float32 weights and loss; a CPU without bfloat16
            stays fp32 with a warning) or fp16 (CUDA).
        {embedding flags}
        bptt: window length for truncated backprop through time.
        batch_size: parallel streams in training.
        epochs: passes over the training text.
        optimizer: sgd, adam, adamw, adagrad, rmsprop or ntasgd.
        lr: learning rate.
        clip_norm: clip the gradients' global norm to this (0 turns clipping off).
        prompt: text the samples start from (default: the opening words of the validation text).
        num_samples: samples printed before and after training.
        sample_length: tokens per sample.
        temperature: sampling temperature for the printed samples.
        train_options: any other TrainConfig field, e.g. {"schedule": "cosine"}.
    """
    name = preset or default_preset(data)
    base = start_sections("lm", name, run_dir, resume, ("model", "data", "train", EMBEDDINGS))
    pre = Pretrained.from_flags(base[EMBEDDINGS], file=embeddings, freeze=freeze_embeddings)
    model = layer_overrides(
        cell=cell, hidden_size=hidden_size, num_layers=num_layers, bidirectional=bidirectional,
        dropout=dropout, num_heads=num_heads, chunk_size=chunk_size, forget_gate=forget_gate,
    )  # fmt: skip
    model.update(
        given(embedding_dim=embedding_dim, tie_weights=tie_weights, output_layer=output_layer)
    )
    model.update(pre.model_dim(embedding_dim) if pre else {})  # the file's E unless given
    data_over = given(data=data, encoding=encoding, level=level, bptt=bptt, batch_size=batch_size)
    over = train_overrides(
        device=device, max_steps=max_steps, max_time=max_time, progress=progress,
        checkpoint_every=checkpoint_every, checkpoint_minutes=checkpoint_minutes, ema=ema,
        **given(epochs=epochs, optimizer=optimizer, lr=lr, clip_norm=clip_norm),
        **given(precision=precision),
        **(train_options or {}),
    )  # fmt: skip
    if clip_norm == 0:
        over["clip_norm"] = None
    train_cfg = TrainConfig.from_dict({**base["train"], **over, "seed": seed})
    lm = TextLM.create(base, model=model, data=data_over, seed=seed)
    lm.pretrained = pre
    sample = functools.partial(
        lm.generate, prompt, sample_length, num_samples=num_samples, temperature=temperature,
        seed=seed,
    )  # fmt: skip
    before = [] if resume else sample()  # a resumed model is not the untrained one
    if before:
        log.info("samples before training:\n%s\n", format_samples(before))
    metrics = lm.fit(run_dir, train_cfg, resume=resume)
    keep = (
        "step", "epoch", "stopped", "train_loss", "val_loss", "test_loss", "test_perplexity",
        "test_bits_per_token", "elapsed",
    )  # fmt: skip
    figures = {k: metrics[k] for k in keep if k in metrics}
    figures.update({EMBEDDINGS: pre.summary()} if pre else {})
    return LMReport(run_dir, figures, before, sample())


def generate(
    run: str,
    prompt: str | None = None,
    max_new_tokens: int = 200,
    num_samples: int = 1,
    temperature: float = 0.8,
    top_k: int | None = None,
    top_p: float | None = None,
    seed: int = 0,
    stop: list[str] | None = None,
    backend: str = "torch",
) -> str:
    """Generate text from a trained run.

    Args:
        run: the run directory written by `rnnkit lm train`.
        prompt: the text to continue (every character/word must be in the vocabulary;
            default: the opening words of the run's validation text).
        max_new_tokens: tokens to add per sample.
        num_samples: how many samples (generated as one batch).
        temperature: 0 is greedy; below 1 is more conservative, above 1 more adventurous.
        top_k: sample only among the k most likely tokens.
        top_p: sample only among the most likely tokens whose probabilities sum to p.
        seed: the sampling seed (same seed, same text).
        stop: strings that end a sample.
        backend: torch, onnx (onnxruntime) or numpy (rnnkit's NumPy engine); onnx and
            numpy export the run into RUN/export/ on first use.
    """
    from rnnkit.tasks.backends import runtime

    lm = runtime(TextLM.load(run), backend)
    samples = lm.generate(
        prompt,
        max_new_tokens,
        num_samples=num_samples,
        temperature=temperature,
        top_k=top_k,
        top_p=top_p,
        seed=seed,
        stop=stop,
    )
    return samples[0] if len(samples) == 1 else format_samples(samples)


def evaluate(run: str, split: str = "test") -> dict[str, float]:
    """Loss, perplexity and bits per token of a trained run on a split.

    Args:
        run: the run directory written by `rnnkit lm train`.
        split: train, valid or test.
    """
    return TextLM.load(run).evaluate(split)
