"""``Translator``: the translate task's run (a :class:`~rnnkit.tasks.run.TaskRun`).

It supplies what is the task's own: the sentence pairs (:mod:`rnnkit.data.pairs`), the
:class:`~rnnkit.models.seq2seq.Seq2Seq` network, the training step (teacher forcing with an
optional linear schedule, label smoothing, the loss masked on padding) and decoding into
:class:`Translation` objects. The run directory, its lock, resume and the best-weights
restore are the shared life cycle's. A run directory holds ``config.json`` (``"task":
"translate"``; sections ``model``, ``data`` and ``translate``), ``src_vocab.json`` and
``tgt_vocab.json``::

    tr = Translator.create({"data": {"max_pairs": 500}, "model": {"hidden_size": 32}})
    tr.fit("runs/translate", TrainConfig(epochs=1))
    tr = Translator.load("runs/translate")
    tr.translate(["I am cold."])[0].text
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import torch

from rnnkit.config import check_types, config_from_dict
from rnnkit.data.pair_splits import (
    PairFiles,
    data_section,
    load_pair_splits,
    split_data_section,
    with_digests,
)
from rnnkit.data.pairs import PairBatch, PairData, PairLoader, PairsConfig, make_tokenizer
from rnnkit.data.vocab import Vocab
from rnnkit.metrics.text import mean_perplexity
from rnnkit.models.seq2seq import Seq2Seq, Seq2SeqConfig
from rnnkit.tasks.run import TaskRun
from rnnkit.tasks.translate_decode import Translation, decode_sentences
from rnnkit.train import StepOutput, TrainConfig

__all__ = [
    "SRC_VOCAB",
    "TGT_VOCAB",
    "NumberedBatches",
    "StepBatch",
    "TranslateConfig",
    "Translation",
    "Translator",
]

logger = logging.getLogger(__name__)

SRC_VOCAB, TGT_VOCAB = "src_vocab.json", "tgt_vocab.json"  # the run's artifact files


@dataclass(frozen=True)
class TranslateConfig:
    """Training options of the task (beyond the data, the network and the trainer); saved as
    config.json's ``translate`` section."""

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


class StepBatch(NamedTuple):
    """A batch of pairs with the number of the training step it is for (0-based)."""

    pairs: PairBatch
    step: int


class NumberedBatches:
    """A :class:`PairLoader`'s batches, each numbered with its training step.

    Epoch ``e``'s ``i``-th batch is step ``e * len(loader) + i``, which is the trainer's
    step count when it trains on it, also after a resume (the trainer calls ``set_epoch``
    and replays the epoch). So the teacher-forcing schedule reads its step from the batch
    instead of from the trainer.
    """

    def __init__(self, loader: PairLoader) -> None:
        self.loader = loader
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        self.loader.set_epoch(epoch)

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self) -> Iterator[StepBatch]:
        start = self.epoch * len(self.loader)
        for i, batch in enumerate(self.loader):
            yield StepBatch(batch, start + i)


