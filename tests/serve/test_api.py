"""Every endpoint on a tiny real run of each task (FastAPI's test client), every bad-input
case answered with a 4xx naming the field, streaming, and a client leaving mid-stream."""

from __future__ import annotations

import json
import socket
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from rnnkit.serve import ServeSettings, create_app
from rnnkit.serve import handlers as serve_handlers
from rnnkit.serve.batcher import BusyError
from rnnkit.tasks.lm import TextLM

pytestmark = pytest.mark.slow  # five tiny trainings first (about half a minute on one core)

SETTINGS = ServeSettings(max_new_tokens=50, max_input_length=200, max_items=4)


@pytest.fixture(scope="module")
def client(all_runs: list[Path]) -> Iterator[TestClient]:
    app = create_app(all_runs, SETTINGS)
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


def _events(body: str) -> list[tuple[str, dict]]:
    out = []
    for block in body.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.split("\n"))
        out.append((lines["event"], json.loads(lines["data"])))
    return out


# ---------------------------------------------------------------- the endpoints


def test_health_and_models_describe_every_task(client: TestClient) -> None:
    health = client.get("/health").json()
    assert health["status"] == "ok" and health["models"] == 5
    models = {m["name"]: m for m in client.get("/v1/models").json()["models"]}
    assert {n: m["task"] for n, m in models.items()} == {
        "lm": "lm", "translate": "translate", "forecast": "forecast", "classify": "classify",
        "series": "classify",
    }  # fmt: skip
    assert models["lm"]["endpoint"] == "/v1/generate" and models["lm"]["accepts"]["level"] == "char"
    assert models["forecast"]["accepts"]["horizon"] == 3
    assert models["classify"]["accepts"]["labels"] == ["neg", "pos"]
    assert models["series"]["accepts"] == {
        "input": "series",
        "labels": ["down", "up"],
        "features": 2,
    }


