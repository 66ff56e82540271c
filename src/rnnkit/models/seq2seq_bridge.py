"""The bridge: encoder final states -> decoder initial states, whatever the shapes.

An encoder with ``L_e`` layers, ``D`` directions and hidden size ``H_e`` ends in
``h_n: (L_e*D, B, H_e)`` (and ``c_n`` for an LSTM); the decoder wants ``(L_d, B, H_d)``
(and ``c`` when it is an LSTM). Copying ``h_n`` across works only when every number
matches, which is where many seq2seq codes break (a bidirectional encoder, a deeper decoder,
an LSTM encoder under a GRU decoder). Here:

1. directions are concatenated per layer: ``(L_e*D, B, H_e) -> (L_e, B, D*H_e)``;
2. layers are aligned from the top: decoder layer ``j`` (0 at the bottom) starts from encoder
   layer ``max(0, L_e - L_d + j)``, so the top layers meet and a deeper decoder repeats the
   encoder's bottom layer;
3. sizes are mapped per decoder layer by ``mode``:

   - ``"linear"``: ``h = tanh(W_j s + b_j)``; an LSTM decoder's ``c = U_j s' + d_j`` with
     ``s'`` the encoder's ``c`` when it has one, else its ``h``;
   - ``"copy"``: no parameters, needs ``D*H_e == H_d`` (``c`` copied, or zeros without one);
   - ``"zeros"``: the decoder starts from zeros (the encoder reaches it only by attention).

Cells whose state is their own NamedTuple (xLSTM) go through the same bridge by their ``h``
(:func:`encoder_final`, :func:`decoder_state`):

- an sLSTM encoder hands over ``SLSTMState.h`` of every layer (its ``c, n, m`` stay behind);
- an mLSTM state ``(C, n, m)`` has no ``h``: the encoder hands over its top layer's output at
  each row's last valid step (the reverse direction's at step 0), as a one-layer ``h``;
- an sLSTM decoder starts from ``SLSTMState(h0, 0, 0, 0)`` (an empty memory, ``h0`` feeding
  the recurrent weights); an mLSTM decoder from the memory after one write of key
  ``h0/sqrt(d)`` and value ``h0`` per head with input gate 1 (``C = k v^T, n = k, m = 0``),
  so its read-out ``C^T q`` returns ``h0`` weighted by how well the query matches it.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn

__all__ = [
    "BRIDGE_MODES",
    "Bridge",
    "bridged_layers",
    "decoder_state",
    "encoder_final",
    "lstm_state",
    "split_state",
]

BRIDGE_MODES = ("linear", "copy", "zeros")


def lstm_state(h: Tensor, c: Tensor) -> Any:
    """An LSTM ``(h, c)`` state: ``rnnkit.nn.LSTMState`` where it exists, else a plain tuple."""
    try:
        from rnnkit.nn import LSTMState
    except ImportError:
        return (h, c)
    return LSTMState(h, c)


def _fields(layer: nn.Module) -> tuple[str, ...]:
    """The field names of ``layer``'s own NamedTuple state, or () for ``h`` / ``(h, c)``."""
    state_type = getattr(layer, "state_type", None)
    return () if state_type is None else tuple(state_type._fields)


def bridged_layers(layer: nn.Module, num_layers: int) -> int:
    """How many of the encoder's ``num_layers`` layers :func:`encoder_final` hands the
    bridge: all, or 1 (the top) when ``layer``'s state has no ``h`` (mLSTM). ``num_layers``
    comes from the config: the registry's layer protocol does not promise the attribute."""
    fields = _fields(layer)
    return num_layers if not fields or "h" in fields else 1


def encoder_final(state: Any, memory: Tensor, lengths: Tensor, layer: nn.Module) -> Any:
    """The encoder's final state as the bridge reads it: ``h (L*D, B, H)`` or ``(h, c)``.

    Args:
        state: ``layer``'s final state (each row's last valid step).
        memory: ``(S, B, D*H)`` the encoder's outputs, zeros at padding.
        lengths: ``(B,)`` the source lengths.
        layer: the encoder's recurrent layer.

    Returns: ``state`` itself for an ``h`` / ``(h, c)`` state; ``state.h`` for a NamedTuple
    with an ``h``; else the top layer's output at each row's last valid step (forward) and
    at step 0 (reverse), ``(D, B, H)``.
    """
    fields = _fields(layer)
    if not fields:
        return state
    if "h" in fields:
        return state.h  # (L*D, B, H)
    H, B = layer.hidden_size, memory.shape[1]
    last = (lengths.to(memory.device) - 1).view(1, B, 1).expand(1, B, memory.shape[2])
    forward = memory.gather(0, last)[0, :, :H]  # (B, H) at each row's last valid step
    if not layer.bidirectional:
        return forward.unsqueeze(0)  # (1, B, H)
    return torch.stack([forward, memory[0, :, H:]])  # (2, B, H): reverse ends at step 0


