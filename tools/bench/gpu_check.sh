#!/usr/bin/env bash
# tools/bench/gpu_check.sh — build ptio with its Python package on a GPU machine that has no
# Debian packages and no network, run the python- and gpu-labelled tests and the Python
# benchmark there, and leave the results in $OUT.
#
#   tools/bench/gpu_check.sh stage [DEPS]   here, on Debian 12 with tools/dev's packages:
#       copy what the build needs and such a machine lacks into DEPS (default .gpu-deps, which
#       must be ignored by git and carried to the machine): the header-only libraries (the
#       Boost headers ptio includes, nlohmann_json, CLI11, doctest) with their CMake package
#       files, zlib's headers (its shared library is everywhere; a static one would not go
#       into the Python module) and libcrypto as headers plus its static library (~14 MB)
#   tools/bench/gpu_check.sh run [DEPS]     there, from the repository's root: configure
#       build-gpu/ against that machine's python3 (its torch, pybind11 and CUDA toolkit) and
#       DEPS, build the library, CLI, Python module and CUDA tests, run `ctest -L 'python|gpu'`
#       (the fixtures are written first, by that machine's torch), then
#       tools/bench/python_load.py on cpu and cuda:0 with the C++ `ptio bench` beside it
#
# run writes into $OUT (default ./gpu-check-out): summary.txt (machine, versions, each step's
# status), build.log, ctest.log, bench.txt (the table) and bench.json. Knobs (environment):
# PTIO_GPU_STEPS (default "build test bench"), PTIO_GPU_BIG_MB (the big file, default 1000),
# PTIO_GPU_REPEAT (default 5), PTIO_GPU_JOBS (default nproc), PTIO_GPU_CUDA (PTIO_WITH_CUDA,
# default ON). Exits 1 if any step failed.
#
# On the device tool: stage here once, then one call `tools/bench/gpu_check.sh run` with carry
# [".gpu-deps"] (build and tests take minutes on 16 cores, the 1 GB benchmark a few more); to
# stay inside one call's 10 minutes, split it: PTIO_GPU_STEPS="build test", then, on the same
# warm machine (build-gpu/ is ignored by git, so it stays there), PTIO_GPU_STEPS=bench.
# Where python3 lacks its development headers (Python.h) the build step says so in build.log.
set -uo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
say() { printf '[gpu_check] %s\n' "$*"; }
die() { printf '[gpu_check] error: %s\n' "$*" >&2; exit 1; }

# --- stage: here ------------------------------------------------------------------------------