def test_openapi_lists_the_endpoints(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for path in ("/v1/generate", "/v1/translate", "/v1/forecast", "/v1/classify", "/v1/models"):
        assert path in paths
    assert client.get("/docs").status_code == 200


def test_generate_equals_textlm_generate(client: TestClient, lm_run: Path) -> None:
    body = {"model": "lm", "prompt": "The ", "max_tokens": 25, "temperature": 0.9, "seed": 7}
    r = client.post("/v1/generate", json=body)
    assert r.status_code == 200, r.text
    out = r.json()
    lm = TextLM.load(lm_run)
    assert out["text"] == lm.generate("The ", 25, temperature=0.9, seed=7)[0]
    assert len(out["tokens"]) == 25 and out["text"] == "The " + out["generated"]


def test_generate_streams_a_token_per_event_then_done(client: TestClient, lm_run: Path) -> None:
    body = {"model": "lm", "prompt": "It was", "max_tokens": 12, "seed": 3, "stream": True}
    r = client.post("/v1/generate", json=body)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    events = _events(r.text)
    kinds = [k for k, _ in events]
    assert kinds == ["token"] * 12 + ["done"]
    done = events[-1][1]
    assert "It was" + "".join(d["text"] for _, d in events[:-1]) == done["text"]
    assert done["tokens"] == [d["token"] for _, d in events[:-1]]
    plain = client.post("/v1/generate", json={**body, "stream": False}).json()
    assert plain["text"] == done["text"]


def _a_stop_string(client: TestClient, body: dict) -> str:
    """Two characters the model generates for ``body`` (from its 10th on), so a request
    that stops at them really stops early."""
    free = client.post("/v1/generate", json=body).json()["generated"]
    return free[10:12]


def test_generate_stops_at_a_stop_string_as_textlm_generate(
    client: TestClient, lm_run: Path
) -> None:
    body = {"model": "lm", "prompt": "The ", "max_tokens": 50, "temperature": 0.8, "seed": 11}
    stop = _a_stop_string(client, body)
    out = client.post("/v1/generate", json={**body, "stop": [stop, "zzzz"]}).json()
    assert out["finish_reason"] == "stop" and len(out["tokens"]) <= 12
    assert stop not in out["generated"]
    lm = TextLM.load(lm_run)
    alone = lm.generate("The ", 50, temperature=0.8, seed=11, stop=[stop, "zzzz"])[0]
    assert out["text"] == alone
    whole = client.post("/v1/generate", json={**body, "stop": ["zzzz"]}).json()
    assert whole["finish_reason"] == "length" and len(whole["tokens"]) == 50


def test_a_stream_never_shows_a_stop_string(client: TestClient) -> None:
    body = {"model": "lm", "prompt": "It ", "max_tokens": 50, "seed": 5}
    stop = _a_stop_string(client, body)
    r = client.post("/v1/generate", json={**body, "stop": [stop], "stream": True})
    events = _events(r.text)
    done = events[-1][1]
    assert events[-1][0] == "done" and done["finish_reason"] == "stop"
    streamed = "".join(d["text"] for _, d in events[:-1])
    assert "It " + streamed == done["text"] and stop not in streamed
    assert len(events) - 1 == len(done["tokens"])  # still one event per token


def test_shown_length_holds_back_what_may_become_a_stop_string() -> None:
    shown = serve_handlers.shown_length
    assert shown("The cat", 3, ["at!"]) == 5  # "at" may grow into "at!"
    assert shown("The cat", 3, ["xyz"]) == 7
    assert shown("The c", 1, ["c d", "cx"]) == 4  # only the generated part is held
    assert shown("The ca", 2, ["cab", "a"]) == 4  # the longest possible start wins


def test_translate_returns_nbest_scores_and_attention(client: TestClient) -> None:
    r = client.post("/v1/translate", json={"model": "translate", "text": "I am cold.", "n_best": 3})
    assert r.status_code == 200, r.text
    (t,) = r.json()["translations"]
    assert t["source"] == "i am cold." and t["text"]
    assert len(t["alternatives"]) == 2
    assert all(a["score"] <= t["score"] + 1e-6 for a in t["alternatives"])
    att = t["attention"]
    assert len(att[0]) == len(t["source_tokens"]) and len(att) in (
        len(t["tokens"]),
        len(t["tokens"]) + 1,
    )
    assert all(abs(sum(row) - 1) < 1e-3 for row in att)  # each output step's weights sum to 1


def test_translate_a_list_and_greedy(client: TestClient) -> None:
    body = {"model": "translate", "text": ["I am cold.", "He is tall."], "method": "greedy"}
    out = client.post("/v1/translate", json=body).json()["translations"]
    assert len(out) == 2 and all(t["alternatives"] == [] for t in out)


def test_forecast_from_numbers_and_from_csv_agree(client: TestClient) -> None:
    values = [round(0.1 * (i % 9), 3) for i in range(20)]
    r = client.post("/v1/forecast", json={"model": "forecast", "series": values})
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["names"] == ["value"] and len(out["mean"]) == 3 and out["level"] == 0.9
    for lo, m, hi in zip(out["lower"], out["mean"], out["upper"], strict=True):
        assert lo[0] <= m[0] <= hi[0]
    csv = "date,value\n" + "".join(f"2021-03-{i + 1:02d},{v}\n" for i, v in enumerate(values))
    by_csv = client.post("/v1/forecast", json={"model": "forecast", "csv": csv}).json()
    assert [m[0] for m in by_csv["mean"]] == pytest.approx([m[0] for m in out["mean"]])
    assert by_csv["index"][0].startswith("2021-03-21")


def test_classify_texts_and_series(client: TestClient) -> None:
    r = client.post("/v1/classify", json={"model": "classify", "texts": ["a fine film", "dull"]})
    assert r.status_code == 200, r.text
    preds = r.json()["predictions"]
    assert len(preds) == 2
    for p in preds:
        assert set(p["probabilities"]) == {"neg", "pos"}
        assert sum(p["probabilities"].values()) == pytest.approx(1.0, abs=1e-5)
        assert p["label"] == max(p["probabilities"], key=p["probabilities"].get)
    series = [[[0.0, 0.1], [0.5, 0.0], [1.0, -0.1]], [1.0, 0.5]]  # a 2-feature series; too few
    r = client.post("/v1/classify", json={"model": "series", "series": series[:1]})
    assert r.status_code == 200 and r.json()["labels"] == ["down", "up"]


def test_the_page_and_its_assets_are_served(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "/static/app.js" in page.text
    assert client.get("/static/app.js").status_code == 200


# ---------------------------------------------------------------- bad requests


def _refused(client: TestClient, path: str, body: object, status: int, field: str) -> str:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    r = client.post(path, content=raw, headers={"content-type": "application/json"})
    assert r.status_code == status, r.text
    detail = r.json()["detail"]
    assert f"`{field}`" in detail and "Traceback" not in detail, detail
    return detail


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        (b'{"model": "lm", "prompt": ', 422, "body"),  # malformed JSON
        (b"[1, 2]", 422, "body"),  # not an object
        ({"model": "lm", "prompt": 5}, 422, "prompt"),  # wrong type
        ({"model": "lm", "prompt": "The", "max_tokens": "many"}, 422, "max_tokens"),
        ({"model": "lm", "prompt": "The", "temperature": -1}, 422, "temperature"),
        ({"model": "lm", "prompt": "The", "top_p": 1.5}, 422, "top_p"),
        ({"model": "lm"}, 422, "prompt"),  # missing
        ({"model": "lm", "prompt": "The", "colour": "red"}, 422, "colour"),  # unknown field
        ({"model": "lm", "prompt": ""}, 422, "prompt"),  # empty
        ({"model": "lm", "prompt": "   "}, 422, "prompt"),  # blank
        ({"model": "lm", "prompt": "a" * 201}, 422, "prompt"),  # over max_input_length
        ({"model": "lm", "prompt": "The ☃"}, 422, "prompt"),  # not in the vocabulary
        ({"model": "lm", "prompt": "The", "max_tokens": 51}, 422, "max_tokens"),  # over the limit
        ({"model": "nope", "prompt": "The"}, 404, "model"),  # unknown model
        ({"model": "classify", "prompt": "The"}, 422, "model"),  # a task mismatch
        ({"model": "lm", "prompt": "The", "stop": "e"}, 422, "stop"),  # not a list
        ({"model": "lm", "prompt": "The", "stop": ["e", ""]}, 422, "stop[1]"),  # empty
        ({"model": "lm", "prompt": "The", "stop": ["e"] * 9}, 422, "stop"),  # too many
        ({"model": "lm", "prompt": "The", "stop": ["e" * 101]}, 422, "stop[0]"),  # too long
    ],
)
def test_bad_generate_requests_get_a_4xx_naming_the_field(client, body, status, field) -> None:
    _refused(client, "/v1/generate", body, status, field)


