#!/bin/sh
# coreutils.sh COHERIO DATADIR - cp, cat, cmp, dd and sha256sum over served
# files (through `coherio run`) give the same bytes as the same commands on
# the kernel, and files outside --paths are untouched.
set -u
cli=$1 dir=$2
fail=0
ck() { if [ "$1" = "$2" ]; then echo "ok: $3"; else echo "FAIL: $3 ('$1' != '$2')"; fail=1; fi; }
sum() { sha256sum < "$1" | cut -d' ' -f1; }

rm -rf "$dir" && mkdir -p "$dir/served" "$dir/plain" || exit 1
S=$dir/served P=$dir/plain
head -c 5000000 /dev/urandom > "$P/src" || exit 1
head -c 1234567 /dev/urandom > "$P/odd" || exit 1
head -c 10000 /dev/urandom > "$P/patch" || exit 1

# the kernel's results
cp "$P/src" "$P/k1"
dd if="$P/patch" of="$P/k1" bs=1000 seek=3 conv=notrunc status=none
dd if="$P/odd" of="$P/k2" bs=7777 status=none
ksum_src=$(sum "$P/src") ksum_k1=$(sum "$P/k1") ksum_odd=$(sum "$P/odd")

# the same through coherio, all in one process tree (the shell is served too)
"$cli" run --paths "$S" --stats -- sh -c '
	set -e
	S=$1 P=$2
	cp "$P/src" "$S/a"
	cp "$S/a" "$S/b"
	cmp "$S/a" "$S/b"
	cmp "$S/b" "$P/src"
	cat "$S/b" > "$S/c"
	cat "$S/c" "$S/c" > "$P/cat2"
	cp "$P/src" "$S/k1"
	dd if="$P/patch" of="$S/k1" bs=1000 seek=3 conv=notrunc status=none
	dd if="$P/odd" of="$S/k2" bs=7777 status=none
	dd if="$S/k2" of="$S/k3" bs=1M iflag=fullblock status=none
	sha256sum "$S/a" "$S/b" "$S/c" "$S/k1" "$S/k2" "$S/k3" > "$P/sums"
	cmp "$S/k3" "$P/odd"
' sh "$S" "$P" > "$P/run.out" 2> "$P/run.err"
rc=$?
ck "$rc" 0 "the commands ran under coherio run"
[ "$rc" = 0 ] || cat "$P/run.err"
# sha256sum through coherio agrees with the kernel's
ck "$(awk 'NR==1{print $1}' "$P/sums")" "$ksum_src" "sha256sum (coherio) of cp'd file"
ck "$(awk 'NR==4{print $1}' "$P/sums")" "$ksum_k1" "sha256sum (coherio) of dd conv=notrunc"
ck "$(awk 'NR==5{print $1}' "$P/sums")" "$ksum_odd" "sha256sum (coherio) of dd bs=7777"
# and the files, read by the kernel afterwards
for f in a b c; do ck "$(sum "$S/$f")" "$ksum_src" "kernel reads $f as written"; done
ck "$(sum "$S/k1")" "$ksum_k1" "kernel reads the dd-patched file"
ck "$(sum "$S/k2")" "$ksum_odd" "kernel reads dd bs=7777 output"
ck "$(sum "$S/k3")" "$ksum_odd" "kernel reads dd iflag=fullblock output"
ck "$(sum "$P/cat2")" "$( (cat "$P/src" "$P/src") | sha256sum | cut -d' ' -f1)" "cat of a served file to a plain one"
ck "$(sum "$P/src")" "$ksum_src" "the unserved source is untouched"
served=$(grep -c 'served opens' "$P/run.err")
[ "$served" -ge 1 ] && echo "ok: $served --stats lines" || { echo "FAIL: no --stats output"; fail=1; }
grep -q 'coherio: pid [0-9]*: [1-9][0-9]* served opens' "$P/run.err" ||
	{ echo "FAIL: no program had a served open"; fail=1; }
grep "served opens" "$P/run.err"
[ $fail = 0 ] && rm -rf "$dir"
exit $fail
