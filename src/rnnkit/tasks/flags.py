"""The flags every task's CLI verbs share, declared once.

Every ``rnnkit <task> train`` takes the run flags (:data:`RUN_FLAGS`: ``--run-dir``,
``--resume``, ``--device``, ``--max-steps``, ``--max-time``, ``--seed``, ``--progress``,
``--checkpoint-every``, ``--checkpoint-minutes``, ``--ema``) and the recurrent-layer flags
(:data:`LAYER_FLAGS`: ``--cell``, ``--hidden-size``, ``--num-layers``, ``--bidirectional``,
``--dropout``); every verb that reads a run takes ``--run``. A verb's signature lists them
(jsonargparse reads signatures) and its docstring says ``{run flags}`` / ``{layer flags}``
where their ``Args:`` lines go (the tasks with an embedding table also take
:data:`EMBEDDING_FLAGS`, ``--embeddings`` and ``--freeze-embeddings``, at
``{embedding flags}``); :func:`shared_docs` fills those in from here, and ``{cells}`` with
the registered cell kinds, so the help text follows the registry.
A flag that defaults to ``None`` takes the preset's value; :func:`preset_help` appends
that value to its ``Args:`` line (``(demo preset: 256)``), from :func:`preset_values`.
``tests/tasks/test_flags.py`` holds every task to the same names, defaults and help.
"""

from __future__ import annotations

import dataclasses
import inspect
import re
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

__all__ = [
    "EMBEDDING_FLAGS",
    "LAYER_FLAGS",
    "RUN_FLAGS",
    "describe_cells",
    "given",
    "layer_overrides",
    "preset_help",
    "preset_values",
    "shared_docs",
    "train_overrides",
]

F = TypeVar("F", bound=Callable[..., Any])

# name -> (default, help line); the verbs' signatures use exactly these defaults
RUN_FLAGS: dict[str, tuple[Any, str]] = {
    "resume": (
        False,
        "continue the run in run_dir from its last checkpoint (--resume, or --resume true).",
    ),
    "device": (None, "auto, cpu, cuda, cuda:N or mps (default: the preset's, else auto)."),
    "max_steps": (None, "stop after this many optimiser steps."),
    "max_time": (None, "stop after this many seconds of this invocation (a resume gets its own)."),
    "seed": (0, "seeds initialisation, data order, dropout and sampling."),
    "progress": (None, "show a progress bar (default: when attached to a terminal)."),
    "checkpoint_every": (None, "also write the last/ checkpoint every N steps."),
    "checkpoint_minutes": (None, "also write the last/ checkpoint every M minutes."),
    "ema": (
        None,
        "keep a moving average of the weights with this decay (0.99: about the last 100 "
        "steps); the average is what is evaluated, kept and used (Keras' use_ema).",
    ),
}

LAYER_FLAGS: dict[str, tuple[Any, str]] = {
    "cell": (None, "the recurrent layer kind: {cells}."),
    "hidden_size": (None, "size of the recurrent state per direction."),
    "num_layers": (None, "stacked recurrent layers."),
    "bidirectional": (None, "add a reversed direction."),
    "dropout": (None, "dropout between recurrent layers (and the task's own dropout sites)."),
    "num_heads": (None, "heads of the xLSTM cells (slstm, mlstm), dividing hidden_size."),
    "chunk_size": (None, "steps per chunk of the mLSTM's chunkwise form."),
    "forget_gate": (None, "the sLSTM's forget gate: sigmoid or exp."),
}

# the tasks with an embedding table (lm, classify on text, translate); see rnnkit.tasks.pretrained
EMBEDDING_FLAGS: dict[str, tuple[Any, str]] = {
    "embeddings": (
        None,
        "a word-vectors file (word2vec text or binary, GloVe text) that initialises the "
        "embedding table (classify: text data only): each word found (as it is, else "
        "lower-cased) gets its vector, the others keep their random start; the coverage is "
        "logged and reported. Without --embedding-dim the model takes the file's dimension "
        "(logged).",
    ),
    "freeze_embeddings": (
        None,
        "keep the table from --embeddings fixed in training (default: false). A table tied "
        "to the output layer (lm --tie-weights) would freeze that too: refused.",
    ),
}

_RUN_DIR_DOC = "where config.json, checkpoints, metrics.csv, loss.png and the task's files go."


def _lines(flags: dict[str, tuple[Any, str]], indent: str) -> str:
    return "\n".join(f"{indent}{name}: {text}" for name, (_, text) in flags.items())


def shared_docs(fn: F) -> F:
    """Fill ``{run flags}``, ``{layer flags}``, ``{embedding flags}``, ``{cells}`` and
    ``{output layers}`` in ``fn``'s docstring.

    The markers stand alone on an ``Args:`` line, indented like the other arguments; the
    run flags include ``run_dir``'s line. Returns ``fn`` itself (its ``__doc__`` set).
    """
    from rnnkit.models.output_layers import output_layer_names
    from rnnkit.nn.registry import cell_names

    doc = fn.__doc__ or ""
    markers = (("{run flags}", RUN_FLAGS), ("{layer flags}", LAYER_FLAGS))
    for marker, flags in (*markers, ("{embedding flags}", EMBEDDING_FLAGS)):
        at = doc.find(marker)
        if at < 0:
            continue
        indent = doc[doc.rfind("\n", 0, at) + 1 : at]
        block = _lines(flags, indent)
        if marker == "{run flags}":
            block = f"{indent}run_dir: {_RUN_DIR_DOC}\n{block}"
        doc = doc[: at - len(indent)] + block + doc[at + len(marker) :]
    doc = doc.replace("{output layers}", ", ".join(output_layer_names()))
    fn.__doc__ = doc.replace("{cells}", ", ".join(cell_names()))
    return fn


