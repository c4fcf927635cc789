#!/bin/sh
# run_cli.sh COHERIO PRELOAD_SO DATADIR - `coherio run`: options, the
# environment it sets up (LD_PRELOAD first, absolute COHERIO_PATHS, cache,
# engine, stats), finding the library, exit codes, --stats output.
set -u
cli=$1 so=$2 dir=$3
fail=0
ck() { if [ "$1" = "$2" ]; then echo "ok: $3"; else echo "FAIL: $3 ('$1' != '$2')"; fail=1; fi; }
rm -rf "$dir" && mkdir -p "$dir/served" || exit 1
cd "$dir" || exit 1

"$cli" run --help | grep -q "^usage: coherio run"; ck $? 0 "--help"
"$cli" run --engine foo -- true 2>/dev/null; ck $? 2 "bad --engine is a usage error"
"$cli" run --cache lots -- true 2>/dev/null; ck $? 2 "bad --cache is a usage error"
"$cli" run --bogus -- true 2>/dev/null; ck $? 2 "unknown option"
"$cli" run 2>/dev/null; ck $? 2 "no program"
"$cli" run -- /nonexistent/program 2>/dev/null; ck $? 127 "missing program: 127"
COHERIO_PRELOAD=/nonexistent.so "$cli" run -- true 2>/dev/null; ck $? 2 "COHERIO_PRELOAD that does not exist"
"$cli" run -- sh -c 'exit 7'; ck $? 7 "the program's exit status"

env=$(LD_PRELOAD= "$cli" run --paths served:/x/y --cache 32M --engine sync --stats -- \
	sh -c 'printf "%s|%s|%s|%s|%s" "$LD_PRELOAD" "$COHERIO_PATHS" "$COHERIO_CACHE" "$COHERIO_ENGINE" "$COHERIO_STATS"' 2>/dev/null)
lib=${env%%|*}
case "$lib" in /*) ck ok ok "LD_PRELOAD is absolute ($lib)";; *) ck "$lib" "/..." "LD_PRELOAD absolute";; esac
[ -r "$lib" ]; ck $? 0 "LD_PRELOAD names a readable file"
ck "$(basename "$lib")" "libcoherio-preload.so" "it is the preload library"
ck "$(echo "$env" | cut -d'|' -f2)" "$(pwd)/served:/x/y" "COHERIO_PATHS made absolute"
ck "$(echo "$env" | cut -d'|' -f3-5)" "32M|sync|1" "COHERIO_CACHE, COHERIO_ENGINE, COHERIO_STATS"

kept=$(LD_PRELOAD=/lib/other.so "$cli" run -- sh -c 'echo "$LD_PRELOAD"' 2>/dev/null)
ck "${kept#*:}" "/lib/other.so" "an existing LD_PRELOAD is kept, after ours"

viaenv=$(COHERIO_PRELOAD="$so" "$cli" run -- sh -c 'echo "$LD_PRELOAD"')
ck "$viaenv" "$(realpath "$so")" "COHERIO_PRELOAD picks the library"

echo data > served/f
err=$("$cli" run --paths served --cache 32M --engine sync --stats -- cat served/f 2>&1 >/dev/null)
echo "$err" | grep -q "1 served opens; engine sync; cache [0-9]* pages of 4096 B (3[12]\.[0-9] MiB)"
ck $? 0 "--stats prints the cache statistics at exit: $(echo "$err" | head -1)"
out=$("$cli" run --paths served -- cat served/f 2>&1)
ck "$out" "data" "without --stats nothing is printed"

cd / && [ $fail = 0 ] && rm -rf "$dir"
exit $fail
