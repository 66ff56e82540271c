"""Which input steps a decision rests on: gradient x input for classifiers (Simonyan et al.
2014; Denil et al. 2014), attention-pooling weights where the classifier pools by attention,
and the attention maps of translation runs.

Gradient x input of step t is ``sum_e x_{t,e} * d score / d x_{t,e}`` over the features the
recurrent stack reads at t (the token's embedding, or the series' features), with ``score``
the logit of the predicted class. Padded steps are never read (the stack runs packed), so
their saliency is exactly zero.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor, nn

from rnnkit.explain.batches import default_text, task_sample
from rnnkit.explain.probe import probe
from rnnkit.tasks.run import TaskRun

__all__ = ["Saliency", "gradient_x_input", "saliency"]


@dataclass
class Saliency:
    """What :func:`saliency` found for one input.

    Attributes:
        tokens: the input's tokens (or step numbers of a series).
        scores: ``(T,)`` gradient x input per token (classify), or None.
        attention: ``(T,)`` attention-pooling weights (classify) or the ``(T_out, S)`` map
            (translate), or None when the model has none.
        label: the predicted class (classify) or the translation (translate).
        notes: what is shown instead where something is missing.
    """

    tokens: list[str]
    scores: np.ndarray | None
    attention: np.ndarray | None
    label: str
    target_tokens: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def gradient_x_input(
    model: nn.Module,
    x: Tensor,
    lengths: Tensor | None = None,
    target: Tensor | None = None,
    *,
    at: str = "recurrent",
) -> tuple[np.ndarray, Tensor, np.ndarray | None]:
    """Gradient x input for ``model(x, lengths)``, summed over the features of each step.

    Args:
        model: a classifier ``model(x, lengths) -> logits (B, C)``.
        x: ``(T, B)`` ids or ``(T, B, I)`` features; lengths: ``(B,)`` or None.
        target: ``(B,)`` the class whose logit is explained (default: the predicted one).
        at: "recurrent" (the first recurrent layer's input: a token's embedding) or "input"
            (the model's own float input ``x (T, B, I)``: every branch of e.g. LSTM-FCN).

    Returns:
        ``(scores (T, B), logits (B, C), pool weights (T, B) or None)``; zero at padded steps.
    """
    was = model.training
    model.eval()
    pooled: list[Tensor] = []
    handles = [
        m.register_forward_hook(lambda _m, _a, out: pooled.append(out[1].detach()))
        for m in model.modules()
        if type(m).__name__ == "AttentionPool"
    ]
    if at not in ("recurrent", "input"):
        raise ValueError(f"`at` must be 'recurrent' or 'input', got {at!r}")
    if at == "input":
        x = x.detach().float().clone().requires_grad_(True)  # (T, B, I)
    try:
        with probe(model) as record:
            logits = model(x, lengths)  # (B, C)
            pick = logits.argmax(-1) if target is None else target
            logits.gather(1, pick.view(-1, 1)).sum().backward()
    finally:
        for h in handles:
            h.remove()
        model.zero_grad(set_to_none=True)
        model.train(was)
    inp = x if at == "input" else record.inputs[0]  # (T', B, E): the padded input
    grad = torch.zeros_like(inp) if inp.grad is None else inp.grad
    scores = (grad * inp).sum(-1).detach()  # (T', B)
    steps = x.shape[0]
    if scores.shape[0] < steps:  # a packed run pads to the longest row only
        scores = torch.cat([scores, scores.new_zeros(steps - scores.shape[0], scores.shape[1])])
    weights = pooled[0].cpu().numpy() if pooled else None
    return scores.double().cpu().numpy(), logits.detach(), weights


def saliency(task: TaskRun, text: str | None = None) -> Saliency:
    """Gradient x input and attention for ``text`` with a classify or translate run.

    ``text`` None: the first input of the run's own data. A series classifier reads no
    text: its first series is explained, per time step, at the model's input.
    """
    if task.task not in ("classify", "translate"):
        raise ValueError(f"saliency needs a classify or translate run, got a {task.task!r} run")
    if task.task == "classify" and task.encoder.kind != "text":
        return _series(task)
    text = text if text is not None else default_text(task)
    if task.task == "translate":
        return _translate(task, text)
    from rnnkit.data.classification import Examples

    enc = task.encoder
    ids = enc.encode(Examples([text], None, "text", ["0"]))[0]  # (T,) or (T, 1 + K) subwords
    scores, logits, weights = gradient_x_input(
        task.model, ids.unsqueeze(1), torch.tensor([len(ids)])
    )  # x (T, 1) or (T, 1, 1 + K)
    tokens = enc.vocab.decode((ids if ids.dim() == 1 else ids[:, 0]).tolist())
    label = task.labels.names[int(logits.argmax(-1)[0])]
    notes = []
    if weights is None:
        notes.append(
            "the classifier pools without attention (no pooling weights); shown: "
            "gradient x input only"
        )
    att = None if weights is None else weights[:, 0]
    return Saliency(tokens, scores[:, 0], att, label, notes=notes)


def _series(task: TaskRun) -> Saliency:
    batch = task_sample(task, 1).batch  # x (T, 1, I), lengths (1,)
    scores, logits, weights = gradient_x_input(task.model, batch.x, batch.lengths, at="input")
    steps = int(batch.lengths[0])
    notes = [
        "a series classifier: gradient x input per time step of its first series, at the "
        "model's input (summed over the variables; every branch contributes)"
    ]
    arch = task.options.get("arch") if isinstance(getattr(task, "options", None), dict) else None
    if arch == "lstm-fcn":
        notes.append(
            "lstm-fcn: the saliency covers both the LSTM and the convolution branch; the "
            "gradients and gates sections probe the LSTM branch alone"
        )
    if weights is None:
        notes.append("no attention pooling in this model: gradient x input only")
    att = None if weights is None else weights[:steps, 0]
    label = task.labels.names[int(logits.argmax(-1)[0])]
    return Saliency([str(t) for t in range(steps)], scores[:steps, 0], att, label, notes=notes)


def _translate(task: TaskRun, text: str) -> Saliency:
    (result,) = task.translate([text], return_attention=True)
    notes = [
        "translation: the attention map of the decoder is shown (gradient x input is for "
        "classify runs)"
    ]
    att = None if result.attention is None else result.attention.detach().cpu().numpy()
    if att is None:
        notes.append("this translator has no attention (attention='none'): no map to show")
    target = [*result.tokens, "<eos>"][: 0 if att is None else att.shape[0]]
    return Saliency(result.source_tokens, None, att, result.text, target, notes)
