"""Language modelling and text generation: text -> vocab -> LanguageModel -> Trainer -> samples.

From Python::

    from rnnkit.tasks.lm import TextLM
    lm = TextLM.create(preset="demo", epochs=1)          # data + vocab + model
    lm.fit("runs/demo")                                  # trains, checkpoints, loss.png
    print(lm.generate("The ", max_new_tokens=200))
    print(lm.evaluate("test"))                           # loss, perplexity, bits per token
    lm = TextLM.load("runs/demo")                        # later, from the run directory

From the shell: ``rnnkit lm train|generate|eval`` (the functions :func:`train`,
:func:`generate` and :func:`evaluate` below; their docstrings are the ``--help``).
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

from rnnkit.config import check_types, config_from_dict
from rnnkit.data.registry import resolve_text_source
from rnnkit.data.streams import CorpusStream
from rnnkit.data.text import read_text
from rnnkit.data.tokenizers import get_tokenizer
from rnnkit.data.vocab import Vocab
from rnnkit.decoding import generate as generate_ids
from rnnkit.models.language_model import LanguageModel, LMConfig, bits_per_token, perplexity
from rnnkit.tasks.lm_presets import PRESETS
from rnnkit.train import (
    StepOutput,
    TrainConfig,
    Trainer,
    load_checkpoint,
    read_run_config,
    unwrap,
)

__all__ = [
    "PRESETS",
    "LMDataConfig",
    "LMReport",
    "TextLM",
    "evaluate",
    "generate",
    "lm_step",
    "load_corpus",
    "train",
]

log = logging.getLogger(__name__)

VOCAB_FILE = "vocab.json"


@dataclass(frozen=True)
class LMDataConfig:
    """Where the text comes from and how it is cut into windows."""

    data: str = "python-docs"
    """A registered dataset (``rnnkit data list``), ``name/file``, or a path to a text file.
    A folder or dataset with ``*.train.txt``, ``*.valid.txt``, ``*.test.txt`` uses those."""
    level: str = "char"
    """Tokens: ``char`` or ``word`` (whitespace, an ``<eos>`` per line, as PTB)."""
    bptt: int = 100
    """Window length T for truncated backprop through time."""
    batch_size: int = 32
    """Parallel streams B in training."""
    eval_batch_size: int = 10
    """Parallel streams in validation and test."""
    variable_bptt: bool = False
    """AWD-LSTM's random window lengths around ``bptt``."""
    val_fraction: float = 0.05
    """For a single file: the share of text (from its end) kept for validation."""
    test_fraction: float = 0.05
    """For a single file: the share of text (from its end) kept for test."""
    min_freq: int = 1
    """Tokens seen fewer times in training become ``<unk>``."""
    max_vocab: int | None = None
    """At most this many tokens in the vocabulary (specials included)."""

    def __post_init__(self) -> None:
        check_types(self)
        if self.level not in ("char", "word"):
            raise ValueError(f"`level` must be 'char' or 'word', got {self.level!r}")
        for name in ("bptt", "batch_size", "eval_batch_size", "min_freq"):
            if getattr(self, name) < 1:
                raise ValueError(f"`{name}` must be >= 1, got {getattr(self, name)}")
        for name in ("val_fraction", "test_fraction"):
            if not 0.0 < getattr(self, name) < 0.5:
                raise ValueError(f"`{name}` must be in (0, 0.5), got {getattr(self, name)}")


