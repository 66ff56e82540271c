"""The fused path of ``RNN`` / ``LSTM`` / ``GRU``: PyTorch's kernel, called as torch.nn does.

``torch._VF.lstm`` / ``gru`` / ``rnn_tanh`` / ``rnn_relu`` (cuDNN on GPU, oneDNN/ATen on CPU)
with the same arguments torch.nn passes. The regularisers that the kernel does not know but
that sit outside the recurrence run around it: input and output masks multiply the data,
the dropped ``W_hh`` replaces the weight in the kernel's list, and locked between-layer masks
split the call into one kernel call per layer, composed by
:func:`rnnkit.functional.stack_layers` like every other stack of layers.

:class:`FusedPath` is a part of :class:`rnnkit.nn.base.RecurrentBase` (which mixes it in); it
reads the ``torch.nn.RNNBase`` attributes of the layer.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import _VF, Tensor
from torch.nn.utils.rnn import PackedSequence

from rnnkit.functional import LSTMState, join_states, stack_layers
from rnnkit.nn.regularization import Masks, lock, packed_rows

__all__ = ["FusedPath"]

_KERNELS = {"lstm": _VF.lstm, "gru": _VF.gru, "rnn_tanh": _VF.rnn_tanh, "rnn_relu": _VF.rnn_relu}


def _permute(hx: Any, index: Tensor | None) -> Any:
    """Reorder the batch dim (dim 1) of ``h (L·D, B, ·)`` or of each field of an LSTMState."""
    if index is None:
        return hx
    if isinstance(hx, Tensor):
        return hx.index_select(1, index)
    return LSTMState(hx[0].index_select(1, index), hx[1].index_select(1, index))


class FusedPath:
    """The fused-kernel methods of :class:`rnnkit.nn.base.RecurrentBase`."""

    def _run_packed(
        self: Any,
        packed: PackedSequence,
        hx: Any,
        *,
        generator: torch.Generator | None,
        masks: Masks | None = None,
    ) -> tuple[PackedSequence, Any]:
        """Packed data through the kernel; ``masks`` in the caller's row order, or None: draw."""
        data, batch_sizes, sorted_indices, unsorted_indices = packed
        batch = int(batch_sizes[0])
        hx = self._zeros(batch, data) if hx is None else hx
        hx = _permute(hx, sorted_indices)  # the kernel sees rows in sorted order
        if masks is None:
            masks = self._draw_masks(batch, batch_sizes.numel(), data, generator)
        if masks is not None and sorted_indices is not None:
            masks = masks.rows(sorted_indices)
        out_data, h_n = self._fused(data, hx, batch_sizes, masks)
        out = PackedSequence(out_data, batch_sizes, sorted_indices, unsorted_indices)
        return out, _permute(h_n, unsorted_indices)

    def _fused(
        self: Any, x: Tensor, hx: Any, batch_sizes: Tensor | None, masks: Masks | None
    ) -> tuple[Tensor, Any]:
        """Call PyTorch's fused kernel with the arguments torch.nn passes (no masks), or with
        the masks applied outside it: input and output masks around it, the dropped ``W_hh``
        in its weight list, and one call per layer when the between-layer masks are locked."""
        kernel = _KERNELS[self._scan_mode]
        if masks is None:
            return self._call_kernel(kernel, x, hx, batch_sizes, self._flat_weights, None)
        if batch_sizes is None:
            batch_dim = 0 if self.batch_first else 1

            def locked(t: Tensor, m: Tensor | None) -> Tensor:
                return lock(t, m, batch_dim=batch_dim)
        else:
            rows = packed_rows(batch_sizes).to(x.device)  # (N,)

            def locked(t: Tensor, m: Tensor | None) -> Tensor:
                return t if m is None else t * m.index_select(0, rows)  # (N, F)

        weights = self._dropped_weights(list(self._flat_weights), masks)
        x = locked(x, masks.input)
        if masks.between is None:
            out, h_n = self._call_kernel(kernel, x, hx, batch_sizes, weights, None)
            return locked(out, masks.output), h_n
        per = len(self._all_weights[0]) * (2 if self.bidirectional else 1)  # weights per layer
        dirs = 2 if self.bidirectional else 1

        def run(layer: int, x: Tensor, reverse: bool) -> tuple[Tensor, Any]:
            part = slice(layer * dirs, (layer + 1) * dirs)  # this layer's rows of h_0
            hx_l = hx[part] if isinstance(hx, Tensor) else LSTMState(hx[0][part], hx[1][part])
            w_l = weights[layer * per : (layer + 1) * per]
            return self._call_kernel(kernel, x, hx_l, batch_sizes, w_l, 1)  # both directions

        between = masks.between
        x, finals = stack_layers(
            run, x, num_layers=self.num_layers, between=lambda x, k: locked(x, between[k])
        )
        return locked(x, masks.output), join_states(finals, torch.cat)  # (L·D, B, ·)

    def _call_kernel(
        self: Any,
        kernel: Any,
        x: Tensor,
        hx: Any,
        batch_sizes: Tensor | None,
        weights: list[Tensor],
        num_layers: int | None,
    ) -> tuple[Tensor, Any]:
        """One fused call: all layers (``num_layers=None``, torch's dropout) or a slice."""
        layers = self.num_layers if num_layers is None else num_layers
        dropout = self.dropout if num_layers is None else 0.0
        common = (weights, self.bias, layers, dropout, self.training)
        if batch_sizes is None:
            result = kernel(x, hx, *common, self.bidirectional, self.batch_first)
        else:
            result = kernel(x, batch_sizes, hx, *common, self.bidirectional)
        if self._scan_mode == "lstm":
            return result[0], LSTMState(result[1], result[2])
        return result[0], result[1]

    def _dropped_weights(self: Any, flat: list[Tensor], masks: Masks) -> list[Tensor]:
        """``flat`` (``_flat_weights`` order) with each ``W_hh`` times its weight-drop mask."""
        if masks.w_hh is None:
            return flat
        per = len(self._all_weights[0])
        for k, names in enumerate(self._all_weights):
            i = k * per + names.index(next(n for n in names if n.startswith("weight_hh")))
            flat[i] = flat[i] * masks.w_hh[k]  # (G·H, H_out)
        return flat
