#!/bin/sh
# fio_uring.sh COHERIO DATADIR - fio ioengine=io_uring with verify through
# `coherio run` (COHERIO_URING unset: refuse). fio's own ring would read and
# write behind the cache, so io_uring_setup is refused with ENOSYS and the
# job must fail at its start with fio's clear message, never pass or fail a
# verify with data behind the cache. The same job on the kernel passes (the
# control: the job itself is right). Skips (77) without fio or where the
# kernel refuses io_uring.
set -u
cli=$1 dir=$2
command -v fio >/dev/null 2>&1 || { echo "skipped: fio is not installed"; exit 77; }
rm -rf "$dir" && mkdir -p "$dir" && cd "$dir" || exit 1
job="--name=uring --ioengine=io_uring --filename=$dir/data --size=4m --rw=randrw
     --bs=4k --iodepth=8 --verify=crc32c --do_verify=1 --verify_fatal=1 --verify_state_save=0"
# shellcheck disable=SC2086
out=$(fio $job 2>&1)
if [ $? -ne 0 ]; then
	if printf '%s\n' "$out" | grep -q "err=38\|err=1/\|Function not implemented\|Operation not permitted"; then
		echo "skipped: the kernel refuses io_uring here"; exit 77
	fi
	echo "FAIL: the control (fio io_uring on the kernel) failed"; printf '%s\n' "$out" | tail -20; exit 1
fi
rm -f "$dir/data"
# shellcheck disable=SC2086
out=$("$cli" run --paths "$dir" -- fio $job 2>&1)
rc=$?
if printf '%s\n' "$out" | grep -qi "verify.*fail\|bad magic\|crc32c.*wanted"; then
	echo "FAIL: a verify ran (and failed) on a ring behind the cache"; printf '%s\n' "$out" | tail -20; exit 1
fi
if [ $rc -eq 0 ]; then
	echo "FAIL: fio's io_uring job passed through coherio run: its ring was not refused"
	printf '%s\n' "$out" | tail -20; exit 1
fi
if ! printf '%s\n' "$out" | grep -q "err=38.*Function not implemented"; then
	echo "FAIL: fio failed, but not with ENOSYS at io_uring setup (rc $rc)"; printf '%s\n' "$out" | tail -20; exit 1
fi
printf '%s\n' "$out" | grep "err=38" | head -2
echo "ok: fio ioengine=io_uring under coherio run fails at setup with ENOSYS (rc $rc); on the kernel it passes"
exit 0
