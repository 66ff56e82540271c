"""rnnkit.train: the training engine every task uses.

``Trainer(model, TrainConfig(...), step_fn, run_dir).fit(train, val)`` with truncated BPTT,
clipping, optimizers (incl. NT-ASGD), a moving average of the weights (``ema``), schedules,
early stopping, budgets, mixed precision, atomic checkpoints with exact resume, a one-writer
lock per run directory, clean stops on SIGTERM / Ctrl-C, metrics.csv / TensorBoard /
loss.png, and DDP. ``save_weights`` writes a
model's weights as a run's ``best/`` checkpoint outside training.
"""

from .adversarial import (
    adversarial_perturbation,
    prediction_divergence,
    virtual_adversarial_perturbation,
)
from .checkpoint import CheckpointError, CheckpointWriteError, load_checkpoint
from .config import TrainConfig
from .device import check_device
from .distributed import distributed_loader, unwrap
from .ema import WeightEMA
from .interrupt import TrainingInterrupted
from .optim import NTASGD, LRSchedule, build_optimizer, evaluated_weights
from .progress import TrainerState
from .resume import save_weights
from .rundir import (
    RUN_FORMAT,
    RunLock,
    RunLockedError,
    check_fresh,
    clean_orphans,
    config_diff,
    read_run_config,
    write_run_config,
)
from .state import detach_state, reset_state, to_device
from .step import NonFiniteError, StepFn, StepOutput, seed_everything
from .trainer import Trainer

__all__ = [
    "NTASGD",
    "RUN_FORMAT",
    "CheckpointError",
    "CheckpointWriteError",
    "LRSchedule",
    "NonFiniteError",
    "RunLock",
    "RunLockedError",
    "StepFn",
    "StepOutput",
    "TrainConfig",
    "Trainer",
    "TrainerState",
    "TrainingInterrupted",
    "WeightEMA",
    "adversarial_perturbation",
    "prediction_divergence",
    "virtual_adversarial_perturbation",
    "build_optimizer",
    "check_device",
    "check_fresh",
    "clean_orphans",
    "config_diff",
    "detach_state",
    "distributed_loader",
    "evaluated_weights",
    "load_checkpoint",
    "read_run_config",
    "reset_state",
    "save_weights",
    "seed_everything",
    "to_device",
    "unwrap",
    "write_run_config",
]