@pytest.mark.parametrize(
    ("path", "body", "status", "field"),
    [
        ("/v1/translate", {"model": "translate", "text": []}, 422, "text"),
        ("/v1/translate", {"model": "translate", "text": ["I am cold.", ""]}, 422, "text[1]"),
        ("/v1/translate", {"model": "translate", "text": ["a"] * 5}, 422, "text"),  # max_items
        (
            "/v1/translate",
            {"model": "translate", "text": "x", "beam_size": 2, "n_best": 3},
            422,
            "n_best",
        ),  # fmt: skip
        ("/v1/translate", {"model": "translate", "text": "x", "method": "psychic"}, 422, "method"),
        ("/v1/translate", {"model": "lm", "text": "x"}, 422, "model"),
        ("/v1/forecast", {"model": "forecast"}, 422, "series"),  # neither series nor csv
        ("/v1/forecast", {"model": "forecast", "series": [1, 2, 3]}, 422, "series"),  # too short
        ("/v1/forecast", {"model": "forecast", "series": [[1, 2]] * 10}, 422, "series"),  # width
        ("/v1/forecast", {"model": "forecast", "series": ["a", "b"]}, 422, "series[0]"),
        ("/v1/forecast", {"model": "forecast", "series": [1.0] * 201}, 422, "series"),
        ("/v1/forecast", {"model": "forecast", "csv": "a,b\n1,2\n"}, 422, "csv"),  # columns
        ("/v1/forecast", {"model": "forecast", "csv": "date,value\n2021-01-01,x\n"}, 422, "csv"),
        ("/v1/classify", {"model": "classify", "texts": []}, 422, "texts"),
        ("/v1/classify", {"model": "classify", "series": [[1.0]]}, 422, "texts"),  # wrong kind
        ("/v1/classify", {"model": "series", "series": [[[1.0, 2.0, 3.0]]]}, 422, "series[0]"),
        ("/v1/classify", {"model": "series", "series": [[]]}, 422, "series[0]"),
        ("/v1/classify", {"model": "classify", "texts": [3]}, 422, "texts[0]"),
    ],
)
def test_bad_task_requests_get_a_4xx_naming_the_field(client, path, body, status, field) -> None:
    _refused(client, path, body, status, field)


def test_an_oversized_body_is_refused_unread(all_runs: list[Path]) -> None:
    app = create_app(all_runs[:1], ServeSettings(max_body_bytes=1000))
    with TestClient(app) as c:
        r = c.post("/v1/generate", json={"model": "lm", "prompt": "a" * 5000})
        assert r.status_code == 413 and "`body`" in r.json()["detail"]
        assert c.get("/health").status_code == 200


def test_a_chunked_body_is_capped_too(all_runs: list[Path]) -> None:
    """No Content-Length (chunked transfer): refused once the bytes read pass the limit."""
    app = create_app(all_runs[:1], ServeSettings(max_body_bytes=1000))
    headers = {"content-type": "application/json"}
    big = iter([b'{"model": "lm", "prompt": "', b"a" * 600, b"a" * 600, b'"}'])
    small = iter([b'{"model": "lm", ', b'"prompt": "The ", "max_tokens": 3}'])
    with TestClient(app) as c:
        r = c.post("/v1/generate", content=big, headers=headers)
        assert r.status_code == 413 and "chunked" in r.json()["detail"], r.text
        assert r.json()["field"] == "body"
        r = c.post("/v1/generate", content=small, headers=headers)
        assert r.status_code == 200 and len(r.json()["tokens"]) == 3