class Translator(TaskRun):
    """A translator: network, vocabularies, data settings and training options.

    Args:
        model: the network.
        data: how the pairs were read and prepared (new sentences are prepared the same way).
        src_vocab, tgt_vocab: the vocabularies (built from the training split).
        options: the training options (the ``translate`` section).
        pairs: the prepared pairs, when this translator was made to be trained.
        files: the validation / test files, when the splits came from their own files.
    """

    task = "translate"

    def __init__(
        self,
        model: Seq2Seq,
        data: PairsConfig,
        src_vocab: Vocab,
        tgt_vocab: Vocab,
        options: TranslateConfig | None = None,
        pairs: PairData | None = None,
        files: PairFiles | None = None,
    ) -> None:
        self.model = model.eval()
        self.data = data
        self.src_vocab, self.tgt_vocab = src_vocab, tgt_vocab
        self.options = options or TranslateConfig()
        self.pairs = pairs
        self.files = files or PairFiles()
        self.tokenizer = make_tokenizer(data.tokenizer)

    @classmethod
    def create(cls, sections: dict[str, dict[str, Any]], seed: int = 0) -> Translator:
        """Read and prepare the pairs, build the vocabularies and a fresh network.

        Args:
            sections: ``{"data": PairsConfig and PairFiles fields, "model": Seq2SeqConfig
                fields (nested or flat; the vocabulary sizes are set here), "translate":
                TranslateConfig fields}``.
            seed: seeds the weight initialisation (the global RNG is left as it was).
        """
        data, files = split_data_section(sections.get("data") or {})
        options = config_from_dict(
            TranslateConfig, sections.get("translate") or {}, what="translate"
        )
        pairs = load_pair_splits(data, files)
        files = with_digests(data, dataclasses.replace(files, digests=None))
        sizes = {"src_vocab_size": len(pairs.src_vocab), "tgt_vocab_size": len(pairs.tgt_vocab)}
        model_cfg = Seq2SeqConfig.from_dict(
            {**(sections.get("model") or {}), **sizes, "pad_id": pairs.src_vocab.pad_id}
        )
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = Seq2Seq(model_cfg)
        return cls(model, data, pairs.src_vocab, pairs.tgt_vocab, options, pairs, files)

    def fit(
        self, run_dir: str | Path | None, train: TrainConfig, *, resume: bool = False
    ) -> dict[str, Any]:
        """Train on the train split, validating on ``val`` (when it has pairs).

        Returns the trainer's figures plus ``val_perplexity``, the pair counts per split
        and ``run_dir``.
        """
        if self.pairs is None:
            raise ValueError("this Translator has no training pairs; build it with create()")
        size = self.options.batch_size
        train_data = NumberedBatches(self.pairs.loader("train", size))
        val_data = (
            NumberedBatches(self.pairs.loader("val", size)) if self.pairs.text["val"] else None
        )
        result = self.fit_run(run_dir, train, train_data, val_data, resume=resume)
        if "val_loss" in result:
            result["val_perplexity"] = mean_perplexity(result["val_loss"])
        result.update({f"{k}_pairs": len(v) for k, v in self.pairs.text.items()})
        result["run_dir"] = str(run_dir)
        return result

    # ---------------------------------------------------------------- TaskRun's parts

    def sections(self) -> dict[str, Any]:
        assert isinstance(self.model, Seq2Seq)
        data = data_section(self.data, self.files)
        if data.get("digests") is None:  # a run from before checksums: none to compare
            data.pop("digests", None)
        return {
            "model": self.model.config.to_dict(),
            "data": data,
            "translate": dataclasses.asdict(self.options),
        }

    def artifacts(self) -> dict[str, Any]:
        return {SRC_VOCAB.removesuffix(".json"): self.src_vocab,
                TGT_VOCAB.removesuffix(".json"): self.tgt_vocab}  # fmt: skip

    def step(self, model: torch.nn.Module, batch: Any, state: Any) -> StepOutput:
        """One batch (:class:`StepBatch`, or a plain :class:`PairBatch`: step 0) -> loss.

        The loss is the decoder output layer's own (exact NLL for every layer; chunked never
        holds the full logits), on the non-padding targets."""
        pairs, step = (batch.pairs, batch.step) if isinstance(batch, StepBatch) else (batch, 0)
        training = model.training
        ratio = self.options.ratio(step) if training else 1.0
        smoothing = self.options.label_smoothing if training else 0.0
        loss, _ = model(
            pairs.src, pairs.src_lengths, pairs.tgt_in, teacher_forcing=ratio,
            targets=pairs.tgt_out, label_smoothing=smoothing,
        )  # fmt: skip
        n = int((pairs.tgt_out != self.tgt_vocab.pad_id).sum())
        metrics = {"teacher_forcing": ratio} if training and ratio < 1.0 else {}
        return StepOutput(loss, n, None, metrics)

    @classmethod
    def from_run(cls, config: dict[str, Any], run_dir: Path) -> Translator:
        """The translator (network untrained) of a run: this layout's or the previous one
        (options under ``"task"``, flat recurrent keys in ``model``; read_run_config
        migrates the options to ``"translate"``)."""
        for name in ("model", "data"):
            if not isinstance(config.get(name), dict):
                raise ValueError(
                    f"{run_dir}/config.json has no {name!r} section; is it a translate run?"
                )
        vocabs = []
        for name in (SRC_VOCAB, TGT_VOCAB):
            if not (run_dir / name).is_file():
                raise FileNotFoundError(f"{run_dir / name} is missing: the run is incomplete")
            vocabs.append(Vocab.load(run_dir / name))
        model = Seq2Seq(Seq2SeqConfig.from_dict(config["model"]))
        data, files = split_data_section(config["data"])
        options = config_from_dict(TranslateConfig, config.get("translate") or {}, what="translate")
        return cls(model, data, vocabs[0], vocabs[1], options, files=files)

    # ---------------------------------------------------------------- translating

    def prepare(self, sentence: str) -> list[str]:
        """Normalise and tokenize a source sentence as in training."""
        from rnnkit.data.pairs import normalize

        text = normalize(
            sentence, lowercase=self.data.lowercase, strip_accents=self.data.strip_accents
        )
        return self.tokenizer.tokenize(text)

    def detokenize(self, tokens: Sequence[str]) -> str:
        return self.tokenizer.detokenize(tokens)

    def translate(self, sentences: Sequence[str] | str, **options: Any) -> list[Translation]:
        """Translate ``sentences`` (raw text; normalised and tokenized here), batched.

        See :func:`rnnkit.tasks.translate_decode.decode_sentences` for the options (``method``,
        ``beam_size``, ``length_penalty``, ``n_best``, sampling, ``split`` ...).
        """
        if isinstance(sentences, str):
            sentences = [sentences]
        return decode_sentences(self, list(sentences), **options)
