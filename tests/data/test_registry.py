"""Dataset registry: the local mirror, checksums, offline errors, fetch, built-ins, CLI."""

from __future__ import annotations

import io
import shutil
import urllib.error
from pathlib import Path

import pytest

from rnnkit.cli.main import main
from rnnkit.data import registry
from rnnkit.data.catalog import DATASETS


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    """An empty cache directory and no download unless a test provides an opener."""
    path = tmp_path / "cache"
    monkeypatch.setenv("RNNKIT_CACHE_DIR", str(path))
    monkeypatch.delenv("RNNKIT_OFFLINE", raising=False)

    def no_network(url, timeout=None):
        raise urllib.error.URLError("no network in tests")

    monkeypatch.setattr(registry, "_urlopen", no_network)
    return path


def test_catalog_matches_the_mirror_checksums(data_dir):
    sums = {}
    for line in (data_dir / "SHA256SUMS").read_text().splitlines():
        digest, name = line.split()
        sums[name.removeprefix("./")] = digest
    registered = {
        f"{spec.name}/{f.name}": f.sha256
        for spec in DATASETS.values()
        if not spec.builtin
        for f in spec.files
    }
    assert registered == sums  # every mirrored file registered, with the same sum
    folders = {p.name for p in data_dir.iterdir() if p.is_dir()}
    assert folders <= set(DATASETS)


def test_mirror_files_are_found_and_verified(data_dir, cache):
    path = registry.dataset_path("timemachine")
    assert Path(path) == data_dir / "timemachine" / "timemachine.txt"
    assert registry.dataset_path("ptb") == str(data_dir / "ptb")
    assert registry.dataset_path("ptb", "ptb.valid.txt").endswith("ptb/ptb.valid.txt")
    assert len(registry.fetch("trec")) == 2
    with pytest.raises(ValueError, match="no file 'ptb.dev.txt'.*ptb.train.txt"):
        registry.dataset_path("ptb", "ptb.dev.txt")
    with pytest.raises(KeyError, match="unknown dataset 'imdb'.*timemachine"):
        registry.dataset_path("imdb")


def test_hash_is_memoised_by_path_size_and_mtime(data_dir):
    path = data_dir / "ptb" / "ptb.test.txt"
    registry.sha256_file(path)
    before = registry._sha256_cached.cache_info().hits
    assert registry.sha256_file(path) == DATASETS["ptb"].files[2].sha256
    assert registry._sha256_cached.cache_info().hits == before + 1


def test_checksum_mismatch_is_caught(tmp_path, data_dir, cache):
    mirror = tmp_path / "mirror"
    (mirror / "timemachine").mkdir(parents=True)
    text = (data_dir / "timemachine" / "timemachine.txt").read_bytes()
    (mirror / "timemachine" / "timemachine.txt").write_bytes(text[:-1] + b"!")
    with pytest.raises(ValueError, match="checksum mismatch.*timemachine.txt.*expected sha256"):
        registry.dataset_path("timemachine", data_dir=str(mirror))


def test_non_strict_file_accepts_another_version(tmp_path, cache, caplog):
    mirror = tmp_path / "mirror"
    (mirror / "fra-eng").mkdir(parents=True)
    (mirror / "fra-eng" / "fra.txt").write_text("Go.\tVa !\n", encoding="utf-8")
    path = registry.dataset_path("fra-eng", data_dir=str(mirror))
    assert path.endswith("fra.txt") and "checksum mismatch" in caplog.text


def test_offline_error_names_file_checksum_and_place(tmp_path, cache, monkeypatch):
    empty = tmp_path / "empty"
    empty.mkdir()
    sha = DATASETS["tinyshakespeare"].files[0].sha256
    with pytest.raises(FileNotFoundError) as info:
        registry.dataset_path("tinyshakespeare", data_dir=str(empty))
    message = str(info.value)
    assert "input.txt" in message and sha in message and "no network" in message
    assert str(empty / "tinyshakespeare" / "input.txt") in message
    assert str(cache / "tinyshakespeare" / "input.txt") in message
    monkeypatch.setenv("RNNKIT_OFFLINE", "1")
    with pytest.raises(FileNotFoundError, match="downloads are off"):
        registry.dataset_path("tinyshakespeare", data_dir=str(empty))
    with pytest.raises(FileNotFoundError, match="no download address.*manythings"):
        registry.dataset_path("fra-eng", data_dir=str(empty))


def _serve(monkeypatch, payloads: dict[str, bytes]) -> list[str]:
    asked: list[str] = []

    def opener(url, timeout=None):
        asked.append(url)
        return io.BytesIO(payloads[url])

    monkeypatch.setattr(registry, "_urlopen", opener)
    return asked


