"""Translation: sentence pairs -> Seq2Seq with attention -> Trainer -> BLEU/chrF -> translations.

CLI (``rnnkit translate ...``) and Python API are the same three functions:

- :func:`train` prepares the pairs (:mod:`rnnkit.data.pairs`), builds a
  :class:`~rnnkit.models.seq2seq.Seq2Seq` and trains it with :class:`rnnkit.train.Trainer`
  (teacher forcing with an optional linear schedule, optional label smoothing, the loss
  masked on padding). The run directory gets the trainer's files plus ``src_vocab.json`` and
  ``tgt_vocab.json``: enough to rebuild everything.
- :func:`evaluate` decodes a split (greedy, sampling or beam search) and reports corpus BLEU
  and chrF (sacrebleu) and the teacher-forced perplexity; it writes
  ``translations-<split>.tsv`` (source, reference, hypothesis) and attention heatmaps.
- :func:`translate` translates sentences given as arguments, or lines read from stdin.

:class:`Translator` is the object behind them for Python use::

    tr = Translator.load("runs/translate")
    tr.translate(["I am cold."])[0].text
"""

from __future__ import annotations

import dataclasses
import json
import logging
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import torch

from rnnkit.config import check_types, config_from_dict
from rnnkit.data.pairs import PairData, PairsConfig, load_pairs
from rnnkit.data.vocab import Vocab
from rnnkit.metrics.text import corpus_bleu, corpus_chrf, mean_perplexity, perplexity
from rnnkit.models.seq2seq import Seq2Seq, Seq2SeqConfig, sequence_loss
from rnnkit.tasks.translator import SRC_VOCAB, TGT_VOCAB, Translation, Translator

