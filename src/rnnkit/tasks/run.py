"""The one run life cycle every task shares: create, fit, evaluate, predict, save, load, resume.

A *task* (language model, forecaster, classifier, translator) supplies only what is its own
by subclassing :class:`TaskRun`:

- ``task``: its name, written as ``config.json``'s ``"task"`` field (``"lm"`` ...);
- :meth:`~TaskRun.sections`: its config sections (``{"model": ..., "data": ...}``), so the
  run can be rebuilt and a resume with changed settings refused;
- :meth:`~TaskRun.artifacts`: the fitted objects beside the weights (a vocabulary, a label
  map, scalers), each with ``to_dict()``; saved as ``<name>.json``;
- :meth:`~TaskRun.step`: one batch -> :class:`rnnkit.train.StepOutput`;
- :meth:`~TaskRun.from_run`: rebuild the task (network untrained) from a run's config and
  artifacts.

Everything else is written once, here and in :mod:`rnnkit.train`, and so holds for every
task: one run-directory format (``config.json`` with ``format`` and ``task``), one writer
per directory (``run.lock``), one refusal to reuse a directory, orphaned temporary
checkpoints removed, the device checked before anything is written, a resume with changed
model or data settings, or changed data files (their sha256 in ``data.digests``), refused in
one line, best weights restored by the trainer, and weights that do not fit ``config.json``
reported without a torch traceback::

    lm = TextLM.create(preset="demo")                # a TaskRun subclass
    lm.fit_run("runs/demo", TrainConfig(epochs=1), train_batches, val_batches)
    lm = TextLM.load("runs/demo")                    # any task: TaskRun.load / load_run
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import torch
from torch import nn

from rnnkit.data.digest import changed_digests, stored_digests, without_digests
from rnnkit.tasks.pretrained import EMBEDDINGS, Pretrained
from rnnkit.train import (
    RUN_FORMAT,
    RunLock,
    StepOutput,
    TrainConfig,
    Trainer,
    check_device,
    check_fresh,
    config_diff,
    load_checkpoint,
    read_run_config,
    save_weights,
    write_run_config,
)
from rnnkit.train.checkpoint import atomic_write_json

__all__ = ["TASKS", "TaskRun", "load_run", "load_weights", "read_artifact", "task_of"]

log = logging.getLogger(__name__)

T = TypeVar("T", bound="TaskRun")

# task name -> "module:class" of its TaskRun; imported on demand (``rnnkit lm`` loads no pandas)
TASKS: dict[str, str] = {
    "lm": "rnnkit.tasks.lm:TextLM",
    "forecast": "rnnkit.tasks.forecaster:Forecaster",
    "classify": "rnnkit.tasks.classify:Classifier",
    "translate": "rnnkit.tasks.translator:Translator",
    "embed": "rnnkit.embed.run:Word2VecRun",
}

# config.json sections that may change on resume (budgets, schedule, device ...)
RESUMABLE_SECTIONS = ("train",)


class TaskRun:
    """Base of every task's user-facing object; see the module docstring.

    Attributes:
        task: the task's name in :data:`TASKS` (a class attribute).
        model: the task's network (``None`` until built).
        run_dir: the run directory it was fitted into or loaded from (``None``: in memory).
        pretrained: ``--embeddings`` settings (:class:`~rnnkit.tasks.pretrained.Pretrained`):
            :meth:`fit_run` initialises (a fresh run) and freezes the embedding tables from
            them and records them in config.json; ``None``: random initialisation.
    """

    task: ClassVar[str] = ""
    model: nn.Module | None = None
    run_dir: Path | None = None
    pretrained: Pretrained | None = None

    # ---------------------------------------------------------------- what a task supplies

    def sections(self) -> dict[str, Any]:
        """The task's config sections for ``config.json`` (JSON-able; not ``"train"``)."""
        raise NotImplementedError(f"{type(self).__name__}.sections")

    def artifacts(self) -> dict[str, Any]:
        """Fitted objects saved beside the weights: ``{name: object with to_dict()}``."""
        return {}

    def step(self, model: nn.Module, batch: Any, state: Any) -> StepOutput:
        """One batch -> loss (see :class:`rnnkit.train.Trainer`)."""
        raise NotImplementedError(f"{type(self).__name__}.step")

    def val_metrics(self, model: nn.Module) -> dict[str, float] | None:
        """Figures over the whole validation set (macro-F1, BLEU) that per-batch averages of
        :meth:`step`'s metrics cannot give; ``None`` (the default): none. A task that
        overrides it gets it called at every validation evaluation (model in eval mode, no
        gradients) and its figures logged as ``val_<name>``, so ``monitor`` can name them."""
        return None

    @classmethod
    def saved_sections(cls, config: dict[str, Any], run_dir: Path) -> dict[str, Any]:
        """A saved run's sections as this version writes them, so a resume compares like
        with like. A run of this layout is taken as saved; one of an earlier layout (flat
        recurrent keys in ``model``, options or settings kept elsewhere) is rebuilt with
        :meth:`from_run`, which reads the earlier layouts, and its :meth:`sections` taken."""
        if config.get("format") == RUN_FORMAT:
            return config
        with torch.random.fork_rng(devices=[]):  # building the network draws its weights
            return json.loads(json.dumps(cls.from_run(config, run_dir).sections()))

    @classmethod
    def from_run(cls: type[T], config: dict[str, Any], run_dir: Path) -> T:
        """The task rebuilt from a run's ``config.json`` and artifacts, network untrained."""
        raise NotImplementedError(f"{cls.__name__}.from_run")

    # ---------------------------------------------------------------- the life cycle

    def fit_run(
        self,
        run_dir: str | os.PathLike[str] | None,
        train: TrainConfig,
        train_data: Iterable[Any],
        val_data: Iterable[Any] | None = None,
        *,
        resume: bool = False,
    ) -> dict[str, Any]:
        """Train ``self.model`` with :meth:`step`; returns the trainer's figures, whose
        ``val_*`` are those of the weights the model ends with (the best evaluation's; the
        trainer's ``best_eval``), not the last evaluation's.

        With a ``run_dir``: the device is checked first, the directory locked, a fresh run
        refuses a used directory and a resumed one refuses changed settings (one line
        naming the fields), then config.json and the artifacts are written and the trainer
        runs. With or without one, the best weights on ``val_data`` are restored into
        ``self.model`` at the end.
        """
        if self.model is None:
            raise ValueError(f"{type(self).__name__} has no network to fit; build it first")
        check_device(train.device)
        if self.pretrained is not None:  # copy the vectors in (a fresh run) and freeze
            self.pretrained.apply(self, resume=resume, run_dir=run_dir)
        if run_dir is None:
            if resume:
                raise ValueError("`--resume true` needs a `--run-dir` to resume from")
            result = Trainer(self.model, train, self.step, val_metrics=self._hook()).fit(
                train_data, val_data, restore_best=True
            )  # the best weights kept in memory
            self.run_dir = None  # the weights are no longer those of a run directory
        else:
            run = Path(run_dir)
            with RunLock(run):
                self._prepare(run, train, resume)  # config.json: the trainer keeps its sections
                trainer = Trainer(
                    self.model, train, self.step, run_dir=run, val_metrics=self._hook()
                )
                result = trainer.fit(train_data, val_data, resume=resume, restore_best=True)
            self.run_dir = run
        return {**result, **result["best_eval"]}  # val_*: the kept (best) weights' figures

    def save_fitted(
        self,
        run_dir: str | os.PathLike[str] | None,
        train: TrainConfig,
        *,
        resume: bool = False,
        meta: dict[str, Any] | None = None,
    ) -> None:
        """Save a network fitted without the trainer (in closed form) as the run's ``best/``
        checkpoint, under the same rules as :meth:`fit_run`: the device checked, the
        directory locked, a used directory refused (``resume`` refits and overwrites, after
        refusing changed settings), config.json and the artifacts written. ``meta`` goes
        into ``best/trainer.json``. Without a ``run_dir`` nothing is written."""
        if self.model is None:
            raise ValueError(f"{type(self).__name__} has no network to save; build it first")
        check_device(train.device)
        if run_dir is None:
            if resume:
                raise ValueError("`--resume true` needs a `--run-dir` to resume from")
            self.run_dir = None
            return
        run = Path(run_dir)
        with RunLock(run):
            self._prepare(run, train, resume)
            save_weights(run, self.model, "best", meta={"step": 0, **(meta or {})})
        self.run_dir = run

    def _hook(self) -> Any:
        """:meth:`val_metrics` for the trainer, or None when the task keeps the default."""
        overridden = type(self).val_metrics is not TaskRun.val_metrics
        return self.val_metrics if overridden else None

    def _prepare(self, run: Path, train: TrainConfig, resume: bool) -> None:
        """Check the directory against this run, then write config.json and artifacts."""
        sections = self.sections()
        if self.pretrained is not None:
            sections = self.pretrained.record(sections)
        saved = _saved_config(run) if resume else None
        if saved is not None:
            if saved.get("task") != self.task:
                raise ValueError(
                    f"{run} holds a {saved.get('task')!r} run, not {self.task!r}; "
                    "choose another `--run-dir`"
                )
            new = json.loads(json.dumps(sections))  # tuples -> lists, as saved
            old = self.saved_sections(saved, run)
            lost = set(old) & {EMBEDDINGS}  # a run from --embeddings resumed without it
            old = {k: old.get(k) for k in {*new, *lost}}
            _check_data_files(run, old, new)
            old, new = _settings(old), _settings(new)
            changed = config_diff(old, _recorded(new, old), ignore=RESUMABLE_SECTIONS)
            if changed:
                raise ValueError(
                    f"cannot resume {run}: {', '.join(changed)} differ from its config.json; "
                    "resume with the run's own settings or start a new `--run-dir`"
                )
        elif not resume:
            check_fresh(run)
        run.mkdir(parents=True, exist_ok=True)
        write_run_config(run, self.task, {**sections, "train": train.to_dict()})
        for name, obj in self.artifacts().items():
            atomic_write_json(run / f"{name}.json", obj.to_dict())

    @classmethod
    def load(cls: type[T], run_dir: str | os.PathLike[str], which: str = "best") -> T:
        """The task with its trained weights from ``run_dir`` (``best`` or ``last``)."""
        run = Path(run_dir)
        if not run.is_dir():
            raise FileNotFoundError(f"`--run` directory {run} not found")
        config = read_run_config(run)
        if cls.task and config.get("task") != cls.task:
            raise ValueError(
                f"{run} is a {config.get('task')!r} run, not a {cls.task!r} run; "
                f"use `rnnkit {config.get('task')} ...` for it"
            )
        obj = cls.from_run(config, run)
        assert obj.model is not None, f"{cls.__name__}.from_run must build the network"
        load_weights(obj.model, run, which)
        obj.model.eval()
        obj.run_dir = run
        return obj


