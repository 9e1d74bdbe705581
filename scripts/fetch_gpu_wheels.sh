#!/usr/bin/env bash
# Download the wheels scripts/gpu_check.sh installs on a GPU box without network access.
#
#   bash scripts/fetch_gpu_wheels.sh [DIR]     # default DIR: .gpu-wheels (git-ignored), about 41 MiB
#   PY_VERSIONS="3.12" bash scripts/fetch_gpu_wheels.sh
#
# PyAV 18.1 ships one abi3 wheel for CPython >= 3.11 (about 34 MiB, FFmpeg inside); pydantic-core
# has one wheel per Python version (about 2 MiB each); the rest are pure Python. Linux x86_64 only.
# CPython 3.10 is not covered (PyAV 18 has no 3.10 wheel; an older PyAV would add another 35 MiB).
# The versions are the ones the project is tested with.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DIR="${1:-$ROOT/.gpu-wheels}"
PY="${PYTHON:-python3}"
mkdir -p "$DIR"
for v in ${PY_VERSIONS:-3.11 3.12 3.13}; do
  "$PY" -m pip download --quiet --no-deps --only-binary :all: --dest "$DIR" \
    --python-version "$v" --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    "av==18.1.0" "pydantic==2.14.4" "pydantic-core==2.50.5" "annotated-types==0.8.0" \
    "typing-inspection==0.4.5" "typing-extensions>=4.14"
done
du -sh "$DIR"
ls -1 "$DIR"