copy_headers_used_by() {  # the Boost headers that these sources reach, nothing more
    local deps="$1"; shift
    local f
    for f in "$@"; do
        g++ -std=c++20 -M -I"$root/src" -I"$root/include" -I"$root/build/include" \
            "$f" 2>/dev/null
    done | tr ' \\' '\n\n' | grep -E '^/usr/include/boost/' | sort -u |
        while read -r h; do
            mkdir -p "$deps/include/$(dirname "${h#/usr/include/}")"
            cp "$h" "$deps/include/${h#/usr/include/}"
        done
}

cmd_stage() {
    local deps="${1:-$root/.gpu-deps}" arch=/usr/lib/x86_64-linux-gnu
    [ -f /usr/include/boost/version.hpp ] || die "stage needs libboost-dev (tools/dev build installs it)"
    rm -rf "$deps"
    mkdir -p "$deps/include" "$deps/lib/cmake" "$deps/share/cmake"
    # a generated header (ptio/version.hpp) may be missing; -M then still lists what it reaches
    mapfile -t users < <(grep -rl '#include <boost/' "$root/src" "$root/tools" "$root/tests" \
                         --include='*.cpp' --include='*.hpp')
    copy_headers_used_by "$deps" "${users[@]}"
    cp /usr/include/boost/version.hpp "$deps/include/boost/"  # FindBoost reads it
    cp -r /usr/include/nlohmann /usr/include/CLI /usr/include/doctest "$deps/include/"
    cp -r /usr/include/openssl "$deps/include/"
    cp /usr/include/x86_64-linux-gnu/openssl/*.h "$deps/include/openssl/"  # multiarch config
    cp /usr/include/zlib.h /usr/include/zconf.h "$deps/include/"
    cp "$arch/libcrypto.a" "$deps/lib/"
    cp -r /usr/share/cmake/nlohmann_json /usr/share/cmake/CLI11 "$deps/share/cmake/"
    cp -r /usr/lib/cmake/doctest "$deps/lib/cmake/"
    # Debian's doctest package files name /usr; make them find DEPS from where they lie
    sed -i 's|^set(_IMPORT_PREFIX "/usr")|get_filename_component(_IMPORT_PREFIX "${CMAKE_CURRENT_LIST_DIR}/../../.." ABSOLUTE)|' \
        "$deps/lib/cmake/doctest/doctestTargets.cmake"
    say "staged $(du -sh "$deps" | cut -f1) in $deps; carry it to the GPU machine"
}

# --- run: there -------------------------------------------------------------------------------

declare -A status=()
record() { status[$1]=$2; say "$1: $2"; }

step_build() {
    local deps="$1" build="$2" python pybind
    python="$(command -v python3)" || { record build "no python3"; return 1; }
    local args=(-S "$root" -B "$build" -G Ninja -DPTIO_WERROR=OFF -DPTIO_PYTHON="$python"
                -DPTIO_BUILD_PYTHON=ON -DPTIO_WITH_CUDA="${PTIO_GPU_CUDA:-ON}"
                -DPTIO_BUILD_BENCHMARKS=OFF)
    # pip's pybind11 says where its CMake files are; a system one is found without help
    if pybind="$("$python" -m pybind11 --cmakedir 2>/dev/null)"; then
        args+=(-Dpybind11_DIR="$pybind")
    fi
    if [ -d "$deps" ]; then
        args+=(-DCMAKE_PREFIX_PATH="$deps" -DBoost_INCLUDE_DIR="$deps/include" -DBoost_NO_BOOST_CMAKE=ON
               -DOPENSSL_ROOT_DIR="$deps" -DOPENSSL_USE_STATIC_LIBS=TRUE)
        local libz
        libz="$(ldconfig -p 2>/dev/null | awk '/libz\.so\.1 .*x86-64/ { print $NF; exit }')"
        [ -n "$libz" ] || libz="$(ls /usr/lib/x86_64-linux-gnu/libz.so.1 /lib/x86_64-linux-gnu/libz.so.1 2>/dev/null | head -1)"
        [ -n "$libz" ] || { record build "no libz.so.1 on this machine"; return 1; }
        args+=(-DZLIB_INCLUDE_DIR="$deps/include" -DZLIB_LIBRARY="$libz")
    fi
    {
        cmake "${args[@]}" &&
            cmake --build "$build" -j "$jobs" --target ptio_cli ptio_python ptio_gpu_tests
    } >"$OUT/build.log" 2>&1
    local rc=$?
    record build "$([ $rc -eq 0 ] && echo ok || echo "failed ($rc): see build.log")"
    return $rc
}

step_test() {
    local build="$1"
    # -L selects the python and gpu entries; their fixture setups (fixtures.*) come with them
    ctest --test-dir "$build" -L 'python|gpu' --output-on-failure -j 4 >"$OUT/ctest.log" 2>&1
    local rc=$?
    record test "$([ $rc -eq 0 ] && echo ok || echo "failed ($rc)"): $(grep -E 'tests passed|tests failed' "$OUT/ctest.log" | tail -1)"
    return $rc
}

step_bench() {
    local build="$1" work=/tmp/ptio-gpu-bench
    PYTHONUNBUFFERED=1 python3 "$root/tools/bench/python_load.py" --ptio "$build/tools/ptio/ptio" \
        --pythonpath "$build/python" --big-mb "${PTIO_GPU_BIG_MB:-1000}" \
        --repeat "${PTIO_GPU_REPEAT:-5}" --json "$OUT/bench.json" "$work" >"$OUT/bench.txt" 2>&1
    local rc=$?
    rm -rf "$work"
    record bench "$([ $rc -eq 0 ] && echo ok || echo "failed ($rc): see bench.txt")"
    return $rc
}

cmd_run() {
    local deps="${1:-$root/.gpu-deps}" build="$root/build-gpu"
    OUT="${OUT:-$root/gpu-check-out}"
    jobs="${PTIO_GPU_JOBS:-$(nproc)}"
    mkdir -p "$OUT"
    {
        date -u
        nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>&1
        python3 -c 'import sys, torch; print("python", sys.version.split()[0], "torch", torch.__version__,
                    "cuda", torch.version.cuda, "available", torch.cuda.is_available())' 2>&1
        cmake --version | head -1
        command -v nvcc >/dev/null && nvcc --version | tail -1
        echo "nproc $(nproc)"
    } >"$OUT/summary.txt"
    local steps="${PTIO_GPU_STEPS:-build test bench}" failed=0 s
    for s in $steps; do
        case "$s" in
            build) step_build "$deps" "$build" || { failed=1; break; } ;;
            test) step_test "$build" || failed=1 ;;
            bench) step_bench "$build" || failed=1 ;;
            *) die "unknown step '$s' (build, test, bench)" ;;
        esac
    done
    for s in "${!status[@]}"; do echo "$s: ${status[$s]}"; done >>"$OUT/summary.txt"
    [ -f "$OUT/bench.txt" ] && grep -E '^\||C\+\+ ptio bench' "$OUT/bench.txt"
    return $failed
}

command="${1:-}"
[ "$#" -eq 0 ] || shift
case "$command" in
    stage) cmd_stage "$@" ;;
    run) cmd_run "$@" ;;
    *)
        awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"
        if [ -n "$command" ]; then exit 2; fi ;;
esac
