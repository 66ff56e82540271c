"""rnnkit.viz: matplotlib figures written to PNG (no pyplot, so no display and no change to
the user's backend; images written atomically by :mod:`._figure`).

- :mod:`~rnnkit.viz.curves` ``plot_loss``: train and validation loss;
- :mod:`~rnnkit.viz.forecast` ``plot_forecast``: history, actuals, forecasts, intervals;
- :mod:`~rnnkit.viz.confusion` ``plot_confusion``: confusion matrix;
- :mod:`~rnnkit.viz.attention`: attention heatmaps.

Nothing is imported here, so matplotlib loads only when a figure is drawn.
"""
