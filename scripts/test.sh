#!/usr/bin/env bash
# The whole test suite: lint, then every test (slow ones included), on all cores.
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
ruff check src tests benchmarks
ruff format --check src tests benchmarks
lint-imports --no-cache  # the layer contract in pyproject.toml
bash "$root/scripts/browser.sh"  # Chromium for the page tests (installed when root; else they skip)
exec python -m pytest -n "${RNNKIT_TEST_WORKERS:-auto}" "$@"
