#!/bin/bash
# peers.sh - rerun docs/peers.md's table: other projects' test programs
# (xfstests' aio-dio-regress and fsx, LTP's ltp-aiodio and fsx-linux) on the
# kernel and through `coherio run` on each engine.
#
# usage: scripts/peers.sh [--engines "sync threads uring"] [--only REGEX]
#                         COHERIO_CLI PROGRAM_DIR SCRATCH_DIR
#
# The programs are not ours and are never built here: build them yourself
# (docs/peers.md says how) and lay them out as PROGRAM_DIR/xfstests/NAME and
# PROGRAM_DIR/ltp/NAME (or point PROGRAM_DIR/xfstests and PROGRAM_DIR/ltp at
# built xfstests and LTP trees). A row whose program is missing is skipped.
# SCRATCH_DIR is a directory on a local file system with O_DIRECT (ext4);
# each row runs in a fresh subdirectory of it, removed afterwards.
#
# Each row runs once on the kernel and once per engine under
# `COHERIO_CLI run --paths SCRATCH_DIR --engine E`; one line per run:
#   ok | FAIL | known (fails as the table records, waiting for an issue) |
#   skip (the kernel run failed too: not a coherio result) |
#   FIXED? (a known row passed: update the table).
# Exit status: 0 when every row that passes on the kernel passes through
# coherio except the known rows, 1 otherwise, 77 when no program is present.
set -u

engines="sync threads uring"
only=""
while [ $# -gt 0 ]; do
	case "$1" in
	--engines) engines="$2"; shift 2 ;;
	--only) only="$2"; shift 2 ;;
	--) shift; break ;;
	-*) echo "peers.sh: unknown option $1" >&2; exit 2 ;;
	*) break ;;
	esac
done
if [ $# -ne 3 ]; then
	sed -n '6,7p' "$0" | sed 's/^# \{0,1\}//' >&2
	exit 2
fi
cli=$(readlink -f "$1"); progs=$(readlink -f "$2"); scratch=$(readlink -f "$3")
[ -x "$cli" ] || { echo "peers.sh: $1 is not an executable coherio CLI" >&2; exit 2; }
mkdir -p "$scratch" || exit 2

# Rows: id | suite | program | seconds | mode | known | arguments
#   mode: exit  - passes when the program exits 0;
#         timed - the program loops until it fails or is stopped: passes when
#                 it exits 0 or is still running without error after SECONDS
#                 (xfstests' generic/451 runs aio-dio-cycle-write this way).
#   known: "-" or ENGINES:ISSUE (ENGINES = all or a comma list) - the rows
#          docs/peers.md lists as failing through coherio for a known reason.
#   arguments: @F is a file in the row's scratch directory, @S a 1 MiB
#          file of random data made there first, @E an empty file made
#          there first (when both are given, @E must end equal to @S).
#   LTP programs get TMPDIR=the row's scratch directory.
rows() {
	cat <<'EOF'
x01|xfstests|aio-dio-extend-stat|60|exit|-|@F
x02|xfstests|aio-dio-fcntl-race|60|exit|-|@F
x03|xfstests|aio-dio-invalidate-failure|15|timed|-|@F
x04|xfstests|aio-dio-invalidate-readahead|15|timed|-|@F
x05|xfstests|aio-dio-subblock-eof-read|60|exit|-|@F
x06|xfstests|aio-io-setup-with-nonwritable-context-pointer|60|exit|-|@F
x07|xfstests|aio-dio-eof-race|60|exit|-|@F
x08|xfstests|aio-dio-append-write-fallocate-race|60|exit|-|@F 100
x09|xfstests|aio-dio-append-write-read-race|60|exit|-|-a 512 -d @F
x10|xfstests|aio-dio-append-write-read-race|60|exit|-|-a 4096 @F
x11|xfstests|aio-dio-hole-filling-race|60|exit|-|@F
x12|xfstests|aio-last-ref-held-by-io|15|timed|-|0 100 @S
x13|xfstests|aio-last-ref-held-by-io|15|timed|-|1 100 @S
x14|xfstests|aio-dio-write-verify|60|exit|-|-a size=8192,off=0 -a size=8192,off=8192 @F
x15|xfstests|aio-dio-write-verify|60|exit|-|-t 8704 -a size=8192,off=512 -a size=8192,off=1024 @F
x16|xfstests|aio-dio-cycle-write|10|timed|-|-c 999999 -b 65536 @F
x17|xfstests|aiodio_sparse2|60|exit|all:10|@F
x18|xfstests|aiodio_sparse2|60|exit|all:10|-i 2 -w 4096 -s 32768 -n 4096 -o 512 @F
x19|xfstests|aiocp|60|exit|-|-a 4096 -f DIRECT -b 65536 @S @E
x20|xfstests|aiocp|60|exit|-|-b 65536 @S @E
f01|xfstests|fsx|120|exit|-|-N 10000 -l 500000 -r 4096 -t 512 -w 512 -Z -R -W @F
f02|xfstests|fsx|120|exit|-|-N 10000 -l 500000 -r 4096 -t 512 -w 512 -Z -R -W -E @F
f03|xfstests|fsx|60|exit|-|-N 10000 -l 500000 -R -W @F
f04|xfstests|fsx|120|exit|-|-N 10000 -l 500000 -R -W -E @F
f05|xfstests|fsx|120|exit|-|-N 10000 -l 500000 -r 4096 -t 512 -w 512 -Z -A -R -W -E @F
f06|xfstests|fsx|120|exit|-|-N 10000 -l 500000 -r 4096 -t 512 -w 512 -Z -A -R -W @F
f07|xfstests|fsx|60|exit|all:15|-N 10000 -l 500000 -r 4096 -t 512 -w 512 -Z -U -R -W -E @F
f08|xfstests|fsx|120|exit|all:10|-N 10000 -l 500000 -E @F
l01|ltp|aiodio_sparse|60|exit|all:10|-o 2 -w 4k -s 8k -n 2
l02|ltp|aiodio_sparse|60|exit|all:10|-o 4 -w 128k -s 512k -n 6
l03|ltp|dio_sparse|60|exit|all:10|-w 4k -s 2k -o 2k -n 2
l04|ltp|dio_sparse|60|exit|all:10|-w 512k -s 512k -n 6
l05|ltp|aiodio_append|60|exit|-|
l06|ltp|dio_append|60|exit|-|-n 4 -c 1000
l07|ltp|dio_truncate|60|exit|-|-n 1 -c 20
l08|ltp|dio_read|60|exit|-|-n 1 -i 4 -r 512k -w 512k -s 8M
l09|ltp|aio-stress|60|exit|-|-o2 -r4k -f1 -s 16m
l10|ltp|aio-stress|60|exit|-|-o3 -O -r64k -t4 -f4 -s 16m
l11|ltp|aiocp|60|exit|-|-b 4k -n 8 -f DIRECT
l12|ltp|fsx-linux|60|exit|all:10|-l 500000 -r 4096 -t 4096 -w 4096 -N 10000
EOF
}

# find_prog SUITE NAME: the program's path, or nothing.
find_prog() {
	local c
	for c in "$progs/$1/$2" "$progs/$1/src/aio-dio-regress/$2" "$progs/$1/ltp/$2" \
		"$progs/$1/testcases/kernel/io/ltp-aiodio/$2" \
		"$progs/$1/testcases/kernel/fs/fsx-linux/$2"; do
		if [ -f "$c" ] && [ -x "$c" ]; then echo "$c"; return; fi
	done
}

# run_one DIR SUITE PROG SECONDS MODE ARGS [ENGINE]: 0 pass, 1 fail; the
# output is left in DIR.log.
run_one() {
	local dir=$1 suite=$2 prog=$3 secs=$4 mode=$5 args=$6 engine=${7:-} rc a
	local -a argv=() pre=()
	rm -rf "$dir" && mkdir -p "$dir" || return 1
	for a in $args; do
		case "$a" in
		*@F*) argv+=("${a//@F/$dir/file}") ;;
		*@S*) head -c 1048576 /dev/urandom > "$dir/src" || return 1
		      argv+=("${a//@S/$dir/src}") ;;
		*@E*) : > "$dir/file" || return 1
		      argv+=("${a//@E/$dir/file}") ;;
		*) argv+=("$a") ;;
		esac
	done
	[ -n "$engine" ] && pre=("$cli" run --paths "$dir" --engine "$engine" --)
	(cd "$dir" && TMPDIR="$dir" timeout -k 5 "$secs" "${pre[@]}" "$prog" "${argv[@]}") \
		> "$dir.log" 2>&1
	rc=$?
	echo "exit $rc" >> "$dir.log"
	if [ "$rc" -ne 0 ] && ! { [ "$mode" = timed ] && [ "$rc" -eq 124 ]; }; then
		return 1
	fi
	case "$args" in
	*@S*@E*) cmp "$dir/src" "$dir/file" >> "$dir.log" 2>&1 || return 1 ;;
	esac
	return 0
}

