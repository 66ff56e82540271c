"""rnnkit.decoding: greedy, sampling (temperature, top-k, top-p), generation, beam search."""

from rnnkit.decoding.beam import Hypothesis, beam_search, greedy_search, length_penalty_factor
from rnnkit.decoding.generate import generate
from rnnkit.decoding.sampling import (
    apply_temperature,
    greedy,
    sample,
    top_k_filter,
    top_p_filter,
)
from rnnkit.decoding.state import expand_state, map_state, reorder_state

__all__ = [
    "Hypothesis",
    "apply_temperature",
    "beam_search",
    "expand_state",
    "generate",
    "greedy",
    "greedy_search",
    "length_penalty_factor",
    "map_state",
    "reorder_state",
    "sample",
    "top_k_filter",
    "top_p_filter",
]
