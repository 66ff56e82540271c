"""rnnkit.decoding: one sampling loop (greedy is temperature 0, top-k, top-p) and one beam
search, for every decoder (language models and seq2seq alike). The beam search defaults,
:data:`BEAM_SIZE` and :data:`LENGTH_PENALTY`, are declared once, in :mod:`rnnkit.decoding.beam`."""

from rnnkit.decoding.beam import (
    BEAM_SIZE,
    LENGTH_PENALTY,
    Hypothesis,
    beam_search,
    greedy_search,
    length_penalty_factor,
)
from rnnkit.decoding.generate import beam_generate, generate
from rnnkit.decoding.loop import Sample, sample_loop
from rnnkit.decoding.sampling import (
    apply_temperature,
    greedy,
    sample,
    top_k_filter,
    top_p_filter,
)
from rnnkit.decoding.state import expand_state, map_state, reorder_state

__all__ = [
    "BEAM_SIZE",
    "LENGTH_PENALTY",
    "Hypothesis",
    "Sample",
    "apply_temperature",
    "beam_generate",
    "beam_search",
    "expand_state",
    "generate",
    "greedy",
    "greedy_search",
    "length_penalty_factor",
    "map_state",
    "reorder_state",
    "sample",
    "sample_loop",
    "top_k_filter",
    "top_p_filter",
]