def test_fetch_downloads_into_cache_with_checksum(tmp_path, data_dir, cache, monkeypatch):
    empty = tmp_path / "empty"
    empty.mkdir()
    spec = DATASETS["ptb"]
    asked = _serve(
        monkeypatch, {f.url: (data_dir / "ptb" / f.name).read_bytes() for f in spec.files}
    )
    paths = registry.fetch("ptb", data_dir=str(empty))
    assert paths == [str(cache / "ptb" / f.name) for f in spec.files]
    assert len(asked) == 3
    assert registry.fetch("ptb", data_dir=str(empty)) == paths and len(asked) == 3  # cached
    assert sorted(p.name for p in (cache / "ptb").iterdir()) == sorted(f.name for f in spec.files)
    line = next(s for s in registry.list_datasets(data_dir=str(empty)) if s.startswith("ptb "))
    assert "cached" in line


def test_download_with_wrong_checksum_keeps_nothing(tmp_path, cache, monkeypatch):
    empty = tmp_path / "empty"
    empty.mkdir()
    url = DATASETS["timemachine"].files[0].url
    _serve(monkeypatch, {url: b"not the time machine"})
    with pytest.raises(ValueError, match="checksum mismatch downloading.*not kept"):
        registry.fetch("timemachine", data_dir=str(empty))
    assert not any((cache / "timemachine").iterdir())


def test_fetch_from_a_file_url(tmp_path, data_dir, cache, monkeypatch):
    import urllib.request

    monkeypatch.setattr(registry, "_urlopen", urllib.request.urlopen)  # file:// only
    source = tmp_path / "served" / "airline-passengers.csv"
    source.parent.mkdir()
    shutil.copy(data_dir / "timeseries_small" / "airline-passengers.csv", source)
    spec = DATASETS["timeseries_small"]
    real = spec.files[0]
    local = type(real)(real.name, real.sha256, source.as_uri())
    monkeypatch.setitem(DATASETS, spec.name, type(spec)(spec.name, spec.kind, "", (local,)))
    path = registry.dataset_path("timeseries_small", data_dir=str(tmp_path / "none"))
    assert path == str(cache / "timeseries_small" / "airline-passengers.csv")
    assert Path(path).read_bytes() == source.read_bytes()


def test_python_docs_is_built_in(cache):
    from pydoc_data import topics

    path = Path(registry.dataset_path("python-docs"))
    assert path.is_relative_to(cache)
    text = path.read_text(encoding="utf-8")
    first = sorted(topics.topics)[0]
    assert text.startswith(topics.topics[first]) and len(text) > 100_000
    assert registry.dataset_path("python-docs") == str(path)  # written once


def test_resolve_text_source(tmp_path, data_dir, cache):
    own = tmp_path / "mine.txt"
    own.write_text("hello\n")
    assert registry.resolve_text_source(own) == own
    assert registry.resolve_text_source("timemachine").name == "timemachine.txt"
    assert registry.resolve_text_source("ptb/ptb.test.txt") == data_dir / "ptb" / "ptb.test.txt"
    with pytest.raises(FileNotFoundError, match="neither an existing file nor a dataset"):
        registry.resolve_text_source(tmp_path / "nope.txt")


def test_list_datasets_reports_status(data_dir, cache):
    lines = registry.list_datasets()
    assert len(lines) == len(DATASETS)
    status = {line.split()[0]: line for line in lines}
    assert "local" in status["ptb"] and "built in" in status["python-docs"]
    assert "missing" in registry.list_datasets(data_dir=str(cache))[1]


def test_cli_data_verbs(capsys, data_dir, cache):
    assert main(["data", "list"]) == 0
    out = capsys.readouterr().out
    assert "tinyshakespeare" in out and "JapaneseVowels" in out
    assert main(["data", "path", "ptb", "--file", "ptb.test.txt"]) == 0
    assert capsys.readouterr().out.strip() == str(data_dir / "ptb" / "ptb.test.txt")
    assert main(["data", "fetch", "rt-polarity"]) == 0
    assert capsys.readouterr().out.count("rt-polarity.") == 2
    assert main(["data", "path", "nosuch"]) == 1
    assert "unknown dataset 'nosuch'" in capsys.readouterr().err


def test_the_data_commands_do_not_import_torch() -> None:
    """`rnnkit data list|path|fetch` need only the standard library: a fast start."""
    import subprocess
    import sys

    code = "import sys, rnnkit.data.registry; assert 'torch' not in sys.modules, 'torch'"
    subprocess.run([sys.executable, "-c", code], check=True)
