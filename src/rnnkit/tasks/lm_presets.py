"""The language-model presets: named starting points for :class:`rnnkit.tasks.lm.TextLM`.

Each preset is ``{"model": LMConfig fields, "data": LMDataConfig fields, "train":
TrainConfig fields}``; ``rnnkit lm train --preset NAME`` and ``TextLM.create(NAME)`` start
from it, and any field can be overridden. Where a preset follows a published setting, the
comment above it says which, and docs/language-model.md has what it reaches.
"""

from __future__ import annotations

from typing import Any

__all__ = ["PRESETS"]

# name -> {"model": LMConfig fields, "data": LMDataConfig fields, "train": TrainConfig fields}
PRESETS: dict[str, dict[str, dict[str, Any]]] = {
    # The README demo: a char LSTM on the built-in Python docs, a few minutes on 2 CPU cores.
    "demo": {
        "model": {
            "cell": "lstm",
            "embedding_dim": 64,
            "hidden_size": 256,
            "num_layers": 2,
            "dropout": 0.1,
        },
        "data": {"data": "python-docs", "level": "char", "bptt": 100, "batch_size": 32},
        "train": {
            "optimizer": "adam",
            "lr": 3e-3,
            "epochs": 3,
            "clip_norm": 1.0,
            "schedule": "cosine",
            "min_lr": 3e-4,
            "eval_every": 100,
        },
    },
    # PyTorch word_language_model's classic small setting (published test ppl 117.6 @ 6 ep).
    "ptb-small": {
        "model": {
            "cell": "lstm",
            "embedding_dim": 200,
            "hidden_size": 200,
            "num_layers": 2,
            "dropout": 0.2,
        },
        "data": {
            "data": "ptb",
            "level": "word",
            "bptt": 35,
            "batch_size": 20,
            "eval_batch_size": 10,
        },
        "train": {
            "optimizer": "sgd",
            "lr": 20.0,
            "epochs": 6,
            "clip_norm": 0.25,
            "schedule": "plateau",
            "plateau_factor": 4.0,
            "plateau_patience": 0,
        },
    },
    # Its medium setting (Zaremba et al. 2014 medium; published about 76-81 test ppl).
    "ptb-medium": {
        "model": {
            "cell": "lstm",
            "embedding_dim": 650,
            "hidden_size": 650,
            "num_layers": 2,
            "dropout": 0.5,
            "tie_weights": True,
        },
        "data": {
            "data": "ptb",
            "level": "word",
            "bptt": 35,
            "batch_size": 20,
            "eval_batch_size": 10,
        },
        "train": {
            "optimizer": "sgd",
            "lr": 20.0,
            "epochs": 40,
            "clip_norm": 0.25,
            "schedule": "plateau",
            "plateau_factor": 4.0,
            "plateau_patience": 0,
        },
    },
    # AWD-LSTM (Merity et al. 2018; PTB 57.3 test ppl with 24M parameters, after 500 epochs
    # plus fine-tuning on a GPU): its 400 -> 1150 -> 1150 -> 400 LSTM stack (24.2M
    # parameters with the tied 10k x 400 embedding); dropouts, wdrop, AR/TAR, lr 30, clip
    # 0.25, wdecay 1.2e-6 and NT-ASGD as the paper's PTB run.
    "awd-ptb": {
        "model": {
            "cell": "lstm",
            "embedding_dim": 400,
            "hidden_sizes": [1150, 1150, 400],  # AWD-LSTM's stack: 24.2M parameters
            "num_layers": 3,
            "tie_weights": True,
            "dropout_kind": "locked",
            "dropout": 0.4,
            "input_dropout": 0.4,
            "hidden_dropout": 0.25,
            "embedding_dropout": 0.1,
            "weight_drop": 0.5,
            "ar_alpha": 2.0,
            "tar_beta": 1.0,
        },
        "data": {
            "data": "ptb",
            "level": "word",
            "bptt": 70,
            "batch_size": 20,
            "eval_batch_size": 10,
            "variable_bptt": True,
        },
        "train": {
            "optimizer": "ntasgd",
            "lr": 30.0,
            "epochs": 500,
            "clip_norm": 0.25,
            "weight_decay": 1.2e-6,
        },
    },
    # d2l's Time Machine setting (current edition, "Deep Recurrent Neural Networks", concise):
    # GRU 2 x 32, SGD lr 2, clip 1, 100 epochs. d2l reads only the first ~15k characters in
    # random windows; benchmarks/lm_timemachine.py reproduces that data exactly.
    "timemachine-d2l": {
        "model": {
            "cell": "gru",
            "embedding_dim": 28,
            "hidden_size": 32,
            "num_layers": 2,
            "dropout": 0.0,
        },
        "data": {"data": "timemachine", "level": "char", "bptt": 32, "batch_size": 32},
        "train": {"optimizer": "sgd", "lr": 2.0, "epochs": 100, "clip_norm": 1.0},
    },
    "timemachine": {
        "model": {
            "cell": "lstm",
            "embedding_dim": 64,
            "hidden_size": 256,
            "num_layers": 2,
            "dropout": 0.2,
        },
        "data": {"data": "timemachine", "level": "char", "bptt": 64, "batch_size": 32},
        "train": {
            "optimizer": "adam",
            "lr": 3e-3,
            "epochs": 30,
            "clip_norm": 1.0,
            "schedule": "cosine",
            "min_lr": 1e-4,
        },
    },
    # Tiny Shakespeare, char level (char-rnn / nanoGPT's char baseline data), 10 CPU minutes.
    "shakespeare": {
        "model": {
            "cell": "lstm",
            "embedding_dim": 128,
            "hidden_size": 512,
            "num_layers": 2,
            "dropout": 0.2,
        },
        "data": {
            "data": "tinyshakespeare",
            "level": "char",
            "bptt": 100,
            "batch_size": 32,
            "val_fraction": 0.1,
            "test_fraction": 0.01,
        },
        "train": {
            "optimizer": "adam",
            "lr": 2e-3,
            "epochs": 50,
            "max_time": 600.0,
            "clip_norm": 1.0,
            "eval_every": 200,
        },
    },
}
