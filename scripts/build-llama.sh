#!/usr/bin/env bash
# Builds llama.cpp's llama-perplexity, llama-quantize and llama-imatrix from
# the llama.cpp sources vendored in the llama-cpp-python sdist on PyPI, into a
# directory outside the repository (nothing of it is committed). `make bench`
# runs llama-perplexity beside qz-eval when LLAMA_PERPLEXITY names the binary.
#
# usage: scripts/build-llama.sh            (prints the bin directory at the end)
# env:   QZ_LLAMA_DIR      where to build  (default $HOME/.cache/qz-llama)
#        QZ_LLAMA_VERSION  llama-cpp-python version (default 0.3.36)
#        QZ_LLAMA_JOBS     parallel compile jobs (default 2)
#        PIP               pip to download with (default: pip3 on PATH)
# needs: pip, cmake, a C/C++ compiler (build-essential), network access to PyPI.
set -euo pipefail

version=${QZ_LLAMA_VERSION:-0.3.36}
dir=${QZ_LLAMA_DIR:-$HOME/.cache/qz-llama}
jobs=${QZ_LLAMA_JOBS:-2}
pip=${PIP:-pip3}
targets=(llama-perplexity llama-quantize llama-imatrix)

for tool in "$pip" cmake c++; do
  command -v "$tool" >/dev/null 2>&1 || {
    echo "build-llama: error: '$tool' not found (pip, cmake and build-essential are needed)" >&2
    exit 2
  }
done

src="$dir/llama_cpp_python-$version"
mkdir -p "$dir"
if [ ! -d "$src/vendor/llama.cpp" ]; then
  sdist="$dir/llama_cpp_python-$version.tar.gz"
  if [ ! -f "$sdist" ]; then
    echo "build-llama: downloading the llama-cpp-python $version sdist" >&2
    # --no-binary for this package only: ":all:" would also build its build
    # dependencies (cmake, scikit-build-core, ...) from source.
    "$pip" download --no-deps --no-binary llama-cpp-python -d "$dir" "llama-cpp-python==$version" >&2
  fi
  tar -xzf "$sdist" -C "$dir"
fi
[ -d "$src/vendor/llama.cpp" ] || {
  echo "build-llama: error: $src has no vendor/llama.cpp" >&2
  exit 2
}

build="$dir/build-$version"
# GGML_NATIVE: kernels for this CPU (as a user building llama.cpp gets them);
# no curl, no server, no examples beyond the three tools.
cmake -S "$src/vendor/llama.cpp" -B "$build" -DCMAKE_BUILD_TYPE=Release \
  -DGGML_NATIVE=ON -DLLAMA_CURL=OFF -DBUILD_SHARED_LIBS=OFF \
  -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_SERVER=OFF >&2
cmake --build "$build" -j "$jobs" --target "${targets[@]}" >&2

for t in "${targets[@]}"; do
  [ -x "$build/bin/$t" ] || { echo "build-llama: error: $build/bin/$t was not built" >&2; exit 3; }
done
echo "build-llama: built ${targets[*]} in $build/bin" >&2
echo "$build/bin"
