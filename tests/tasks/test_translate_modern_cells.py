"""The translate task with sLSTM, mLSTM and RG-LRU as encoder and decoder: a tiny run trains
through the CLI, and greedy and beam decoding translate with it (issue #19)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from rnnkit.cli.main import main
from rnnkit.data.pairs import has_simple_prefix, read_pairs

pytestmark = pytest.mark.slow  # three tiny CLI training runs


@pytest.fixture(scope="module")
def tsv(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """40 short "i am / he is" pairs of fra.txt."""
    pairs = [
        p for p in read_pairs(data_dir / "fra-eng" / "fra.txt")[:6000] if has_simple_prefix(p[0])
    ]
    path = tmp_path_factory.mktemp("tr") / "pairs.tsv"
    path.write_text("".join(f"{s}\t{t}\n" for s, t in pairs[:40]), encoding="utf-8")
    return path


@pytest.mark.parametrize("cell", ["slstm", "mlstm", "rglru"])
def test_translate_trains_and_decodes(cell: str, tsv: Path, tmp_path: Path, capsys) -> None:
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    run = tmp_path / "run"
    argv = ["translate", "train", "--run_dir", str(run), "--data", str(tsv), "--cell", cell,
            "--simple_prefixes", "false", "--max_steps", "4", "--hidden_size", "8",
            "--num_layers", "2", "--bidirectional", "true", "--embedding_dim", "8",
            "--progress", "false", "--data_options",
            '{"val_fraction": 0.1, "test_fraction": 0.1}']  # fmt: skip
    try:
        assert main(argv) == 0
        cfg = json.loads((run / "config.json").read_text())
        assert cfg["model"]["rnn"]["cell"] == cell
        rows = (run / "metrics.csv").read_text().strip().splitlines()
        assert len(rows) > 1  # a header and at least one logged row
        capsys.readouterr()
        sentences = '["I am cold.", "He is tall."]'
        outputs = {}
        for method in ("greedy", "beam"):
            args = ["translate", "run", "--run", str(run), "--sentences", sentences]
            assert main([*args, "--method", method, "--beam_size", "3"]) == 0
            outputs[method] = capsys.readouterr().out.strip().splitlines()
            assert len(outputs[method]) == 2
        assert main(["translate", "eval", "--run", str(run), "--method", "greedy"]) == 0
        assert "bleu" in capsys.readouterr().out
    finally:
        torch.set_num_threads(n)


@pytest.mark.parametrize("cell", ["slstm", "mlstm"])
def test_beam_of_one_is_greedy_with_xlstm_states(cell: str) -> None:
    """Beam search reorders the decoder's NamedTuple state by batch row: beam size 1 must
    give greedy's tokens and score exactly."""
    from rnnkit.models import Seq2Seq, Seq2SeqConfig
    from rnnkit.models.seq2seq_decode import beam_search, greedy_search

    torch.manual_seed(0)
    model = Seq2Seq(Seq2SeqConfig(13, 11, cell=cell, hidden_size=8, embedding_dim=8)).eval()
    src, lengths = torch.randint(4, 13, (6, 3)), torch.tensor([6, 4, 2])
    greedy = greedy_search(model, src, lengths, bos_id=1, eos_id=2, max_len_b=6)
    beam = beam_search(model, src, lengths, bos_id=1, eos_id=2, beam_size=1, max_len_b=6)
    for g, b in zip(greedy, beam, strict=True):
        g, b = g[0] if isinstance(g, list) else g, b[0] if isinstance(b, list) else b
        assert g.tokens == b.tokens
        assert math.isclose(g.score, b.score, rel_tol=1e-5, abs_tol=1e-5)