def test_a_chunked_body_over_the_limit_on_a_real_socket(server: str) -> None:
    host, port = server.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        head = b"POST /v1/generate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        sock.sendall(head + b"Transfer-Encoding: chunked\r\n\r\n")
        chunk = b"a" * 500_000
        got = b""
        for _ in range(5):  # 2.5 MB, over the default 2 MB
            try:
                sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            except OSError:  # the server answered and closed before reading the rest
                break
        for _ in range(50):  # bounded
            part = sock.recv(4096)
            got += part
            if not part or b"}" in got:
                break
    assert got.startswith(b"HTTP/1.1 413"), got[:200]
    assert urllib.request.urlopen(server + "/health", timeout=5).status == 200


def test_a_full_queue_is_429_with_retry_after(client: TestClient, monkeypatch) -> None:
    batcher = client.app.state.batchers["lm"]

    def busy(*args, **kwargs):
        raise BusyError("256 generation requests are already waiting")

    monkeypatch.setattr(batcher, "submit", busy)
    r = client.post("/v1/generate", json={"model": "lm", "prompt": "The", "max_tokens": 5})
    assert r.status_code == 429 and r.headers["retry-after"] == "1"
    assert "busy" in r.json()["detail"]


def test_a_request_over_the_timeout_is_504(all_runs: list[Path]) -> None:
    app = create_app(all_runs[:1], ServeSettings(request_timeout=1e-6, max_new_tokens=500))
    with TestClient(app) as c:
        r = c.post("/v1/generate", json={"model": "lm", "prompt": "The", "max_tokens": 500})
        assert r.status_code == 504 and "`request_timeout`" in r.json()["detail"]
        r = c.post("/v1/generate", json={"model": "lm", "prompt": "The", "max_tokens": 500,
                                         "stream": True})  # fmt: skip
        assert _events(r.text)[-1][0] == "error"


def test_an_unexpected_error_is_500_without_a_traceback(client, monkeypatch, caplog) -> None:
    def broken(*args, **kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(serve_handlers, "classify", broken)
    app = client.app
    # the route holds the function it was built with: rebuild a client on a fresh app
    fresh = create_app([app.state.models["classify"].run], SETTINGS)
    with TestClient(fresh, raise_server_exceptions=False) as c:
        r = c.post("/v1/classify", json={"model": "classify", "texts": ["fine"]})
    assert r.status_code == 500
    assert "secret" not in r.text and "Traceback" not in r.text
    assert "RuntimeError" in r.json()["detail"]
    assert "secret internals" in caplog.text  # logged with its traceback on the server


def test_two_runs_with_one_name_are_refused(lm_run: Path, tmp_path: Path) -> None:
    import shutil

    twin = tmp_path / "lm"
    shutil.copytree(lm_run, twin)
    with pytest.raises(ValueError, match="two runs are named 'lm'"):
        create_app([lm_run, twin])


# ---------------------------------------------------------------- a client leaving mid-stream


def _post_raw(url: str, body: dict) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=10)
    data = json.dumps(body).encode()
    head = (f"POST /v1/generate HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(data)}\r\n\r\n").encode()  # fmt: skip
    sock.sendall(head + data)
    return sock


def test_a_client_leaving_mid_stream_frees_its_row(server: str) -> None:
    body = {"model": "lm", "prompt": "The", "max_tokens": 500, "stream": True}
    socks = [_post_raw(server, body) for _ in range(3)]
    for sock in socks:
        got = b""
        for _ in range(50):  # bounded: the headers, then the first events
            got += sock.recv(4096)
            if b"event: token" in got:
                break
        assert b"event: token" in got and b"event: done" not in got  # streaming has begun
        sock.close()  # gone mid-stream
    ok = urllib.request.urlopen(server + "/health", timeout=5)
    assert ok.status == 200
    for _ in range(200):  # bounded: up to 20 s for the worker to drop the rows
        load = json.loads(urllib.request.urlopen(server + "/health", timeout=5).read())
        if load["streams"]["lm"]["active"] == 0:
            break
        time.sleep(0.1)
    assert load["streams"]["lm"]["active"] == 0
    data = json.dumps({"model": "lm", "prompt": "The", "max_tokens": 5}).encode()
    req = urllib.request.Request(
        server + "/v1/generate", data, {"Content-Type": "application/json"}
    )
    assert len(json.loads(urllib.request.urlopen(req, timeout=10).read())["tokens"]) == 5
