"""Every output layer as the Seq2Seq decoder's: the targets= loss is the layer's exact NLL on
the non-padding targets, it trains, decoding reads the layer's log-probabilities, and chunked
equals softmax (loss and gradients) with the same weights, label smoothing included."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from rnnkit.models.output_layers import (
    AdaptiveSoftmaxOutput,
    ChunkedSoftmaxOutput,
    SoftmaxOutput,
    output_layer_names,
)
from rnnkit.models.seq2seq import Seq2Seq, Seq2SeqConfig, output_loss
from rnnkit.models.seq2seq_decode import decode

V_S, V_T = 15, 40


def _model(name: str, **kw: object) -> Seq2Seq:
    torch.manual_seed(0)
    cfg = {"embedding_dim": 8, "hidden_size": 8, "dropout": 0.0, "output_layer": name}
    cfg.update(chunk_rows=5)
    cfg.update(kw)
    return Seq2Seq(Seq2SeqConfig(V_S, V_T, **cfg))  # type: ignore[arg-type]


def _batch() -> tuple[torch.Tensor, ...]:
    """src (5, 3), lengths, tgt_in (6, 3) and tgt_out (6, 3) with padding in rows 1 and 2."""
    g = torch.Generator().manual_seed(1)
    src = torch.randint(4, V_S, (5, 3), generator=g)
    src[3:, 1] = 0
    tgt = torch.randint(4, V_T, (7, 3), generator=g)
    tgt[0] = 2  # <bos>
    tgt[5:, 1], tgt[4:, 2] = 0, 0
    return src, torch.tensor([5, 3, 5]), tgt[:-1], tgt[1:]


def test_config_builds_each_layer_and_names_bad_values() -> None:
    kinds = {"softmax": SoftmaxOutput, "chunked": ChunkedSoftmaxOutput}
    kinds["adaptive"] = AdaptiveSoftmaxOutput
    for name in output_layer_names():
        model = _model(name)
        assert type(model.decoder.out) is kinds[name]
        assert Seq2SeqConfig.from_dict(model.config.to_dict()) == model.config
    assert _model("adaptive").decoder.out.cutoffs == (8, 32)  # default_cutoffs(40)
    assert _model("adaptive", cutoffs=(10,)).decoder.out.cutoffs == (10,)
    with pytest.raises(ValueError, match="`output_layer` must be one of .*got 'sampled'"):
        Seq2SeqConfig(V_S, V_T, output_layer="sampled")
    with pytest.raises(ValueError, match="`div_value` must be >= 1"):
        Seq2SeqConfig(V_S, V_T, div_value=0.5)
    with pytest.raises(ValueError, match="`cutoffs` must be increasing"):
        _model("adaptive", cutoffs=(50,))
    old = {k: v for k, v in _model("softmax").config.to_dict().items() if "output" not in k}
    for key in ("cutoffs", "div_value", "chunk_rows"):
        old.pop(key)
    assert Seq2SeqConfig.from_dict(old).output_layer == "softmax"  # a run from before


@pytest.mark.parametrize("name", output_layer_names())
def test_targets_loss_is_the_exact_nll_of_log_prob_on_real_tokens(name: str) -> None:
    model = _model(name).eval()
    src, lengths, tgt_in, tgt_out = _batch()
    with torch.no_grad():
        scores, _ = model(src, lengths, tgt_in)  # (T, B, V)
        loss, _ = model(src, lengths, tgt_in, targets=tgt_out)
        state, memory = model.encode(src, lengths)
        hidden, _ = model.decoder(tgt_in, state, memory)  # (T, B, H_d)
        log_p = model.decoder.out.log_prob(hidden)  # (T, B, V)
    torch.testing.assert_close(log_p.exp().sum(-1), torch.ones(6, 3))
    torch.testing.assert_close(F.log_softmax(scores, -1), log_p)
    keep = tgt_out != 0
    nll = -log_p.gather(-1, tgt_out[..., None]).squeeze(-1)[keep]  # (n,)
    torch.testing.assert_close(loss, nll.mean())
    assert keep.sum() == 13
    for t in range(6):  # one step at a time reads the same distribution
        lp, state, _ = model.step(tgt_in[t], state, memory)
        torch.testing.assert_close(lp, log_p[t])


@pytest.mark.parametrize("name", output_layer_names())
def test_trains_with_falling_loss_and_decodes_valid_ids(name: str) -> None:
    model = _model(name, dropout=0.1)
    src, lengths, tgt_in, tgt_out = _batch()
    opt = torch.optim.Adam(model.parameters(), lr=3e-2)
    losses = []
    for _ in range(15):
        loss, _ = model(src, lengths, tgt_in, targets=tgt_out, label_smoothing=0.05)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0]
    kw = {"bos_id": 2, "eos_id": 3, "max_len_b": 6}
    for method in ("greedy", "beam"):
        rows = decode(model, src, lengths, method=method, beam_size=3, n_best=2, **kw)
        assert len(rows) == 3
        for row in rows:
            for h in row:
                assert all(0 <= t < V_T for t in h.tokens) and h.score <= 0
    assert model.training  # decode restores the mode


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_chunked_equals_softmax_loss_and_gradients_with_the_same_weights(
    smoothing: float,
) -> None:
    plain, chunked = _model("softmax").double(), _model("chunked", chunk_rows=4).double()
    chunked.load_state_dict(plain.state_dict())
    src, lengths, tgt_in, tgt_out = _batch()
    results = []
    for model in (plain, chunked):
        loss, _ = model(src, lengths, tgt_in, targets=tgt_out, label_smoothing=smoothing)
        grads = torch.autograd.grad(loss, list(model.parameters()))
        results.append((loss, grads))
    tol = {"rtol": 1e-10, "atol": 1e-12}
    torch.testing.assert_close(results[1][0], results[0][0], **tol)
    for a, b in zip(results[1][1], results[0][1], strict=True):
        torch.testing.assert_close(a, b, **tol)
    scores, _ = plain(src, lengths, tgt_in)  # and it is F.cross_entropy's, smoothing included
    keep = tgt_out != 0
    want = F.cross_entropy(scores[keep], tgt_out[keep], label_smoothing=smoothing)
    torch.testing.assert_close(results[0][0], want, **tol)


def test_adaptive_label_smoothing_matches_cross_entropy_on_its_log_probs() -> None:
    model = _model("adaptive").double().eval()
    src, lengths, tgt_in, tgt_out = _batch()
    loss, _ = model(src, lengths, tgt_in, targets=tgt_out, label_smoothing=0.2)
    scores, _ = model(src, lengths, tgt_in)
    keep = tgt_out != 0
    torch.testing.assert_close(
        loss, F.cross_entropy(scores[keep], tgt_out[keep], label_smoothing=0.2)
    )


def test_output_loss_counts_only_real_targets_and_handles_all_padding() -> None:
    layer = _model("chunked").decoder.out
    hidden = torch.randn(3, 2, 16)  # H_d = D * H
    targets = torch.tensor([[5, 0], [6, 0], [0, 0]])
    loss, n = output_loss(layer, hidden, targets, pad_id=0)
    assert n == 2
    torch.testing.assert_close(loss, layer.loss(hidden[:2, 0], targets[:2, 0]))
    empty, n0 = output_loss(layer, hidden, torch.zeros(3, 2, dtype=torch.long), 0)
    assert n0 == 0 and empty.item() == 0.0
