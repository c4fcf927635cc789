#!/usr/bin/env bash
# scripts/skip_reasons.sh CTEST_OUTPUT BUILD_DIR - print why each skipped test
# skipped. ctest shows only "***Skipped" on the console; the reason is in the
# test's output, which ctest keeps in BUILD_DIR/Testing/Temporary/LastTest.log.
# For each test that CTEST_OUTPUT (ctest's console output) lists as
# "(Skipped)", take the last output line that mentions "skip" (else the last
# output line) and print one line per distinct reason with the tests it
# covers:
#   skipped (3): preload_fio_verify, preload_coreutils, ...: <reason>
set -uo pipefail
out=$1 log=$2/Testing/Temporary/LastTest.log

names=$(sed -nE 's/^[[:space:]]*[0-9]+ - (.+) \((Skipped|Not Run)\)$/\1/p' "$out")
[ -n "$names" ] || exit 0
if [ ! -r "$log" ]; then
	echo "  skipped: $(echo $names) (no $log to read the reasons from)"
	exit 0
fi
awk -v names="$names" '
BEGIN { n = split(names, list, "\n"); for (i = 1; i <= n; i++) want[list[i]] = 1 }
/^[0-9]+\/[0-9]+ Test: / { name = $0; sub(/^[0-9]+\/[0-9]+ Test: /, "", name); next }
/^Output:$/ { inout = 0; pending = 1; next }
pending && /^-+$/ { pending = 0; inout = 1; last = ""; lastskip = ""; next }
inout && /^<end of output>$/ {
	inout = 0
	if (name in want) {
		r = lastskip != "" ? lastskip : last
		if (r == "") r = "(the test printed no reason)"
		if (!(r in cnt)) order[++nr] = r
		cnt[r]++
		tests[r] = tests[r] (cnt[r] > 1 ? ", " : "") name
		seen[name] = 1
	}
	next
}
inout { if ($0 != "") last = $0; if (tolower($0) ~ /skip/) lastskip = $0 }
END {
	for (i = 1; i <= nr; i++) {
		r = order[i]; t = tests[r]
		if (length(t) > 160) t = substr(t, 1, 157) "..."
		printf "  skipped (%d): %s: %s\n", cnt[r], t, r
	}
	for (i = 1; i <= n; i++)
		if (list[i] != "" && !(list[i] in seen)) miss = miss (miss != "" ? ", " : "") list[i]
	if (miss != "") printf "  skipped: %s: (no output in %s)\n", miss, FILENAME
}' "$log"
