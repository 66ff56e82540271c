#!/usr/bin/env bash
# The main job: train a character-level LSTM on the built-in corpus (the Python reference
# docs that ship with CPython, so nothing is downloaded), print samples before and after
# training, and write a checkpoint and loss plot to runs/demo. Extra flags go to
# `rnnkit lm train` (e.g. --epochs 1, --device cuda).
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
run_dir="${RNNKIT_DEMO_DIR:-runs/demo}"
if [ -d "$run_dir/last" ]; then
  echo "[demo] $run_dir holds an earlier run; moving it to $run_dir.prev" >&2
  rm -rf "$run_dir.prev" && mv "$run_dir" "$run_dir.prev"
fi
rnnkit lm train --preset demo --run-dir "$run_dir" "$@"
echo "[demo] checkpoint: $run_dir/best/model.safetensors   loss plot: $run_dir/loss.png" >&2
echo "[demo] try: .venv/bin/rnnkit lm generate --run $run_dir --prompt 'The '" >&2
