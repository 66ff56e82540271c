"""LSTM-FCN's conv branch: the published layout, padding that changes nothing (eval and
training statistics), parity with plain torch layers on unpadded input, clear errors."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from rnnkit.models.conv_branch import ConvBranch, MaskedBatchNorm1d


def _randomise_norms(branch: ConvBranch, gen: torch.Generator) -> None:
    """Non-trivial running statistics and affine parameters, so eval mode is a real test."""
    for norm in branch.norms:
        c = norm.num_features
        norm.running_mean.copy_(torch.randn(c, generator=gen))
        norm.running_var.copy_(torch.rand(c, generator=gen) + 0.5)
        norm.weight.data.copy_(torch.randn(c, generator=gen))
        norm.bias.data.copy_(torch.randn(c, generator=gen))


def test_default_layout_is_lstm_fcn() -> None:
    branch = ConvBranch(input_size=3)
    assert [c.out_channels for c in branch.convs] == [128, 256, 128]
    assert [c.kernel_size[0] for c in branch.convs] == [8, 5, 3]
    assert [c.in_channels for c in branch.convs] == [3, 128, 256]
    assert branch.out_features == 128
    small = ConvBranch(2, filters=(4, 6), kernel_sizes=(3, 2))
    assert small(torch.randn(9, 5, 2)).shape == (5, 6)


def test_padded_batch_equals_rows_run_alone_in_eval_mode() -> None:
    gen = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    branch = ConvBranch(input_size=2).eval()
    _randomise_norms(branch, gen)
    lengths = torch.tensor([23, 1, 9, 16])
    x = torch.randn(23, 4, 2, generator=gen) * 3 + 1  # (T, B, I)
    for b, n in enumerate(lengths.tolist()):
        x[n:, b] = 1e3  # loud padding: any leak would show
    with torch.no_grad():
        batch = branch(x, lengths)  # (B, 128)
        for b, n in enumerate(lengths.tolist()):
            alone = branch(x[:n, b : b + 1], torch.tensor([n]))  # (1, 128)
            assert torch.allclose(batch[b], alone[0], atol=1e-5), b
    assert batch.shape == (4, 128) and batch.abs().sum() > 0


def test_training_statistics_ignore_padding() -> None:
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(12, 3, 1, generator=gen)
    lengths = torch.tensor([12, 5, 8])
    longer = torch.cat([x, torch.full((7, 3, 1), -50.0)])  # same rows, more padding
    for b, n in enumerate(lengths.tolist()):
        x[n:, b] = 7.0
    torch.manual_seed(0)
    one = ConvBranch(1, filters=(8, 16, 8)).train()
    two = ConvBranch(1, filters=(8, 16, 8)).train()
    two.load_state_dict(one.state_dict())
    out1, out2 = one(x, lengths), two(longer, lengths)
    assert torch.allclose(out1, out2, atol=1e-5)
    for n1, n2 in zip(one.norms, two.norms, strict=True):
        assert torch.allclose(n1.running_mean, n2.running_mean, atol=1e-6)
        assert torch.allclose(n1.running_var, n2.running_var, atol=1e-5)
    out1.sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in one.parameters())


def test_masked_batch_norm_matches_torch_without_padding() -> None:
    gen = torch.Generator().manual_seed(2)
    x = torch.randn(4, 5, 7, generator=gen) * 2 + 3  # (B, C, T)
    ours, ref = MaskedBatchNorm1d(5), nn.BatchNorm1d(5)
    ours.train(), ref.train()
    for _ in range(2):
        assert torch.allclose(ours(x, torch.ones(4, 1, 7)), ref(x), atol=1e-5)
    assert torch.allclose(ours.running_mean, ref.running_mean, atol=1e-6)
    assert torch.allclose(ours.running_var, ref.running_var, atol=1e-5)
    assert set(ours.state_dict()) == set(ref.state_dict())


@pytest.mark.filterwarnings("ignore:Using padding='same'")  # the reference
def test_unpadded_input_matches_plain_torch_layers() -> None:
    gen = torch.Generator().manual_seed(3)
    torch.manual_seed(0)
    branch = ConvBranch(2, batch_first=True).eval()
    _randomise_norms(branch, gen)
    x = torch.randn(3, 20, 2, generator=gen)  # (B, T, I)
    h = x.transpose(1, 2)  # (B, I, T)
    for conv, norm in zip(branch.convs, branch.norms, strict=True):
        h = F.conv1d(h, conv.weight, conv.bias, padding="same")  # torch's own "same"
        h = F.relu(nn.BatchNorm1d.forward(norm, h))
    with torch.no_grad():
        assert torch.allclose(branch(x), h.mean(dim=2), atol=1e-5)


@pytest.mark.parametrize(
    "x,lengths,match",
    [
        (torch.randn(5, 2, 4), None, "input has 4 features, the branch expects 3"),
        (torch.randn(5, 2, 3), torch.tensor([5, 0]), r"`lengths` must be in 1\.\.5"),
        (torch.randn(5, 2, 3), torch.tensor([5, 6]), r"`lengths` must be in 1\.\.5"),
        (torch.randn(5, 3), None, r"`x` must be \(T, B, I\)"),
    ],
)
def test_bad_inputs_name_the_argument(
    x: torch.Tensor, lengths: torch.Tensor | None, match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        ConvBranch(3, filters=(4,), kernel_sizes=(3,))(x, lengths)
    with pytest.raises(ValueError, match="`filters` and `kernel_sizes`"):
        ConvBranch(3, filters=(4, 4), kernel_sizes=(3,))
