#!/bin/sh
# bench_fio.sh [COHERIO] [DIR] - fio through `coherio run` against fio on the
# kernel: the same job file, run back to back in one invocation, on the same
# file. Prints the configuration first and the comparison last.
#
#   COHERIO  the coherio tool (default: coherio in PATH)
#   DIR      where the test file goes (default: current directory)
#   env: SIZE (file size, default 256m), RUNTIME (s per job, default 5),
#        CACHE (coherio cache, default 1g), JOBS (job names to run)
set -u
cli=${1:-coherio}
dir=${2:-.}
size=${SIZE:-256m}
rt=${RUNTIME:-5}
cache=${CACHE:-1g}
dir=$(cd "$dir" && pwd) && cd "$dir" || exit 1 # fio leaves state files in the cwd
command -v fio >/dev/null 2>&1 || { echo "fio is not installed"; exit 77; }
f=$dir/coherio-bench.fio-data
common="--filename=$f --size=$size --time_based --runtime=$rt --ramp_time=1
        --invalidate=0 --thread --group_reporting --output-format=json"

# name | fio arguments (--pre_read: the direct=0 jobs start with the file cached,
# in the kernel's page cache or in coherio's)
jobs_all='randread-4k-psync|--rw=randread --bs=4k --ioengine=psync --direct=0 --pre_read=1 --numjobs=1
randread-4k-psync-2thr|--rw=randread --bs=4k --ioengine=psync --direct=0 --pre_read=1 --numjobs=2
randwrite-4k-psync|--rw=randwrite --bs=4k --ioengine=psync --direct=0 --pre_read=1 --numjobs=1
seqread-128k-psync|--rw=read --bs=128k --ioengine=psync --direct=0 --pre_read=1 --numjobs=1
randrw70-4k-libaio-qd16|--rw=randrw --rwmixread=70 --bs=4k --ioengine=libaio --iodepth=16 --direct=0 --pre_read=1 --numjobs=1
randread-4k-libaio-direct-qd32|--rw=randread --bs=4k --ioengine=libaio --iodepth=32 --direct=1 --numjobs=1
randwrite-4k-libaio-direct-qd32|--rw=randwrite --bs=4k --ioengine=libaio --iodepth=32 --direct=1 --numjobs=1'

echo "== configuration"
echo "machine: $(nproc) CPUs, $(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -1), kernel $(uname -r)"
echo "file: $f ($size, $(stat -f -c %T "$dir" 2>/dev/null)); runtime ${rt}s per job after 1s ramp; coherio cache $cache; fio $(fio --version)"
echo "coherio: $cli run --paths $dir --cache $cache -- fio ...   (engine: ${COHERIO_ENGINE:-default})"
echo "common fio options: $(echo $common)"
echo

# the file, written once by the kernel
fio --name=layout --filename="$f" --size="$size" --rw=write --bs=1m --ioengine=psync \
	--end_fsync=1 >/dev/null 2>&1 || { echo "cannot write $f"; exit 1; }

iops() { # json file -> "read_iops write_iops read_MiBps write_MiBps"
	python3 -c '
import json,sys
j=json.load(open(sys.argv[1]))["jobs"][0]
r,w=j["read"],j["write"]
print("%.0f %.0f %.1f %.1f"%(r["iops"],w["iops"],r["bw_bytes"]/1048576,w["bw_bytes"]/1048576))' "$1"
}

results=""
echo "$jobs_all" | while IFS='|' read -r name args; do
	[ -n "${JOBS:-}" ] && ! echo " $JOBS " | grep -q " $name " && continue
	fio --name="$name" $common $args > /tmp/cb.kernel.$$ 2>/dev/null || { echo "$name: kernel run failed"; continue; }
	"$cli" run --paths "$dir" --cache "$cache" -- fio --name="$name" $common $args \
		> /tmp/cb.coherio.$$ 2>/dev/null || { echo "$name: coherio run failed"; continue; }
	set -- $(iops /tmp/cb.kernel.$$) $(iops /tmp/cb.coherio.$$)
	printf '%-34s kernel r %8s w %8s IOPS (%7s/%7s MiB/s) | coherio r %8s w %8s IOPS (%7s/%7s MiB/s) | ratio %s\n' \
		"$name" "$1" "$2" "$3" "$4" "$5" "$6" "$7" "$8" \
		"$(python3 -c "import sys;k=$1+$2;c=$5+$6;print('%.2fx'%(c/k) if k else '-')")"
done
rm -f "$f" /tmp/cb.kernel.$$ /tmp/cb.coherio.$$