def _preset(preset: str | dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    if isinstance(preset, dict):
        return {"model": {}, "data": {}, "train": {}, **preset}
    if preset not in PRESETS:
        raise ValueError(f"`preset` must be one of {sorted(PRESETS)}, got {preset!r}")
    return PRESETS[preset]


class Corpus(NamedTuple):
    """A tokenized corpus: the vocabulary and the train/valid/test token ids ``(N,)``."""

    vocab: Vocab
    splits: dict[str, Tensor]


def _split_files(path: Path) -> dict[str, Path] | None:
    folder = path if path.is_dir() else None
    if folder is None:
        return None
    found = {}
    for split in ("train", "valid", "test"):
        hits = sorted(folder.glob(f"*{split}*.txt"))
        if len(hits) != 1:
            raise ValueError(
                f"`data` folder {folder} must hold one *{split}*.txt file, found {len(hits)}"
            )
        found[split] = hits[0]
    return found


def _specials(level: str) -> tuple[str, ...]:
    return ("<unk>",) if level == "char" else ("<unk>", "<eos>")


def load_corpus(cfg: LMDataConfig, vocab: Vocab | None = None) -> Corpus:
    """Read, split and tokenize ``cfg.data``; build the vocabulary on train unless given."""
    path = resolve_text_source(cfg.data)
    tokenizer = get_tokenizer(cfg.level)
    files = _split_files(path)
    if files is not None:
        texts = {split: read_text(p) for split, p in files.items()}
    else:
        text = read_text(path)
        n = len(text)
        n_test, n_val = int(n * cfg.test_fraction), int(n * cfg.val_fraction)
        cut_val, cut_test = n - n_val - n_test, n - n_test
        texts = {"train": text[:cut_val], "valid": text[cut_val:cut_test], "test": text[cut_test:]}
    tokens = {split: tokenizer.tokenize(t) for split, t in texts.items()}
    if vocab is None:
        vocab = Vocab.build(
            tokens["train"],
            min_freq=cfg.min_freq,
            max_size=cfg.max_vocab,
            specials=_specials(cfg.level),
            unk_token="<unk>",
        )
    splits = {}
    for split, toks in tokens.items():
        if len(toks) < 2 * cfg.eval_batch_size + 2:
            raise ValueError(
                f"`data` {cfg.data!r}: the {split} split has {len(toks)} tokens, too few "
                f"(need > {2 * cfg.eval_batch_size + 2}); give more text or other fractions"
            )
        splits[split] = torch.tensor(vocab.encode(toks), dtype=torch.long)
    unk = vocab.unk_id
    for split in ("valid", "test"):
        n_unk = int((splits[split] == unk).sum()) if unk is not None else 0
        if n_unk:
            log.info("%s: %d tokens not in the training vocabulary map to <unk>", split, n_unk)
    return Corpus(vocab, splits)


def lm_step(model: torch.nn.Module, batch: tuple[Tensor, Tensor], state: Any) -> StepOutput:
    """One BPTT window: ``x, y`` are ``(T, B)``; the state comes from the previous window."""
    x, y = batch
    config = getattr(unwrap(model), "config", None)  # under DDP `model` is the wrapper
    alpha, beta = getattr(config, "ar_alpha", 0.0), getattr(config, "tar_beta", 0.0)
    if not (model.training and (alpha or beta)):
        logits, state = model(x, state)  # (T, B, V)
        loss = F.cross_entropy(logits.flatten(0, 1), y.flatten())  # (T*B, V) vs (T*B,)
        return StepOutput(loss, y.numel(), state)
    # AWD-LSTM's AR and TAR (Merity et al. 2018), train mode only; the reported train loss
    # includes them, validation and test do not.
    logits, state, (raw, dropped) = model(x, state, return_hidden=True)
    loss = F.cross_entropy(logits.flatten(0, 1), y.flatten())  # (T*B, V) vs (T*B,)
    if alpha:
        loss = loss + alpha * dropped.pow(2).mean()
    if beta and raw.size(0) > 1:  # a 1-step window (an epoch's last) has no step-to-step change
        loss = loss + beta * (raw[1:] - raw[:-1]).pow(2).mean()  # (T-1, B, H_out)
    return StepOutput(loss, y.numel(), state)


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
            lines.append(f"--- samples {title} training ---")
            for s in samples:
                lines += [s, "---"]
        return "\n".join(lines)


class TextLM:
    """A language model with its vocabulary and data settings: fit, generate, evaluate.

    Build one with :meth:`create` (from a preset plus overrides) or :meth:`load` (from a run
    directory written by :meth:`fit`).
    """

    def __init__(
        self,
        model: LanguageModel,
        vocab: Vocab,
        data_config: LMDataConfig,
        corpus: Corpus | None = None,
        run_dir: str | Path | None = None,
    ) -> None:
        self.model = model
        self.vocab = vocab
        self.data_config = data_config
        self.tokenizer = get_tokenizer(data_config.level)
        self._corpus = corpus
        self.run_dir = Path(run_dir) if run_dir is not None else None

    @classmethod
    def create(
        cls,
        preset: str | dict[str, dict[str, Any]] = "demo",
        *,
        model: dict[str, Any] | None = None,
        data: dict[str, Any] | None = None,
        seed: int = 0,
    ) -> TextLM:
        """Read the data, build the vocabulary and a freshly initialised model.

        Args:
            preset: a name in :data:`PRESETS`, or such a dict (``{"model": ..., "data": ...}``).
            model: :class:`LMConfig` fields overriding the preset's.
            data: :class:`LMDataConfig` fields overriding the preset's.
            seed: seeds the weight initialisation (the global RNG is left as it was).
        """
        base = _preset(preset)
        model_cfg = config_from_dict(LMConfig, {**base["model"], **(model or {})}, what="model")
        data_cfg = config_from_dict(LMDataConfig, {**base["data"], **(data or {})}, what="data")
        corpus = load_corpus(data_cfg)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            net = LanguageModel(len(corpus.vocab), model_cfg)
        log.info(
            "%s: %s tokens in train, vocabulary %d, %.2fM parameters",
            data_cfg.data,
            f"{corpus.splits['train'].numel():,}",
            len(corpus.vocab),
            sum(p.numel() for p in net.parameters()) / 1e6,
        )
        return cls(net, corpus.vocab, data_cfg, corpus)

    @classmethod
    def load(cls, run_dir: str | Path, which: str = "best") -> TextLM:
        """Rebuild the model and vocabulary from a run directory (``best`` or ``last``)."""
        run_dir = Path(run_dir)
        if not run_dir.is_dir():
            raise FileNotFoundError(f"`run` directory {run_dir} not found")
        config = read_run_config(run_dir)
        if config.get("task") != "lm":
            raise ValueError(f"{run_dir} is not a language-model run (task {config.get('task')!r})")
        vocab = Vocab.load(run_dir / VOCAB_FILE)
        net = LanguageModel(len(vocab), LMConfig.from_dict(config["model"]))
        state_dict, _ = load_checkpoint(run_dir, which)
        net.load_state_dict(state_dict)
        data_cfg = config_from_dict(LMDataConfig, config["data"], what="data")
        return cls(net, vocab, data_cfg, run_dir=run_dir)

    @property
    def corpus(self) -> Corpus:
        if self._corpus is None:
            self._corpus = load_corpus(self.data_config, self.vocab)
        return self._corpus

    def _stream(self, split: str, batch_size: int, seed: int = 0) -> CorpusStream:
        cfg = self.data_config
        variable = cfg.variable_bptt and split == "train"
        return CorpusStream(
            self.corpus.splits[split], batch_size, cfg.bptt, variable_length=variable, seed=seed
        )

    def fit(
        self,
        run_dir: str | Path | None,
        train: TrainConfig | dict[str, Any] | None = None,
        *,
        resume: bool = False,
    ) -> dict[str, Any]:
        """Train on the train split, validating on ``valid``; returns the trainer's figures
        plus the test split's loss, perplexity and bits per token (best checkpoint)."""
        cfg = train if isinstance(train, TrainConfig) else TrainConfig.from_dict(train or {})
        self.run_dir = Path(run_dir) if run_dir is not None else None
        if self.run_dir is not None:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            self.vocab.save(self.run_dir / VOCAB_FILE)
        run_config = {
            "task": "lm",
            "model": self.model.config.to_dict(),
            "data": asdict(self.data_config),
        }
        trainer = Trainer(self.model, cfg, lm_step, run_dir=self.run_dir, run_config=run_config)
        dc = self.data_config
        result = trainer.fit(
            self._stream("train", dc.batch_size, cfg.seed),
            self._stream("valid", dc.eval_batch_size),
            resume=resume,
        )
        if self.run_dir is not None and (self.run_dir / "best").exists():
            state_dict, _ = load_checkpoint(self.run_dir, "best")
            self.model.load_state_dict(state_dict)
        test = _figures(trainer.evaluate(self._stream("test", dc.eval_batch_size))["loss"])
        return {**result, **{f"test_{k}": v for k, v in test.items()}}

    def evaluate(self, split: str = "test") -> dict[str, float]:
        """Loss (nats per token), perplexity and bits per token on ``train|valid|test``."""
        if split not in ("train", "valid", "test"):
            raise ValueError(f"`split` must be 'train', 'valid' or 'test', got {split!r}")
        trainer = Trainer(self.model, TrainConfig(progress=False), lm_step)
        stream = self._stream(split, self.data_config.eval_batch_size)
        return {"split": split, **_figures(trainer.evaluate(stream)["loss"])}  # type: ignore[dict-item]

    def encode_prompt(self, prompt: str) -> Tensor:
        """Token ids ``(T,)`` of ``prompt``; unknown tokens are an error that lists them."""
        tokens = self.tokenizer.tokenize(prompt)
        if self.data_config.level == "word" and tokens and tokens[-1] == "<eos>":
            tokens = tokens[:-1]  # a prompt is not a finished line
        if not tokens:
            raise ValueError("`prompt` must contain at least one token, got an empty prompt")
        missing = self.vocab.unknown(tokens)
        if missing:
            shown = ", ".join(repr(t) for t in sorted(set(missing))[:10])
            raise ValueError(
                f"`prompt` has {len(set(missing))} token(s) not in the vocabulary: {shown}; "
                "the model was trained without them"
            )
        return torch.tensor(self.vocab.encode(tokens), dtype=torch.long)

    def generate(
        self,
        prompt: str,
        max_new_tokens: int = 200,
        *,
        num_samples: int = 1,
        temperature: float = 1.0,
        top_k: int | None = None,
        top_p: float | None = None,
        seed: int | None = 0,
        stop: list[str] | None = None,
    ) -> list[str]:
        """Continue ``prompt``; returns ``num_samples`` texts (prompt included).

        The prompt is read once and the state carried, so N new tokens cost N steps.
        ``temperature=0`` is greedy; ``stop`` strings end a sample (cut before them).
        """
        ids = self.encode_prompt(prompt)
        gen = torch.Generator().manual_seed(seed) if seed is not None else None
        model = self.model
        device = next(model.parameters()).device
        was_training = model.training
        model.eval()

        unk = self.vocab.unk_id

        def step(x: Tensor, state: Any) -> tuple[Tensor, Any]:
            logits, state = model(x.to(device), state)  # (T, B, V)
            if unk is not None:
                logits[..., unk] = float("-inf")  # never emit <unk>
            return logits, state

        def decode(new: list[int]) -> str:
            return self.tokenizer.detokenize(self.vocab.decode(new))

        try:
            with torch.no_grad():
                rows = generate_ids(
                    step,
                    ids,
                    None,
                    max_new_tokens,
                    temperature=temperature,
                    top_k=top_k,
                    top_p=top_p,
                    generator=gen,
                    stop_strings=stop or (),
                    decode=decode,
                    num_samples=num_samples,
                )
        finally:
            model.train(was_training)
        out = []
        for row in rows:
            text = decode(row)
            for s in stop or ():
                if s in text:
                    text = text[: text.index(s)]
            sep = " " if self.data_config.level == "word" and text else ""
            out.append(prompt + sep + text)
        return out


def _figures(loss: float) -> dict[str, float]:
    return {"loss": loss, "perplexity": perplexity(loss), "bits_per_token": bits_per_token(loss)}


# ---------------------------------------------------------------- CLI verbs


def train(
    preset: str = "demo",
    run_dir: str = "runs/lm",
    data: str | None = None,
    level: str | None = None,
    cell: str | None = None,
    embedding_dim: int | None = None,
    hidden_size: int | None = None,
    num_layers: int | None = None,
    dropout: float | None = None,
    tie_weights: bool | None = None,
    bptt: int | None = None,
    batch_size: int | None = None,
    epochs: int | None = None,
    max_steps: int | None = None,
    max_time: float | None = None,
    optimizer: str | None = None,
    lr: float | None = None,
    clip_norm: float | None = None,
    device: str | None = None,
    seed: int = 0,
    resume: bool = False,
    prompt: str = "The ",
    num_samples: int = 2,
    sample_length: int = 200,
    temperature: float = 0.8,
    progress: bool | None = None,
    train_options: dict[str, Any] | None = None,
) -> LMReport:
    """Train a language model; print samples before and after, save checkpoints and loss.png.

    Args:
        preset: starting configuration: demo (char LSTM on the built-in Python docs),
            ptb-small, ptb-medium, awd-ptb, timemachine-d2l, timemachine, shakespeare.
        run_dir: where config.json, checkpoints, metrics.csv, vocab.json and loss.png go.
        data: a dataset name (rnnkit data list), name/file, or a text file; default: preset's.
        level: char or word tokens.
        cell: rnn, rnn_relu, lstm, gru, lstm_ln, gru_ln (layer norm), mingru or minlstm.
        embedding_dim: size of the token embedding.
        hidden_size: size of the recurrent state.
        num_layers: number of stacked recurrent layers.
        dropout: dropout on embedding, between layers and on the output.
        tie_weights: share embedding and output weights (needs embedding_dim == hidden_size).
        bptt: window length for truncated backprop through time.
        batch_size: parallel streams in training.
        epochs: passes over the training text.
        max_steps: stop after this many steps.
        max_time: stop after this many seconds.
        optimizer: sgd, adam, adamw, adagrad, rmsprop or ntasgd.
        lr: learning rate.
        clip_norm: clip the gradients' global norm to this (0 turns clipping off).
        device: auto, cpu, cuda, cuda:N or mps.
        seed: seeds initialisation, data order, dropout and sampling.
        resume: continue the run in run_dir from its last checkpoint.
        prompt: text the samples start from.
        num_samples: samples printed before and after training.
        sample_length: tokens per sample.
        temperature: sampling temperature for the printed samples.
        progress: show a progress bar (default: when attached to a terminal).
        train_options: any other TrainConfig field, e.g. {"schedule": "cosine"}.
    """
    given = {
        "data": {"data": data, "level": level, "bptt": bptt, "batch_size": batch_size},
        "model": {
            "cell": cell,
            "embedding_dim": embedding_dim,
            "hidden_size": hidden_size,
            "num_layers": num_layers,
            "dropout": dropout,
            "tie_weights": tie_weights,
        },
        "train": {
            "epochs": epochs,
            "max_steps": max_steps,
            "max_time": max_time,
            "optimizer": optimizer,
            "lr": lr,
            "clip_norm": clip_norm,
            "device": device,
            "progress": progress,
            **(train_options or {}),
        },
    }
    # None means "the preset's value"
    pick = {group: {k: v for k, v in d.items() if v is not None} for group, d in given.items()}
    if clip_norm == 0:
        pick["train"]["clip_norm"] = None
    if max_steps is not None and epochs is None:
        pick["train"]["epochs"] = None
    base: dict[str, dict[str, Any]] = _preset(preset)
    if resume and (Path(run_dir) / "config.json").is_file():
        base = read_run_config(run_dir)  # a resumed run continues with its own settings
        log.info("resuming %s with its saved configuration", run_dir)
    train_cfg = TrainConfig.from_dict({**base["train"], **pick["train"], "seed": seed})
    lm = TextLM.create(base, model=pick["model"], data=pick["data"], seed=seed)
    before = lm.generate(
        prompt, sample_length, num_samples=num_samples, temperature=temperature, seed=seed
    )
    for s in before:
        log.info("sample before training:\n%s\n", s)
    metrics = lm.fit(run_dir, train_cfg, resume=resume)
    after = lm.generate(
        prompt, sample_length, num_samples=num_samples, temperature=temperature, seed=seed
    )
    keep = (
        "step",
        "epoch",
        "stopped",
        "train_loss",
        "val_loss",
        "test_loss",
        "test_perplexity",
        "test_bits_per_token",
        "elapsed",
    )
    return LMReport(run_dir, {k: metrics[k] for k in keep if k in metrics}, before, after)


def generate(
    run: str,
    prompt: str = "The ",
    max_new_tokens: int = 200,
    num_samples: int = 1,
    temperature: float = 0.8,
    top_k: int | None = None,
    top_p: float | None = None,
    seed: int = 0,
    stop: list[str] | None = None,
) -> list[str]:
    """Generate text from a trained run.

    Args:
        run: the run directory written by `rnnkit lm train`.
        prompt: the text to continue (every character/word must be in the vocabulary).
        max_new_tokens: tokens to add per sample.
        num_samples: how many samples (generated as one batch).
        temperature: 0 is greedy; below 1 is more conservative, above 1 more adventurous.
        top_k: sample only among the k most likely tokens.
        top_p: sample only among the most likely tokens whose probabilities sum to p.
        seed: the sampling seed (same seed, same text).
        stop: strings that end a sample.
    """
    lm = TextLM.load(run)
    return lm.generate(
        prompt,
        max_new_tokens,
        num_samples=num_samples,
        temperature=temperature,
        top_k=top_k,
        top_p=top_p,
        seed=seed,
        stop=stop,
    )


def evaluate(run: str, split: str = "test") -> dict[str, float]:
    """Loss, perplexity and bits per token of a trained run on a split.

    Args:
        run: the run directory written by `rnnkit lm train`.
        split: train, valid or test.
    """
    return TextLM.load(run).evaluate(split)
