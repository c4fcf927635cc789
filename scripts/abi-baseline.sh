#!/usr/bin/env bash
# scripts/abi-baseline.sh [BUILD_DIR] - write the ABI baseline abi/libcoherio.abi
# that the abi_matches_baseline test compares against (docs/abi.md). Builds
# libcoherio.so as the plain CI build does (RelWithDebInfo with gcc, no
# sanitizer) in BUILD_DIR (default build-abi), then dumps it with abidw
# (Debian: abigail-tools). Run it after a release, after a soname bump, or
# (before the first release) after adding an exported function; commit the
# result.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
dir=${1:-build-abi}
command -v abidw >/dev/null || { echo "abi-baseline.sh: abidw not found (apt-get install abigail-tools)" >&2; exit 1; }
cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCOHERIO_SANITIZE= >/dev/null
cmake --build "$dir" --target coherio -j "$(nproc 2>/dev/null || echo 2)" >/dev/null
mkdir -p abi
# the same options as tests/ecosystem/abi_check.sh
abidw --headers-dir include --drop-private-types --no-show-locs --no-comp-dir-path \
	--no-corpus-path --out-file abi/libcoherio.abi "$dir/libcoherio.so"
echo "abi-baseline.sh: wrote abi/libcoherio.abi ($(grep -c '<elf-symbol ' abi/libcoherio.abi) symbols," \
     "soname $(sed -n "s/^<abi-corpus [^>]*soname='\([^']*\)'.*/\1/p" abi/libcoherio.abi))"
