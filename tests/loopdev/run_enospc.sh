#!/bin/sh
# run_enospc.sh COHERIO MOUNTDIR FSTYPE PHASE - real ENOSPC through
# `coherio run` (run by loopdev.sh on a fresh file system; PHASE is "live"):
# with the file system full, `cp` of 1 MiB into a served file fails and says
# so (a refused write and/or ENOSPC from its last close: the program is
# told, it never sees success); after space is freed the same cp succeeds
# and the kernel reads the file as written. (cp, not dd: dd writes through
# fd 1, which the preload library leaves to the kernel, see its README.)
set -u
cli=$1 mnt=$2
fail=0
# Outside the file system that is about to be full.
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
ck() { if [ "$1" = "$2" ]; then echo "ok: $3"; else echo "FAIL: $3 ('$1' != '$2')"; fail=1; fi; }

mkdir "$mnt/served" || exit 1
head -c 1048576 /dev/urandom >"$mnt/src" || exit 1
sync

# Fill it: fallocate in halving chunks, then probe blocks until one fails.
: >"$mnt/probe" || exit 1
chunk=$(stat -f -c '%a %S' "$mnt" | awk '{ printf "%d", $1 * $2 }')
i=0
while [ "$chunk" -ge 4096 ]; do
	if fallocate -l "$chunk" "$mnt/filler.$i" 2>/dev/null; then
		i=$((i + 1))
	else
		rm -f "$mnt/filler.$i"
		chunk=$((chunk / 2))
	fi
done
n=0
while dd if=/dev/zero of="$mnt/probe" bs=4096 count=1 seek=$n oflag=direct conv=notrunc status=none 2>/dev/null; do
	n=$((n + 1))
	[ $n -lt 4096 ] || { echo "FAIL: the file system does not fill"; exit 1; }
done
echo "full after $i filler files and $n probe blocks"

# Two caches: 512 KiB fills with unwritable dirty pages before the end of
# the copy (a write is refused), 4 MiB takes the whole copy and its last
# close reports the failed write-back.
for cache in 512K 4M; do
	"$cli" run --paths "$mnt/served" --cache $cache -- cp "$mnt/src" "$mnt/served/f" 2>"$tmp/err"
	rc=$?
	echo "coherio run --cache $cache cp on the full file system: exit $rc: $(cat "$tmp/err")"
	if [ "$rc" != 0 ]; then ck 1 1 "cp fails (cache $cache)"; else ck "$rc" "non-zero" "cp fails (cache $cache)"; fi
	grep -q "failed to close.*No space left on device" "$tmp/err"
	ck $? 0 "cp's close reports ENOSPC (cache $cache)"
done

rm -f "$mnt"/filler.* "$mnt/probe"
"$cli" run --paths "$mnt/served" --cache 512K -- cp "$mnt/src" "$mnt/served/f" 2>"$tmp/err"
ck $? 0 "cp succeeds once space is freed"
cat "$tmp/err"
cmp "$mnt/src" "$mnt/served/f"
ck $? 0 "the kernel reads the file as cp wrote it"
exit $fail
