#!/bin/sh
# abi_check.sh BASELINE LIBRARY INCLUDE_DIR - compare the ABI that LIBRARY
# (libcoherio.so) exports with the committed BASELINE (abi/libcoherio.abi,
# written by scripts/abi-baseline.sh) using libabigail, by the rules of
# docs/abi.md. With the same soname as the baseline it fails on:
#   - a removed or incompatibly changed function or variable (abidiff's
#     "incompatible" bit), or any change to an existing one (a public struct
#     grown, a parameter's type changed: abidiff's "ABI change" bit with a
#     Changed count above 0);
#   - a symbol added to a version node that the baseline already has (a
#     released node is frozen: new symbols go in a new COHERIO_x.y node).
# Added symbols in a new node pass (and say the baseline wants regenerating).
# A changed soname passes whatever changed: that is what a soname bump is for.
# Only types defined in INCLUDE_DIR's public headers count.
# Exit 0 compatible, 1 not (with abidiff's report), 77 when abigail-tools is
# not installed.
set -u
base=$1 lib=$2 inc=$3
for t in abidw abidiff; do
	command -v "$t" >/dev/null 2>&1 || {
		echo "skipped: $t not found (Debian: apt-get install abigail-tools)"; exit 77; }
done
[ -r "$base" ] || { echo "FAIL: no baseline $base (make one: scripts/abi-baseline.sh)"; exit 1; }
[ -r "$lib" ] || { echo "FAIL: no library $lib"; exit 1; }
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT

if ! readelf -S "$lib" | grep -q '\.debug_info'; then
	echo "note: $lib has no debug info: only symbols are compared, not types"
fi
# the same options as scripts/abi-baseline.sh
abidw --headers-dir "$inc" --drop-private-types --no-show-locs --no-comp-dir-path \
	--no-corpus-path --out-file "$tmp/now.abi" "$lib" || { echo "FAIL: abidw $lib failed"; exit 1; }

soname() { sed -n "s/^<abi-corpus [^>]*soname='\([^']*\)'.*/\1/p" "$1" | head -n1; }
s_base=$(soname "$base") s_now=$(soname "$tmp/now.abi")
echo "baseline soname $s_base, this library $s_now"

abidiff "$base" "$tmp/now.abi" >"$tmp/diff" 2>&1
rc=$?
cat "$tmp/diff"
if [ $((rc & 3)) -ne 0 ]; then
	echo "FAIL: abidiff could not compare (exit $rc)"
	exit 1
fi
if [ "$s_base" != "$s_now" ]; then
	echo "abi: soname changed from $s_base to $s_now: incompatible changes are allowed;" \
	     "make the new baseline with scripts/abi-baseline.sh"
	exit 0
fi
bad=0
if [ $((rc & 8)) -ne 0 ]; then
	echo "FAIL: incompatible ABI change (removed or changed interface) without a soname bump (docs/abi.md)"
	bad=1
fi
changed=$(sed -n 's/^Functions changes summary: [0-9]* Removed, \([0-9]*\) Changed.*/\1/p' "$tmp/diff")
vchanged=$(sed -n 's/^Variables changes summary: [0-9]* Removed, \([0-9]*\) Changed.*/\1/p' "$tmp/diff")
if [ $((rc & 4)) -ne 0 ] && [ "${changed:-0}${vchanged:-0}" != "00" ]; then
	echo "FAIL: an exported interface changed (${changed:-0} functions, ${vchanged:-0} variables) without a soname bump (docs/abi.md)"
	bad=1
fi
# symbols added to a version node the baseline already has
syms() { sed -n "s/.*<elf-symbol name='\([^']*\)' version='\([^']*\)'.*/\1 \2/p" "$1" | sort -u; }
syms "$base" >"$tmp/s_base"
syms "$tmp/now.abi" >"$tmp/s_now"
cut -d' ' -f2 "$tmp/s_base" | sort -u >"$tmp/v_base"
comm -13 "$tmp/s_base" "$tmp/s_now" >"$tmp/added"
while read -r sym ver; do
	if grep -qx "$ver" "$tmp/v_base"; then
		echo "FAIL: $sym was added to version node $ver, which the baseline already has;" \
		     "a released node is frozen: put it in the node of the coming release (docs/abi.md)"
		bad=1
	else
		echo "abi: $sym added in the new node $ver (compatible)"
	fi
done <"$tmp/added"
[ "$bad" = 0 ] || exit 1
if [ -s "$tmp/added" ]; then
	echo "abi: compatible additions; once released, record them: scripts/abi-baseline.sh"
fi
echo "abi: compatible with the baseline"
exit 0
