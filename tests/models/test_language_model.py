"""LanguageModel: shapes, state carry, weight tying, errors, perplexity math."""

from __future__ import annotations

import math

import pytest
import torch

from rnnkit.models.language_model import LanguageModel, LMConfig, bits_per_token, perplexity
from rnnkit.nn.regularization import LockedDropout
from rnnkit.tasks.lm import lm_step
from rnnkit.train import detach_state


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_shapes_and_state_carry_equals_one_pass(cell: str) -> None:
    torch.manual_seed(0)
    model = LanguageModel(11, LMConfig(cell=cell, embedding_dim=6, hidden_size=5, dropout=0.0))
    model.eval()
    x = torch.randint(0, 11, (9, 3))
    logits, _ = model(x)
    assert logits.shape == (9, 3, 11)
    # two windows with the state carried give the same logits as one pass
    a, state = model(x[:4])
    b, _ = model(x[4:], state)
    torch.testing.assert_close(torch.cat([a, b]), logits)


def test_tied_weights_share_storage_and_need_equal_sizes() -> None:
    model = LanguageModel(7, LMConfig(embedding_dim=8, hidden_size=8, tie_weights=True))
    assert model.decoder.weight is model.embedding.weight
    with pytest.raises(ValueError, match="`tie_weights` needs `embedding_dim` == `hidden_size`"):
        LMConfig(embedding_dim=8, hidden_size=9, tie_weights=True)


def test_bad_config_and_input_errors() -> None:
    with pytest.raises(ValueError, match="`hidden_size` must be > 0, got 0"):
        LMConfig(hidden_size=0)
    with pytest.raises(ValueError, match="unknown LMConfig keys"):
        LMConfig.from_dict({"hiden_size": 3})
    with pytest.raises(ValueError, match="`vocab_size` must be a positive int"):
        LanguageModel(0)
    model = LanguageModel(5, LMConfig(embedding_dim=4, hidden_size=4))
    with pytest.raises(ValueError, match=r"`x` must be \(T, B\) token ids"):
        model(torch.zeros(3, dtype=torch.long))


def test_perplexity_and_bits() -> None:
    # a uniform model over V tokens has loss log V: perplexity V, log2 V bits
    assert perplexity(math.log(50)) == pytest.approx(50)
    assert bits_per_token(math.log(8)) == pytest.approx(3)
    assert perplexity(1e6) == math.inf
    # and the model's cross-entropy at zero logits is exactly that
    logits = torch.zeros(10, 50)
    loss = torch.nn.functional.cross_entropy(logits, torch.randint(0, 50, (10,)))
    assert perplexity(loss.item()) == pytest.approx(50, rel=1e-6)


AWD = dict(
    embedding_dim=8, hidden_size=12, num_layers=3, proj_size=8, tie_weights=True,
    dropout_kind="locked", dropout=0.4, input_dropout=0.4, hidden_dropout=0.25,
    embedding_dropout=0.1, weight_drop=0.5, ar_alpha=2.0, tar_beta=1.0,
)  # fmt: skip


def test_awd_options_build_the_regularised_stack_on_the_fused_kernel() -> None:
    model = LanguageModel(11, LMConfig(**AWD))
    rnn = model.rnn
    got = (rnn.proj_size, rnn.weight_drop, rnn.dropout, rnn.dropout_kind)
    assert got == (8, 0.5, 0.25, "locked")
    assert model.decoder.weight is model.embedding.weight
    assert rnn.forward_path(torch.Generator()) == "fused"
    logits, _, (raw, dropped) = model(torch.randint(0, 11, (6, 3)), return_hidden=True)
    assert logits.shape == (6, 3, 11) and raw.shape == dropped.shape == (6, 3, 8)
    ratio = dropped / raw  # locked output dropout: one mask per sequence
    assert torch.allclose(ratio, ratio[:1].expand_as(ratio))


def test_awd_eval_equals_the_unregularised_model() -> None:
    torch.manual_seed(0)
    model = LanguageModel(11, LMConfig(**AWD)).eval()
    plain_cfg = {
        k: v
        for k, v in AWD.items()
        if k in ("embedding_dim", "hidden_size", "num_layers", "proj_size", "tie_weights")
    }
    plain = LanguageModel(11, LMConfig(**plain_cfg, dropout=0.0)).eval()
    plain.load_state_dict(model.state_dict())
    x = torch.randint(0, 11, (6, 3))
    assert torch.equal(model(x)[0], plain(x)[0])
    model.train()
    assert not torch.equal(model(x)[0], plain(x)[0])


