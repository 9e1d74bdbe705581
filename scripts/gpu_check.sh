#!/usr/bin/env bash
# GPU check of the transformers backend: a Qwen2.5-VL-7B-shaped random-weight model, batch 1/4/8.
#
#   bash scripts/gpu_check.sh                  # on a CUDA box, offline (estimated 3-5 min on one H100;
#                                              # not yet run on a GPU: no GPU was lent when it was written)
#   bash scripts/gpu_check.sh --cpu --tiny     # the CPU path with the tiny checkpoint
#   PYTHON=/path/to/python bash scripts/gpu_check.sh --json out.json
#
# The box's Python needs torch, transformers (5.16.1-5.19) and accelerate. What it lacks of PyAV and
# pydantic (+ pydantic-core, annotated-types, typing-inspection, typing-extensions) is installed,
# offline, from the wheels in $VT_GPU_WHEELS (default .gpu-wheels/, filled beforehand by
# scripts/fetch_gpu_wheels.sh) into a private folder put first on PYTHONPATH: the box's own
# site-packages are not touched. Extra arguments go to scripts/gpu_check.py (--batches, --requests,
# --max-tokens, --json). Before the model (not with --cpu; VT_GPU_BENCHES=0 skips them):
# bench/preprocess.py --floor-only (at most 60 s) and bench/pipeline.py --rounds 1 (at most 100 s)
# on the box's cores. The model check then stops after $VT_GPU_CHECK_TIMEOUT seconds (default: what
# is left of $VT_GPU_TOTAL = 470 s, at least 240).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${PYTHON:-python3}"
WHEELS="${VT_GPU_WHEELS:-$ROOT/.gpu-wheels}"
SITE="${VT_GPU_SITE:-${TMPDIR:-/tmp}/vt-gpu-site}"
export PYTHONPATH="$SITE:$ROOT${PYTHONPATH:+:$PYTHONPATH}"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_HUB_DISABLE_TELEMETRY=1 TOKENIZERS_PARALLELISM=false

if ! "$PY" -c "import torch, transformers, accelerate" 2>/dev/null; then
  echo "gpu_check: $PY lacks torch, transformers or accelerate; set PYTHON=/path/to/python" >&2
  exit 2
fi

missing=()
"$PY" -c "import av" 2>/dev/null || missing+=(av)
"$PY" -c "import pydantic" 2>/dev/null \
  || missing+=(pydantic pydantic-core annotated-types typing-inspection typing-extensions)
if ((${#missing[@]})); then
  if ! ls "$WHEELS"/*.whl >/dev/null 2>&1; then
    echo "gpu_check: $PY lacks ${missing[*]} and $WHEELS holds no wheels." >&2
    echo "  Fill it where there is network access: bash scripts/fetch_gpu_wheels.sh (about 41 MiB)," >&2
    echo "  and bring the folder with the checkout (or set VT_GPU_WHEELS=/path/to/wheels)." >&2
    exit 2
  fi
  echo "gpu_check: installing ${missing[*]} from $WHEELS into $SITE (offline)" >&2
  mkdir -p "$SITE"
  "$PY" -m pip install --quiet --no-index --no-deps --find-links "$WHEELS" --target "$SITE" --upgrade \
    "${missing[@]}"
  "$PY" -c "import av, pydantic" || { echo "gpu_check: the installed wheels do not import" >&2; exit 2; }
fi

# on the GPU box, before the model: the CPU side at the box's core count (no reference needed;
# skipped with --cpu, or VT_GPU_BENCHES=0): preparation against its decode floor, and the pipeline's
# thread and process pools against one item at a time (bench/pipeline.py, paced fake engine). The
# whole script keeps to $VT_GPU_TOTAL seconds (default 470): the model check gets what is left.
if [[ " $* " != *" --cpu "* && "${VT_GPU_BENCHES:-1}" != 0 ]]; then
  echo "gpu_check: preparation vs decode floor (bench/preprocess.py --floor-only)" >&2
  timeout 60 "$PY" "$ROOT/bench/preprocess.py" --floor-only --repeat 5 \
    || echo "gpu_check: the floor bench failed or ran out of time (exit $?); the GPU check goes on" >&2
  echo "gpu_check: preparation pools at $(nproc) cores (bench/pipeline.py --rounds 1)" >&2
  timeout 100 "$PY" "$ROOT/bench/pipeline.py" --rounds 1 \
    || echo "gpu_check: the pipeline bench failed or ran out of time (exit $?); the GPU check goes on" >&2
fi
left=$(( ${VT_GPU_TOTAL:-470} - SECONDS ))
exec timeout "${VT_GPU_CHECK_TIMEOUT:-$(( left > 240 ? left : 240 ))}" "$PY" "$ROOT/scripts/gpu_check.py" "$@"
