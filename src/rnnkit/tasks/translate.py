"""Translation: sentence pairs -> Seq2Seq with attention -> Trainer -> BLEU/chrF -> translations.

CLI (``rnnkit translate ...``) and Python API are the same three functions:

- :func:`train` starts from a preset (YAML, ``rnnkit translate presets``), prepares the pairs
  (:mod:`rnnkit.data.pairs`; official dev/test files with ``val_data``/``test_data``) and
  trains a :class:`~rnnkit.tasks.translator.Translator` through the shared run life cycle.
  The run directory gets ``config.json`` (``"task": "translate"``), the checkpoints and
  curves, and ``src_vocab.json`` / ``tgt_vocab.json``: enough to rebuild everything.
- :func:`evaluate` decodes a split (greedy, sampling or beam search) and reports corpus BLEU
  and chrF (sacrebleu) and the teacher-forced perplexity; it writes
  ``translations-<split>.tsv`` (source, reference, hypothesis) and attention heatmaps.
- :func:`translate` translates sentences given as arguments, or lines read from stdin; a
  longer text is split into sentences, each translated on its own.

:class:`Translator` is the object behind them for Python use::

    tr = Translator.load("runs/translate")
    tr.translate(["I am cold."])[0].text
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from dataclasses import fields
from pathlib import Path
from typing import Any

from rnnkit.data.pair_splits import check_files, load_pair_splits
from rnnkit.data.pairs import PairsConfig
from rnnkit.metrics.text import corpus_bleu, corpus_chrf
from rnnkit.models.seq2seq import Seq2SeqConfig
from rnnkit.tasks.flags import (
    given,
    layer_overrides,
    preset_help,
    preset_values,
    shared_docs,
    train_overrides,
)
from rnnkit.tasks.presets import load_preset, start_sections
from rnnkit.tasks.pretrained import EMBEDDINGS, Pretrained
from rnnkit.tasks.translate_decode import (
    DECODING,
    Translation,
    plot_attention_maps,
    teacher_forced_perplexity,
)
from rnnkit.tasks.translator import TranslateConfig, Translator
from rnnkit.train import TrainConfig

__all__ = [
    "DECODING",
    "TranslateConfig",
    "Translation",
    "Translator",
    "evaluate",
    "train",
    "translate",
]

logger = logging.getLogger(__name__)

SECTIONS = ("model", "data", "translate", "train")
HELP_PRESET = "demo"  # the preset whose values the help lines show (train's default)


def default_preset(data: str | None) -> str:
    """``demo`` for no data or a registered data set (fra.txt, which its filters were made
    for), ``default`` for a file of the user's own (a path: it has a suffix or a folder)."""
    if data is None or not (Path(data).suffix or os.sep in data or Path(data).exists()):
        return "demo"
    return "default"


