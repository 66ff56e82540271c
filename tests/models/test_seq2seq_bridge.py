"""The bridge for every encoder/decoder layer count, direction, size and cell combination."""

from __future__ import annotations

import itertools

import pytest
import torch
from torch import nn

from rnnkit.models.seq2seq_bridge import Bridge, split_state

CELLS = {"rnn": nn.RNN, "gru": nn.GRU, "lstm": nn.LSTM}
H_E = 4


def _dec_hidden(mode: str, directions: int) -> int:
    return directions * H_E if mode == "copy" else 5


@pytest.mark.parametrize("mode", ["linear", "copy", "zeros"])
@pytest.mark.parametrize("directions", [1, 2])
@pytest.mark.parametrize(("enc_cell", "dec_cell"), list(itertools.product(CELLS, CELLS)))
def test_bridge_feeds_the_decoder_for_every_combination(
    enc_cell: str, dec_cell: str, directions: int, mode: str
) -> None:
    torch.manual_seed(0)
    B, S = 3, 6
    for enc_layers, dec_layers in itertools.product([1, 2, 3], [1, 2, 3]):
        encoder = CELLS[enc_cell](3, H_E, enc_layers, bidirectional=directions == 2)
        out, state = encoder(torch.randn(S, B, 3))
        H_d = _dec_hidden(mode, directions)
        bridge = Bridge(enc_layers, directions, H_E, dec_layers, H_d, dec_cell == "lstm", mode)
        dec_state = bridge(state)
        h0, c0 = split_state(dec_state)
        assert h0.shape == (dec_layers, B, H_d)
        assert (c0 is not None) == (dec_cell == "lstm")
        if c0 is not None:
            assert c0.shape == (dec_layers, B, H_d)
        decoder = CELLS[dec_cell](2, H_d, dec_layers)
        y, _ = decoder(torch.randn(4, B, 2), dec_state)  # the decoder accepts it as its hx
        assert y.shape == (4, B, H_d)
        if mode == "zeros":
            assert h0.abs().sum() == 0
            continue
        # The top decoder layer starts from the top encoder layer, both directions: the
        # forward direction ends at the last step, the backward one at the first.
        top = torch.cat([out[-1, :, :H_E], out[0, :, H_E:]], -1) if directions == 2 else out[-1]
        if mode == "copy":
            torch.testing.assert_close(h0[-1], top)
        else:
            torch.testing.assert_close(h0[-1], torch.tanh(bridge.h_proj[-1](top)))
        # gradients reach the encoder through the bridge
        h0.sum().backward()
        assert all(p.grad is not None for p in encoder.parameters())


def test_layers_align_from_the_top() -> None:
    assert Bridge(3, 1, 4, 1, 4, False, "copy").source == [2]
    assert Bridge(1, 1, 4, 3, 4, False, "copy").source == [0, 0, 0]
    assert Bridge(2, 2, 4, 3, 8, False, "copy").source == [0, 0, 1]
    h = torch.arange(2 * 2 * 1 * 4, dtype=torch.float).view(4, 1, 4)  # (L_e*D, B, H_e)
    h0 = Bridge(2, 2, 4, 3, 8, False, "copy")(h)
    torch.testing.assert_close(h0[2, 0], torch.cat([h[2, 0], h[3, 0]]))  # layer 1 fwd|bwd
    torch.testing.assert_close(h0[0, 0], torch.cat([h[0, 0], h[1, 0]]))  # layer 0 fwd|bwd


def test_lstm_cell_state_is_carried_by_copy() -> None:
    h, c = torch.randn(2, 3, 4), torch.randn(2, 3, 4)
    h0, c0 = Bridge(1, 2, 4, 1, 8, True, "copy")((h, c))
    torch.testing.assert_close(c0[0], torch.cat([c[0], c[1]], -1))


def test_bad_shapes_are_named() -> None:
    with pytest.raises(ValueError, match="copy.*8"):
        Bridge(1, 2, 4, 1, 5, False, "copy")
    with pytest.raises(ValueError, match="`mode`"):
        Bridge(1, 1, 4, 1, 4, False, "mean")
    with pytest.raises(ValueError, match="encoder state must be"):
        Bridge(2, 1, 4, 1, 4, False)(torch.randn(1, 3, 4))