# known_for KNOWN ENGINE: the issue the row waits for on ENGINE, or nothing.
known_for() {
	local engs=${1%%:*} issue=${1#*:}
	[ "$1" = "-" ] && return
	case ",$engs," in
	*,all,*|*,"$2",*) echo "$issue" ;;
	esac
}

found=0 bad=0
logs="$scratch/peers-logs"
mkdir -p "$logs"
while IFS='|' read -r id suite name secs mode known args; do
	[ -n "$only" ] && ! [[ "$id $name" =~ $only ]] && continue
	prog=$(find_prog "$suite" "$name")
	if [ -z "$prog" ]; then
		echo "skip $id $suite/$name: not in $progs"
		continue
	fi
	found=1
	if ! run_one "$scratch/$id-kernel" "$suite" "$prog" "$secs" "$mode" "$args"; then
		echo "skip $id kernel: $name $args fails on the kernel too ($(tail -1 "$scratch/$id-kernel.log"); see $logs/$id-kernel.log)"
		mv "$scratch/$id-kernel.log" "$logs/"
		rm -rf "$scratch/$id-kernel"
		continue
	fi
	echo "ok   $id kernel: $name $args"
	rm -rf "$scratch/$id-kernel" "$scratch/$id-kernel.log"
	for e in $engines; do
		issue=$(known_for "$known" "$e")
		d="$scratch/$id-$e"
		if run_one "$d" "$suite" "$prog" "$secs" "$mode" "$args" "$e"; then
			if [ -n "$issue" ]; then
				echo "FIXED? $id $e: passes, the table says it waits for issue $issue"
			else
				echo "ok   $id $e"
			fi
			rm -f "$d.log"
		elif [ -n "$issue" ]; then
			echo "known $id $e: fails ($(tail -1 "$d.log")), waits for issue $issue"
			mv "$d.log" "$logs/"
		else
			echo "FAIL $id $e: $name $args ($(tail -1 "$d.log"); see $logs/$id-$e.log)"
			mv "$d.log" "$logs/"
			bad=1
		fi
		rm -rf "$d"
	done
done < <(rows)

if [ "$found" -eq 0 ]; then
	echo "peers.sh: skipped: no program of the table is in $progs (docs/peers.md says how to build them)"
	exit 77
fi
[ "$bad" -eq 0 ] && echo "peers.sh: every row that passes on the kernel passes through coherio (or is known)"
exit "$bad"
