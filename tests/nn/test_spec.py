"""``RecurrentSpec``: validated once, builds the layer, nested in every model config, and
the older flat form of those configs still builds the same config."""

from __future__ import annotations

import copy
import dataclasses
import json
import pickle

import pytest
import torch

from rnnkit.config import ConfigTypeError, config_from_dict
from rnnkit.models import ClassifierConfig, ForecasterConfig, LMConfig, Seq2SeqConfig
from rnnkit.nn import GRU, LSTM, MinGRU, RecurrentSpec
from rnnkit.nn.spec import SPEC_KEYS, accepts_flat_keys


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"hidden_size": 0}, r"`hidden_size` must be > 0, got 0"),
        ({"num_layers": 0}, r"`num_layers` must be > 0, got 0"),
        (
            {"cell": "transformer"},
            r"`cell` must be one of \['gru', .*'rnn_tanh', 'slstm'\], got 'transformer'",
        ),
        ({"dropout": 1.0}, r"`dropout` must be in \[0, 1\), got 1.0"),
        ({"zoneout_c": -0.1}, r"`zoneout_c` must be in \[0, 1\), got -0.1"),
        ({"dropout_kind": "gaussian"}, r"`dropout_kind` must be one of .*got 'gaussian'"),
        ({"hidden_size": 8, "proj_size": 8}, r"`proj_size` must be in \[0, hidden_size=8\), got 8"),
        ({"cell": "gru", "proj_size": 2}, r"`proj_size` is only for cells lstm, lstm_ln, got"),
        ({"cell": "rnn", "zoneout_c": 0.1}, r"`zoneout_c` is only for cells lstm, lstm_ln, got"),
        ({"cell": "mingru", "weight_drop": 0.1}, r"`weight_drop` is only for cells .*'mingru'"),
    ],
)
def test_validation_names_the_field(kwargs, message):
    with pytest.raises(ValueError, match=message):
        RecurrentSpec(**kwargs)


def test_types_and_case():
    with pytest.raises(ConfigTypeError, match="RecurrentSpec `hidden_size` must be int, got '8'"):
        RecurrentSpec(hidden_size="8")  # type: ignore[arg-type]
    assert RecurrentSpec(cell="GRU").cell == "gru"
    assert RecurrentSpec(dropout=0).dropout == 0.0 and isinstance(
        RecurrentSpec(dropout=0).dropout, float
    )
    # dropout_kind acts between layers: a one-layer minGRU may carry the model's kind
    assert RecurrentSpec(cell="mingru", dropout_kind="locked").layer_options() == {}
    with pytest.raises(ValueError, match="`dropout_kind` is only for cells"):
        RecurrentSpec(cell="mingru", num_layers=2, dropout_kind="locked")


def test_output_size_and_build():
    spec = RecurrentSpec(cell="lstm", hidden_size=8, num_layers=2, bidirectional=True, proj_size=3)
    assert (spec.directions, spec.output_size, spec.cell_state) == (2, 6, True)
    layer = spec.build(5, batch_first=True, impl="scan", dtype=torch.float64)
    assert type(layer) is LSTM and (layer.proj_size, layer.impl, layer.batch_first) == (
        3,
        "scan",
        True,
    )
    out, _ = layer(torch.randn(4, 7, 5, dtype=torch.float64))  # (B, T, I)
    assert out.shape == (4, 7, spec.output_size)
    gru = RecurrentSpec(cell="gru", hidden_size=4, num_layers=2, dropout=0.3, dropout_kind="locked",
                        zoneout_h=0.1, weight_drop=0.2, recurrent_dropout=0.1).build(3)  # fmt: skip
    assert type(gru) is GRU and gru.dropout == 0.3 and gru.dropout_kind == "locked"
    assert (gru.zoneout_h, gru.weight_drop, gru.recurrent_dropout) == (0.1, 0.2, 0.1)
    one = RecurrentSpec(cell="mingru", hidden_size=4, dropout=0.5).build(3)
    assert type(one) is MinGRU and one.dropout == 0.0  # one layer: no between-layer dropout


def test_dict_round_trip_and_unknown_keys():
    spec = RecurrentSpec(cell="gru_ln", hidden_size=4, zoneout_h=0.25)
    assert RecurrentSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec
    with pytest.raises(
        ValueError, match="unknown rnn key 'hiden_size'; did you mean 'hidden_size'"
    ):
        RecurrentSpec.from_dict({"hiden_size": 4})


