"""Language modelling and text generation: text -> vocab -> LanguageModel -> Trainer -> samples.

From Python::

    from rnnkit.tasks.lm import TextLM
    lm = TextLM.create(preset="demo")                    # data + vocab + model
    lm.fit("runs/demo", {"epochs": 1})                   # trains, checkpoints, loss.png
    print(lm.generate("The ", max_new_tokens=200))
    print(lm.evaluate("test"))                           # loss, perplexity, bits per token
    lm = TextLM.load("runs/demo")                        # later, from the run directory

:class:`TextLM` is a :class:`~rnnkit.tasks.run.TaskRun`: the run directory, its lock, resume
and the best-weights restore are the shared life cycle's; this module supplies the data
(:mod:`rnnkit.data.lm_corpus`), the network, the step and the figures. Presets are YAML
(``rnnkit lm presets``). From the shell: ``rnnkit lm train|generate|eval`` (the functions in
:mod:`rnnkit.tasks.lm_verbs`; their docstrings are the ``--help``).
"""

from __future__ import annotations

import logging
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from rnnkit.config import config_from_dict
from rnnkit.data.digest import (
    DIGESTS,
    check_digests,
    file_digests,
    stored_digests,
    without_digests,
)
from rnnkit.data.lm_corpus import (
    Corpus,
    LMDataConfig,
    corpus_files,
    join_generated,
    lm_tokenizer,
    load_corpus,
)
from rnnkit.data.streams import CorpusStream
from rnnkit.data.vocab import Vocab
from rnnkit.decoding import generate as generate_ids
from rnnkit.models.language_model import LanguageModel, LMConfig, bits_per_token, perplexity
from rnnkit.tasks.presets import load_preset
from rnnkit.tasks.run import TaskRun
from rnnkit.train import StepOutput, TrainConfig, Trainer, unwrap

__all__ = [
    "Corpus",
    "LMDataConfig",
    "TextLM",
    "lm_step",
    "load_corpus",
    "preset_sections",
]  # the CLI verbs (train, generate, evaluate) are in rnnkit.tasks.lm_verbs

log = logging.getLogger(__name__)

VOCAB = "vocab"  # the run's vocab.json (the name the previous layout used too)


def preset_sections(preset: str | dict[str, Any]) -> dict[str, dict[str, Any]]:
    """A preset's ``model``/``data``/``train`` sections, by name or given as a dict."""
    if isinstance(preset, dict):
        return {"model": {}, "data": {}, "train": {}, **preset}
    return {"model": {}, "data": {}, "train": {}, **load_preset("lm", preset)}


def lm_step(model: torch.nn.Module, batch: tuple[Tensor, Tensor], state: Any) -> StepOutput:
    """One BPTT window: ``x, y`` are ``(T, B)``; the state comes from the previous window.

    A :class:`LanguageModel` computes the loss with its output layer (``targets=y``): the
    chunked and adaptive layers never build the full ``(T*B, V)`` float32 logits; the loss
    is float32 under bf16 autocast. Any other model's logits go through cross-entropy."""
    x, y = batch
    net = unwrap(model)  # under DDP `model` is the wrapper; it is still what gets called
    config = getattr(net, "config", None)
    alpha, beta = getattr(config, "ar_alpha", 0.0), getattr(config, "tar_beta", 0.0)
    regularised = model.training and (alpha or beta)
    if isinstance(net, LanguageModel):
        loss, state, (raw, dropped) = model(x, state, targets=y, return_hidden=True)
    elif regularised:
        logits, state, (raw, dropped) = model(x, state, return_hidden=True)
        loss = F.cross_entropy(logits.flatten(0, 1).float(), y.flatten())  # (T*B, V) vs (T*B,)
    else:
        logits, state = model(x, state)
        loss = F.cross_entropy(logits.flatten(0, 1).float(), y.flatten())  # (T*B, V) vs (T*B,)
    if not regularised:
        return StepOutput(loss, y.numel(), state)
    # AWD-LSTM's AR and TAR (Merity et al. 2018), train mode only; the reported train loss
    # includes them, validation and test do not.
    if alpha:
        loss = loss + alpha * dropped.pow(2).mean()
    if beta and raw.size(0) > 1:  # a 1-step window (an epoch's last) has no step-to-step change
        loss = loss + beta * (raw[1:] - raw[:-1]).pow(2).mean()  # (T-1, B, H_out)
    return StepOutput(loss, y.numel(), state)


def _figures(loss: float) -> dict[str, float]:
    return {"loss": loss, "perplexity": perplexity(loss), "bits_per_token": bits_per_token(loss)}


