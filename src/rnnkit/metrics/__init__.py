"""rnnkit.metrics: task metrics (forecasting, classification, text)."""
