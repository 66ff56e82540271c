"""rnnkit.train: the training engine every task uses.

``Trainer(model, TrainConfig(...), step_fn, run_dir).fit(train, val)`` with truncated BPTT,
clipping, optimizers (incl. NT-ASGD), schedules, early stopping, budgets, mixed precision,
atomic checkpoints with exact resume, metrics.csv / TensorBoard / loss.png, and DDP.
"""

from .checkpoint import CheckpointError, load_checkpoint, read_run_config
from .config import TrainConfig
from .distributed import distributed_loader, unwrap
from .optim import NTASGD, LRSchedule, build_optimizer
from .state import detach_state, reset_state, to_device
from .step import NonFiniteError, StepFn, StepOutput, seed_everything
from .trainer import Trainer

__all__ = [
    "NTASGD",
    "CheckpointError",
    "LRSchedule",
    "NonFiniteError",
    "StepFn",
    "StepOutput",
    "TrainConfig",
    "Trainer",
    "build_optimizer",
    "detach_state",
    "distributed_loader",
    "load_checkpoint",
    "read_run_config",
    "reset_state",
    "seed_everything",
    "to_device",
    "unwrap",
]
