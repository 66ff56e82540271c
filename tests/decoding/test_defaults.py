"""The beam search defaults are declared once (rnnkit.decoding) and every level uses them."""

from __future__ import annotations

import inspect

from rnnkit.decoding import BEAM_SIZE, LENGTH_PENALTY, beam_generate, beam_search, greedy_search
from rnnkit.models import seq2seq_decode
from rnnkit.tasks import translate
from rnnkit.tasks.translate_decode import DECODING, decode_sentences


def _defaults(fn, *names: str) -> dict[str, object]:
    params = inspect.signature(fn).parameters
    return {name: params[name].default for name in names if name in params}


def test_every_level_takes_the_beam_defaults_from_rnnkit_decoding() -> None:
    assert (BEAM_SIZE, LENGTH_PENALTY) == (5, 0.6)  # the translate task's, as documented
    want = {"beam_size": BEAM_SIZE, "length_penalty": LENGTH_PENALTY}
    levels = [beam_search, beam_generate, seq2seq_decode.beam_search, seq2seq_decode.decode,
              decode_sentences, translate.evaluate]  # fmt: skip
    for fn in levels:
        assert _defaults(fn, *want) == want, fn.__qualname__
    assert _defaults(greedy_search, "length_penalty") == {"length_penalty": LENGTH_PENALTY}
    assert (DECODING.beam_size, DECODING.length_penalty) == (BEAM_SIZE, LENGTH_PENALTY)


def test_every_level_takes_the_length_limit_from_the_seq2seq_decoder() -> None:
    want = {"max_len_a": seq2seq_decode.MAX_LEN_A, "max_len_b": seq2seq_decode.MAX_LEN_B}
    levels = [seq2seq_decode.greedy_search, seq2seq_decode.sample_search,
              seq2seq_decode.beam_search, seq2seq_decode.decode, decode_sentences,
              translate.evaluate]  # fmt: skip
    for fn in levels:
        assert _defaults(fn, *want) == want, fn.__qualname__
    assert (DECODING.max_len_a, DECODING.max_len_b) == tuple(want.values())
    params = inspect.signature(translate.translate).parameters
    assert params["beam_size"].default == BEAM_SIZE
    assert params["length_penalty"].default == LENGTH_PENALTY
