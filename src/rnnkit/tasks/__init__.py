"""rnnkit.tasks: one module per task, data -> model -> trainer -> metrics -> predict.

- :mod:`~rnnkit.tasks.lm`: ``TextLM`` (language modelling, generation); ``rnnkit lm``;
- :mod:`~rnnkit.tasks.forecaster` ``Forecaster`` and :mod:`~rnnkit.tasks.forecast` (CLI
  verbs); ``rnnkit forecast``;
- :mod:`~rnnkit.tasks.classify`: ``Classifier``; ``rnnkit classify``;
- :mod:`~rnnkit.tasks.translate`: ``Translator``; ``rnnkit translate``.

Nothing is imported here, so ``rnnkit lm ...`` never loads pandas or sacrebleu; import the
task module you use.
"""
