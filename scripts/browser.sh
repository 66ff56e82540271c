#!/usr/bin/env bash
# Install a headless Chromium from the distribution's packages for the serve page's browser
# test (tests/serve/test_browser.py), when it is missing and this shell may install it (root
# with apt-get). Quiet, idempotent, and never fails its caller: where no browser can be had,
# the browser test skips and says why.
browser_found() {
    command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 ||
        command -v google-chrome >/dev/null 2>&1
}
if browser_found; then
    exit 0
fi
if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "browser.sh: no chromium and cannot install it (needs root and apt-get); the browser test will skip" >&2
    exit 0
fi
log="${TMPDIR:-/tmp}/rnnkit-browser-install.log"
{
    DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium
} >"$log" 2>&1 || echo "browser.sh: installing chromium failed (see $log); the browser test will skip" >&2
exit 0
