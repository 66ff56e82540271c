"""``Seq2Seq``: an RNN encoder, a bridge and an attention decoder with input feeding.

The network of the classic translation tutorials grown up: the encoder (embedding ->
(bi)directional RNN/LSTM/GRU on packed sequences) reads the source; the
:class:`~rnnkit.models.seq2seq_bridge.Bridge` turns its final states into the decoder's
initial states whatever the layer counts, directions and sizes; the decoder (Luong et al.,
2015) runs one step per target token:

    x_t   = [embed(y_{t-1}); h~_{t-1}]             (input feeding: the previous attentional vector)
    h_t   = RNN(x_t, h_{t-1})                      (top layer's output)
    c_t, a_t = attention(h_t, encoder outputs)     (additive / dot / general; a_t masked on padding)
    h~_t  = tanh(W_c [c_t; h_t])
    p(y_t) = softmax(W_o h~_t)                    (or the output layer's own distribution)

With ``attention="none"`` the decoder is the plain encoder-decoder (``h~_t = h_t``), where the
bridge's "thought vector" is all the decoder knows of the source.

The output layer is ``output_layer`` of :mod:`rnnkit.models.output_layers`: softmax (the
classic ``W_o``), chunked (the same ``Linear``, its training loss over row chunks without the
full logits) or adaptive (adaptive softmax over the frequency-ordered target vocabulary).
Given ``targets``, :meth:`Seq2Seq.forward` returns the layer's own loss (:func:`output_loss`);
decoding reads the layer's exact ``log_prob``.

Shapes: S source length, T target length, B batch, V vocab (``V_s``/``V_t``), E embedding,
H encoder hidden per direction, D directions, H_d decoder hidden, K = D*H encoder output.

>>> config = Seq2SeqConfig(src_vocab_size=20, tgt_vocab_size=30, embedding_dim=8,
...                        rnn=RecurrentSpec(hidden_size=8, bidirectional=True))
>>> model = Seq2Seq(config)
>>> src, lengths = torch.randint(4, 20, (6, 2)), torch.tensor([6, 4])
>>> logits, weights = model(src, lengths, torch.randint(4, 30, (5, 2)))
>>> tuple(logits.shape), tuple(weights.shape)
((5, 2, 30), (5, 2, 6))
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from rnnkit.config import check_types, config_from_dict
from rnnkit.models.output_layers import build_output, check_output_options
from rnnkit.models.seq2seq_bridge import (
    BRIDGE_MODES,
    Bridge,
    bridged_layers,
    decoder_state,
    encoder_final,
)
from rnnkit.nn.attention import ATTENTION_KINDS, Attention, make_attention
from rnnkit.nn.spec import RecurrentSpec, accepts_flat_keys

__all__ = [
    "DecoderState",
    "Memory",
    "Seq2Seq",
    "Seq2SeqConfig",
    "output_loss",
    "sequence_loss",
]


@accepts_flat_keys("rnn")
@dataclass(frozen=True)
class Seq2SeqConfig:
    """The translator's shape. The encoder's recurrent stack is ``rnn``; its keys are also
    taken flat (``Seq2SeqConfig(20, 30, cell="gru", hidden_size=8)``)."""

    src_vocab_size: int
    """Source vocabulary size V_s (set from the vocabulary)."""
    tgt_vocab_size: int
    """Target vocabulary size V_t (set from the vocabulary)."""
    rnn: RecurrentSpec = RecurrentSpec(hidden_size=256, bidirectional=True, dropout=0.2)
    """The encoder (cell, H per direction, L_e, D, regularisers). The decoder
    (:attr:`decoder_rnn`) has the same cell and dropout, one direction, H_d and L_d. Its
    ``dropout`` also drops the embeddings and the output layer's input (training only)."""
    embedding_dim: int = 128
    """Size E of the source and target embeddings."""
    decoder_hidden_size: int | None = None
    """Decoder hidden size H_d (None: D*H, the encoder's output width)."""
    decoder_layers: int | None = None
    """Decoder layers L_d (None: same as the encoder)."""
    attention: str = "additive"
    """Attention score: additive (Bahdanau), dot or general (Luong), or none."""
    attn_size: int | None = None
    """Hidden width of the additive scorer (None: H_d)."""
    input_feeding: bool = True
    """Feed the previous attentional vector into the next decoder step (needs attention)."""
    bridge: str = "linear"
    """Encoder final states -> decoder initial states: linear, copy or zeros."""
    pad_id: int = 0
    """Padding id of both vocabularies."""
    output_layer: str = "softmax"
    """The decoder's output layer (:mod:`rnnkit.models.output_layers`): softmax (Linear +
    full cross-entropy), chunked (the same Linear, cross-entropy over row chunks) or adaptive
    (adaptive softmax, clusters over the frequency-ordered target vocabulary)."""
    cutoffs: tuple[int, ...] | None = None
    """adaptive: cluster starts, increasing in (0, V_t); None: ``min(V_t // 5, 20000)`` then
    x4 while below V_t."""
    div_value: float = 4.0
    """adaptive: tail cluster i projects H_d to ``H_d // div_value**(i+1)`` features."""
    chunk_rows: int = 1024
    """chunked: rows (target tokens) per chunk of the cross-entropy."""

    def __post_init__(self) -> None:
        check_types(self)
        for name in ("src_vocab_size", "tgt_vocab_size", "embedding_dim"):
            if getattr(self, name) <= 0:
                raise ValueError(f"`{name}` must be > 0, got {getattr(self, name)}")
        if self.rnn.proj_size:
            raise ValueError(
                f"`proj_size` is not supported by Seq2Seq (the bridge reads H-wide encoder "
                f"states), got {self.rnn.proj_size}"
            )
        for name in ("decoder_hidden_size", "decoder_layers", "attn_size"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ValueError(f"`{name}` must be > 0, got {value}")
        if self.attention not in (*ATTENTION_KINDS, "none"):
            raise ValueError(
                f"`attention` must be one of {(*ATTENTION_KINDS, 'none')}, got {self.attention!r}"
            )
        if self.bridge not in BRIDGE_MODES:
            raise ValueError(f"`bridge` must be one of {BRIDGE_MODES}, got {self.bridge!r}")
        check_output_options(self.output_layer, self.div_value, self.chunk_rows)

    @property
    def directions(self) -> int:
        """D of the encoder."""
        return self.rnn.directions

    @property
    def dec_hidden(self) -> int:
        """H_d."""
        return self.decoder_hidden_size or self.rnn.output_size

    @property
    def dec_layers(self) -> int:
        """L_d."""
        return self.decoder_layers or self.rnn.num_layers

    @property
    def decoder_rnn(self) -> RecurrentSpec:
        """The decoder's stack: the encoder's cell and dropout, one direction, H_d, L_d (the
        encoder's other regularisers are not applied to the step-by-step decoder)."""
        return RecurrentSpec(
            cell=self.rnn.cell, hidden_size=self.dec_hidden, num_layers=self.dec_layers,
            dropout=self.rnn.dropout,
        )  # fmt: skip

    @property
    def feeds_input(self) -> bool:
        """Whether input feeding is in effect (it needs attention)."""
        return self.input_feeding and self.attention != "none"

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Seq2SeqConfig:
        """Build from a dict, nested (``{"rnn": {...}}``) or flat; an unknown key or a wrong
        type is an error that names it."""
        return config_from_dict(cls, d)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, nested: ``{"rnn": {...}, "src_vocab_size": ...}``."""
        return asdict(self)


class Memory(NamedTuple):
    """What the decoder attends to, computed once per source batch."""

    values: Tensor
    """``(S, B, K)`` encoder outputs (zeros at padding)."""
    mask: Tensor
    """``(S, B)`` bool, True at real tokens."""
    keys: Tensor | None
    """``(B, S, ·)`` the attention's query-free transform of ``values`` (None: no attention)."""


class DecoderState(NamedTuple):
    """The decoder's state between steps (carried, never recomputed)."""

    rnn: Any
    """``(L_d, B, H_d)``, an LSTM ``(h, c)`` of two of them, or the decoder cell's own
    NamedTuple (``SLSTMState``, ``MLSTMState``; every field ``(L_d, B, ·)``)."""
    feed: Tensor
    """``(B, H_d)`` previous attentional vector (input feeding), or ``(B, 0)`` without it."""


class Encoder(nn.Module):
    """Embedding -> (bi)directional recurrent layers on packed sequences.

    Inputs: ``src (S, B)`` ids, ``lengths (B,)``. Outputs: ``memory (S, B, D*H)`` (zeros at
    padding) and the final state ``(L*D, B, H)`` (or ``(h, c)``) of each row's last token;
    for an xLSTM cell, what :func:`~rnnkit.models.seq2seq_bridge.encoder_final` makes of it.
    """

    def __init__(self, c: Seq2SeqConfig) -> None:
        super().__init__()
        self.embedding = nn.Embedding(c.src_vocab_size, c.embedding_dim, padding_idx=c.pad_id)
        self.dropout = nn.Dropout(c.rnn.dropout)
        self.rnn = c.rnn.build(c.embedding_dim)

    def forward(self, src: Tensor, lengths: Tensor) -> tuple[Tensor, Any]:
        S = src.shape[0]
        x = self.dropout(self.embedding(src))  # (S, B, E)
        packed = pack_padded_sequence(x, lengths.cpu(), enforce_sorted=False)
        out, state = self.rnn(packed)
        memory, _ = pad_packed_sequence(out, total_length=S)  # (S, B, D*H)
        return memory, encoder_final(state, memory, lengths, self.rnn)


class Decoder(nn.Module):
    """Embedding -> recurrent layers -> attention -> attentional vector -> output layer
    (``out``: any of :data:`~rnnkit.models.output_layers.OUTPUT_LAYERS`)."""

    def __init__(self, c: Seq2SeqConfig) -> None:
        super().__init__()
        H_d, K = c.dec_hidden, c.rnn.output_size
        self.input_feeding = c.feeds_input
        self.embedding = nn.Embedding(c.tgt_vocab_size, c.embedding_dim, padding_idx=c.pad_id)
        self.dropout = nn.Dropout(c.rnn.dropout)
        in_size = c.embedding_dim + (H_d if self.input_feeding else 0)
        self.rnn = c.decoder_rnn.build(in_size)
        self.attention: Attention | None = None
        if c.attention != "none":
            self.attention = make_attention(c.attention, H_d, K, c.attn_size)
            self.combine = nn.Linear(K + H_d, H_d, bias=False)
        self.out = build_output(
            c.output_layer, H_d, c.tgt_vocab_size, cutoffs=c.cutoffs, div_value=c.div_value,
            chunk_rows=c.chunk_rows,
        )  # fmt: skip
        self.feed_size = H_d if self.input_feeding else 0

    def attend(self, h: Tensor, memory: Memory) -> tuple[Tensor, Tensor | None]:
        """``h (..., B, H_d)`` -> attentional vector ``(..., B, H_d)``, weights ``(..., B, S)``."""
        if self.attention is None:
            return h, None
        context, weights = self.attention(h, memory.values, memory.mask, memory.keys)
        return torch.tanh(self.combine(torch.cat([context, h], -1))), weights  # (..., B, H_d)

    def advance(
        self, x: Tensor, state: DecoderState, memory: Memory
    ) -> tuple[Tensor, DecoderState, Tensor | None]:
        """One step from embedded inputs ``x (B, E)``: attentional vector ``(B, H_d)``, the
        next state and the weights ``(B, S)``."""
        if self.input_feeding:
            x = torch.cat([x, state.feed], -1)  # (B, E + H_d)
        out, rnn_state = self.rnn(x.unsqueeze(0), state.rnn)  # (1, B, H_d)
        att, weights = self.attend(out[0], memory)
        return att, DecoderState(rnn_state, att if self.input_feeding else state.feed), weights

    def step(
        self, tokens: Tensor, state: DecoderState, memory: Memory
    ) -> tuple[Tensor, DecoderState, Tensor | None]:
        """One step: ``tokens (B,)`` -> the output layer's input ``(B, H_d)`` (the dropped
        attentional vector), the next state, weights ``(B, S)``."""
        att, state, weights = self.advance(self.dropout(self.embedding(tokens)), state, memory)
        return self.dropout(att), state, weights

    def forward(
        self,
        tgt_in: Tensor,
        state: DecoderState,
        memory: Memory,
        teacher_forcing: float = 1.0,
        generator: torch.Generator | None = None,
    ) -> tuple[Tensor, Tensor | None]:
        """Run over ``tgt_in (T, B)`` -> the output layer's inputs ``(T, B, H_d)`` (dropped
        attentional vectors; ``self.out`` of them is the scores), weights ``(T, B, S)`` or None.

        With ``teacher_forcing < 1`` each row at each step is fed the gold token with that
        probability, else the model's own previous prediction (``generator`` draws the coins).
        """
        if teacher_forcing >= 1.0:
            # The inputs are known: embed them, and project to the vocabulary, all at once.
            x = self.dropout(self.embedding(tgt_in))  # (T, B, E)
            if not self.input_feeding:  # nothing feeds back: one call of the fused kernel
                out, _ = self.rnn(x, state.rnn)  # (T, B, H_d)
                att, weights = self.attend(out, memory)
            else:
                atts, ws = [], []
                for t in range(tgt_in.shape[0]):
                    a, state, w = self.advance(x[t], state, memory)
                    atts.append(a)
                    ws.append(w)
                att = torch.stack(atts)  # (T, B, H_d)
                weights = None if ws[0] is None else torch.stack(ws)  # (T, B, S)
            return self.dropout(att), weights
        hidden_all, weights_all = [], []
        tokens = tgt_in[0]
        for t in range(tgt_in.shape[0]):
            if t > 0:
                coin = torch.rand(tokens.shape, generator=generator).to(tokens.device)
                with torch.no_grad():
                    own = self.out.predict(hidden_all[-1])  # (B,)
                tokens = torch.where(coin < teacher_forcing, tgt_in[t], own)
            hidden, state, weights = self.step(tokens, state, memory)
            hidden_all.append(hidden)
            weights_all.append(weights)
        stacked = None if weights_all[0] is None else torch.stack(weights_all)  # (T, B, S)
        return torch.stack(hidden_all), stacked  # (T, B, H_d)


class Seq2Seq(nn.Module):
    """Encoder -> bridge -> attention decoder.

    Args:
        config: the network's shape (:class:`Seq2SeqConfig`).

    Inputs: ``src, src_lengths, tgt_in``
        - ``src``: ``(S, B)`` source ids, padded with ``pad_id``.
        - ``src_lengths``: ``(B,)`` real lengths, each in ``[1, S]``.
        - ``tgt_in``: ``(T, B)`` decoder inputs (``<bos> y_1 .. y_{T-1}``).

    Outputs: ``logits (T, B, V_t)`` and attention ``weights (T, B, S)`` (None without attention).
        ``logits``' log_softmax is the model's log-probability (the adaptive softmax gives the
        log-probabilities themselves). With ``targets (T, B)`` the first output is instead the
        mean loss over the non-padding targets (:func:`output_loss`: the output layer's own,
        which never builds the full logits where the layer avoids them).
    """

    def __init__(self, config: Seq2SeqConfig) -> None:
        super().__init__()
        self.config = config
        c = config
        self.encoder = Encoder(c)
        self.bridge = Bridge(
            bridged_layers(self.encoder.rnn, c.rnn.num_layers), c.directions, c.rnn.hidden_size,
            c.dec_layers, c.dec_hidden, c.decoder_rnn.cell_state, c.bridge,
        )  # fmt: skip
        self.decoder = Decoder(c)

    def encode(self, src: Tensor, src_lengths: Tensor) -> tuple[DecoderState, Memory]:
        """Read the source: the decoder's initial state and the memory it attends to."""
        if src.dim() != 2:
            raise ValueError(f"`src` must be (S, B) token ids, got shape {tuple(src.shape)}")
        S, B = src.shape
        if src_lengths.shape != (B,):
            raise ValueError(f"`src_lengths` must be ({B},), got {tuple(src_lengths.shape)}")
        if int(src_lengths.min()) < 1 or int(src_lengths.max()) > S:
            raise ValueError(f"`src_lengths` must lie in [1, {S}], got {src_lengths.tolist()}")
        values, enc_state = self.encoder(src, src_lengths)
        mask = torch.arange(S, device=src.device)[:, None] < src_lengths.to(src.device)[None, :]
        keys = None if self.decoder.attention is None else self.decoder.attention.prepare(values)
        feed = values.new_zeros(B, self.decoder.feed_size)
        rnn_state = decoder_state(self.bridge(enc_state), self.decoder.rnn)
        return DecoderState(rnn_state, feed), Memory(values, mask, keys)

    def forward(
        self,
        src: Tensor,
        src_lengths: Tensor,
        tgt_in: Tensor,
        *,
        teacher_forcing: float = 1.0,
        generator: torch.Generator | None = None,
        targets: Tensor | None = None,
        label_smoothing: float = 0.0,
    ) -> tuple[Tensor, Tensor | None]:
        state, memory = self.encode(src, src_lengths)
        hidden, weights = self.decoder(tgt_in, state, memory, teacher_forcing, generator)
        if targets is None:
            return self.decoder.out(hidden), weights  # (T, B, V_t)
        pad = self.config.pad_id
        return output_loss(self.decoder.out, hidden, targets, pad, label_smoothing)[0], weights

    def step(
        self, tokens: Tensor, state: DecoderState, memory: Memory
    ) -> tuple[Tensor, DecoderState, Tensor | None]:
        """One step: ``tokens (B,)`` -> log-probs ``(B, V_t)`` (float32 at least, exact for
        every output layer), state, weights ``(B, S)``."""
        hidden, state, weights = self.decoder.step(tokens, state, memory)
        return self.decoder.out.log_prob(hidden), state, weights


def output_loss(
    layer: nn.Module, hidden: Tensor, targets: Tensor, pad_id: int, label_smoothing: float = 0.0
) -> tuple[Tensor, int]:
    """Mean loss of an output layer over the non-padding targets, and their count.

    Args:
        layer: an output layer (:func:`~rnnkit.models.output_layers.build_output`).
        hidden: ``(T, B, H_d)`` the layer's inputs.
        targets: ``(T, B)`` ids; ``pad_id`` positions are left out before the layer runs.
        pad_id: the padding id.
        label_smoothing: mass spread uniformly over the vocabulary (0: plain NLL).
    """
    keep = targets != pad_id  # (T, B)
    n = int(keep.sum())
    loss = layer.loss(hidden[keep], targets[keep], "sum", label_smoothing)  # (n, H_d) rows
    return loss / max(n, 1), n


def sequence_loss(
    logits: Tensor, targets: Tensor, pad_id: int, label_smoothing: float = 0.0
) -> tuple[Tensor, int]:
    """Mean cross-entropy over the non-padding targets, and their count.

    Args:
        logits: ``(T, B, V)``.
        targets: ``(T, B)`` ids; ``pad_id`` positions add nothing to the loss or the count.
        pad_id: the padding id.
        label_smoothing: mass spread uniformly over the vocabulary (0: plain NLL).
    """
    V = logits.shape[-1]
    loss = F.cross_entropy(
        logits.reshape(-1, V).float(),  # (T*B, V)
        targets.reshape(-1),  # (T*B,)
        ignore_index=pad_id,
        label_smoothing=label_smoothing,
        reduction="sum",
    )
    n = int((targets != pad_id).sum())
    return loss / max(n, 1), n
