#!/bin/sh
# check_wraps.sh NM LIBCOHERIO_A PRELOAD_SO WRAPPED...
# Every libc function that coherio itself calls and that the preload library
# interposes must be wrapped (-Wl,--wrap, pl_wrap.c): otherwise coherio's own
# open()/pwritev()/... would go through the interposers (open of a served
# path would recurse into serving it).
nm=$1 lib=$2 so=$3
shift 3
wrapped=" $* "
[ -r "$lib" ] && [ -r "$so" ] || { echo "missing $lib or $so"; exit 1; }
undef=$("$nm" -u "$lib" | awk 'NF == 2 { print $2 }' | sort -u)
exported=$("$nm" -D --defined-only "$so" | awk '{ print $3 }' | sort -u)
bad=0
for s in $(printf '%s\n' "$undef" | grep -Fx "$exported"); do
	case "$wrapped" in
	*" $s "*) echo "ok: coherio calls $s: wrapped" ;;
	*) echo "FAIL: coherio calls $s, which the preload library interposes, and it is not wrapped"; bad=1 ;;
	esac
done
# and coherio's own API stays private
if printf '%s\n' "$exported" | grep -q '^cio_'; then
	echo "FAIL: the preload library exports cio_* symbols"; bad=1
fi
exit $bad