# ---------------------------------------------------------------- helpers for every task


def _saved_config(run: Path) -> dict[str, Any] | None:
    return read_run_config(run) if (run / "config.json").is_file() else None


def _settings(sections: dict[str, Any]) -> dict[str, Any]:
    """``sections`` without the data checksums, which :func:`_check_data_files` compares."""
    data = sections.get("data")
    return {**sections, "data": without_digests(data)} if isinstance(data, Mapping) else sections


def _check_data_files(run: Path, saved: dict[str, Any], new: dict[str, Any]) -> None:
    """Refuse a resume whose data files changed since the run stored their checksums."""
    old_data, new_data = saved.get("data"), new.get("data")
    if not (isinstance(old_data, Mapping) and isinstance(new_data, Mapping)):
        return
    changed = changed_digests(stored_digests(old_data), stored_digests(new_data))
    if changed:
        raise ValueError(
            f"cannot resume {run}: its {', '.join(changed)} data file(s) changed since the run "
            "stored their checksums (config.json's data.digests); resume on the data it "
            "trained on or start a new `--run-dir`"
        )


def _recorded(new: Any, saved: Any) -> Any:
    """``new`` without the fields ``saved`` does not have (nested dicts field by field): a
    setting an earlier layout never recorded (a data checksum) cannot be said to differ."""
    if not (isinstance(new, Mapping) and isinstance(saved, Mapping)):
        return new
    return {k: _recorded(v, saved[k]) for k, v in new.items() if k in saved}