@preset_help(
    preset_values(
        load_preset("translate", HELP_PRESET),
        TrainConfig,
        PairsConfig,
        TranslateConfig,
        Seq2SeqConfig,
        data="path",
    ),
    HELP_PRESET,
)
@shared_docs
def train(
    preset: str | None = None,
    run_dir: str = "runs/translate",
    data: str | None = None,
    val_data: str | None = None,
    test_data: str | None = None,
    encoding: str | None = None,
    reverse: bool | None = None,
    tokenizer: str | None = None,
    max_len: int | None = None,
    simple_prefixes: bool | None = None,
    max_pairs: int | None = None,
    cell: str | None = None,
    hidden_size: int | None = None,
    num_layers: int | None = None,
    bidirectional: bool | None = None,
    dropout: float | None = None,
    num_heads: int | None = None,
    chunk_size: int | None = None,
    forget_gate: str | None = None,
    embedding_dim: int | None = None,
    embeddings: str | None = None,
    tgt_embeddings: str | None = None,
    freeze_embeddings: bool | None = None,
    attention: str | None = None,
    input_feeding: bool | None = None,
    output_layer: str | None = None,
    batch_size: int | None = None,
    teacher_forcing: float | None = None,
    teacher_forcing_final: float | None = None,
    label_smoothing: float | None = None,
    epochs: int | None = None,
    lr: float | None = None,
    resume: bool = False,
    device: str | None = None,
    max_steps: int | None = None,
    max_time: float | None = None,
    seed: int = 0,
    progress: bool | None = None,
    checkpoint_every: int | None = None,
    checkpoint_minutes: float | None = None,
    ema: float | None = None,
    data_options: dict[str, Any] | None = None,
    model_options: dict[str, Any] | None = None,
    train_options: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Train a translator on sentence pairs; the run directory can then evaluate and translate.

    The best checkpoint is the one with the lowest validation loss (teacher-forced NLL).

    Args:
        preset: starting configuration (rnnkit translate presets): demo (2,000 simple pairs
            of fra.txt, seconds; the default without --data or with a built-in data set),
            default (the default for your own file: every pair up to 30 tokens, no prefix
            filter, up to 12 epochs with early stopping), tutorial (the PyTorch tutorial's
            filter: under 10 words, "i am"/"he is"/... prefixes) or strong (all pairs up to
            15 tokens, a CPU-sized BiLSTM with additive attention). Every other flag
            overrides it.
        {run flags}
        data: a TSV of source<TAB>target lines, or a dataset name (rnnkit data list).
        val_data: a TSV of validation pairs (a data set's own dev file) instead of holding
            them out of data.
        test_data: a TSV of test pairs (a data set's own test file) instead of holding them
            out of data.
        encoding: the TSV files' text encoding, e.g. latin-1.
        reverse: translate the second column into the first (fra.txt: French to English).
        tokenizer: word (punctuation split off) or char.
        max_len: keep training pairs with at most this many tokens per side.
        simple_prefixes: keep only pairs whose first column starts like "i am", "he is", ...
        max_pairs: use at most this many pairs.
        {layer flags}
        embedding_dim: size of the token embeddings.
        {embedding flags}
        tgt_embeddings: a vectors file in the target language for the target table (default:
            --embeddings initialises both the source and the target table).
        attention: additive, dot, general or none.
        input_feeding: feed the previous attentional vector to the next decoder step.
        output_layer: the decoder's output layer: {output layers}; more options (cutoffs,
            div_value, chunk_rows) through model_options. Evaluation is exact for each.
        batch_size: pairs per batch.
        teacher_forcing: probability of feeding the gold previous token in training.
        teacher_forcing_final: decay the ratio linearly to this (over teacher_forcing_steps,
            a train_options key).
        label_smoothing: label smoothing of the training loss.
        epochs: passes over the training pairs.
        lr: learning rate.
        data_options: any other PairsConfig field, e.g. {"min_freq": 2, "strip_accents": true}.
        model_options: any other Seq2SeqConfig field, e.g. {"bridge": "copy", "decoder_layers": 2}.
        train_options: any other TrainConfig field, e.g. {"schedule": "cosine"}, or
            teacher_forcing_steps (the length of the teacher-forcing decay).

    Returns:
        The trainer's summary plus validation perplexity, pair counts and the run directory.
    """
    preset = preset or default_preset(data)
    cfg = start_sections("translate", preset, run_dir, resume, (*SECTIONS, EMBEDDINGS))
    pre = Pretrained.from_flags(
        cfg.pop(EMBEDDINGS), file=embeddings, freeze=freeze_embeddings, tgt_file=tgt_embeddings
    )
    cfg["data"].update(given(
        path=data, val_data=val_data, test_data=test_data, encoding=encoding,
        reverse=reverse, tokenizer=tokenizer, max_len=max_len, simple_prefixes=simple_prefixes,
        max_pairs=max_pairs, seed=None if resume else seed,
    ))  # fmt: skip
    cfg["data"].update(data_options or {})
    layer = {"cell": cell, "hidden_size": hidden_size, "num_layers": num_layers,
             "bidirectional": bidirectional, "dropout": dropout, "num_heads": num_heads,
             "chunk_size": chunk_size, "forget_gate": forget_gate}  # fmt: skip
    cfg["model"].update(layer_overrides(**layer))
    cfg["model"].update(given(embedding_dim=embedding_dim, attention=attention,
                              input_feeding=input_feeding, output_layer=output_layer))  # fmt: skip
    cfg["model"].update(pre.model_dim(embedding_dim) if pre else {})  # the file's E unless given
    cfg["model"].update(model_options or {})
    options = dict(train_options or {})
    task_keys = {f.name for f in fields(TranslateConfig)}
    cfg["translate"].update({k: options.pop(k) for k in list(options) if k in task_keys})
    cfg["translate"].update(given(
        batch_size=batch_size, teacher_forcing=teacher_forcing,
        teacher_forcing_final=teacher_forcing_final, label_smoothing=label_smoothing,
    ))  # fmt: skip
    over = train_overrides(
        device=device, max_steps=max_steps, max_time=max_time, progress=progress,
        checkpoint_every=checkpoint_every, checkpoint_minutes=checkpoint_minutes, ema=ema,
        **{k: v for k, v in {"epochs": epochs, "lr": lr}.items() if v is not None}, **options,
    )  # fmt: skip
    train_cfg = TrainConfig.from_dict({**cfg["train"], **over, "seed": seed})
    tr = Translator.create(cfg, seed=seed)
    tr.pretrained = pre
    result = tr.fit(run_dir, train_cfg, resume=resume)
    out = {k: v for k, v in result.items() if k in _REPORT or k.endswith("_pairs")}
    return {**out, EMBEDDINGS: pre.summary()} if pre else out


# what `rnnkit translate train` prints (the trainer's own bookkeeping stays in metrics.csv)
_REPORT = ("run_dir", "step", "epoch", "stopped", "train_loss", "val_loss", "val_perplexity",
           "best_step", "elapsed")  # fmt: skip


def _split_pairs(run: Path, split: str) -> tuple[Translator, list[tuple[str, str]]]:
    tr = Translator.load(run)
    check_files(tr.data, tr.files)
    pairs = load_pair_splits(tr.data, tr.files)
    if split not in pairs.text:
        raise ValueError(f"`split` must be train, val or test, got {split!r}")
    if not pairs.text[split]:
        raise ValueError(f"the {split} split of {tr.data.path} is empty")
    return tr, pairs.text[split]


def evaluate(
    run: str = "runs/translate",
    split: str = "test",
    method: str = DECODING.method,
    beam_size: int = DECODING.beam_size,
    length_penalty: float = DECODING.length_penalty,
    max_len_a: float = DECODING.max_len_a,
    max_len_b: int = DECODING.max_len_b,
    batch_size: int = DECODING.batch_size,
    limit: int | None = None,
    attention_plots: int = 3,
) -> dict[str, Any]:
    """Corpus BLEU and chrF (sacrebleu) and perplexity of a trained translator on a split.

    Writes ``translations-<split>.tsv`` (source, reference, hypothesis per line),
    ``eval-<split>.json`` and attention heatmaps ``attention/<split>-<i>.png`` in the run.

    Args:
        run: the run directory written by ``rnnkit translate train``.
        split: test, val or train (the same split as in training: held out of the data by
            the same seed, or the run's --val-data / --test-data file).
        method: greedy, beam or sample.
        beam_size: beams per sentence (1 is greedy).
        length_penalty: alpha of the GNMT length penalty (0: raw log-probability).
        max_len_a: at most max_len_a * source length + max_len_b output tokens.
        max_len_b: see max_len_a.
        batch_size: sentences decoded together.
        limit: evaluate only the first this many pairs of the split.
        attention_plots: heatmaps drawn for the first this many sentences (0: none).
    """
    t0 = time.perf_counter()
    run_dir = Path(run)
    tr, pairs = _split_pairs(run_dir, split)
    pairs = pairs[:limit] if limit is not None else pairs
    sources = [s for s, _ in pairs]
    # References in the form the model writes: normalised, tokenized, detokenized.
    refs = [tr.detokenize(tr.tokenizer.tokenize(t)) for _, t in pairs]
    out = tr.translate(
        sources, method=method, beam_size=beam_size, length_penalty=length_penalty,
        max_len_a=max_len_a, max_len_b=max_len_b, batch_size=batch_size,
        return_attention=attention_plots > 0, split=False,
    )  # fmt: skip
    hyps = [t.text for t in out]
    result: dict[str, Any] = {
        "split": split,
        "pairs": len(pairs),
        "method": method if method != "beam" else f"beam {beam_size}",
        "bleu": corpus_bleu(hyps, refs),
        "chrf": corpus_chrf(hyps, refs),
        "perplexity": teacher_forced_perplexity(tr, pairs, batch_size),
    }
    tsv = run_dir / f"translations-{split}.tsv"
    with open(tsv, "w", encoding="utf-8") as f:
        f.write("source\treference\thypothesis\n")
        for s, r, h in zip(sources, refs, hyps, strict=True):
            f.write(f"{s}\t{r}\t{h}\n")
    plot_attention_maps(out, run_dir / "attention", split, attention_plots)
    result["translations"] = str(tsv)
    result["seconds"] = time.perf_counter() - t0
    (run_dir / f"eval-{split}.json").write_text(json.dumps(result, indent=2) + "\n")
    return result


def _read_sentences(sentences: str | list[str] | None, encoding: str | None) -> list[str]:
    """The sentences given, else the lines of stdin (``encoding``: stdin's text encoding)."""
    if isinstance(sentences, str):
        sentences = [line.strip() for line in sentences.splitlines() if line.strip()]
    if sentences:
        return list(sentences)
    stream = sys.stdin
    if encoding is not None and hasattr(stream, "buffer"):
        import io

        stream = io.TextIOWrapper(stream.buffer, encoding=encoding)
    try:
        lines = [line.strip() for line in stream if line.strip()]
    except UnicodeDecodeError as err:
        raise ValueError(
            f"stdin is not valid {encoding or stream.encoding} text ({err}); pass `--encoding`"
        ) from err
    if not lines:
        raise ValueError("no sentences given (as arguments or on stdin)")
    return lines


def translate(
    run: str = "runs/translate",
    sentences: str | list[str] | None = None,
    method: str = DECODING.method,
    beam_size: int = DECODING.beam_size,
    length_penalty: float = DECODING.length_penalty,
    n_best: int = 1,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    seed: int = 0,
    split: bool = True,
    encoding: str | None = None,
    attention_dir: str | None = None,
    backend: str = "torch",
) -> list[str]:
    """Translate sentences with a trained run (lines from stdin when none are given).

    Args:
        run: the run directory written by ``rnnkit translate train``.
        sentences: a sentence, or a list of them (a JSON list on the command line); a string
            with newlines holds one sentence per line; none reads the lines of stdin.
        method: beam, greedy or sample.
        beam_size: beams per sentence (1 is greedy).
        length_penalty: alpha of the GNMT length penalty (0: raw log-probability).
        n_best: translations per sentence (beam search), best first; with n_best > 1 each line
            is "sentence number<TAB>score<TAB>translation".
        temperature: sampling temperature (method sample).
        top_k: sample from the k most likely tokens only.
        top_p: sample from the smallest set with this much probability.
        seed: seed of the sampling.
        split: translate each sentence of a longer text on its own and join the results
            (false: the whole text as one sequence).
        encoding: the text encoding of stdin (default: the locale's).
        attention_dir: also write an attention heatmap per sentence here.
        backend: torch, onnx (onnxruntime) or numpy (rnnkit's NumPy engine).
    """
    from rnnkit.tasks.backends import runtime

    texts = _read_sentences(sentences, encoding)
    tr = runtime(Translator.load(run), backend)
    out = tr.translate(
        texts, method=method, beam_size=beam_size, length_penalty=length_penalty,
        n_best=n_best, temperature=temperature, top_k=top_k, top_p=top_p, seed=seed,
        return_attention=attention_dir is not None, split=split,
    )  # fmt: skip
    if attention_dir is not None:
        plot_attention_maps(out, Path(attention_dir), "sentence")
    if n_best == 1:
        return [t.text for t in out]
    lines = []
    for i, t in enumerate(out, 1):
        lines += [f"{i}\t{s:.4f}\t{x}" for x, s in [(t.text, t.score), *t.alternatives]]
    return lines
