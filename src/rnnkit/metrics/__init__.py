"""rnnkit.metrics: task metrics, on plain arrays.

- :mod:`~rnnkit.metrics.forecast`: MAE, RMSE, MAPE, sMAPE, MASE;
- :mod:`~rnnkit.metrics.classification`: accuracy, macro-F1, per-class precision/recall,
  confusion matrix;
- :mod:`~rnnkit.metrics.text`: corpus BLEU and chrF (sacrebleu), perplexity.
"""

from rnnkit.metrics.classification import classification_report, confusion_matrix
from rnnkit.metrics.forecast import mae, mape, mase, rmse, smape

__all__ = [
    "classification_report",
    "confusion_matrix",
    "mae",
    "mape",
    "mase",
    "rmse",
    "smape",
]
