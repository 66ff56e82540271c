"""Weights move between torch / rnnkit models and scratch, with and without torch."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
from safetensors.numpy import save_file

from rnnkit.scratch import (
    GRU,
    LSTM,
    RNN,
    CharLM,
    export_state_dict,
    load_safetensors,
    load_state_dict,
)


def _numpy_state(module: torch.nn.Module) -> dict[str, np.ndarray]:
    return {k: v.detach().numpy().copy() for k, v in module.state_dict().items()}


def test_torch_state_dict_round_trip():
    torch.manual_seed(0)
    tnet = torch.nn.GRU(3, 4, 2, bidirectional=True, dtype=torch.float64)
    net = GRU(3, 4, 2, bidirectional=True, rng=np.random.default_rng(0))
    load_state_dict(net, tnet.state_dict())  # tensors are accepted as they are
    x = np.random.default_rng(1).standard_normal((6, 2, 3))
    y, h = net.forward(x)
    yt, ht = tnet(torch.from_numpy(x))
    assert np.abs(y - yt.detach().numpy()).max() < 1e-12
    back = torch.nn.GRU(3, 4, 2, bidirectional=True, dtype=torch.float64)
    back.load_state_dict({k: torch.from_numpy(v) for k, v in export_state_dict(net).items()})
    assert all(torch.equal(a, b) for a, b in zip(back.parameters(), tnet.parameters(), strict=True))


def test_prefix_and_errors(tmp_path):
    rng = np.random.default_rng(0)
    net = LSTM(3, 4, rng=rng)
    state = export_state_dict(net, prefix="model.rnn")
    assert set(state) == {"model.rnn." + k for k in net.params}
    other = LSTM(3, 4, rng=rng)
    save_file({**state, "model.decoder.weight": np.zeros((2, 4))}, str(tmp_path / "m.st"))
    load_safetensors(other, tmp_path / "m.st", prefix="model.rnn")
    assert all(np.array_equal(other.params[k], net.params[k]) for k in net.params)
    with pytest.raises(KeyError, match="missing"):
        load_state_dict(other, {})
    bad = dict(export_state_dict(net))
    bad["weight_hh_l0"] = np.zeros((4, 4))
    with pytest.raises(ValueError, match=r"weight_hh_l0.*\(16, 4\)"):
        load_state_dict(other, bad)


@pytest.mark.parametrize("cell,tie", [("lstm", False), ("gru", True), ("rnn", False)])
def test_rnnkit_language_model_checkpoint_runs_in_scratch(tmp_path, cell, tie):
    """An rnnkit LanguageModel saved as the trainer saves it (tied weights stored once, as
    an alias in the metadata) loads into CharLM and gives the same logits."""
    from rnnkit.models.language_model import LanguageModel, LMConfig
    from rnnkit.train.checkpoint import save_tensors

    torch.manual_seed(0)
    cfg = LMConfig(cell=cell, embedding_dim=6, hidden_size=6, num_layers=2, tie_weights=tie)
    model = LanguageModel(11, cfg).double().eval()
    save_tensors(tmp_path / "model.safetensors", model.state_dict())
    lm = CharLM.from_safetensors(tmp_path / "model.safetensors")
    assert lm.cell == cell and lm.rnn.num_layers == 2
    ids = np.random.default_rng(0).integers(0, 11, (7, 3))
    logits, _ = lm.forward(ids)
    ref, _ = model(torch.from_numpy(ids))
    assert np.abs(logits - ref.detach().numpy()).max() < 1e-10


@pytest.mark.parametrize("proj", [0, 3])
def test_charlm_from_prefixed_state(tmp_path, proj):
    lm = CharLM(9, 4, 5, 2, "lstm", proj_size=proj, rng=np.random.default_rng(0))
    save_file(export_state_dict(lm, prefix="model"), str(tmp_path / "m.safetensors"))
    back = CharLM.from_safetensors(tmp_path / "m.safetensors", prefix="model")
    ids = np.arange(6).reshape(3, 2)
    assert np.array_equal(back.forward(ids)[0], lm.forward(ids)[0])
    with pytest.raises(KeyError, match="prefix"):
        CharLM.from_safetensors(tmp_path / "m.safetensors", prefix="net")


NO_TORCH = textwrap.dedent(
    """
    import sys
    sys.modules["torch"] = None  # any `import torch` now raises ImportError
    import numpy as np
    from safetensors.numpy import save_file
    import rnnkit.scratch as S
    from rnnkit.scratch import LSTM, CharLM, load_safetensors
    try:
        import torch
        raise SystemExit("torch imported")
    except ImportError:
        pass
    rng = np.random.default_rng(0)
    net = LSTM(3, 4, 2, rng=rng)
    save_file({"rnn." + k: v for k, v in net.params.items()}, sys.argv[1] + "/w.safetensors")
    other = LSTM(3, 4, 2, rng=rng)
    load_safetensors(other, sys.argv[1] + "/w.safetensors", prefix="rnn")
    x = rng.standard_normal((5, 2, 3))
    y, _ = other.forward(x)
    dx, _ = other.backward(np.ones_like(y))
    assert np.allclose(y, net.forward(x)[0]) and dx.shape == x.shape
    lm = CharLM(9, 4, 5, 1, "gru", rng=rng)
    S.save_safetensors(lm, sys.argv[1] + "/lm.safetensors")
    lm2 = CharLM.from_safetensors(sys.argv[1] + "/lm.safetensors")
    out = lm2.generate([1, 2], 6, rng=np.random.default_rng(1))
    assert len(out) == 6 and all(0 <= t < 9 for t in out)
    assert lm2.generate([1, 2], 4, temperature=0) == lm.generate([1, 2], 4, temperature=0)
    print("ok", "torch" in sys.modules and sys.modules["torch"] is not None)
    """
)


def test_scratch_runs_where_torch_cannot_be_imported(tmp_path):
    res = subprocess.run(
        [sys.executable, "-c", NO_TORCH, str(tmp_path)], capture_output=True, text=True
    )
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "ok False"


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn_relu"])
def test_rnnkit_nn_layer_matches_scratch(cell):
    from rnnkit.nn import make_rnn

    torch.manual_seed(0)
    layer = make_rnn(cell, 3, 4, 2, bidirectional=True, dtype=torch.float64)
    kinds = {"lstm": (LSTM, {}), "gru": (GRU, {}), "rnn_relu": (RNN, {"nonlinearity": "relu"})}
    cls, kw = kinds[cell]
    net = cls(3, 4, 2, bidirectional=True, **kw)
    load_state_dict(net, layer.state_dict())
    x = np.random.default_rng(0).standard_normal((6, 2, 3))
    y, _ = net.forward(x)
    yt, _ = layer(torch.from_numpy(x))
    assert np.abs(y - yt.detach().numpy()).max() < 1e-12