def decoder_state(h0: Any, layer: nn.Module) -> Any:
    """The bridge's output ``h0 (L_d, B, H_d)`` (or ``(h, c)``) as ``layer``'s initial state
    (see the module doc for sLSTM and mLSTM decoders)."""
    fields = _fields(layer)
    if not fields:
        return h0
    if "h" in fields:  # SLSTMState(h, c, n, m): an empty memory, h into the recurrence
        zero = torch.zeros_like(h0)
        return layer.state_type(h0, *(zero for _ in fields[1:]))
    L, B, H = h0.shape
    heads = layer.num_heads
    v = h0.view(L, B, heads, H // heads)  # (L_d, B, NH, d)
    k = v / math.sqrt(H // heads)  # the layer's key scaling
    C = k.unsqueeze(-1) * v.unsqueeze(-2)  # (L_d, B, NH, d, d): one write k v^T
    return layer.state_type(C, k, h0.new_zeros(L, B, heads))


def split_state(state: Tensor | tuple[Tensor, Tensor]) -> tuple[Tensor, Tensor | None]:
    """``(h, c)`` of an LSTM state, or ``(h, None)`` of an RNN/GRU state."""
    if isinstance(state, Tensor):
        return state, None
    if len(state) != 2:  # SLSTMState, MLSTMState: encoder_final turns them into h
        raise ValueError(
            f"the seq2seq bridge maps an h or (h, c) encoder state, got a "
            f"{type(state).__name__} of {len(state)} tensors (pass a cell's own state "
            f"through encoder_final first)"
        )
    h, c = state
    return h, c


class Bridge(nn.Module):
    """Map encoder final states to decoder initial states.

    Args:
        enc_layers: L_e.
        enc_directions: D (1 or 2).
        enc_hidden: H_e, per direction.
        dec_layers: L_d.
        dec_hidden: H_d.
        dec_lstm: whether the decoder wants an ``(h, c)`` state.
        mode: ``"linear"``, ``"copy"`` or ``"zeros"`` (see the module docstring).

    Inputs: ``state`` — ``h_n: (L_e*D, B, H_e)`` or ``(h_n, c_n)``.

    Outputs: ``h: (L_d, B, H_d)`` or an LSTM state ``(h, c)`` for an LSTM decoder.
    """

    def __init__(
        self,
        enc_layers: int,
        enc_directions: int,
        enc_hidden: int,
        dec_layers: int,
        dec_hidden: int,
        dec_lstm: bool,
        mode: str = "linear",
    ) -> None:
        super().__init__()
        if mode not in BRIDGE_MODES:
            raise ValueError(f"`mode` must be one of {BRIDGE_MODES}, got {mode!r}")
        if enc_directions not in (1, 2):
            raise ValueError(f"`enc_directions` must be 1 or 2, got {enc_directions}")
        for name, value in (
            ("enc_layers", enc_layers),
            ("enc_hidden", enc_hidden),
            ("dec_layers", dec_layers),
            ("dec_hidden", dec_hidden),
        ):
            if value <= 0:
                raise ValueError(f"`{name}` must be > 0, got {value}")
        width = enc_directions * enc_hidden
        if mode == "copy" and width != dec_hidden:
            raise ValueError(
                f"bridge 'copy' needs directions*enc_hidden == dec_hidden, got "
                f"{enc_directions}*{enc_hidden} = {width} and {dec_hidden}; use 'linear'"
            )
        self.enc_layers, self.enc_directions = enc_layers, enc_directions
        self.enc_hidden, self.dec_layers, self.dec_hidden = enc_hidden, dec_layers, dec_hidden
        self.dec_lstm, self.mode = dec_lstm, mode
        # decoder layer j <- encoder layer source[j] (top-aligned)
        self.source = [max(0, enc_layers - dec_layers + j) for j in range(dec_layers)]
        if mode == "linear":
            self.h_proj = nn.ModuleList(nn.Linear(width, dec_hidden) for _ in range(dec_layers))
            if dec_lstm:
                self.c_proj = nn.ModuleList(nn.Linear(width, dec_hidden) for _ in range(dec_layers))

    def _by_layer(self, x: Tensor) -> Tensor:
        """``(L_e*D, B, H_e) -> (L_e, B, D*H_e)``, forward direction first."""
        n, B, H = x.shape
        if (n, H) != (self.enc_layers * self.enc_directions, self.enc_hidden):
            raise ValueError(
                f"encoder state must be ({self.enc_layers * self.enc_directions}, B, "
                f"{self.enc_hidden}), got {tuple(x.shape)}"
            )
        x = x.view(self.enc_layers, self.enc_directions, B, H)  # (L_e, D, B, H_e)
        return x.permute(0, 2, 1, 3).reshape(self.enc_layers, B, -1)  # (L_e, B, D*H_e)

    def forward(self, state: Tensor | tuple[Tensor, Tensor]) -> Any:
        h, c = split_state(state)
        h = self._by_layer(h)  # (L_e, B, D*H_e)
        c = None if c is None else self._by_layer(c)
        B = h.shape[1]
        if self.mode == "zeros":
            h0 = h.new_zeros(self.dec_layers, B, self.dec_hidden)
            return lstm_state(h0, torch.zeros_like(h0)) if self.dec_lstm else h0
        if self.mode == "copy":
            h0 = h[self.source]  # (L_d, B, H_d)
            if not self.dec_lstm:
                return h0
            c0 = torch.zeros_like(h0) if c is None else c[self.source]
            return lstm_state(h0, c0)
        pairs = zip(self.h_proj, self.source, strict=True)
        h0 = torch.stack([torch.tanh(p(h[i])) for p, i in pairs])
        if not self.dec_lstm:
            return h0  # (L_d, B, H_d)
        src = h if c is None else c
        c0 = torch.stack([p(src[i]) for p, i in zip(self.c_proj, self.source, strict=True)])
        return lstm_state(h0, c0)

    def extra_repr(self) -> str:
        return (
            f"enc=({self.enc_layers}x{self.enc_directions}x{self.enc_hidden}), "
            f"dec=({self.dec_layers}x{self.dec_hidden}, lstm={self.dec_lstm}), mode={self.mode}"
        )
