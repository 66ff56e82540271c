"""rnnkit.models: the task networks, plain ``nn.Module``s built on ``rnnkit.nn``.

- :mod:`~rnnkit.models.language_model`: ``LanguageModel`` (embedding -> RNN -> vocabulary);
- :mod:`~rnnkit.models.classifier`: ``SequenceClassifier`` (RNN -> masked pooling -> classes),
  with the poolings in :mod:`~rnnkit.models.pooling`;
- :mod:`~rnnkit.models.forecaster`: ``ForecastNet`` (many-to-one, direct, autoregressive,
  encoder-decoder), baselines in :mod:`~rnnkit.models.forecast_baselines`;
- :mod:`~rnnkit.models.seq2seq`: ``Seq2Seq`` (encoder, bridge, attention decoder).

The user-facing objects that train, save and predict (``TextLM``, ``Classifier``,
``Forecaster``, ``Translator``) live in :mod:`rnnkit.tasks`.
"""

from rnnkit.models.classifier import ClassifierConfig, SequenceClassifier
from rnnkit.models.forecaster import ForecasterConfig, ForecastNet
from rnnkit.models.language_model import LanguageModel, LMConfig
from rnnkit.models.pooling import Pooling
from rnnkit.models.seq2seq import Seq2Seq, Seq2SeqConfig

__all__ = [
    "ClassifierConfig",
    "ForecastNet",
    "ForecasterConfig",
    "LMConfig",
    "LanguageModel",
    "Pooling",
    "Seq2Seq",
    "Seq2SeqConfig",
    "SequenceClassifier",
]
