"""Nested state helpers: detach, per-stream reset, device moves, checkpoint flattening."""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import pytest
import torch

from rnnkit.train import detach_state, reset_state, to_device
from rnnkit.train.state import flatten_state, unflatten_state


class State(NamedTuple):
    h: torch.Tensor
    c: torch.Tensor


def test_reset_state_zeroes_masked_rows_only_and_keeps_gradient_to_others():
    h = torch.randn(2, 4, 3, requires_grad=True)  # (L, B, H)
    c = torch.randn(2, 4, 3)
    mask = torch.tensor([False, True, False, True])
    out = reset_state(State(h, c), mask)
    assert isinstance(out, State)
    assert torch.equal(out.h[:, mask], torch.zeros(2, 2, 3))
    assert torch.equal(out.c[:, ~mask], c[:, ~mask])
    out.h.sum().backward()
    assert torch.equal(h.grad[:, ~mask], torch.ones(2, 2, 3))
    assert torch.equal(h.grad[:, mask], torch.zeros(2, 2, 3))
    assert reset_state(None, mask) is None


def test_reset_state_batch_dim_and_errors():
    x = torch.ones(4, 3)  # (B, H) cell state
    assert reset_state(x, torch.tensor([1, 0, 0, 1]), dim=0).sum() == 6
    with pytest.raises(ValueError, match="`mask` has 3 rows, the state has 4"):
        reset_state(x, torch.tensor([1, 0, 0]), dim=0)
    with pytest.raises(ValueError, match="1-D"):
        reset_state(x, torch.ones(2, 2), dim=0)


def test_detach_cuts_the_graph_in_nested_containers():
    w = torch.randn(3, requires_grad=True)
    state = {"a": State(w * 2, w * 3), "b": [w + 1, 5]}
    d = detach_state(state)
    assert d["b"][1] == 5 and type(d["a"]) is State
    assert all(not t.requires_grad for t in (d["a"].h, d["a"].c, d["b"][0]))
    assert torch.equal(d["a"].h, w.detach() * 2)


@dataclasses.dataclass
class Batch:
    x: torch.Tensor
    lengths: list


def test_to_device_walks_dataclasses_and_namedtuples():
    b = to_device(Batch(torch.ones(2), [1, 2]), "cpu")
    assert isinstance(b, Batch) and b.lengths == [1, 2]
    s = to_device((State(torch.ones(1), torch.zeros(1)), {"k": torch.ones(1)}), "meta")
    assert s[0].h.device.type == "meta" and s[1]["k"].device.type == "meta"


def test_flatten_unflatten_roundtrip_rebuilds_namedtuple_class():
    state = (State(torch.randn(1, 2, 3), torch.randn(1, 2, 3)), [torch.arange(3)], None)
    tensors, spec = flatten_state(state)
    back = unflatten_state(tensors, spec)
    assert type(back[0]) is State  # the class is already imported, so it is reused
    assert torch.equal(back[0].c, state[0].c) and torch.equal(back[1][0], state[1][0])
    assert back[2] is None
    spec["tuple"][0]["namedtuple"] = "not.imported.module:Thing"  # never imported: a look-alike
    other = unflatten_state(tensors, spec)
    assert other[0]._fields == ("h", "c") and torch.equal(other[0].h, state[0].h)
