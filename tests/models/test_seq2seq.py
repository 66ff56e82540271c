"""Seq2Seq: configs, padding never changes outputs or loss, teacher forcing, overfitting."""

from __future__ import annotations

import itertools

import pytest
import torch

from rnnkit.data.pairs import PairsConfig, load_pairs
from rnnkit.models.seq2seq import Seq2Seq, Seq2SeqConfig, sequence_loss
from rnnkit.models.seq2seq_decode import greedy_search


def _model(**kw: object) -> Seq2Seq:
    torch.manual_seed(0)
    cfg = {"src_vocab_size": 15, "tgt_vocab_size": 17, "embedding_dim": 6, "hidden_size": 5}
    cfg.update(dropout=0.0)
    cfg.update(kw)
    return Seq2Seq(Seq2SeqConfig(**cfg)).double().eval()


def _batch(lengths: list[int], T: int = 4) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    S = max(lengths)
    src = torch.randint(4, 15, (S, len(lengths)), generator=g)
    for b, n in enumerate(lengths):
        src[n:, b] = 0
    return src, torch.tensor(lengths), torch.randint(4, 17, (T, len(lengths)), generator=g)


def test_config_rejects_unknown_keys_and_wrong_types() -> None:
    with pytest.raises(ValueError, match="unknown Seq2SeqConfig keys \\['hidden'\\]"):
        Seq2SeqConfig.from_dict({"src_vocab_size": 5, "tgt_vocab_size": 5, "hidden": 3})
    with pytest.raises(TypeError, match="`hidden_size` must be int"):
        Seq2SeqConfig(5, 5, hidden_size="8")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="`bidirectional` must be bool"):
        Seq2SeqConfig(5, 5, bidirectional=1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="`attention` must be one of"):
        Seq2SeqConfig(5, 5, attention="luong")
    c = Seq2SeqConfig(5, 7, hidden_size=4, attention="dot")
    assert Seq2SeqConfig.from_dict(c.to_dict()) == c and c.dec_hidden == 8


CASES = list(itertools.product(["lstm", "gru", "rnn"], ["additive", "dot", "general", "none"]))


@pytest.mark.parametrize(("cell", "attention"), CASES)
def test_padding_never_changes_outputs(cell: str, attention: str) -> None:
    """Each row decoded in a padded batch equals the row decoded alone."""
    model = _model(cell=cell, attention=attention, num_layers=2)
    src, lengths, tgt = _batch([5, 2, 3])
    logits, weights = model(src, lengths, tgt)
    assert logits.shape == (4, 3, 17)
    for b, n in enumerate(lengths.tolist()):
        alone, w = model(src[:n, b : b + 1], lengths[b : b + 1], tgt[:, b : b + 1])
        torch.testing.assert_close(logits[:, b : b + 1], alone)
        if attention != "none":
            torch.testing.assert_close(weights[:, b : b + 1, :n], w)
            assert (weights[:, b, n:] == 0).all()
    if attention == "none":
        assert weights is None


def test_loss_ignores_padding() -> None:
    model = _model()
    src, lengths, tgt = _batch([4, 4])
    tgt[2:, 1] = 0  # the second target is 2 tokens long
    logits, _ = model(src, lengths, tgt)
    loss, n = sequence_loss(logits, tgt, pad_id=0)
    assert n == 6
    first, _ = sequence_loss(logits[:4, :1], tgt[:4, :1], 0)
    second, _ = sequence_loss(logits[:2, 1:], tgt[:2, 1:], 0)
    torch.testing.assert_close(loss, (first * 4 + second * 2) / 6)
    changed = logits.clone()
    changed[2:, 1] = torch.randn_like(changed[2:, 1])  # whatever is predicted at padding
    torch.testing.assert_close(sequence_loss(changed, tgt, 0)[0], loss)
    smooth, _ = sequence_loss(logits, tgt, 0, label_smoothing=0.1)
    assert smooth.item() != pytest.approx(loss.item())