def test_split_flat():
    default = RecurrentSpec(hidden_size=16, num_layers=2)
    split = RecurrentSpec.split_flat
    assert split({"x": 1}, default=default) == {"x": 1, "rnn": default}
    assert split({"cell": "gru"}, default=default)["rnn"] == dataclasses.replace(
        default, cell="gru"
    )
    nested = split({"rnn": {"hidden_size": 4}}, default=default)["rnn"]
    assert (nested.hidden_size, nested.num_layers) == (4, 2)  # the rest from the default
    both = split({"rnn": {"hidden_size": 4, "cell": "gru"}, "hidden_size": 8}, default=default)
    assert (both["rnn"].hidden_size, both["rnn"].cell) == (
        8,
        "gru",
    )  # flat keys are later overrides
    given = RecurrentSpec(cell="rnn", hidden_size=3)
    assert split({"rnn": given, "num_layers": 3}, default=default)["rnn"].num_layers == 3
    with pytest.raises(ValueError, match="unknown rnn keys \\['size'\\]"):
        split({"rnn": {"size": 4}}, default=default)
    with pytest.raises(TypeError, match="`rnn` must be a RecurrentSpec or a mapping"):
        split({"rnn": 4}, default=default)


def _configs():
    return [
        (LMConfig, {"embedding_dim": 8}, RecurrentSpec(hidden_size=256, num_layers=2, dropout=0.2)),
        (ClassifierConfig, {"num_classes": 2, "vocab_size": 9}, RecurrentSpec(hidden_size=128)),
        (ForecasterConfig, {"horizon": 2}, RecurrentSpec(hidden_size=64)),
        (Seq2SeqConfig, {"src_vocab_size": 9, "tgt_vocab_size": 7},
         RecurrentSpec(hidden_size=256, bidirectional=False, dropout=0.2)),
    ]  # fmt: skip


@pytest.mark.parametrize("cls, own, default", _configs())
def test_every_model_config_embeds_the_spec(cls, own, default):
    defaults = cls(**own)
    assert default.hidden_size == defaults.rnn.hidden_size  # each model keeps its own default
    flat = {**own, "cell": "gru", "hidden_size": 8, "dropout": 0.1}
    nested = {**own, "rnn": {"cell": "gru", "hidden_size": 8, "dropout": 0.1}}
    a, b, c = cls.from_dict(flat), cls.from_dict(nested), config_from_dict(cls, flat)
    assert a == b == c == cls(**flat)
    assert a.rnn == dataclasses.replace(defaults.rnn, cell="gru", hidden_size=8, dropout=0.1)
    saved = json.loads(json.dumps(a.to_dict()))
    assert saved["rnn"]["hidden_size"] == 8 and "hidden_size" not in saved  # nested on disk
    assert cls.from_dict(saved) == a
    assert not hasattr(a, "hidden_size")  # read in one place: a.rnn.hidden_size
    assert dataclasses.replace(a, rnn=default).rnn == default
    assert pickle.loads(pickle.dumps(a)) == a == copy.deepcopy(a)
    with pytest.raises(AttributeError, match="no attribute 'hiden_size'"):
        _ = a.hiden_size
    with pytest.raises(ValueError, match="did you mean 'hidden_size'"):
        cls.from_dict({**own, "hiden_size": 8})
    with pytest.raises(ValueError, match="`hidden_size` must be > 0, got 0"):
        cls.from_dict({**own, "hidden_size": 0})
    assert set(SPEC_KEYS) == set(cls.FLAT_KEYS)


def test_model_specific_checks():
    with pytest.raises(ValueError, match="`bidirectional` must be False"):
        LMConfig(bidirectional=True)
    with pytest.raises(ValueError, match="`bidirectional` must be False"):
        ForecasterConfig(bidirectional=True)
    with pytest.raises(ValueError, match="`proj_size` is not supported by Seq2Seq"):
        Seq2SeqConfig(5, 5, hidden_size=8, proj_size=2)
    assert (
        ClassifierConfig(num_classes=2, input_size=3, hidden_size=8, proj_size=2).rnn.output_size
        == 2
    )


def test_decorator_errors():
    @dataclasses.dataclass(frozen=True)
    class Clash:
        rnn: RecurrentSpec = RecurrentSpec()
        cell: str = "x"

    with pytest.raises(TypeError, match=r"Clash fields \['cell'\] clash with RecurrentSpec keys"):
        accepts_flat_keys("rnn")(Clash)

    @dataclasses.dataclass(frozen=True)
    class NoSpec:
        width: int = 1

    with pytest.raises(TypeError, match="NoSpec.rnn must have a RecurrentSpec default"):
        accepts_flat_keys("rnn")(NoSpec)
