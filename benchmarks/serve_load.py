"""Load test of ``rnnkit serve`` on loopback: batched vs one-at-a-time generation.

For 1, 4, 16 and 64 concurrent clients, each sending ``/v1/generate`` requests back to back
for a fixed time, it reports requests/s, generated tokens/s, p50/p99 latency and errors,
once against a server that batches concurrent streams (one forward per step for all of
them) and once against one started with ``--batching false`` (one stream at a time), in
the same run. Then a fault run: while 16 clients load the batched server, other clients
disconnect mid-stream and send garbage (malformed JSON, wrong types, random bytes); the
server must keep answering, every garbage request must get a 4xx, and its resident memory
is read before and after.

    python benchmarks/serve_load.py                       # trains a small char LM first
    python benchmarks/serve_load.py --run runs/demo --seconds 10

Each server is ``python -m rnnkit serve`` in its own process, bound to 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import socket
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


def start_server(run: Path, batching: bool, max_tokens: int) -> tuple[subprocess.Popen, str]:
    port = free_port()
    cmd = [sys.executable, "-m", "rnnkit", "serve", "--run", str(run), "--port", str(port),
           "--batching", str(batching).lower(), "--max-streams", "64", "--max-queue", "512",
           "--max-new-tokens", str(max_tokens), "--log-level", "warning"]  # fmt: skip
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


async def client(url: str, model: str, stop: float, max_tokens: int, seed: int, out: dict) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=120) as c:
        while time.monotonic() < stop:
            body = {"model": model, "prompt": "The ", "max_tokens": max_tokens, "seed": seed}
            t0 = time.monotonic()
            try:
                r = await c.post("/v1/generate", json=body)
                ok = r.status_code == 200
            except httpx.HTTPError:
                ok = False
            if ok:
                out["latency"].append(time.monotonic() - t0)
                out["tokens"] += len(r.json()["tokens"])
            else:
                out["errors"] += 1
            seed += 1000


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", type=Path, help="an lm run (default: train a small one)")
    parser.add_argument("--train-steps", type=int, default=300)
    parser.add_argument("--seconds", type=float, default=5.0, help="per level and mode")
    parser.add_argument("--max-tokens", type=int, default=32, help="tokens per request")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        run = args.run or train_demo_lm(Path(tmp) / "lm", args.train_steps)
        model = run.resolve().name
        rows, tokens = [], {}
        for batching in (True, False):
            proc, url = start_server(run, batching, args.max_tokens)
            try:
                for n in LEVELS:
                    r = asyncio.run(load(url, model, n, args.seconds, args.max_tokens))
                    rows.append({"mode": "batched" if batching else "one-at-a-time", **r})
                    tokens[(batching, n)] = r["tokens/s"]
                    print(rows[-1], flush=True)
                if batching:
                    before = rss_mib(proc.pid)
                    fault = asyncio.run(fault_run(url, model, args.seconds * 2, args.max_tokens))
                    fault.update({"RSS before MiB": before, "RSS after MiB": rss_mib(proc.pid)})
                    fault["still answering"] = httpx.get(url + "/health").status_code == 200
            finally:
                proc.terminate()
                proc.wait(30)
    print("\n" + table(rows))
    print(f"\nbatched / one-at-a-time tokens/s at 16 clients: "
          f"{tokens[(True, 16)] / tokens[(False, 16)]:.1f}x")  # fmt: skip
    print("\nfault run (16 loading clients + 4 disconnecting / garbage clients):\n")
    print(table([fault]))


if __name__ == "__main__":
    main()