AWD_SIZES = {**AWD, "proj_size": 0, "hidden_sizes": (12, 10, 8)}  # AWD's uneven stack, small


def test_hidden_sizes_build_one_layer_per_size_with_weight_drop() -> None:
    torch.manual_seed(0)
    model = LanguageModel(11, LMConfig(**AWD_SIZES))
    got = [(m.input_size, m.hidden_size, m.num_layers, m.weight_drop) for m in model.layers]
    assert got == [(8, 12, 1, 0.5), (12, 10, 1, 0.5), (10, 8, 1, 0.5)]
    assert isinstance(model.drop_hidden, LockedDropout) and model.drop_hidden.p == 0.25
    assert all(m.forward_path(torch.Generator()) == "fused" for m in model.layers)
    assert model.decoder.weight is model.embedding.weight  # tied to the last size, 8
    logits, state, (raw, dropped) = model(torch.randint(0, 11, (6, 3)), return_hidden=True)
    assert logits.shape == (6, 3, 11) and raw.shape == (6, 3, 8)
    assert [tuple(s.h.shape) for s in state] == [(1, 3, 12), (1, 3, 10), (1, 3, 8)]
    lm_step(
        model, (torch.randint(0, 11, (6, 3)), torch.randint(0, 11, (6, 3))), state
    ).loss.backward()
    assert all(p.grad is not None for p in model.parameters())


def test_tar_on_a_one_step_window_is_finite() -> None:
    """An epoch's last window can be 1 step long: TAR has no pair there and adds nothing."""
    torch.manual_seed(0)
    model = LanguageModel(11, LMConfig(**AWD)).train()
    x, y = torch.randint(0, 11, (1, 3)), torch.randint(0, 11, (1, 3))
    loss = lm_step(model, (x, y), None).loss
    assert torch.isfinite(loss)


def test_hidden_sizes_eval_is_the_plain_composition_and_carries_state() -> None:
    torch.manual_seed(1)
    model = LanguageModel(11, LMConfig(**AWD_SIZES)).eval()
    x = torch.randint(0, 11, (7, 2))
    h = model.embedding(x)
    for layer in model.layers:  # no dropout in eval: embedding -> layers -> decoder
        h, _ = layer(h)
    logits, _ = model(x)
    torch.testing.assert_close(logits, model.decoder(h))
    first, state = model(x[:3])  # TBPTT: two windows with the state carried == one window
    second, _ = model(x[3:], detach_state(state))
    torch.testing.assert_close(torch.cat([first, second]), logits)


def test_awd_config_errors() -> None:
    with pytest.raises(ValueError, match="`hidden_sizes` must hold `num_layers`=3"):
        LMConfig(num_layers=3, hidden_sizes=(4, 4))
    with pytest.raises(ValueError, match="`proj_size` and `hidden_sizes`"):
        LMConfig(num_layers=2, hidden_sizes=(8, 4), proj_size=2)
    with pytest.raises(
        ValueError, match=r"`tie_weights` needs `embedding_dim` == `hidden_sizes\[-1\]`"
    ):
        LMConfig(embedding_dim=8, num_layers=2, hidden_sizes=(8, 4), tie_weights=True)
    with pytest.raises(ValueError, match="`tie_weights` needs `embedding_dim` == `proj_size`"):
        LMConfig(embedding_dim=8, hidden_size=12, proj_size=6, tie_weights=True)
    with pytest.raises(ValueError, match="`weight_drop` must be in"):
        LMConfig(weight_drop=1.0)
    with pytest.raises(ValueError, match="`dropout_kind`"):
        LMConfig(dropout_kind="gaussian")
    with pytest.raises(ValueError, match="`proj_size`"):
        LMConfig(hidden_size=8, proj_size=8)


def test_ar_tar_also_apply_through_a_ddp_style_wrapper() -> None:
    """Under DDP the step gets the wrapper, which has no `config`: AR/TAR must still count."""
    torch.manual_seed(0)
    model = LanguageModel(11, LMConfig(**{**AWD, "dropout": 0.0, "input_dropout": 0.0,
                                          "hidden_dropout": 0.0, "embedding_dropout": 0.0,
                                          "weight_drop": 0.0})).train()  # fmt: skip
    x, y = torch.randint(0, 11, (6, 3)), torch.randint(0, 11, (6, 3))
    bare = lm_step(model, (x, y), None).loss
    wrapped = lm_step(torch.nn.DataParallel(model), (x, y), None).loss  # CPU: calls through
    plain = torch.nn.functional.cross_entropy(model(x)[0].flatten(0, 1), y.flatten())
    torch.testing.assert_close(wrapped, bare)
    assert bare > plain  # the regularisers are in the loss
