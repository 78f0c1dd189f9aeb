#!/usr/bin/env bash
# Build llama.cpp's `llama-server` (CPU only) from the pinned llama-cpp-python sdist, into a cache directory
# outside the clone, and reuse it when it is already there. Prints the path of the binary on its last line.
#
#   bash tools/build_llama_server.sh            # build or reuse
#   SEMANTIC_KV_CACHE=/some/dir bash tools/build_llama_server.sh
#   LLAMA_SERVER_REBUILD=1 bash tools/build_llama_server.sh   # force a fresh build
#
# Why the sdist: PyPI carries only the source of llama-cpp-python, and its Python server does not report
# cached prompt tokens; the C++ llama-server in its vendor/llama.cpp does. The first build takes 10 to 25 minutes on
# two cores (depending on what else runs); later runs find the cached binary and return in well under a second.
set -euo pipefail

VERSION=${LLAMA_CPP_PYTHON_VERSION:-0.3.36}
CACHE=${SEMANTIC_KV_CACHE:-$HOME/.cache/semantic-kv}
DEST="$CACHE/llama-server-$VERSION"
BIN="$DEST/bin/llama-server"
PY=${PYTHON:-$(command -v python3 || command -v python || true)}
JOBS=${LLAMA_BUILD_JOBS:-2}

say() { echo "build_llama_server: $*" >&2; }
die() { say "cannot build llama-server: $*"; exit 1; }

works() { [ -x "$BIN" ] && "$BIN" --version >/dev/null 2>&1; }

if [ -z "${LLAMA_SERVER_REBUILD:-}" ] && works; then
  say "reusing $BIN"
  echo "$BIN"; exit 0
fi

# What the build needs, and what to do when it is missing
missing=()
command -v cmake >/dev/null || missing+=("cmake (apt-get install cmake)")
command -v c++ >/dev/null || command -v g++ >/dev/null || command -v clang++ >/dev/null \
  || missing+=("a C++17 compiler (apt-get install g++)")
[ -n "$PY" ] || missing+=("python3 with pip (to download the sdist)")
if [ "${#missing[@]}" -gt 0 ]; then die "missing: ${missing[*]}"; fi
"$PY" -m pip --version >/dev/null 2>&1 || die "'$PY -m pip' does not work (needed to download the sdist)"
GEN=()
if command -v ninja >/dev/null; then GEN=(-G Ninja); else say "ninja not found; using make (slower to start)"; fi

mkdir -p "$CACHE"
exec 9>"$CACHE/llama-server-$VERSION.lock"
if ! flock -n 9; then say "another build holds $CACHE/llama-server-$VERSION.lock; waiting"; flock 9; fi
if [ -z "${LLAMA_SERVER_REBUILD:-}" ] && works; then say "built meanwhile: $BIN"; echo "$BIN"; exit 0; fi

WORK=$(mktemp -d "$CACHE/build-llama-$VERSION.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
t0=$(date +%s)

say "downloading the llama-cpp-python==$VERSION sdist"
"$PY" -m pip download -q --no-binary :all: --no-deps "llama-cpp-python==$VERSION" -d "$WORK" \
  || die "pip could not download llama-cpp-python==$VERSION (no access to PyPI?)"
SDIST=$(ls "$WORK"/llama_cpp_python-"$VERSION".tar.gz 2>/dev/null || ls "$WORK"/*.tar.gz | head -1)
tar -xzf "$SDIST" -C "$WORK"
SRC=$(ls -d "$WORK"/llama_cpp_python-*/vendor/llama.cpp | head -1)
[ -f "$SRC/CMakeLists.txt" ] || die "the sdist has no vendor/llama.cpp"

say "configuring (CPU only, Release, no web UI download, static libraries)"
cmake -S "$SRC" -B "$WORK/build" "${GEN[@]}" -DCMAKE_BUILD_TYPE=Release \
  -DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_BUILD_UI=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_CURL=OFF \
  -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DBUILD_SHARED_LIBS=OFF >"$WORK/configure.log" 2>&1 \
  || { tail -30 "$WORK/configure.log" >&2; die "cmake configure failed (log above)"; }
say "building llama-server with -j$JOBS (about ten minutes on two cores)"
cmake --build "$WORK/build" --target llama-server -j"$JOBS" >"$WORK/build.log" 2>&1 \
  || { tail -40 "$WORK/build.log" >&2; die "compilation failed (log above)"; }

rm -rf "$DEST.tmp"; mkdir -p "$DEST.tmp/bin"
cp "$WORK/build/bin/llama-server" "$DEST.tmp/bin/"
find "$WORK/build/bin" -maxdepth 1 -name '*.so*' -exec cp -P {} "$DEST.tmp/bin/" \;
echo "llama-cpp-python $VERSION sdist, vendor/llama.cpp; built $(date -u +%FT%TZ) in $(( $(date +%s) - t0 )) s" > "$DEST.tmp/BUILD_INFO"
rm -rf "$DEST"; mv "$DEST.tmp" "$DEST"
works || die "the built binary does not run: $BIN"
say "built $BIN in $(( $(date +%s) - t0 )) s"
echo "$BIN"
