"""``rnnkit <group> <verb> ...``: a table from command to plain function.

Each verb is a plain Python function elsewhere in the package; its signature and docstring
*are* the ``--help`` (jsonargparse reads them), and a YAML file given with ``--config``
mirrors the signature. Only this module prints: the function's return value is shown with
:func:`show`. Groups are imported on demand, so ``rnnkit data list`` never imports a model.
"""

from __future__ import annotations

import importlib
import json
import logging
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any

__all__ = ["COMMANDS", "POSITIONAL", "main", "show"]

# group -> (one-line description, {verb: "module:function"}). Required arguments are flags
# (``--run DIR``), except in the groups named in POSITIONAL (``rnnkit data path ptb``).
COMMANDS: dict[str, tuple[str, dict[str, str]]] = {
    "data": (
        "list, locate and fetch datasets",
        {
            "list": "rnnkit.data.registry:list_datasets",
            "path": "rnnkit.data.registry:dataset_path",
            "fetch": "rnnkit.data.registry:fetch",
        },
    ),
    "lm": (
        "language modelling and text generation",
        {
            "train": "rnnkit.tasks.lm_verbs:train",
            "generate": "rnnkit.tasks.lm_verbs:generate",
            "eval": "rnnkit.tasks.lm_verbs:evaluate",
        },
    ),
    "forecast": (
        "time-series forecasting",
        {
            "train": "rnnkit.tasks.forecast:train",
            "predict": "rnnkit.tasks.forecast_verbs:predict",
            "backtest": "rnnkit.tasks.forecast_verbs:backtest",
        },
    ),
    "classify": (
        "sequence classification",
        {
            "train": "rnnkit.tasks.classify:train",
            "eval": "rnnkit.tasks.classify:evaluate",
            "predict": "rnnkit.tasks.classify:predict",
        },
    ),
    "translate": (
        "sequence-to-sequence translation",
        {
            "train": "rnnkit.tasks.translate:train",
            "eval": "rnnkit.tasks.translate:evaluate",
            "run": "rnnkit.tasks.translate:translate",
        },
    ),
    "nn": (
        "the recurrent layers",
        {"cells": "rnnkit.tasks.flags:describe_cells"},
    ),
    "embed": (
        "word vectors: word2vec training, neighbours, analogies, evaluation",
        {
            "train": "rnnkit.embed.train:train",
            "neighbors": "rnnkit.embed.verbs:neighbors",
            "analogy": "rnnkit.embed.verbs:analogy",
            "eval": "rnnkit.embed.verbs:evaluate",
            "plot": "rnnkit.embed.verbs:plot",
        },
    ),
    "explain": (
        "see inside a trained network: gradients, gates, neurons, saliency, a report",
        {
            "gradients": "rnnkit.explain.verbs:gradients",
            "vanishing": "rnnkit.explain.verbs:vanishing",
            "gates": "rnnkit.explain.verbs:gates",
            "neurons": "rnnkit.explain.verbs:neurons",
            "saliency": "rnnkit.explain.verbs:saliency",
            "report": "rnnkit.explain.verbs:report",
        },
    ),
    "export": (
        "export a trained run: ONNX graphs or a NumPy bundle",
        {"run": "rnnkit.export.verbs:export"},
    ),
    "serve": (
        "an HTTP API and a web page for trained runs",
        {"run": "rnnkit.serve.verbs:serve"},
    ),
}


POSITIONAL = {"data"}

# verbs every task group has, answered from a registry without parsing flags:
# ``rnnkit lm presets`` lists the task's presets, ``rnnkit nn cells`` the recurrent layers.
LISTINGS: dict[str, str] = {"presets": "rnnkit.tasks.presets:describe_presets"}
TASK_GROUPS = ("lm", "forecast", "classify", "translate")

# group -> (verb used when none is named, argument that takes bare words, or ""):
# ``rnnkit translate --run DIR "I am cold."`` is ``rnnkit translate run --run DIR
# --sentences '["I am cold."]'``; ``rnnkit export --run DIR`` is ``rnnkit export run ...``.
DEFAULT_VERB = {"translate": ("run", "sentences"), "export": ("run", ""), "serve": ("run", "")}


def _load(target: str) -> Callable[..., Any]:
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)


def show(result: Any) -> None:
    """Print a command's return value for a person to read."""
    if result is None:
        return
    if isinstance(result, str):
        print(result)
    elif isinstance(result, Mapping):
        width = max((len(str(k)) for k in result), default=0)
        for key, value in result.items():
            print(f"{str(key).ljust(width)}  {_fmt(value)}")
    elif isinstance(result, Sequence):
        for item in result:
            show(item)
    else:
        print(result)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def _underscore_flags(args: list[str]) -> list[str]:
    """``--run-dir x`` -> ``--run_dir x``: flags are written with dashes or underscores."""
    out = []
    for arg in args:
        if arg.startswith("--") and len(arg) > 2:
            name, eq, value = arg[2:].partition("=")
            arg = "--" + name.replace("-", "_") + eq + value
        out.append(arg)
    return out


