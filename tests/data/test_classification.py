"""Classification data: each reader, bad inputs, stratified splits, label map, encoder."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch

from rnnkit.data.classification import (
    Examples,
    InputEncoder,
    LabelMap,
    balanced_class_weights,
    load_digits_rows,
    read_long_csv,
    read_rt_polarity,
    read_text_table,
    read_trec,
    read_ts_examples,
    stratified_split,
)


def test_text_table_by_name_and_index(tmp_path: Path) -> None:
    p = tmp_path / "t.csv"
    p.write_text('label,text\npos,"good, fun film"\nneg,dull\n\n')
    ex = read_text_table(p)
    assert ex.items == ["good, fun film", "dull"] and ex.labels == ["pos", "neg"]
    q = tmp_path / "t.tsv"
    q.write_text("dull\tneg\nfine\tpos\n")
    ex = read_text_table(q, text_column=0, label_column=1, header=False)
    assert ex.labels == ["neg", "pos"] and ex.kind == "text"
    assert read_text_table(p, label_column=None).labels is None


def test_two_unnamed_columns_have_their_label_column_found(tmp_path: Path, caplog) -> None:
    p = tmp_path / "reviews.csv"
    rows = [("a warm film", "pos"), ("dull and long", "neg"), ("fine fun", "pos")]
    p.write_text("review,sentiment\n" + "".join(f"{t},{lab}\n" for t, lab in rows))
    with caplog.at_level("INFO"):
        ex = read_text_table(p)
    assert ex.items == [t for t, _ in rows] and ex.labels == [lab for _, lab in rows]
    assert "texts from column 'review', labels from column 'sentiment' (2 distinct)" in caplog.text
    # either order of the columns; unlabelled reading (predict) finds the text the same way
    q = tmp_path / "flipped.csv"
    q.write_text("y,sentence\n" + "".join(f"{lab},{t}\n" for t, lab in rows))
    assert read_text_table(q).items == ex.items
    assert read_text_table(q, label_column=None).items == ex.items
    one = tmp_path / "one.csv"
    one.write_text("sentence\nfirst one\nsecond one\n")
    assert read_text_table(one, label_column=None).items == ["first one", "second one"]
    # no column repeats enough to be a label: the column error, as before
    r = tmp_path / "unique.csv"
    r.write_text("a,b\nx one,y one\nx two,y two\n")
    with pytest.raises(ValueError, match="`text_column` 'text' is not a column"):
        read_text_table(r)
    # a name the user gave is never second-guessed
    with pytest.raises(ValueError, match="`text_column` 'body' is not a column"):
        read_text_table(p, text_column="body")


@pytest.mark.parametrize(
    "body,match",
    [
        ("label,text\n,some text\n", "t.csv:2: missing label"),
        ("label,text\npos,   \n", "t.csv:2: empty text"),
        ("label,text\n", "no rows of data"),
        ("lab,text\npos,x\n", "`label_column` 'label' is not a column"),
        ("id,time,v,label\na,0,1.5,x\n", r"'text' is not a column.*pass `--format long`"),
    ],
)
def test_text_table_bad_input(tmp_path: Path, body: str, match: str) -> None:
    p = tmp_path / "t.csv"
    p.write_text(body)
    with pytest.raises(ValueError, match=match):
        read_text_table(p)


@pytest.mark.parametrize(
    "name,body,line,got",
    [
        ("t.csv", "label,text\npos,fine\nneg,slow, dull and long\n", 3, 3),
        ("t.tsv", "label\ttext\npos\tfine\n\nneg\tslow\tdull\n", 4, 3),
    ],
)
def test_text_table_row_wider_than_header_is_refused(
    tmp_path: Path, name: str, body: str, line: int, got: int
) -> None:
    p = tmp_path / name
    p.write_text(body)
    want = rf"{name}:{line}: expected 2 fields \(as the header\), got {got}"
    with pytest.raises(ValueError, match=want):
        read_text_table(p)
    p.write_text("pos,fine\nneg,a,b\n")  # no header: as wide as the first row
    with pytest.raises(ValueError, match=r":2: expected 2 fields"):
        read_text_table(p, text_column=1, label_column=0, header=False, delimiter=",")


def test_text_table_quoted_comma_and_encoding(tmp_path: Path) -> None:
    p = tmp_path / "t.csv"
    p.write_bytes('label,text\npos,"caf\u00e9, good"\n'.encode("latin-1"))
    with pytest.raises(ValueError, match=r"t\.csv: line 2.*pass the right `encoding`"):
        read_text_table(p)
    assert read_text_table(p, encoding="latin-1").items == ["caf\u00e9, good"]


def test_long_csv_wide_row_and_encoding(tmp_path: Path) -> None:
    p = tmp_path / "long.csv"
    p.write_text("id,time,a,label\ns1,1,1,x\ns1,2,2,3,x\n")
    with pytest.raises(
        ValueError, match=r"long\.csv:3: expected 4 fields \(as the header\), got 5"
    ):
        read_long_csv(p)
    p.write_text("id,time,a,label\ns1,1,1,x,\ns1,2,2,x,\n")  # every row one too wide
    with pytest.raises(ValueError, match=r"long\.csv:2: expected 4 fields"):
        read_long_csv(p)
    p.write_bytes("id,time,a,label\ns1,1,1,caf\u00e9\n".encode("latin-1"))
    with pytest.raises(ValueError, match=r"long\.csv: line 2"):
        read_long_csv(p)
    assert read_long_csv(p, encoding="latin-1").labels == ["caf\u00e9"]


def test_rt_polarity_and_trec_builtins() -> None:
    rt = read_rt_polarity()
    assert Counter(rt.labels) == {"pos": 5331, "neg": 5331}
    trec = read_trec()
    assert len(trec) == 5452 and set(trec.labels) == {"ABBR", "DESC", "ENTY", "HUM", "LOC", "NUM"}
    assert trec.items[0].startswith("How did serfdom")
    fine = read_trec(file="TREC_10.label", fine=True)
    assert len(fine) == 500 and all(":" in lab for lab in fine.labels)


def test_trec_bad_line(tmp_path: Path) -> None:
    (tmp_path / "q.label").write_text("DESC:manner How ?\nnolabel here\n")
    with pytest.raises(ValueError, match="q.label:2: expected 'COARSE:fine question'"):
        read_trec(tmp_path, "q.label")


def test_ts_examples_registry_name(data_dir: Path) -> None:
    ex = read_ts_examples(data_dir / "JapaneseVowels" / "JapaneseVowels_TEST.ts")
    assert len(ex) == 370 and ex.kind == "numeric" and ex.items[0].shape[1] == 12


def test_long_csv(tmp_path: Path) -> None:
    p = tmp_path / "long.csv"
    p.write_text("id,time,a,b,label\ns1,2,3,4,x\ns1,1,1,2,x\ns2,1,5,6,y\n")
    ex = read_long_csv(p)
    assert ex.ids == ["s1", "s2"] and ex.labels == ["x", "y"]
    assert ex.items[0].tolist() == [[1, 2], [3, 4]]  # sorted by time
    p.write_text("id,time,a,label\ns1,1,1,x\ns1,2,2,y\n")
    with pytest.raises(ValueError, match="sequence 's1' has several labels"):
        read_long_csv(p)
    p.write_text("id,time,a,label\ns1,1,1,\n")
    with pytest.raises(ValueError, match="long.csv:2: missing label"):
        read_long_csv(p)
    p.write_text("id,time,a,label\ns1,1,oops,x\n")
    with pytest.raises(ValueError, match="long.csv:2: missing or non-numeric"):
        read_long_csv(p)


def test_long_csv_by_position_and_read_for_predict(tmp_path: Path, caplog) -> None:
    # the documented layout (id, time, features..., label) under other names: by position
    p = tmp_path / "rec.csv"
    p.write_text("rec,frame,a,b,speaker\nr1,2,3,4,x\nr1,1,1,2,x\nr2,1,5,6,y\n")
    with caplog.at_level("INFO"):
        ex = read_long_csv(p)
    assert "ids 'rec', times 'frame', labels 'speaker'" in caplog.text
    assert ex.ids == ["r1", "r2"] and ex.labels == ["x", "y"]
    assert ex.items[0].tolist() == [[1, 2], [3, 4]]
    # predict (no labels): a column more than the model's 2 features is the label, left out
    ex = read_long_csv(p, label_column=None, n_features=2)
    assert ex.labels is None and ex.items[0].shape == (2, 2)
    with pytest.raises(ValueError, match="non-numeric feature"):  # no hint: a feature then
        read_long_csv(p, label_column=None)
    # by name: a present label column is left out of the features, an absent one is fine
    q = tmp_path / "named.csv"
    q.write_text("id,time,a,b,label\ns1,1,1,2,x\n")
    assert read_long_csv(q, label_column=None, ignore_columns=["label"]).items[0].shape == (1, 2)
    q.write_text("id,time,a,b\ns1,1,1,2\n")
    assert read_long_csv(q, label_column=None, ignore_columns=["label"]).items[0].shape == (1, 2)
    # a name given (or one default name present) is never read by position
    with pytest.raises(ValueError, match="column 'id' is not in"):
        read_long_csv(p, label_column="speaker")


def test_digits_rows_or_clear_error() -> None:
    try:
        import sklearn  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match="pip install scikit-learn"):
            load_digits_rows()
        return
    ex = load_digits_rows()
    assert len(ex) == 1797 and ex.items[0].shape == (8, 8) and float(ex.items[0].max()) <= 1.0


def test_stratified_split_keeps_proportions_and_is_deterministic() -> None:
    labels = ["a"] * 80 + ["b"] * 20
    parts = stratified_split(labels, (0.8, 0.1, 0.1), seed=1)
    assert sorted(i for p in parts for i in p) == list(range(100))
    assert [Counter(labels[i] for i in p) for p in parts] == [
        {"a": 64, "b": 16},
        {"a": 8, "b": 2},
        {"a": 8, "b": 2},
    ]
    assert stratified_split(labels, (0.8, 0.1, 0.1), seed=1) == parts
    assert stratified_split(labels, (0.8, 0.1, 0.1), seed=2) != parts
    with pytest.raises(ValueError, match="sum to 1"):
        stratified_split(labels, (0.5, 0.1))


def test_label_map_unknown_label_error_or_skip() -> None:
    lm = LabelMap.fit(["neg", "pos", "neg"])
    assert lm.names == ["neg", "pos"]
    ids, kept = lm.encode(["pos", "neg"])
    assert ids.tolist() == [1, 0] and kept == [0, 1]
    with pytest.raises(ValueError, match="labels never seen in training: \\['meh'\\]"):
        lm.encode(["pos", "meh"])
    ids, kept = lm.encode(["pos", "meh", "neg"], on_unknown="skip")
    assert ids.tolist() == [1, 0] and kept == [0, 2]
    assert LabelMap.from_dict(lm.to_dict()).names == lm.names
    assert LabelMap.fit(["10", "9", "1"]).names == ["1", "9", "10"]


def test_text_encoder_counts_unknown_tokens_and_round_trips() -> None:
    train = Examples(["A good film", "a bad film"], ["p", "n"], "text", ["0", "1"])
    enc = InputEncoder("text").fit(train)
    out = enc.encode(Examples(["good unseen words"], None, "text", ["x"]))
    assert out[0].tolist()[0] == enc.vocab["good"] and out[0].tolist()[1:] == [1, 1]
    assert (enc.last_unknown, enc.last_tokens) == (2, 3)
    assert enc.unknown_note() == "2 of 3 tokens (66.67%) never seen in training -> <unk>"
    enc.encode(train)
    assert enc.unknown_note() is None
    again = InputEncoder.from_dict(enc.to_dict())
    assert again.encode(Examples(["good film"], None, "text", ["x"]))[0].tolist() == [
        enc.vocab["good"],
        enc.vocab["film"],
    ]
    with pytest.raises(ValueError, match="'x' has no tokens"):
        enc.encode(Examples([" "], None, "text", ["x"]))


def test_numeric_encoder_standardises_with_train_statistics() -> None:
    rng = np.random.default_rng(0)
    items = [rng.normal(3.0, 2.0, size=(n, 2)) for n in (5, 9, 4)]
    enc = InputEncoder("numeric").fit(Examples(items, ["a", "b", "a"], "numeric", ["0", "1", "2"]))
    out = torch.cat(enc.encode(Examples(items, None, "numeric", ["0", "1", "2"])))
    torch.testing.assert_close(out.mean(0), torch.zeros(2), atol=1e-5, rtol=0)
    assert InputEncoder.from_dict(enc.to_dict()).input_size == 2
    with pytest.raises(ValueError, match="input has 3 features, the model expects 2"):
        enc.encode(Examples([np.zeros((4, 3))], None, "numeric", ["z"]))


def test_balanced_class_weights() -> None:
    w = balanced_class_weights(torch.tensor([0, 0, 0, 1]), 3)
    torch.testing.assert_close(w, torch.tensor([4 / 9, 4 / 3, 1.0]))
