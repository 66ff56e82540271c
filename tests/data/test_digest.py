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


def test_digests_by_role_warn_only_for_the_files_being_read(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from rnnkit.data.digest import changed_digests, check_digests, file_digests, stored_digests

    train, test = tmp_path / "train.csv", tmp_path / "test.csv"
    train.write_text("a\n")
    test.write_text("b\n")
    files = {"train": train, "test": test, "generated": None}
    stored = file_digests(files)
    assert set(stored) == {"train", "test"}  # a role without a file has no checksum
    with caplog.at_level(logging.WARNING):
        assert check_digests(files, stored) == []
    assert caplog.text == ""
    test.write_text("b\nc\n")
    assert changed_digests(stored, file_digests(files)) == ["test"]
    with caplog.at_level(logging.WARNING):
        assert check_digests(files, stored, reading=[train]) == []  # test.csv is not read
        assert caplog.text == ""
        assert check_digests(files, stored, reading=[tmp_path / "." / "test.csv"]) == ["test"]
    assert f"test data file {test}" in caplog.text
    assert check_digests(files, None) == [] and check_digests(files, {}) == []  # old runs
    assert stored_digests({"digests": stored}) == stored
    assert stored_digests({"digest": "ab"}) == {"train": "ab"}  # classify's previous layout
    assert stored_digests({}) == {} and stored_digests(None) == {}
