"""The largest English text available locally, as one word2vec corpus.

    .venv/bin/python benchmarks/english_corpus.py OUT.txt

PTB's training text as it is (lower-case, tokenised), then the English side of fra-eng,
Tiny Shakespeare and The Time Machine, lower-cased and split into words and punctuation
(``\\w+|[^\\w\\s]``), one line a sentence or line: 2.32 M words from ../shared/data
(RNNKIT_DATA_DIR). benchmarks/embeddings_effect.py's vectors were trained on it with
``rnnkit embed train --corpus OUT.txt --dim 100 --epochs 5`` (docs/embeddings.md).
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("RNNKIT_DATA_DIR", ROOT.parent / "shared" / "data"))
WORDS = re.compile(r"\w+|[^\w\s]")


def lines() -> list[str]:
    """The corpus, a sentence (or a text line) a line."""
    out = [" ".join(x.split()) for x in (DATA / "ptb/ptb.train.txt").open(encoding="utf-8")]
    pairs = (DATA / "fra-eng/fra.txt").open(encoding="utf-8")
    texts = [x.split("\t")[0] for x in pairs]
    for name in ("tinyshakespeare/input.txt", "timemachine/timemachine.txt"):
        texts += (DATA / name).read_text(encoding="utf-8").splitlines()
    out += [" ".join(WORDS.findall(t.lower())) for t in texts]
    return [x for x in out if x]


def main() -> None:
    if len(sys.argv) != 2:
        raise SystemExit("usage: english_corpus.py OUT.txt")
    text = lines()
    Path(sys.argv[1]).write_text("\n".join(text) + "\n", encoding="utf-8")
    print(f"{sys.argv[1]}: {len(text):,} lines, {sum(len(x.split()) for x in text):,} words")


if __name__ == "__main__":
    main()