def _bare_switches(args: list[str]) -> list[str]:
    """``--resume`` alone -> ``--resume true``: a run flag whose default is a bool
    (:data:`~rnnkit.tasks.flags.RUN_FLAGS`) may be given without its value, as argparse's
    ``store_true`` flags are; ``--resume false`` / ``--resume=true`` keep working."""
    from rnnkit.tasks.flags import RUN_FLAGS

    switches = {f"--{name}" for name, (default, _) in RUN_FLAGS.items() if default is False}
    out = []
    for i, arg in enumerate(args):
        out.append(arg)
        following = args[i + 1] if i + 1 < len(args) else None
        if arg in switches and (following is None or following.startswith("-")):
            out.append("true")
    return out


def _default_verb(group: str, args: list[str], verbs: Mapping[str, object]) -> list[str]:
    """Insert the group's default verb and gather bare words into its list argument. A group
    with one verb (``rnnkit export --help``) shows that verb's help."""
    helping = bool(args) and args[0] in ("-h", "--help")
    if group not in DEFAULT_VERB or (args and args[0] in verbs) or (helping and len(verbs) > 1):
        return args
    verb, target = DEFAULT_VERB[group]
    out, words, i = [verb], [], 0
    while i < len(args):
        arg = args[i]
        if arg.startswith("--") and "=" not in arg and i + 1 < len(args):
            # every flag takes a value (booleans too: --x true); a repeated list flag appends
            out += [arg + "+" if arg in out[1:] else arg, args[i + 1]]  # --run a --run+ b
            i += 2
            continue
        (out if arg.startswith("-") else words).append(arg)
        i += 1
    if words and target:
        out += [f"--{target}", json.dumps(words)]
    else:
        out += words  # a group without a word list: the parser names the stray words
    return out


def _help_formatter() -> type:
    """jsonargparse's help formatter, except that a flag whose ``None`` default means "the
    preset's value" (its help names that value: ``(default preset: max)``, see
    :func:`rnnkit.tasks.flags.preset_help`) says ``default: the preset's``, not ``null``."""
    from jsonargparse import DefaultHelpFormatter

    class PresetHelpFormatter(DefaultHelpFormatter):
        def _get_help_string(self, action: Any) -> str:
            text = super()._get_help_string(action)
            if action.default is None and " preset: " in (action.help or ""):
                text = text.replace("default: %(default)s", "default: the preset's")
            return text

    return PresetHelpFormatter


def _usage() -> str:
    lines = ["usage: rnnkit <group> <verb> [options]   (rnnkit <group> --help for the verbs)", ""]
    for group, (about, verbs) in COMMANDS.items():
        names = [*verbs, *LISTINGS] if group in TASK_GROUPS else list(verbs)
        lines.append(f"  {group:<10} {about}  [{'|'.join(names)}]")
    return "\n".join(lines)


def _exit_code(err: BaseException) -> int | None:
    """The exit status for an error a user can act on (its message says how), else None.

    A training stopped by SIGINT/SIGTERM has saved its checkpoint: 130 / 143 as shells
    expect. Library errors (bad arguments or data, a used or locked run directory, a full
    disk) already name the argument or file and what was expected: 1.
    """
    train = sys.modules.get("rnnkit.train")
    interrupted = getattr(train, "TrainingInterrupted", None)
    if interrupted is not None and isinstance(err, interrupted):
        return 143 if getattr(err, "signal_name", "") == "SIGTERM" else 130
    if isinstance(err, (ValueError, TypeError, KeyError, OSError)):
        return 1
    return None


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``rnnkit`` console script."""
    from jsonargparse import CLI

    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(_usage())
        return 0
    if argv[0] in ("-V", "--version"):
        from rnnkit import __version__

        print(f"rnnkit {__version__}")
        return 0
    group = argv[0]
    if group not in COMMANDS:
        expected = ", ".join(COMMANDS)
        print(f"rnnkit: unknown group {group!r}; expected one of: {expected}", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    if group in TASK_GROUPS and argv[1:2] and argv[1] in LISTINGS:
        show(_load(LISTINGS[argv[1]])(group))
        return 0
    verbs = {verb: _load(target) for verb, target in COMMANDS[group][1].items()}
    try:
        args = _default_verb(group, _bare_switches(_underscore_flags(argv[1:])), verbs)
        result = CLI(
            verbs,
            args=args,
            prog=f"rnnkit {group}",
            as_positional=group in POSITIONAL,
            formatter_class=_help_formatter(),
        )
    except KeyboardInterrupt:
        print("interrupted; the last checkpoint written is intact", file=sys.stderr)
        return 130
    except Exception as err:
        code = _exit_code(err)
        if code is None:
            raise
        message = err.args[0] if isinstance(err, KeyError) and err.args else err  # no quotes
        print(f"rnnkit {group}: error: {message}", file=sys.stderr)
        return code
    show(result)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
