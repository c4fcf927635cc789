#!/bin/sh
# man_pages.sh SOURCE_DIR MAP - the man pages match the exported symbols:
#   - every symbol in MAP's global: blocks (read now, so a symbol added to
#     src/coherio.map needs its page at once) has SOURCE_DIR/man/man3/SYM.3,
#     either the page itself or a ".so man3/OTHER.3" link to an existing page,
#     and that page lists SYM in its NAME section and shows "SYM(" (synopsis);
#   - every man3 page is for an exported symbol (no stale pages);
#   - man1/coherio.1 and man7/coherio.7 exist;
#   - every page formats without warnings (groff -ww; skipped, saying so,
#     when groff is not installed).
# Exit 0 when all hold, 1 listing every problem.
set -u
src=$1 map=$2 man=$1/man
bad=0
problem() { echo "FAIL: $*"; bad=1; }

[ -r "$map" ] || { echo "FAIL: cannot read $map"; exit 1; }
# symbols between "global:" and "local:" of each version node
syms=$(awk '/global:/ { g = 1; next } /local:/ { g = 0 } g' "$map" |
	sed -e 's,/\*.*\*/,,g' | tr -d ' \t' | sed -n 's/^\([A-Za-z_][A-Za-z0-9_]*\);$/\1/p' | sort -u)
[ -n "$syms" ] || { echo "FAIL: no symbols found in $map"; exit 1; }
n=0
for s in $syms; do
	n=$((n + 1))
	page=$man/man3/$s.3
	if [ ! -f "$page" ]; then
		problem "$s is exported ($map) but has no man page $page"
		continue
	fi
	target=$(sed -n '1s,^\.so[ \t]*,,p' "$page")
	if [ -n "$target" ]; then
		page=$man/$target
		[ -f "$page" ] || { problem "$s.3 links to $target, which does not exist"; continue; }
	fi
	# NAME: the line after .SH NAME, "a, b, c \- what"
	names=$(awk '/^\.SH NAME/ { getline; print; exit }' "$page" | sed 's/ \\-.*//')
	case ", $names," in *", $s,"*) ;; *) problem "$page: NAME ($names) does not list $s";; esac
	grep -q "$s(" "$page" || problem "$page: no synopsis line for $s("
done
for p in "$man"/man3/*.3; do
	b=$(basename "$p" .3)
	echo "$syms" | grep -qx "$b" || problem "$p documents $b, which $map does not export"
done
for p in "$man/man1/coherio.1" "$man/man7/coherio.7"; do
	[ -f "$p" ] || problem "missing $p"
done
if command -v groff >/dev/null 2>&1; then
	# one groff run over all pages (warnings name the file and line)
	pages=$(for p in "$man"/man1/*.1 "$man"/man3/*.3 "$man"/man7/*.7; do
		head -n1 "$p" | grep -q '^\.so' || echo "$p"; done)
	# shellcheck disable=SC2086
	w=$(LC_ALL=C groff -t -man -ww -z $pages 2>&1)
	[ -z "$w" ] || problem "groff warns: $w"
else
	echo "note: groff not installed: the pages' formatting was not checked"
fi
[ "$bad" = 0 ] && echo "man_pages: $n exported symbols, each with a page; all pages format cleanly"
exit $bad