__all__ = [
    "PRESETS",
    "TranslateConfig",
    "Translation",
    "Translator",
    "evaluate",
    "train",
    "translate",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TranslateConfig:
    """Training options of the task (beyond the data, the network and the trainer)."""

    batch_size: int = 64
    """Pairs per batch (length-bucketed)."""
    teacher_forcing: float = 1.0
    """Probability of feeding the gold previous token (else the model's own prediction)."""
    teacher_forcing_final: float | None = None
    """If set, the ratio decays linearly to this value over ``teacher_forcing_steps``."""
    teacher_forcing_steps: int = 10_000
    """Training steps of the teacher-forcing decay."""
    label_smoothing: float = 0.0
    """Label smoothing of the training loss (validation loss and perplexity are plain NLL)."""

    def __post_init__(self) -> None:
        check_types(self)
        if self.batch_size < 1:
            raise ValueError(f"`batch_size` must be >= 1, got {self.batch_size}")
        for name in ("teacher_forcing", "teacher_forcing_final"):
            v = getattr(self, name)
            if v is not None and not 0.0 <= v <= 1.0:
                raise ValueError(f"`{name}` must be in [0, 1], got {v}")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ValueError(f"`label_smoothing` must be in [0, 1), got {self.label_smoothing}")
        if self.teacher_forcing_steps < 1:
            raise ValueError(
                f"`teacher_forcing_steps` must be >= 1, got {self.teacher_forcing_steps}"
            )

    def ratio(self, step: int) -> float:
        """Teacher-forcing ratio at training step ``step`` (0-based)."""
        if self.teacher_forcing_final is None:
            return self.teacher_forcing
        frac = min(1.0, step / self.teacher_forcing_steps)
        return self.teacher_forcing + frac * (self.teacher_forcing_final - self.teacher_forcing)


# Starting configurations: data, network, task and trainer settings.
PRESETS: dict[str, dict[str, dict[str, Any]]] = {
    "demo": {  # seconds on a laptop: a taste, not a translator
        "data": {"simple_prefixes": True, "max_len": 9, "max_pairs": 2000},
        "model": {"embedding_dim": 64, "hidden_size": 64, "dropout": 0.1},
        "task": {"batch_size": 32},
        "train": {"epochs": 2, "lr": 2e-3},
    },
    "tutorial": {  # the PyTorch tutorial's data: pairs under 10 words, simple prefixes
        "data": {"simple_prefixes": True, "max_len": 9},
        "model": {"embedding_dim": 128, "hidden_size": 128, "dropout": 0.2},
        "task": {"batch_size": 32},
        "train": {"epochs": 12, "lr": 2e-3},
    },
    "strong": {  # fra.txt unfiltered up to 15 tokens, sized for a 2-core CPU: 25 minutes
        "data": {"max_len": 15, "min_freq": 3},
        "model": {
            "embedding_dim": 256,
            "hidden_size": 256,
            "num_layers": 1,
            "bidirectional": True,
            "decoder_hidden_size": 256,
            "attention": "additive",
            "input_feeding": False,
            "dropout": 0.2,
        },  # fmt: skip
        "task": {"batch_size": 64},
        "train": {"epochs": 10, "max_time": 1500.0, "lr": 2e-3, "schedule": "plateau"},
    },
}


def _pick(preset: str) -> dict[str, dict[str, Any]]:
    if preset not in PRESETS:
        raise ValueError(f"`preset` must be one of {sorted(PRESETS)}, got {preset!r}")
    return {k: dict(v) for k, v in PRESETS[preset].items()}


def _set(section: dict[str, Any], **values: Any) -> None:
    section.update({k: v for k, v in values.items() if v is not None})


def _make_step(task: TranslateConfig, pad_id: int, trainer_ref: list) -> Callable:
    def step_fn(model: torch.nn.Module, batch: Any, state: Any) -> Any:
        from rnnkit.train import StepOutput

        training = model.training
        ratio = task.ratio(trainer_ref[0].step) if training else 1.0
        logits, _ = model(batch.src, batch.src_lengths, batch.tgt_in, teacher_forcing=ratio)
        smoothing = task.label_smoothing if training else 0.0
        loss, n = sequence_loss(logits, batch.tgt_out, pad_id, smoothing)
        metrics = {"teacher_forcing": ratio} if training and ratio < 1.0 else {}
        return StepOutput(loss, n, None, metrics)

    return step_fn


def train(
    preset: str = "demo",
    run_dir: str = "runs/translate",
    data: str | None = None,
    reverse: bool | None = None,
    tokenizer: str | None = None,
    max_len: int | None = None,
    simple_prefixes: bool | None = None,
    max_pairs: int | None = None,
    cell: str | None = None,
    embedding_dim: int | None = None,
    hidden_size: int | None = None,
    num_layers: int | None = None,
    bidirectional: bool | None = None,
    attention: str | None = None,
    input_feeding: bool | None = None,
    dropout: float | None = None,
    batch_size: int | None = None,
    teacher_forcing: float | None = None,
    teacher_forcing_final: float | None = None,
    label_smoothing: float | None = None,
    epochs: int | None = None,
    max_steps: int | None = None,
    max_time: float | None = None,
    lr: float | None = None,
    device: str | None = None,
    seed: int = 0,
    resume: bool = False,
    progress: bool | None = None,
    data_options: dict[str, Any] | None = None,
    model_options: dict[str, Any] | None = None,
    train_options: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Train a translator on sentence pairs; the run directory can then evaluate and translate.

    Args:
        preset: starting configuration: demo (2,000 simple pairs, seconds), tutorial (the
            PyTorch tutorial's filter: under 10 words, "i am"/"he is"/... prefixes) or strong
            (all pairs up to 15 tokens, a CPU-sized BiLSTM with additive attention).
        run_dir: where config.json, checkpoints, metrics.csv, the vocabularies and loss.png go.
        data: a TSV of source<TAB>target lines, or a dataset name (default fra-eng).
        reverse: translate the second column into the first (fra.txt: French to English).
        tokenizer: word (punctuation split off) or char.
        max_len: keep pairs with at most this many tokens per side.
        simple_prefixes: keep only pairs whose first column starts like "i am", "he is", ...
        max_pairs: use at most this many pairs.
        cell: rnn, rnn_relu, lstm, gru, lstm_ln, gru_ln (layer norm), mingru or minlstm.
        embedding_dim: size of the token embeddings.
        hidden_size: encoder hidden size per direction.
        num_layers: encoder (and decoder) layers.
        bidirectional: bidirectional encoder.
        attention: additive, dot, general or none.
        input_feeding: feed the previous attentional vector to the next decoder step.
        dropout: dropout on embeddings, between layers and before the output layer.
        batch_size: pairs per batch.
        teacher_forcing: probability of feeding the gold previous token in training.
        teacher_forcing_final: decay the ratio linearly to this (see data/task options).
        label_smoothing: label smoothing of the training loss.
        epochs: passes over the training pairs.
        max_steps: stop after this many steps.
        max_time: stop after this many seconds.
        lr: learning rate.
        device: auto, cpu, cuda, cuda:N or mps.
        seed: seeds the split, initialisation, batch order and dropout.
        resume: continue the run in run_dir from its last checkpoint.
        progress: show a progress bar (default: when attached to a terminal).
        data_options: any other PairsConfig field, e.g. {"min_freq": 2, "strip_accents": true}.
        model_options: any other Seq2SeqConfig field, e.g. {"bridge": "copy", "decoder_layers": 2}.
        train_options: any other TrainConfig field, e.g. {"schedule": "cosine"}, or
            teacher_forcing_steps (the length of the teacher-forcing decay).

    Returns:
        The trainer's summary plus validation perplexity, pair counts and the run directory.
    """
    from rnnkit.train import TrainConfig, Trainer

    cfg = _pick(preset)
    _set(cfg["data"], path=data, reverse=reverse, tokenizer=tokenizer, max_len=max_len,
         simple_prefixes=simple_prefixes, max_pairs=max_pairs, seed=seed)  # fmt: skip
    cfg["data"].update(data_options or {})
    _set(cfg["model"], cell=cell, embedding_dim=embedding_dim, hidden_size=hidden_size,
         num_layers=num_layers, bidirectional=bidirectional, attention=attention,
         input_feeding=input_feeding, dropout=dropout)  # fmt: skip
    cfg["model"].update(model_options or {})
    _set(cfg["task"], batch_size=batch_size, teacher_forcing=teacher_forcing,
         teacher_forcing_final=teacher_forcing_final, label_smoothing=label_smoothing)  # fmt: skip
    train_options = dict(train_options or {})
    task_keys = {f.name for f in fields(TranslateConfig)}
    cfg["task"].update({k: train_options.pop(k) for k in list(train_options) if k in task_keys})
    _set(cfg["train"], epochs=epochs, max_steps=max_steps, max_time=max_time, lr=lr,
         device=device, progress=progress, seed=seed)  # fmt: skip
    cfg["train"].update(train_options)
    data_cfg = config_from_dict(PairsConfig, cfg["data"], what="data")
    task_cfg = config_from_dict(TranslateConfig, cfg["task"], what="task")
    train_cfg = TrainConfig.from_dict(cfg["train"])

    run = Path(run_dir)
    if not resume and ((run / "last").exists() or (run / "best").exists()):
        raise FileExistsError(
            f"{run} already holds a run; pass resume=True to continue it, or choose another "
            "`run_dir`"
        )
    pairs = load_pairs(data_cfg)
    _save_vocabs(run, pairs, resume)
    model_cfg = Seq2SeqConfig.from_dict(
        {**cfg["model"], "src_vocab_size": len(pairs.src_vocab),
         "tgt_vocab_size": len(pairs.tgt_vocab), "pad_id": pairs.src_vocab.pad_id}
    )  # fmt: skip
    torch.manual_seed(seed)
    model = Seq2Seq(model_cfg)
    run_config = {
        "task_name": "translate", "preset": preset, "data": data_cfg.to_dict(),
        "model": model_cfg.to_dict(), "task": dataclasses.asdict(task_cfg),
    }  # fmt: skip
    ref: list = []
    trainer = Trainer(model, train_cfg, _make_step(task_cfg, model_cfg.pad_id, ref), run,
                      run_config)  # fmt: skip
    ref.append(trainer)
    train_loader = pairs.loader("train", task_cfg.batch_size)
    val_loader = pairs.loader("val", task_cfg.batch_size) if pairs.text["val"] else None
    result = trainer.fit(train_loader, val_loader, resume=resume)
    if "val_loss" in result:
        result["val_perplexity"] = mean_perplexity(result["val_loss"])
    result.update({f"{k}_pairs": len(v) for k, v in pairs.text.items()})
    result["run_dir"] = str(run)
    return result


def _save_vocabs(run: Path, pairs: PairData, resume: bool) -> None:
    """Write the vocabularies (once); on resume they must equal the ones rebuilt now."""
    for name, vocab in ((SRC_VOCAB, pairs.src_vocab), (TGT_VOCAB, pairs.tgt_vocab)):
        path = run / name
        if path.is_file() and (resume or (run / "last").exists() or (run / "best").exists()):
            if Vocab.load(path) != vocab:
                raise ValueError(
                    f"{path} differs from the vocabulary of this data: not the same run"
                )
            continue
        run.mkdir(parents=True, exist_ok=True)
        vocab.save(path)


def _split_pairs(run: Path, split: str) -> tuple[Translator, list[tuple[str, str]]]:
    tr = Translator.load(run)
    pairs = load_pairs(tr.data)
    if split not in pairs.text:
        raise ValueError(f"`split` must be train, val or test, got {split!r}")
    if not pairs.text[split]:
        raise ValueError(f"the {split} split of {tr.data.path} is empty")
    return tr, pairs.text[split]


@torch.no_grad()
def _perplexity(tr: Translator, pairs: Sequence[tuple[str, str]], batch_size: int) -> float:
    """Teacher-forced perplexity of the references (the saved vocabularies encode them)."""
    from rnnkit.data.pairs import PairLoader

    src = [tr.src_vocab.encode(tr.tokenizer.tokenize(s)) for s, _ in pairs]
    tgt = [tr.tgt_vocab.encode(tr.tokenizer.tokenize(t)) for _, t in pairs]
    loader = PairLoader(src, tgt, tr.src_vocab, tr.tgt_vocab, batch_size, shuffle=False)
    dev = next(tr.model.parameters()).device
    nll, n = 0.0, 0
    for b in loader:
        b = b.to(dev)
        logits, _ = tr.model(b.src, b.src_lengths, b.tgt_in)
        loss, k = sequence_loss(logits, b.tgt_out, tr.tgt_vocab.pad_id)
        nll, n = nll + float(loss) * k, n + k
    return perplexity(nll, n)


def _rows(t: Translation) -> list[str]:
    """Row labels of an attention map: the output tokens, and ``<eos>`` if it was emitted."""
    assert t.attention is not None
    return [*t.tokens, "<eos>"][: t.attention.shape[0]]


def evaluate(
    run: str = "runs/translate",
    split: str = "test",
    method: str = "beam",
    beam_size: int = 5,
    length_penalty: float = 0.6,
    max_len_a: float = 1.5,
    max_len_b: int = 5,
    batch_size: int = 64,
    limit: int | None = None,
    attention_plots: int = 3,
) -> dict[str, Any]:
    """Corpus BLEU and chrF (sacrebleu) and perplexity of a trained translator on a split.

    Writes ``translations-<split>.tsv`` (source, reference, hypothesis per line),
    ``eval-<split>.json`` and attention heatmaps ``attention/<split>-<i>.png`` in the run.

    Args:
        run: the run directory written by ``rnnkit translate train``.
        split: test, val or train (the same deterministic split as in training).
        method: greedy, beam or sample.
        beam_size: beams per sentence (1 is greedy).
        length_penalty: alpha of the GNMT length penalty (0: raw log-probability).
        max_len_a: at most max_len_a * source length + max_len_b output tokens.
        max_len_b: see max_len_a.
        batch_size: sentences decoded together.
        limit: evaluate only the first this many pairs of the split.
        attention_plots: heatmaps drawn for the first this many sentences (0: none).
    """
    from rnnkit.viz.attention import plot_attention

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
        return_attention=attention_plots > 0,
    )  # fmt: skip
    hyps = [t.text for t in out]
    result: dict[str, Any] = {
        "split": split,
        "pairs": len(pairs),
        "method": method if method != "beam" else f"beam {beam_size}",
        "bleu": corpus_bleu(hyps, refs),
        "chrf": corpus_chrf(hyps, refs),
        "perplexity": _perplexity(tr, pairs, batch_size),
    }
    tsv = run_dir / f"translations-{split}.tsv"
    with open(tsv, "w", encoding="utf-8") as f:
        f.write("source\treference\thypothesis\n")
        for s, r, h in zip(sources, refs, hyps, strict=True):
            f.write(f"{s}\t{r}\t{h}\n")
    for i, t in enumerate(out[:attention_plots]):
        if t.attention is not None:
            plot_attention(t.attention, t.source_tokens, _rows(t),
                           run_dir / "attention" / f"{split}-{i}.png")  # fmt: skip
    result["translations"] = str(tsv)
    result["seconds"] = time.perf_counter() - t0
    (run_dir / f"eval-{split}.json").write_text(json.dumps(result, indent=2) + "\n")
    return result


def translate(
    run: str = "runs/translate",
    sentences: str | list[str] | None = None,
    method: str = "beam",
    beam_size: int = 5,
    length_penalty: float = 0.6,
    n_best: int = 1,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    seed: int = 0,
    attention_dir: str | None = None,
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
        attention_dir: also write an attention heatmap per sentence here.
    """
    if isinstance(sentences, str):
        sentences = [line.strip() for line in sentences.splitlines() if line.strip()]
    if not sentences:
        sentences = [line.strip() for line in sys.stdin if line.strip()]
        if not sentences:
            raise ValueError("no sentences given (as arguments or on stdin)")
    tr = Translator.load(run)
    out = tr.translate(
        sentences, method=method, beam_size=beam_size, length_penalty=length_penalty,
        n_best=n_best, temperature=temperature, top_k=top_k, top_p=top_p, seed=seed,
        return_attention=attention_dir is not None,
    )  # fmt: skip
    if attention_dir is not None:
        from rnnkit.viz.attention import plot_attention

        for i, t in enumerate(out):
            if t.attention is not None:
                plot_attention(t.attention, t.source_tokens, _rows(t),
                               Path(attention_dir) / f"sentence-{i}.png")  # fmt: skip
    if n_best == 1:
        return [t.text for t in out]
    lines = []
    for i, t in enumerate(out, 1):
        lines += [f"{i}\t{s:.4f}\t{x}" for x, s in [(t.text, t.score), *t.alternatives]]
    return lines
