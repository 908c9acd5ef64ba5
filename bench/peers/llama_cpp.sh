#!/usr/bin/env bash
# Builds llama.cpp's own benchmark tools (llama-bench, llama-batched-bench) against the very llama.cpp
# source that agentos's engine links (the llama-cpp-sys-2 crate in Cargo.lock), with the flags its
# build script uses on this machine (Release, GGML_NATIVE off so AVX/AVX2/FMA/F16C are on, no
# OpenMP), and prints the folder holding the binaries. The crate ships llama.cpp without its tools'
# sources; they come from the llama.cpp that llama-cpp-python vendors in its PyPI source release
# (pinned below, checksum checked): two thin programs over llama.h. `agentos bench local` runs this
# on first use; later runs reuse bench/peers/.llama.cpp.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
out="$root/bench/peers/.llama.cpp"
if [[ -x "$out/bin/llama-bench" && -x "$out/bin/llama-batched-bench" ]]; then
    echo "$out/bin"
    exit 0
fi
manifest="$(cd "$root" && cargo metadata --format-version 1 --locked 2>/dev/null |
    python3 -c 'import json,sys; print(next(p["manifest_path"] for p in json.load(sys.stdin)["packages"] if p["name"] == "llama-cpp-sys-2"))')" ||
    { echo "cannot find the llama-cpp-sys-2 source: run \`cargo fetch\` in $root first" >&2; exit 1; }
source="$(dirname "$manifest")/llama.cpp"
[[ -f "$source/include/llama.h" ]] || { echo "no llama.cpp source in $source" >&2; exit 1; }
sdist=llama_cpp_python-0.3.36
sha256=832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e
mkdir -p "$out"
if [[ ! -f "$out/$sdist.tar.gz" ]]; then
    python3 -m pip download --quiet --no-deps --no-binary :all: "llama-cpp-python==0.3.36" -d "$out" >&2 ||
        { echo "cannot download $sdist from PyPI: check that PyPI is reachable" >&2; exit 1; }
fi
echo "$sha256  $out/$sdist.tar.gz" | sha256sum --check --quiet >&2 ||
    { rm -f "$out/$sdist.tar.gz"; echo "$sdist.tar.gz does not have the expected sha256; removed it, run again" >&2; exit 1; }
rm -rf "$out/src" && mkdir -p "$out/src" && cp -r "$source/." "$out/src/"
tar -xzf "$out/$sdist.tar.gz" -C "$out" "$sdist/vendor/llama.cpp/tools/llama-bench" "$sdist/vendor/llama.cpp/tools/batched-bench"
cp -r "$out/$sdist/vendor/llama.cpp/tools/llama-bench/." "$out/src/tools/llama-bench/"
cp -r "$out/$sdist/vendor/llama.cpp/tools/batched-bench/." "$out/src/tools/batched-bench/"
# Only the two tools: the crate's tools/CMakeLists.txt names others whose sources it leaves out.
printf 'llama_add_compile_flags()\nadd_subdirectory(batched-bench)\nadd_subdirectory(llama-bench)\n' > "$out/src/tools/CMakeLists.txt"
source="$out/src"
command -v cmake >/dev/null || { echo "cmake is missing: run ./quickstart (it installs it) or apt-get install cmake" >&2; exit 1; }
echo "building llama-bench and llama-batched-bench from $source (a few minutes, once)" >&2
cmake -S "$source" -B "$out/build" -DCMAKE_BUILD_TYPE=Release -DCMAKE_C_FLAGS=-march=x86-64 -DCMAKE_CXX_FLAGS=-march=x86-64 \
    -DGGML_NATIVE=OFF -DGGML_OPENMP=OFF -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF \
    -DLLAMA_BUILD_SERVER=OFF -DLLAMA_BUILD_APP=OFF -DLLAMA_BUILD_TOOLS=ON -DBUILD_SHARED_LIBS=OFF >&2
cmake --build "$out/build" --target llama-bench llama-batched-bench -j "$(nproc)" >&2
mkdir -p "$out/bin"
cp "$out/build/bin/llama-bench" "$out/build/bin/llama-batched-bench" "$out/bin/"
echo "$out/bin"
