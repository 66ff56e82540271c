"""Word embeddings: word2vec (skip-gram and CBOW with negative sampling) trained on any
text, nearest neighbours, analogies, evaluation on word-similarity sets, and vectors saved in
the word2vec text/binary formats. Sits above :mod:`rnnkit.tasks`: a training run is one of
the run life cycle's runs."""
