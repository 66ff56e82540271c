"""SequenceClassifier: packed == padded == one row at a time; config errors."""

from __future__ import annotations

import pytest
import torch

from rnnkit.models.classifier import ClassifierConfig, SequenceClassifier
from rnnkit.models.pooling import POOLINGS

LENGTHS = [6, 2, 4, 1]


def _tokens(gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.randint(1, 30, (max(LENGTHS), len(LENGTHS)), generator=gen)  # (T, B)
    for b, n in enumerate(LENGTHS):
        x[n:, b] = 0
    return x, torch.tensor(LENGTHS)


@pytest.mark.parametrize("pooling", POOLINGS)
@pytest.mark.parametrize("cell,bidirectional", [("lstm", True), ("gru", False), ("rnn", True)])
def test_packed_batch_equals_each_row_alone(pooling: str, cell: str, bidirectional: bool) -> None:
    torch.manual_seed(0)
    cfg = ClassifierConfig(
        num_classes=3,
        vocab_size=30,
        embedding_dim=8,
        hidden_size=6,
        num_layers=2,
        cell=cell,
        bidirectional=bidirectional,
        pooling=pooling,
    )
    model = SequenceClassifier(cfg).eval()
    x, lengths = _tokens(torch.Generator().manual_seed(1))
    logits = model(x, lengths)
    assert logits.shape == (4, 3)
    for b, n in enumerate(LENGTHS):
        alone = model(x[:n, b : b + 1], torch.tensor([n]))
        torch.testing.assert_close(alone[0], logits[b], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("pooling", POOLINGS)
def test_packed_and_padded_give_the_same_logits(pooling: str) -> None:
    torch.manual_seed(0)
    cfg = ClassifierConfig(
        num_classes=4, input_size=5, embedding_dim=7, hidden_size=6, num_layers=2, pooling=pooling
    )
    model = SequenceClassifier(cfg).eval()
    x = torch.randn(6, 4, 5, generator=torch.Generator().manual_seed(2))  # (T, B, I)
    lengths = torch.tensor(LENGTHS)
    torch.testing.assert_close(
        model(x, lengths), model(x, lengths, packed=False), atol=1e-5, rtol=1e-5
    )


def test_numeric_input_without_projection_and_gradients_flow() -> None:
    cfg = ClassifierConfig(
        num_classes=2, input_size=3, project_input=False, hidden_size=4, pooling="attention"
    )
    model = SequenceClassifier(cfg)
    x = torch.randn(5, 2, 3)
    model(x, torch.tensor([5, 3])).sum().backward()
    assert all(p.grad is not None for p in model.parameters())


def test_errors_name_the_argument() -> None:
    with pytest.raises(ValueError, match="exactly one of `vocab_size`"):
        ClassifierConfig(num_classes=2)
    with pytest.raises(ValueError, match="`cell` must be one of"):
        ClassifierConfig(num_classes=2, vocab_size=5, cell="tcn")
    with pytest.raises(ValueError, match="`hidden_size` must be int"):
        ClassifierConfig(num_classes=2, vocab_size=5, hidden_size=2.5)
    with pytest.raises(ValueError, match="unknown ClassifierConfig keys \\['hiden'\\]"):
        ClassifierConfig.from_dict({"num_classes": 2, "vocab_size": 5, "hiden": 3})
    model = SequenceClassifier(ClassifierConfig(num_classes=2, input_size=5, hidden_size=4))
    with pytest.raises(ValueError, match="input has 3 features, the model expects 5"):
        model(torch.zeros(4, 2, 3))
    cfg = ClassifierConfig(num_classes=2, vocab_size=5, hidden_size=4)
    assert ClassifierConfig.from_dict(cfg.to_dict()) == cfg


def test_token_dropout_puts_unk_in_training_only_and_never_over_padding() -> None:
    config = ClassifierConfig(
        num_classes=2, vocab_size=50, embedding_dim=4, hidden_size=4, token_dropout=0.5
    )
    model = SequenceClassifier(config)
    seen: list[torch.Tensor] = []
    model.input_layer.register_forward_hook(lambda m, args, out: seen.append(args[0].clone()))
    x = torch.randint(2, 50, (30, 8))
    x[20:, :4] = 0  # padding after row ends
    lengths = torch.tensor([20] * 4 + [30] * 4)
    torch.manual_seed(0)
    model.train()(x, lengths)
    model.eval()(x, lengths)
    trained, evaluated = seen
    replaced = trained != x
    assert torch.all(trained[replaced] == config.unk_idx)
    assert 0.35 < replaced[x != 0].float().mean() < 0.65  # about half the real tokens
    assert torch.all(trained[x == 0] == 0)  # padding stays padding
    assert torch.equal(evaluated, x)  # eval mode reads the tokens as given
    with pytest.raises(ValueError, match=r"`token_dropout` must be in \[0, 1\), got 1.0"):
        ClassifierConfig(num_classes=2, vocab_size=5, token_dropout=1.0)


def test_subwords_give_unseen_words_their_spelling_and_keep_rows_independent() -> None:
    config = ClassifierConfig(
        num_classes=3, vocab_size=20, embedding_dim=6, hidden_size=5, subword_buckets=40,
        bidirectional=True, pooling="max",
    )  # fmt: skip
    model = SequenceClassifier(config).eval()
    torch.manual_seed(0)
    x = torch.cat([torch.randint(2, 20, (7, 3, 1)), torch.randint(0, 40, (7, 3, 4))], -1)
    lengths = torch.tensor([7, 5, 2])
    x[5:, 1] = 0
    x[2:, 2] = 0
    batch = model(x, lengths)
    for b in range(3):  # packed batch == each row alone
        alone = model(x[: lengths[b], b : b + 1], lengths[b : b + 1])
        torch.testing.assert_close(batch[b : b + 1], alone)
    unk = x[:, :1].clone()
    unk[..., 0] = config.unk_idx  # two <unk> words spelled differently differ
    a = torch.cat([unk, torch.full((7, 1, 4), 3)], -1)
    b = torch.cat([unk, torch.full((7, 1, 4), 9)], -1)
    assert not torch.allclose(model(a), model(b))
    assert torch.count_nonzero(model.subword.weight[0]) == 0  # the padding n-gram
    with pytest.raises(ValueError, match=r"`x` must be \(T, B, 1 \+ K\) token and n-gram ids"):
        model(x[..., 0])
    with pytest.raises(ValueError, match="`subword_buckets` needs token inputs"):
        ClassifierConfig(num_classes=2, input_size=3, subword_buckets=10)


@pytest.mark.parametrize("subwords", [0, 40])
def test_forward_is_embed_then_forward_embedded(subwords: int) -> None:
    torch.manual_seed(0)
    cfg = ClassifierConfig(
        num_classes=3, vocab_size=30, embedding_dim=8, hidden_size=6, subword_buckets=subwords
    )
    model = SequenceClassifier(cfg).eval()
    x, lengths = _tokens(torch.Generator().manual_seed(1))
    if subwords:  # (T, B, 1 + K): each token's id, then its n-gram ids (0: none)
        gen = torch.Generator().manual_seed(3)
        grams = torch.randint(0, subwords, (*x.shape, 3), generator=gen)
        x = torch.cat([x[..., None], grams], -1)
    torch.testing.assert_close(model.forward_embedded(model.embed(x), lengths), model(x, lengths))
