"""Load test of ``rnnkit serve`` on loopback: batched vs one-at-a-time generation.

For 1, 4, 16 and 64 concurrent clients, each sending ``/v1/generate`` requests back to back
for a fixed time, it reports requests/s, generated tokens/s, p50/p99 latency and errors
against two servers started side by side: one that batches concurrent streams (one forward
per step for all of them) and one started with ``--batching false``, the honest
one-at-a-time baseline (the same worker decodes one stream at a time, the others queue).
The two are measured ALTERNATELY, level by level, for several rounds (which mode goes first
flips every round), so a burst of load from elsewhere on the machine hits both; each
round's ratio is printed, and the summary gives the median tokens/s of each mode and their
ratio. Then a fault run: while 16 clients load the batched server, other clients disconnect
mid-stream and send garbage (malformed JSON, wrong types, random bytes); the server must
keep answering, every garbage request must get a 4xx, and its resident memory is read
before and after.

    python benchmarks/serve_load.py                       # trains a small char LM first
    nice -n 5 python benchmarks/serve_load.py --run runs/demo --seconds 5 --rounds 3

Each server is ``python -m rnnkit serve`` in its own process, bound to 127.0.0.1. The load
clients speak HTTP/1.1 over keep-alive asyncio streams directly (a few lines here, not an
HTTP library), so that the load generator, which shares the machine's cores with the
servers, costs as little as it can.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

LEVELS = (1, 4, 16, 64)


def train_demo_lm(out: Path, steps: int) -> Path:
    """The demo preset's char LSTM (2 x 256 units, built-in Python docs) trained ``steps``
    steps."""
    from rnnkit.tasks.lm import TextLM

    TextLM.create("demo").fit(out, {"progress": False, "max_steps": steps, "eval_every": None})
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(
    run: Path, batching: bool, max_tokens: int, threads: int
) -> tuple[subprocess.Popen, str]:
    port = free_port()
    cmd = [sys.executable, "-m", "rnnkit", "serve", "--run", str(run), "--port", str(port),
           "--batching", str(batching).lower(), "--max-streams", "64", "--max-queue", "512",
           "--max-new-tokens", str(max_tokens), "--threads", str(threads),
           "--log-level", "warning"]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):  # bounded: 60 s to load the model and bind
        try:
            if httpx.get(url + "/health", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("the server did not start within 60 s")


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def _post(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, body: bytes
) -> tuple[int, bytes]:
    """One keep-alive POST /v1/generate: (status, response body)."""
    writer.write(b"POST /v1/generate HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                 b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
                 % (len(body), body))  # fmt: skip
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    return status, await reader.readexactly(length)


async def client(url: str, model: str, stop: float, max_tokens: int, seed: int, out: dict) -> None:
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        while time.monotonic() < stop:
            body = {"model": model, "prompt": "The ", "max_tokens": max_tokens, "seed": seed}
            t0 = time.monotonic()
            try:
                status, data = await _post(reader, writer, json.dumps(body).encode())
            except (OSError, asyncio.IncompleteReadError, ValueError):
                status, data = 0, b""
            if status == 200:
                out["latency"].append(time.monotonic() - t0)
                out["tokens"] += len(json.loads(data)["tokens"])
            else:
                out["errors"] += 1
                if status == 0:  # the connection is gone: open another
                    writer.close()
                    reader, writer = await asyncio.open_connection(host, int(port))
            seed += 1000
    finally:
        writer.close()


async def load(url: str, model: str, clients: int, seconds: float, max_tokens: int) -> dict:
    out = {"latency": [], "tokens": 0, "errors": 0}
    start = time.monotonic()
    stop = start + seconds
    await asyncio.gather(*(client(url, model, stop, max_tokens, i, out) for i in range(clients)))
    elapsed = time.monotonic() - start
    lat = sorted(out["latency"]) or [float("nan")]
    return {
        "clients": clients, "requests/s": len(out["latency"]) / elapsed,
        "tokens/s": out["tokens"] / elapsed, "p50 s": lat[len(lat) // 2],
        "p99 s": lat[min(len(lat) - 1, int(0.99 * len(lat)))], "errors": out["errors"],
    }  # fmt: skip


GARBAGE = [
    b'{"model": "lm", "prompt": ',
    b'{"model": 5, "prompt": []}',
    b"[1, 2, 3]",
    b'{"model": "lm", "prompt": "The ", "max_tokens": -4}',
    b'{"model": "nope", "prompt": "The "}',
    b'{"model": "lm", "prompt": "", "stream": true}',
]


async def faults(url: str, model: str, stop: float, out: dict) -> None:
    """Disconnect mid-stream and send garbage until ``stop``."""
    rng = random.Random(0)
    async with httpx.AsyncClient(base_url=url, timeout=30) as c:
        while time.monotonic() < stop:
            body = {"model": model, "prompt": "The ", "max_tokens": 200, "stream": True}
            async with c.stream("POST", "/v1/generate", json=body) as r:
                async for _ in r.aiter_bytes():
                    break  # one chunk, then gone
            out["disconnects"] += 1
            raw = rng.choice(GARBAGE + [bytes(rng.getrandbits(8) for _ in range(64))])
            r = await c.post(
                "/v1/generate", content=raw, headers={"content-type": "application/json"}
            )
            out["garbage"] += 1
            out["garbage_4xx"] += 400 <= r.status_code < 500


async def fault_run(url: str, model: str, seconds: float, max_tokens: int) -> dict:
    out = {"disconnects": 0, "garbage": 0, "garbage_4xx": 0}
    stop = time.monotonic() + seconds
    loaded = asyncio.ensure_future(load(url, model, 16, seconds, max_tokens))
    await asyncio.gather(*(faults(url, model, stop, out) for _ in range(4)))
    return {**await loaded, **out}


def table(rows: list[dict]) -> str:
    keys = list(rows[0])
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    for r in rows:
        lines.append("| " + " | ".join(f"{v:.3g}" if isinstance(v, float) else str(v)
                                       for v in r.values()) + " |")  # fmt: skip
    return "\n".join(lines)


def alternate(urls: dict[str, str], model: str, args: argparse.Namespace) -> list[dict]:
    """Every level, both modes back to back, for ``args.rounds`` rounds (the mode that goes
    first flips each round)."""
    rows = []
    for rnd in range(1, args.rounds + 1):
        order = list(urls) if rnd % 2 else list(urls)[::-1]
        for n in LEVELS:
            for mode in order:
                r = asyncio.run(load(urls[mode], model, n, args.seconds, args.max_tokens))
                rows.append({"round": rnd, "mode": mode, **r})
                print(rows[-1], flush=True)
    return rows


def summary(rows: list[dict]) -> list[dict]:
    """Per level: the median tokens/s of each mode over the rounds, their ratio, and the
    range of the per-round ratios."""
    out = []
    for n in LEVELS:
        tok = {m: [r["tokens/s"] for r in rows if r["clients"] == n and r["mode"] == m]
               for m in ("batched", "one-at-a-time")}  # fmt: skip
        ratios = [b / o for b, o in zip(tok["batched"], tok["one-at-a-time"], strict=True)]
        b, o = statistics.median(tok["batched"]), statistics.median(tok["one-at-a-time"])
        out.append({
            "clients": n, "batched tokens/s": b, "one-at-a-time tokens/s": o, "ratio": b / o,
            "per-round ratios": " ".join(f"{x:.1f}" for x in ratios),
            "errors": sum(r["errors"] for r in rows if r["clients"] == n),
        })  # fmt: skip
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", type=Path, help="an lm run (default: train a small one)")
    parser.add_argument("--train-steps", type=int, default=300)
    parser.add_argument("--seconds", type=float, default=5.0, help="per level, mode and round")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds")
    parser.add_argument("--max-tokens", type=int, default=32, help="tokens per request")
    parser.add_argument("--threads", type=int, default=1, help="the servers' --threads")
    args = parser.parse_args()
    print("load average before:", os.getloadavg(), flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        run = args.run or train_demo_lm(Path(tmp) / "lm", args.train_steps)
        model = run.resolve().name
        procs, urls = [], {}
        try:
            for mode, batching in (("batched", True), ("one-at-a-time", False)):
                proc, urls[mode] = start_server(run, batching, args.max_tokens, args.threads)
                procs.append(proc)
            rows = alternate(urls, model, args)
            url = urls["batched"]
            before = rss_mib(procs[0].pid)
            fault = asyncio.run(fault_run(url, model, args.seconds * 2, args.max_tokens))
            fault.update({"RSS before MiB": before, "RSS after MiB": rss_mib(procs[0].pid)})
            fault["still answering"] = httpx.get(url + "/health").status_code == 200
        finally:
            for proc in procs:
                proc.terminate()
                proc.wait(30)
    print("load average after:", os.getloadavg())
    print("\nevery round:\n\n" + table(rows))
    print("\nsummary (medians over the rounds):\n\n" + table(summary(rows)))
    print("\nfault run (16 loading clients + 4 disconnecting / garbage clients):\n")
    print(table([fault]))


if __name__ == "__main__":
    main()
