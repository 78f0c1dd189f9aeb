#!/usr/bin/env bash
# Execute notebooks to refresh their published outputs, clean them the nbdev way, and stamp the hash of their code
# cells (tools/check_stale.py then fails if the code changes without a rerun, or if the prose states a number no
# cell computed).   bash tools/run_notebook.sh nbs/22_mooncake.ipynb [more.ipynb ...]
set -euo pipefail
cd "$(dirname "$0")/.."
for nb in "$@"; do
  (cd "$(dirname "$nb")" && jupyter nbconvert --to notebook --execute --inplace --ExecutePreprocessor.timeout=7200 "$(basename "$nb")")
  nbdev_clean --fname "$nb"
  python tools/check_stale.py --stamp "$nb"
  python tools/check_stale.py "$nb"
done
