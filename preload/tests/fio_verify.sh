#!/bin/sh
# fio_verify.sh COHERIO DATADIR - fio through `coherio run` with data
# verification on: ioengine psync and libaio, direct=0 and direct=1, random
# and sequential, reads and writes mixed, 4 jobs as threads on one file (each
# job its own quarter). Every verify must pass, and --stats must show the
# file was served (and the direct path used where direct=1). A negative
# control shows the verification really reads: a block corrupted behind
# fio's back is caught. Skips (77) without fio.
set -u
cli=$1 dir=$2
command -v fio >/dev/null 2>&1 || { echo "skipped: fio is not installed"; exit 77; }
rm -rf "$dir" && mkdir -p "$dir" && cd "$dir" || exit 1
f=$dir/data
fail=0
common="--filename=$f --thread=1 --numjobs=4 --size=4m --offset_increment=4m
        --verify=crc32c --do_verify=1 --verify_fatal=1 --group_reporting=1
        --iodepth=16 --rwmixread=50 --verify_state_save=0"
for engine in psync libaio; do
	for direct in 0 1; do
		for rw in randrw rw; do
			bs=4k
			[ "$rw" = rw ] && bs=64k
			name="$engine direct=$direct $rw bs=$bs"
			rm -f "$f"
			out=$("$cli" run --paths "$dir" --stats -- fio --name=verify --ioengine=$engine \
				--direct=$direct --rw=$rw --bs=$bs $common 2>&1)
			rc=$?
			served=$(printf '%s\n' "$out" | sed -n 's/.*: \([0-9]*\) served opens.*/\1/p' | head -1)
			dwrites=$(printf '%s\n' "$out" | sed -n 's/.*direct writes \([0-9]*\).*/\1/p' | head -1)
			if [ $rc -ne 0 ] || printf '%s\n' "$out" | grep -qi "verify.*fail\|bad magic\|crc32c.*wanted"; then
				echo "FAIL: $name: rc $rc"
				printf '%s\n' "$out" | tail -30
				fail=1
			elif [ "${served:-0}" -lt 1 ]; then
				echo "FAIL: $name: the file was not served"
				printf '%s\n' "$out" | tail -5
				fail=1
			elif [ "$direct" = 1 ] && [ "${dwrites:-0}" -lt 1 ]; then
				echo "FAIL: $name: direct=1 but no direct writes in --stats"
				fail=1
			else
				bw=$(printf '%s\n' "$out" | grep -E '^ +(read|write):' | sed 's/^ *//; s/,.*//' | tr '\n' ' ')
				echo "ok: $name: verify passed ($served served opens, $dwrites direct writes; $bw)"
			fi
		done
	done
done

# negative control: fio writes with checksums, one block is corrupted
# behind its back (the kernel, no coherio), fio's verification must fail
rm -f "$f"
"$cli" run --paths "$dir" -- fio --name=w --ioengine=psync --rw=write --bs=4k --size=4m \
	--filename="$f" --verify=crc32c --do_verify=0 --verify_state_save=0 >/dev/null 2>&1 || { echo "FAIL: control write"; fail=1; }
printf 'XXXXXXXXXXXXXXXX' | dd of="$f" bs=1 seek=1048600 conv=notrunc status=none
if "$cli" run --paths "$dir" -- fio --name=w --ioengine=psync --rw=write --bs=4k --size=4m \
	--filename="$f" --verify=crc32c --verify_only=1 --verify_state_save=0 >/dev/null 2>&1; then
	echo "FAIL: control: a corrupted block was not caught"
	fail=1
else
	echo "ok: control: fio's verification catches a corrupted block"
fi
[ $fail = 0 ] && rm -rf "$dir"
exit $fail