class TextLM(TaskRun):
    """A language model with its vocabulary and data settings: fit, generate, evaluate.

    Build one with :meth:`create` (from a preset plus overrides) or :meth:`load` (from a run
    directory written by :meth:`fit`). ``config.json`` has ``"task": "lm"`` and the
    ``model`` (:class:`LMConfig`) and ``data`` (:class:`LMDataConfig`, plus the sha256 of
    each corpus file under ``digests``) sections; the vocabulary is ``vocab.json``. A loaded
    run warns when it reads a corpus file that changed since training.
    """

    task = "lm"

    def __init__(
        self,
        model: LanguageModel,
        vocab: Vocab,
        data_config: LMDataConfig,
        corpus: Corpus | None = None,
        run_dir: str | Path | None = None,
        digests: dict[str, str] | None = None,
    ) -> None:
        self.model = model
        self.digests = digests  # {split: sha256} of the corpus files (None: not recorded)
        self.vocab = vocab
        self.data_config = data_config
        self.tokenizer = lm_tokenizer(data_config.level)
        self._corpus = corpus
        self.run_dir = Path(run_dir) if run_dir is not None else None

    @staticmethod
    def configs(
        preset: str | dict[str, Any] = "demo",
        model: dict[str, Any] | None = None,
        data: dict[str, Any] | None = None,
    ) -> tuple[LMConfig, LMDataConfig]:
        """The model and data configs of ``preset`` with the given fields overriding it."""
        base = preset_sections(preset)
        model_cfg = config_from_dict(LMConfig, {**base["model"], **(model or {})}, what="model")
        given = {**without_digests(base["data"]), **(data or {})}  # a resumed run's: no sums
        data_cfg = config_from_dict(LMDataConfig, given, what="data")
        return model_cfg, data_cfg

    @classmethod
    def create(
        cls,
        preset: str | dict[str, Any] = "demo",
        *,
        model: dict[str, Any] | None = None,
        data: dict[str, Any] | None = None,
        seed: int = 0,
    ) -> TextLM:
        """Read the data, build the vocabulary and a freshly initialised model.

        Args:
            preset: a preset name (``rnnkit lm presets``), or a dict of its sections
                (``{"model": ..., "data": ...}``).
            model: :class:`LMConfig` fields overriding the preset's.
            data: :class:`LMDataConfig` fields overriding the preset's.
            seed: seeds the weight initialisation (the global RNG is left as it was).
        """
        model_cfg, data_cfg = cls.configs(preset, model, data)
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
        digests = file_digests(corpus_files(data_cfg))  # {} for a corpus without a file
        return cls(net, corpus.vocab, data_cfg, corpus, digests=digests)

    # ---------------------------------------------------------------- TaskRun's parts

    def sections(self) -> dict[str, Any]:
        assert self.model is not None
        data: dict[str, Any] = asdict(self.data_config)
        if self.digests is not None:
            data[DIGESTS] = dict(self.digests)
        return {"model": self.model.config.to_dict(), "data": data}

    def artifacts(self) -> dict[str, Any]:
        return {VOCAB: self.vocab}

    def step(self, model: torch.nn.Module, batch: Any, state: Any) -> StepOutput:
        return lm_step(model, batch, state)

    @staticmethod
    def _saved_configs(
        config: dict[str, Any], where: str = "config.json"
    ) -> tuple[LMConfig, LMDataConfig]:
        for name in ("model", "data"):
            if not isinstance(config.get(name), dict):
                raise ValueError(f"{where} has no {name!r} section; is it an lm run?")
        model_cfg = LMConfig.from_dict(config["model"])
        data = without_digests(config["data"])
        return model_cfg, config_from_dict(LMDataConfig, data, what="data")

    @classmethod
    def from_run(cls, config: dict[str, Any], run_dir: Path) -> TextLM:
        """The model (untrained) and vocabulary of a run: this layout's or the previous one
        (flat recurrent keys in ``model``, no ``format``, no ``encoding``)."""
        model_cfg, data_cfg = cls._saved_configs(config, f"{run_dir}/config.json")
        vocab = Vocab.load(run_dir / f"{VOCAB}.json")
        with torch.random.fork_rng(devices=[]):  # its weights are loaded next
            net = LanguageModel(len(vocab), model_cfg)
        digests = stored_digests(config["data"]) or None  # None: a run from before checksums
        return cls(net, vocab, data_cfg, run_dir=run_dir, digests=digests)

    # ---------------------------------------------------------------- data

    @property
    def corpus(self) -> Corpus:
        """The tokenized corpus (read on first use, with this run's vocabulary; a warning
        names each corpus file that changed since the run was trained)."""
        if self._corpus is None:
            if self.digests:
                check_digests(corpus_files(self.data_config), self.digests)
            self._corpus = load_corpus(self.data_config, self.vocab)
        return self._corpus

    def default_prompt(self) -> str:
        """A prompt that fits this corpus: the opening words of its validation text."""
        prompt = self.corpus.prompt
        if not prompt:
            raise ValueError(
                f"`prompt`: found no line in {self.data_config.data!r} whose tokens are all in "
                "the vocabulary; pass `--prompt`"
            )
        return prompt

    def _stream(self, split: str, batch_size: int, seed: int = 0) -> CorpusStream:
        cfg = self.data_config
        variable = cfg.variable_bptt and split == "train"
        return CorpusStream(
            self.corpus.splits[split], batch_size, cfg.bptt, variable_length=variable, seed=seed
        )

    # ---------------------------------------------------------------- fit and figures

    def fit(
        self,
        run_dir: str | Path | None,
        train: TrainConfig | dict[str, Any] | None = None,
        *,
        resume: bool = False,
    ) -> dict[str, Any]:
        """Train on the train split, validating on ``valid``; returns the trainer's figures
        plus the test split's loss, perplexity and bits per token (best checkpoint).

        The shared life cycle (:meth:`~rnnkit.tasks.run.TaskRun.fit_run`) locks and checks
        ``run_dir``, writes config.json and vocab.json and restores the best weights.
        """
        cfg = train if isinstance(train, TrainConfig) else TrainConfig.from_dict(train or {})
        dc = self.data_config
        result = self.fit_run(
            run_dir,
            cfg,
            self._stream("train", dc.batch_size, cfg.seed),
            self._stream("valid", dc.eval_batch_size),
            resume=resume,
        )
        on = TrainConfig(device=cfg.device, progress=False)  # reported in float32: exact NLL
        test = self._evaluate("test", on)
        return {**result, **{f"test_{k}": v for k, v in test.items()}}

    def evaluate(self, split: str = "test") -> dict[str, float]:
        """Loss (nats per token), perplexity and bits per token on ``train|valid|test``."""
        if split not in ("train", "valid", "test"):
            raise ValueError(f"`split` must be 'train', 'valid' or 'test', got {split!r}")
        return {"split": split, **self._evaluate(split, TrainConfig(progress=False))}  # type: ignore[dict-item]

    def _evaluate(self, split: str, cfg: TrainConfig) -> dict[str, float]:
        stream = self._stream(split, self.data_config.eval_batch_size)
        n = self.corpus.splits[split].numel()
        log.info(
            "evaluating on the %s split (%s tokens, %d windows) ...", split, f"{n:,}", len(stream)
        )
        figures = _figures(Trainer(self.model, cfg, lm_step).evaluate(stream)["loss"])
        log.info("%s: loss %.4f, perplexity %.2f", split, figures["loss"], figures["perplexity"])
        return figures

    # ---------------------------------------------------------------- generation

    def encode_prompt(self, prompt: str) -> Tensor:
        """Token ids ``(T,)`` of ``prompt``; unknown tokens are an error that lists them."""
        tokens = self.tokenizer.tokenize(prompt)
        if self.data_config.level != "char" and tokens and tokens[-1] == "<eos>":
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
        prompt: str | None = None,
        max_new_tokens: int = 200,
        *,
        num_samples: int = 1,
        temperature: float = 1.0,
        top_k: int | None = None,
        top_p: float | None = None,
        seed: int | None = 0,
        stop: list[str] | None = None,
    ) -> list[str]:
        """Continue ``prompt`` (None: :meth:`default_prompt`); returns ``num_samples`` texts,
        prompt included.

        The prompt is read once and the state carried, so N new tokens cost N steps.
        ``temperature=0`` is greedy; ``stop`` strings end a sample (cut before them).
        """
        prompt = self.default_prompt() if prompt is None else prompt
        ids = self.encode_prompt(prompt)
        gen = torch.Generator().manual_seed(seed) if seed is not None else None
        model = self.model
        assert model is not None
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
                    step, ids, None, max_new_tokens, temperature=temperature, top_k=top_k,
                    top_p=top_p, generator=gen, stop_strings=stop or (), decode=decode,
                    num_samples=num_samples,
                )  # fmt: skip
        finally:
            model.train(was_training)
        level = self.data_config.level
        return [join_generated(level, prompt, decode(row), stop or ())[0] for row in rows]