def load_weights(model: nn.Module, run_dir: str | os.PathLike[str], which: str = "best") -> dict:
    """Load a run's ``best``/``last`` weights into ``model``; returns the checkpoint's meta.

    Weights that do not fit the network built from ``config.json`` are a one-line
    ``ValueError`` naming the first mismatching tensors, not torch's size-mismatch traceback.
    """
    state, meta = load_checkpoint(run_dir, which)
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    extra = sorted(set(state) - set(own))
    shapes = [
        f"{k} {tuple(state[k].shape)} vs {tuple(own[k].shape)}"
        for k in own
        if k in state and state[k].shape != own[k].shape
    ]
    if missing or extra or shapes:
        parts = (
            [f"shapes differ: {'; '.join(shapes[:3])}"] * bool(shapes)
            + [f"missing {missing[:3]}"] * bool(missing)
            + [f"unexpected {extra[:3]}"] * bool(extra)
        )
        raise ValueError(
            f"the weights in {meta['path']} do not match the network its config.json "
            f"describes ({'; '.join(parts)}); was the directory written by another run?"
        )
    model.load_state_dict(state)
    return meta


def read_artifact(run_dir: str | os.PathLike[str], name: str) -> dict[str, Any]:
    """The dict saved as ``run_dir/<name>.json`` by :meth:`TaskRun.fit_run`."""
    path = Path(run_dir) / f"{name}.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found; the run directory is incomplete")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as err:
        raise ValueError(f"{path} is not valid JSON ({err}); the file is damaged") from err
    if not isinstance(data, Mapping):
        raise ValueError(f"{path} must hold a JSON object, got {type(data).__name__}")
    return dict(data)


def task_of(run_dir: str | os.PathLike[str]) -> str:
    """The task name a run directory was written by (``config.json``'s ``task``)."""
    task = read_run_config(run_dir).get("task")
    if task not in TASKS:
        raise ValueError(f"{run_dir}: unknown task {task!r} in config.json; expected {list(TASKS)}")
    return str(task)


def load_run(run_dir: str | os.PathLike[str], which: str = "best") -> TaskRun:
    """Any task's run, loaded by the task its ``config.json`` names (for export, serve ...)."""
    import importlib

    module, _, name = TASKS[task_of(run_dir)].partition(":")
    cls = getattr(importlib.import_module(module), name)
    return cls.load(run_dir, which)
