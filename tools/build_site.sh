#!/usr/bin/env bash
# Build the documentation website into _site/ (MkDocs Material + mkdocs-jupyter from nbdev's processed notebooks;
# needs the [docs] extra and, once, the npm registry for the vendored MathJax and search polyfill).
# Fails on a notebook that does not process, a broken local link or anchor, or an unprocessed directive.
# With Quarto installed, `nbdev_docs` builds the Quarto site from the same notebooks and nbs/sidebar.yml instead.
set -euo pipefail
cd "$(dirname "$0")/.."
python tools/build_site.py "$@"