@pytest.mark.parametrize(
    ("attention", "feeding"), [("general", False), ("none", False), ("additive", True)]
)
def test_teacher_forced_decoder_equals_step_by_step(attention: str, feeding: bool) -> None:
    """Teacher forcing embeds and projects all steps at once (and without input feeding runs
    the whole target in one call): it must equal decoding one step at a time."""
    model = _model(attention=attention, input_feeding=feeding)
    src, lengths, tgt = _batch([5, 3])
    logits, weights = model(src, lengths, tgt)
    state, memory = model.encode(src, lengths)
    for t in range(tgt.shape[0]):
        lp, state, w = model.step(tgt[t], state, memory)
        torch.testing.assert_close(lp, torch.log_softmax(logits[t], -1))
        if w is not None:
            torch.testing.assert_close(w, weights[t])


def test_teacher_forcing_zero_feeds_the_models_own_output() -> None:
    model = _model(cell="gru", attention="additive")
    src, lengths, tgt = _batch([5, 3], T=6)
    tgt[0] = 2  # <bos>
    hyps = greedy_search(model, src, lengths, bos_id=2, eos_id=3, max_len_a=0, max_len_b=6,
                         return_attention=False)  # fmt: skip
    logits, _ = model(src, lengths, tgt, teacher_forcing=0.0)
    own = logits.argmax(-1).T.tolist()  # (B, T)
    for h, row in zip(hyps, own, strict=True):
        assert h.tokens == row[: len(h.tokens)]


def test_teacher_forcing_ratio_mixes_gold_and_own_tokens() -> None:
    model = _model()
    src, lengths, tgt = _batch([5, 3], T=6)
    full, _ = model(src, lengths, tgt, teacher_forcing=1.0)
    g = torch.Generator().manual_seed(0)
    half, _ = model(src, lengths, tgt, teacher_forcing=0.5, generator=g)
    g = torch.Generator().manual_seed(0)
    again, _ = model(src, lengths, tgt, teacher_forcing=0.5, generator=g)
    torch.testing.assert_close(half, again)  # the generator decides
    torch.testing.assert_close(half[0], full[0])  # the first input is always <bos>
    assert not torch.allclose(half, full)


def test_bad_lengths_are_named() -> None:
    model = _model()
    src, _, tgt = _batch([3, 3])
    with pytest.raises(ValueError, match="`src_lengths` must lie in \\[1, 3\\]"):
        model(src, torch.tensor([4, 0]), tgt)
    with pytest.raises(ValueError, match="`src_lengths` must be \\(2,\\)"):
        model(src, torch.tensor([3]), tgt)


@pytest.mark.slow
def test_overfits_twenty_pairs_to_exact_output(data_dir, tmp_path) -> None:
    head = (data_dir / "fra-eng" / "fra.txt").read_text(encoding="utf-8").splitlines()[:8000]
    (tmp_path / "fra.txt").write_text("\n".join(head) + "\n", encoding="utf-8")
    data = load_pairs(
        PairsConfig(
            path=str(tmp_path / "fra.txt"), simple_prefixes=True, max_len=8,
            max_pairs=22, val_fraction=0.05, test_fraction=0.05, seed=3,
        )
    )  # fmt: skip
    assert len(data.text["train"]) == 20
    torch.manual_seed(0)
    model = Seq2Seq(
        Seq2SeqConfig(len(data.src_vocab), len(data.tgt_vocab), embedding_dim=32, hidden_size=32,
                      dropout=0.0)
    )  # fmt: skip
    batch = next(iter(data.loader("train", 20)))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(120):
        logits, _ = model(batch.src, batch.src_lengths, batch.tgt_in)
        loss, _ = sequence_loss(logits, batch.tgt_out, data.tgt_vocab.pad_id)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if loss.item() < 0.01:
            break
    model.eval()
    v = data.tgt_vocab
    hyps = greedy_search(model, batch.src, batch.src_lengths, bos_id=v.bos_id, eos_id=v.eos_id,
                         max_len_a=2.0, max_len_b=5, return_attention=False)  # fmt: skip
    gold = [data.ids["train"][1][i] for i in batch.index.tolist()]
    assert [h.tokens for h in hyps] == gold
