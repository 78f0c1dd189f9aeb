#!/usr/bin/env bash
# Build the documentation as far as a machine without Quarto allows: nbdev's notebook processing
# (directives applied, show_doc executed) and an HTML render of every processed page.
# With Quarto installed, `nbdev_docs` builds the real site from the same _proc/ input.
set -euo pipefail
cd "$(dirname "$0")/.."
rm -rf _proc _site
python tools/proc_docs.py
# nbdev marks show_doc cells with a `has_sd` key that is not part of the notebook schema; drop it before nbconvert
python - <<'PY'
import json, pathlib
for p in pathlib.Path('_proc').rglob('*.ipynb'):
    nb = json.loads(p.read_text())
    for c in nb['cells']: c.pop('has_sd', None)
    p.write_text(json.dumps(nb))
PY
mapfile -t pages < <(find _proc -name '*.ipynb' -not -path '*/.ipynb_checkpoints/*' | sort)
[ "${#pages[@]}" -gt 0 ] || { echo "no processed pages found in _proc/" >&2; exit 1; }
fail=0
for p in "${pages[@]}"; do
  rel=${p#_proc/}; out="_site/$(dirname "$rel")"
  mkdir -p "$out"
  if ! jupyter nbconvert --to html "$p" --output-dir "$out" --log-level ERROR; then
    echo "FAILED to render $p" >&2; fail=1
  fi
done
[ "$fail" = 0 ] || exit 1
n=$(find _site -name '*.html' | wc -l)
[ "$n" -ge "${#pages[@]}" ] || { echo "expected ${#pages[@]} pages, found $n" >&2; exit 1; }
echo "rendered $n pages into _site/"
