"""file_digest is the sha256 of the bytes; check_digest warns when a file has changed."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import pytest

from rnnkit.data.digest import check_digest, file_digest


def test_digest_matches_the_mirror_checksums(data_dir: Path) -> None:
    sums = dict(
        reversed(line.split(maxsplit=1))
        for line in (data_dir / "SHA256SUMS").read_text().splitlines()
        if line.strip()
    )
    path = data_dir / "ACSF1" / "ACSF1_TRAIN.ts"
    assert file_digest(path) == sums["./ACSF1/ACSF1_TRAIN.ts"]


def test_changed_file_warns(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    p = tmp_path / "d.csv"
    p.write_bytes(b"label,text\npos,good\n")
    stored = file_digest(p)
    assert stored == hashlib.sha256(b"label,text\npos,good\n").hexdigest()
    assert check_digest(p, stored) and check_digest(p, None)
    p.write_bytes(b"label,text\npos,good\nneg,bad\n")
    with caplog.at_level(logging.WARNING, logger="rnnkit.data.digest"):
        assert not check_digest(p, stored, what="training data")
    assert "training data file" in caplog.text and "has changed" in caplog.text
    with pytest.raises(FileNotFoundError, match="not an existing file"):
        file_digest(tmp_path / "missing.csv")