def preset_values(
    sections: Mapping[str, Mapping[str, Any]], *configs: type, **aliases: str
) -> dict[str, Any]:
    """What each flag left out takes: ``configs``' field defaults, then ``sections``' values.

    Args:
        sections: a preset's sections (``{"model": {...}, "train": {...}}``), read by field
            name; a later section wins.
        configs: config dataclasses whose field defaults come first; a field holding a
            config (``rnn``) gives its fields flat, over the outer ones.
        aliases: ``flag="field"`` for a flag named unlike its field (``data="path"``).

    Returns:
        ``{flag or field name: value}``.
    """
    out: dict[str, Any] = {}
    for cls in configs:
        nested: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            if f.default is not dataclasses.MISSING:
                value = f.default
            elif f.default_factory is not dataclasses.MISSING:
                value = f.default_factory()
            else:
                continue
            if dataclasses.is_dataclass(value) and not isinstance(value, type):
                nested.update({g.name: getattr(value, g.name) for g in dataclasses.fields(value)})
            else:
                out[f.name] = value
        out.update(nested)
    for section in sections.values():
        out.update(section or {})
    out.update({flag: out[field] for flag, field in aliases.items() if field in out})
    return out


def preset_help(values: Mapping[str, Any], preset: str) -> Callable[[F], F]:
    """Decorator: append ``(<preset> preset: VALUE)`` to the ``Args:`` line of each
    parameter of the function that defaults to ``None`` ("the preset's value") and has a
    value in ``values`` (see :func:`preset_values`), so ``--help`` says what it will take.

    Apply it above :func:`shared_docs`, so the shared flags' lines get their values too.
    """

    def decorate(fn: F) -> F:
        doc = fn.__doc__ or ""
        for name, param in inspect.signature(fn).parameters.items():
            entry = re.compile(rf"\n( +){name}: ").search(doc, max(doc.find("Args:"), 0))
            if param.default is not None or values.get(name) is None or entry is None:
                continue
            end = doc.find("\n", entry.start() + 1)
            while end >= 0 and doc.startswith(f"\n{entry.group(1)} ", end):  # continued
                end = doc.find("\n", end + 1)
            end = len(doc) if end < 0 else end
            doc = f"{doc[:end].rstrip()} ({preset} preset: {_shown(values[name])}){doc[end:]}"
        fn.__doc__ = doc
        return fn

    return decorate


def _shown(value: Any) -> str:
    """A value as it is spelt on the command line (``true``, not ``True``)."""
    return str(value).lower() if isinstance(value, bool) else str(value)


def given(**values: Any) -> dict[str, Any]:
    """The flags that were given: ``None`` means "the preset's value", so it is dropped."""
    return {k: v for k, v in values.items() if v is not None}


def train_overrides(
    *,
    device: str | None = None,
    max_steps: int | None = None,
    max_time: float | None = None,
    progress: bool | None = None,
    checkpoint_every: int | None = None,
    checkpoint_minutes: float | None = None,
    ema: float | None = None,
    **others: Any,
) -> dict[str, Any]:
    """The TrainConfig fields the run flags set (``None``: keep the preset's value).

    ``max_steps`` without ``epochs`` in ``others`` lifts the epoch limit (``epochs=None``),
    so ``--max-steps 5000`` means 5,000 steps. Other TrainConfig fields pass through.
    """
    out = given(
        device=device,
        max_steps=max_steps,
        max_time=max_time,
        progress=progress,
        checkpoint_every=checkpoint_every,
        checkpoint_minutes=checkpoint_minutes,
        ema=ema,
        **others,
    )
    if max_steps is not None and others.get("epochs") is None:
        out["epochs"] = None
    return out


def layer_overrides(
    *,
    cell: str | None = None,
    hidden_size: int | None = None,
    num_layers: int | None = None,
    bidirectional: bool | None = None,
    dropout: float | None = None,
    num_heads: int | None = None,
    chunk_size: int | None = None,
    forget_gate: str | None = None,
) -> dict[str, Any]:
    """The recurrent-layer fields the layer flags set (``None``: keep the preset's)."""
    return given(
        cell=cell,
        hidden_size=hidden_size,
        num_layers=num_layers,
        bidirectional=bidirectional,
        dropout=dropout,
        num_heads=num_heads,
        chunk_size=chunk_size,
        forget_gate=forget_gate,
    )


def describe_cells() -> dict[str, str]:
    """The registered recurrent layer kinds and what each is (``rnnkit nn cells``)."""
    from rnnkit.nn.registry import cell_names, get_cell

    return {name: get_cell(name).description for name in cell_names()}
