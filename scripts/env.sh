# Sourced by scripts/demo.sh and scripts/test.sh: create or reuse .venv and install rnnkit.
# PyTorch is pinned to the CPU build here (override with RNNKIT_TORCH="torch==X" or "skip");
# the package metadata keeps a range so users elsewhere get their own build.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${RNNKIT_VENV:-$root/.venv}"
py="${PYTHON:-python3}"
if [ ! -x "$venv/bin/python" ]; then
  echo "[setup] creating virtual environment $venv" >&2
  "$py" -m venv "$venv"
fi
stamp="$venv/.rnnkit-installed"
if [ ! -f "$stamp" ] || [ "$root/pyproject.toml" -nt "$stamp" ] || [ "$root/scripts/env.sh" -nt "$stamp" ]; then
  torch_spec="${RNNKIT_TORCH:-torch==2.13.0}"
  if [ "$torch_spec" != "skip" ] && ! "$venv/bin/python" -c "import torch" 2>/dev/null; then
    echo "[setup] installing $torch_spec" >&2
    "$venv/bin/python" -m pip install -q "$torch_spec"
  fi
  echo "[setup] installing rnnkit and its dependencies" >&2
  "$venv/bin/python" -m pip install -q -e "$root[dev]"
  touch "$stamp"
fi
export PATH="$venv/bin:$PATH"
cd "$root"
