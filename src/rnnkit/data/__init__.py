"""rnnkit.data: from files to batches.

Text (language modelling, translation):
- :mod:`~rnnkit.data.vocab` ``Vocab``; :mod:`~rnnkit.data.tokenizers` char and word
  tokenizers; :mod:`~rnnkit.data.text` ``read_text`` with errors by file, line and column;
- :mod:`~rnnkit.data.streams` ``CorpusStream``: B parallel streams in BPTT windows;
- :mod:`~rnnkit.data.pairs`: sentence pairs for translation.

Series (forecasting): :mod:`~rnnkit.data.series` (``TimeSeries``, ``read_series``),
:mod:`~rnnkit.data.series_examples`, :mod:`~rnnkit.data.windows`, :mod:`~rnnkit.data.scalers`.

Classification: :mod:`~rnnkit.data.classification` (readers, label maps),
:mod:`~rnnkit.data.class_splits` (stratified splits, the validation hold-out, class checks),
:mod:`~rnnkit.data.series_norm` (per-series z-normalisation),
:mod:`~rnnkit.data.ts_format` (UEA/UCR ``.ts``), :mod:`~rnnkit.data.bucketing`.

Checks shared by the readers: :mod:`~rnnkit.data.tables` (a CSV/TSV row wider than its
header is refused, naming file and line), :mod:`~rnnkit.data.digest` (``file_digest``: the
sha256 a run stores, to warn when a data file has changed). Every reader of text takes an
``encoding``; a decode error names the file, line and column.

Datasets: :mod:`~rnnkit.data.registry` (``rnnkit data list|path|fetch``) over the table in
:mod:`~rnnkit.data.catalog`. The names below need neither torch nor pandas, so ``rnnkit data
...`` starts fast; import the other modules (``rnnkit.data.streams``, ``.text``, ``.series``
...) where they are used.
"""

from rnnkit.data.registry import dataset_path, fetch, list_datasets, resolve_text_source
from rnnkit.data.tokenizers import CharTokenizer, WordTokenizer, get_tokenizer
from rnnkit.data.vocab import Vocab

__all__ = [
    "CharTokenizer",
    "Vocab",
    "WordTokenizer",
    "dataset_path",
    "fetch",
    "get_tokenizer",
    "list_datasets",
    "resolve_text_source",
]
