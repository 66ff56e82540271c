"""The scan path of ``RNN`` / ``LSTM`` / ``GRU``: :func:`rnnkit.functional.scan_layers`.

The explicit engine (one cell step per kind, the masked scan, the one composition of layers x
directions) runs every option: the layer's weights are read live (so ``torch.func``'s
``functional_call`` works), the weight-drop masks multiply ``W_hh``, locked masks go around
and between the layers, and layer norm, recurrent dropout and zoneout become each layer and
direction's :class:`~rnnkit.functional.CellOptions`.

:class:`ScanPath` is a part of :class:`rnnkit.nn.base.RecurrentBase` (which mixes it in); it
reads the ``torch.nn.RNNBase`` attributes of the layer.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from rnnkit.functional import CellOptions, CellWeights, scan_layers
from rnnkit.nn.regularization import Masks, lock

__all__ = ["ScanPath"]


class ScanPath:
    """The scan-path methods of :class:`rnnkit.nn.base.RecurrentBase`."""

    def _scan(
        self: Any,
        x: Tensor,
        hx: Any,
        lengths: Tensor | None,
        generator: torch.Generator | None,
        masks: Masks | None,
        *,
        time_major: bool,
    ) -> tuple[Tensor, Any]:
        """Run :func:`scan_layers`; ``x`` is ``(T, B, I)`` or, if not time_major, ``(B, T, I)``."""
        x = x if time_major else x.transpose(0, 1)  # (T, B, I)
        masks = masks or Masks()
        weights = self._cell_weights()
        if masks.w_hh is not None:
            weights = [
                w._replace(w_hh=w.w_hh * m) for w, m in zip(weights, masks.w_hh, strict=True)
            ]
        out, h_n = scan_layers(
            self._scan_mode,
            lock(x, masks.input, batch_dim=1),
            hx,
            weights,
            bidirectional=self.bidirectional,
            lengths=lengths,
            dropout=self.dropout if self.dropout_kind == "standard" else 0.0,
            training=self.training,
            generator=generator,
            between_masks=masks.between,
            options=self._cell_options(masks),
        )
        out = lock(out, masks.output, batch_dim=1)  # (T, B, D·H_out)
        return (out if time_major else out.transpose(0, 1)), h_n  # back to the input's layout

    def _cell_options(self: Any, masks: Masks) -> list[CellOptions] | None:
        """Per layer and direction: layer-norm gains, recurrent and zoneout masks (or None)."""
        zoneout = self.zoneout_h or self.zoneout_c
        if not (self.layer_norm or masks.recurrent is not None or zoneout):
            return None
        options = []
        for k, names in enumerate(self._all_weights):
            suffix = names[0][len("weight_ih") :]  # "_l0", "_l1_reverse", ...
            ln: dict[str, Any] = {}
            if self.layer_norm:
                ln["ln_ih"] = getattr(self, "ln_ih_weight" + suffix)
                ln["ln_hh"] = getattr(self, "ln_hh_weight" + suffix)
                if self._scan_mode == "lstm":
                    ln["ln_c"] = (
                        getattr(self, "ln_c_weight" + suffix),
                        getattr(self, "ln_c_bias" + suffix),
                    )
            options.append(
                CellOptions(
                    **ln,
                    recurrent_mask=None if masks.recurrent is None else masks.recurrent[k],
                    zoneout_h=self.zoneout_h if masks.zoneout_h is None else masks.zoneout_h[k],
                    zoneout_c=self.zoneout_c if masks.zoneout_c is None else masks.zoneout_c[k],
                )
            )
        return options

    def _cell_weights(self: Any) -> list[CellWeights]:
        """A :class:`CellWeights` per layer and direction, read live (functional_call works)."""
        weights = []
        for names in self._all_weights:
            named = {
                n.rsplit("_l", 1)[0]: getattr(self, n) for n in names
            }  # weight_ih_l0 -> weight_ih
            weights.append(
                CellWeights(
                    named["weight_ih"],
                    named["weight_hh"],
                    named.get("bias_ih"),
                    named.get("bias_hh"),
                    named.get("weight_hr"),
                )
            )
        return weights
