"""``Translator`` and ``Translation``: a trained seq2seq model, ready to translate from Python.

:meth:`Translator.load` rebuilds model, vocabularies and data settings from a run directory
written by :func:`rnnkit.tasks.translate.train`; :meth:`Translator.translate` decodes
sentences (greedy, sampling or beam search) into :class:`Translation` objects::

    tr = Translator.load("runs/translate")
    tr.translate(["I am cold."])[0].text
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from rnnkit.data.pairs import PairsConfig, make_tokenizer, normalize
from rnnkit.data.vocab import Vocab
from rnnkit.models.seq2seq import Seq2Seq, Seq2SeqConfig
from rnnkit.models.seq2seq_decode import Hypothesis, decode

__all__ = ["SRC_VOCAB", "TGT_VOCAB", "Translation", "Translator"]

logger = logging.getLogger(__name__)

SRC_VOCAB, TGT_VOCAB = "src_vocab.json", "tgt_vocab.json"


@dataclass
class Translation:
    """One translated sentence."""

    source: str
    """The normalised source sentence."""
    text: str
    """The translation (detokenized)."""
    score: float
    """Its summed log-probability."""
    source_tokens: list[str]
    """Source tokens as the model saw them (unknown words as ``<unk>``)."""
    tokens: list[str]
    """Output tokens (without ``<eos>``)."""
    attention: torch.Tensor | None = None
    """``(len(tokens) + 1, len(source_tokens))`` weights, if asked for (one row less when the
    output was cut at the maximum length, without ``<eos>``)."""
    alternatives: list[tuple[str, float]] = dataclasses.field(default_factory=list)
    """The n-best list after the first: ``(text, score)``."""


class Translator:
    """A trained translator: model, vocabularies and the data settings it was trained with."""

    def __init__(self, model: Seq2Seq, data: PairsConfig, src_vocab: Vocab, tgt_vocab: Vocab):
        self.model = model.eval()
        self.data = data
        self.src_vocab, self.tgt_vocab = src_vocab, tgt_vocab
        self.tokenizer = make_tokenizer(data.tokenizer)

    @classmethod
    def load(cls, run_dir: str | Path, which: str = "best") -> Translator:
        """Rebuild from a run directory written by :func:`train`."""
        from rnnkit.train import load_checkpoint, read_run_config

        run_dir = Path(run_dir)
        if not (run_dir / "config.json").is_file():
            raise FileNotFoundError(f"{run_dir} is not a translate run (no config.json)")
        cfg = read_run_config(run_dir)
        if cfg.get("task_name") != "translate":
            raise ValueError(f"{run_dir} holds a {cfg.get('task_name')!r} run, not 'translate'")
        for name in (SRC_VOCAB, TGT_VOCAB):
            if not (run_dir / name).is_file():
                raise FileNotFoundError(f"{run_dir / name} is missing: the run is incomplete")
        src_vocab, tgt_vocab = Vocab.load(run_dir / SRC_VOCAB), Vocab.load(run_dir / TGT_VOCAB)
        model = Seq2Seq(Seq2SeqConfig.from_dict(cfg["model"]))
        state_dict, _ = load_checkpoint(run_dir, which)
        model.load_state_dict(state_dict)
        return cls(model, PairsConfig.from_dict(cfg["data"]), src_vocab, tgt_vocab)

    def prepare(self, sentence: str) -> list[str]:
        """Normalise and tokenize a source sentence as in training."""
        text = normalize(
            sentence, lowercase=self.data.lowercase, strip_accents=self.data.strip_accents
        )
        return self.tokenizer.tokenize(text)

    def detokenize(self, tokens: Sequence[str]) -> str:
        return self.tokenizer.detokenize(tokens)

    @torch.no_grad()
    def translate(
        self,
        sentences: Sequence[str],
        *,
        method: str = "beam",
        beam_size: int = 5,
        length_penalty: float = 0.6,
        n_best: int = 1,
        temperature: float = 1.0,
        top_k: int | None = None,
        top_p: float | None = None,
        seed: int = 0,
        max_len_a: float = 1.5,
        max_len_b: int = 5,
        batch_size: int = 64,
        return_attention: bool = False,
    ) -> list[Translation]:
        """Translate ``sentences`` (raw text; normalised and tokenized here), batched.

        Unknown source words become ``<unk>`` (logged once per call). An empty sentence is an
        error naming its position. See :func:`rnnkit.models.seq2seq_decode.decode` for the
        decoding options.
        """
        if isinstance(sentences, str):
            sentences = [sentences]
        tokens = [self.prepare(s) for s in sentences]
        for i, t in enumerate(tokens):
            if not t:
                raise ValueError(f"sentence {i + 1} is empty after normalisation: {sentences[i]!r}")
        unknown = sorted({w for t in tokens for w in self.src_vocab.unknown(t)})
        if unknown:
            logger.warning(
                "unknown source words (translated as <unk>): %s", ", ".join(unknown[:20])
            )
        dev = next(self.model.parameters()).device
        gen = torch.Generator().manual_seed(seed)
        pad, bos, eos = self.tgt_vocab.pad_id, self.tgt_vocab.bos_id, self.tgt_vocab.eos_id
        out: list[Translation] = []
        for start in range(0, len(tokens), batch_size):
            chunk = tokens[start : start + batch_size]
            ids = [torch.tensor(self.src_vocab.encode(t), dtype=torch.long) for t in chunk]
            src = torch.nn.utils.rnn.pad_sequence(ids, padding_value=pad).to(dev)  # (S, B)
            lengths = torch.tensor([len(t) for t in chunk], dtype=torch.long)
            hyps = decode(
                self.model, src, lengths, bos_id=bos, eos_id=eos, method=method,
                beam_size=beam_size, length_penalty=length_penalty, n_best=n_best,
                temperature=temperature, top_k=top_k, top_p=top_p, generator=gen,
                max_len_a=max_len_a, max_len_b=max_len_b, return_attention=return_attention,
            )  # fmt: skip
            for j, nbest in enumerate(hyps):
                k = start + j
                seen = self.src_vocab.decode(self.src_vocab.encode(chunk[j]))
                out.append(self._translation(sentences[k], seen, nbest))
        return out

    def _words(self, h: Hypothesis) -> list[str]:
        specials = {self.tgt_vocab.pad_id, self.tgt_vocab.bos_id, self.tgt_vocab.eos_id}
        return self.tgt_vocab.decode([i for i in h.tokens if i not in specials])

    def _translation(self, source: str, seen: list[str], nbest: list[Hypothesis]) -> Translation:
        best = nbest[0]
        words = self._words(best)
        norm = normalize(
            source, lowercase=self.data.lowercase, strip_accents=self.data.strip_accents
        )
        alts = [(self.detokenize(self._words(h)), h.score) for h in nbest[1:]]
        return Translation(
            norm, self.detokenize(words), best.score, seen, words, best.attention, alts
        )
