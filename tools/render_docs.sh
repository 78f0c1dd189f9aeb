#!/usr/bin/env bash
# Kept for existing scripts: the documentation is now the website built by tools/build_site.sh.
exec bash "$(dirname "$0")/build_site.sh" "$@"
