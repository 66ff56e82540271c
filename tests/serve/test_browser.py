"""The web page in a real headless Chromium (the distribution's package; scripts/browser.sh
installs it where it can): it loads, streams generated text, draws the attention map and the
forecast plot, shows class probabilities. Screenshots are saved under the test's tmp dir
and, with env RNNKIT_ARTIFACTS set, there too."""

from __future__ import annotations

import base64
import functools
import json
import os
import select
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import pytest

pytestmark = pytest.mark.slow  # five tiny trainings, a server and a browser


def _browser() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    pytest.skip(
        "no Chromium on PATH (chromium, chromium-browser, google-chrome): run "
        "scripts/browser.sh as root to install the distribution's package"
    )


class Chromium:
    """Headless Chromium driven over the DevTools protocol on a pipe (``--remote-debugging-
    pipe``: JSON messages ending in NUL on fds 3 and 4), so a test waits in real time for
    the page's own status (``--virtual-time-budget`` does not wait for a streamed body)."""

    def __init__(self, tmp: Path) -> None:
        to_chrome, self._w = os.pipe()
        self._r, from_chrome = os.pipe()
        args = [_browser(), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                "--disable-dev-shm-usage", "--remote-debugging-pipe",
                f"--user-data-dir={tmp / 'profile'}"]  # fmt: skip
        shell = f'exec "$@" 3<&{to_chrome} 4>&{from_chrome}'
        self.proc = subprocess.Popen(
            ["bash", "-c", shell, "chromium", *args], pass_fds=(to_chrome, from_chrome),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        os.close(to_chrome)
        os.close(from_chrome)
        self._buf, self._id = b"", 0
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        attached = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})
        self.session = attached["sessionId"]

    def call(self, method: str, params: dict | None = None, session: bool = False) -> dict:
        self._id += 1
        msg = {"id": self._id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = self.session
        os.write(self._w, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # bounded: 30 s per call
            while b"\0" in self._buf:
                raw, self._buf = self._buf.split(b"\0", 1)
                reply = json.loads(raw)
                if reply.get("id") == self._id:
                    if "error" in reply:
                        raise RuntimeError(f"{method}: {reply['error']}")
                    return reply["result"]
            ready, _, _ = select.select([self._r], [], [], 1.0)
            if ready:
                chunk = os.read(self._r, 1 << 20)
                if not chunk:
                    raise RuntimeError("Chromium closed the pipe")
                self._buf += chunk
        raise TimeoutError(f"Chromium did not answer {method} in 30 s")

    def evaluate(self, expression: str) -> object:
        out = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True},
                        session=True)  # fmt: skip
        return out["result"].get("value")

    def load(self, url: str, timeout: float = 30.0) -> str:
        """Navigate, wait until the page's status is done or error; returns the status."""
        self.call("Page.navigate", {"url": url}, session=True)
        deadline = time.monotonic() + timeout
        status = None
        while time.monotonic() < deadline:  # bounded by the timeout
            status = self.evaluate("document.body && document.body.dataset.status")
            if status in ("done", "error"):
                break
            time.sleep(0.1)
        return str(status)

    def screenshot(self, path: Path) -> Path:
        self.call("Emulation.setDeviceMetricsOverride",
                  {"width": 900, "height": 1000, "deviceScaleFactor": 1, "mobile": False},
                  session=True)  # fmt: skip
        shot = self.call("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True},
                         session=True)  # fmt: skip
        path.write_bytes(base64.b64decode(shot["data"]))
        return path

    def close(self) -> None:
        try:
            self.call("Browser.close")
        except (RuntimeError, TimeoutError, OSError):
            pass
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._w)
        os.close(self._r)


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Chromium]:
    chrome = Chromium(tmp_path)
    yield chrome
    chrome.close()


def _page(server: str, browser: Chromium, tmp: Path, name: str, query: dict[str, str]) -> str:
    """Load the page driven by ``query``, save its screenshot; returns the DOM."""
    status = browser.load(f"{server}/?{urlencode({**query, 'run': '1'})}")
    error = browser.evaluate("document.getElementById('error').textContent")
    assert status == "done", f"page status {status!r}, error {error!r}"
    shot = browser.screenshot(tmp / f"serve-{name}.png")
    assert shot.stat().st_size > 5000  # a drawn page, not a blank one
    artifacts = os.environ.get("RNNKIT_ARTIFACTS")
    if artifacts:
        Path(artifacts).mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, Path(artifacts) / shot.name)
    return str(browser.evaluate("document.documentElement.outerHTML"))


def test_page_generates_translates_forecasts_and_classifies(
    server: str, browser: Chromium, tmp_path: Path
) -> None:
    page = functools.partial(_page, server, browser, tmp_path)
    dom = page("generate", {"model": "lm", "prompt": "The ", "max_tokens": "40"})
    assert 'data-status="done"' in dom and 'data-done="true"' in dom
    text = dom.split('id="gen-out"')[1].split("</pre>")[0]
    assert len(text.split(">", 1)[1]) >= len("The ") + 40  # the prompt and 40 characters

    dom = page("translate", {"model": "translate", "text": "I am cold."})
    assert 'data-status="done"' in dom
    assert 'id="attention"' in dom and "data-rendered=" in dom.split('id="attention"')[1][:400]

    series = ", ".join(f"{i % 7 / 7:.3f}" for i in range(30))
    dom = page("forecast", {"model": "forecast", "series": series})
    assert 'data-status="done"' in dom
    assert 'data-rendered="30+3"' in dom  # the 30 rows sent (up to 4 x input_len), horizon 3

    dom = page("classify", {"model": "classify", "texts": "great fun\nboring"})
    assert 'data-status="done"' in dom and dom.count('class="result"') == 2


def test_page_loads_without_any_network_but_the_server(server: str) -> None:
    """No CDN: every script and stylesheet the page names is on this server."""
    html = urllib.request.urlopen(server + "/", timeout=5).read().decode()
    assert "http://" not in html.replace("http://127.0.0.1", "") and "https://" not in html
    for asset in ("/static/app.js", "/static/style.css"):
        assert asset in html
        body = urllib.request.urlopen(server + asset, timeout=5).read().decode()
        assert "https://" not in body and "http://" not in body
