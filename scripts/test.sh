#!/usr/bin/env bash
# scripts/test.sh - build coherio three ways and run the whole test suite in
# each, once per I/O engine: build-plain (RelWithDebInfo), build-asan
# (ASan+UBSan), build-tsan (ThreadSanitizer). Prints one line per configuration and a final
# "N passed, N failed" over all three; exits non-zero if any configuration
# failed to configure, build or pass.
#
# Environment:
#   CC            compiler for all three builds (default: cmake's choice)
#   ASAN_CC       compiler for build-asan only (default: clang when it is
#                 installed, so that the libFuzzer harness is built and run;
#                 set it empty to use CC)
#   TSAN_CC       compiler for build-tsan only
#   CONFIGS       subset to run, e.g. "plain tsan" (default: plain asan tsan)
#   ENGINES       I/O engines to run the suite with, one ctest run each
#                 (COHERIO_ENGINE; default: sync threads uring)
#   JOBS          parallel build jobs (default: nproc)
#   CTEST_JOBS    parallel tests (default: 2)
set -uo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root" || exit 2

jobs=${JOBS:-$(nproc 2>/dev/null || echo 2)}
# clang for the ASan build when it can link ASan and libFuzzer programs
# (libclang-rt-14-dev installed), so that fuzz/ builds its harness.
if [ -z "${ASAN_CC+set}" ] && command -v clang >/dev/null 2>&1; then
	probe_dir=$(mktemp -d)
	printf '%s\n' '#include <stdint.h>' '#include <stddef.h>' \
		'int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }' \
		>"$probe_dir/p.c"
	if clang -fsanitize=fuzzer,address,undefined "$probe_dir/p.c" -o "$probe_dir/p" >/dev/null 2>&1; then
		ASAN_CC=clang
	else
		echo "test.sh: clang cannot link libFuzzer+ASan programs (libclang-rt-14-dev?);" \
		     "the ASan build uses ${CC:-cc} and fuzz/ only replays its corpus"
	fi
	rm -rf "$probe_dir"
fi
ctest_jobs=${CTEST_JOBS:-2}
configs=${CONFIGS:-plain asan tsan}
engines=${ENGINES:-sync threads uring}
logdir="$root/build-logs"
mkdir -p "$logdir"

total_pass=0
total_fail=0
total_skip=0
bad_configs=()
summary=()

# ThreadSanitizer maps its shadow memory at fixed addresses; with the large
# ASLR entropy of recent kernels (vm.mmap_rnd_bits > 28) a run can die with
# "FATAL: ThreadSanitizer: unexpected memory mapping". Running with ASLR
# disabled (setarch -R, inherited by ctest's children) avoids it. Decide
# once, with a probe program built by the TSan build's own compiler.
tsan_prefix=()
tsan_probe() {
	local cc=$1 dir
	dir=$(mktemp -d) || return 1
	cat >"$dir/probe.c" <<'PROBE'
#include <pthread.h>
static int x;
static void *run(void *a) { (void)a; __atomic_fetch_add(&x, 1, __ATOMIC_RELAXED); return 0; }
int main(void) { pthread_t t; pthread_create(&t, 0, run, 0); pthread_join(t, 0); return 0; }
PROBE
	if ! "$cc" -fsanitize=thread -pthread "$dir/probe.c" -o "$dir/probe" >"$dir/log" 2>&1; then
		echo "test.sh: cannot build a ThreadSanitizer probe with $cc:" >&2
		cat "$dir/log" >&2
		rm -rf "$dir"
		return 1
	fi
	local arch plain_ok=1 i
	arch=$(uname -m)
	if setarch "$arch" -R true 2>/dev/null; then
		if setarch "$arch" -R "$dir/probe" >"$dir/log" 2>&1; then
			tsan_prefix=(setarch "$arch" -R)
			echo "test.sh: TSan tests run with ASLR disabled (setarch $arch -R)"
			rm -rf "$dir"
			return 0
		fi
	fi
	# No setarch (or it did not help): does TSan work as is? Try a few times,
	# the failure depends on where ASLR put things.
	for i in 1 2 3 4 5; do
		"$dir/probe" >"$dir/log" 2>&1 || { plain_ok=0; break; }
	done
	if [ "$plain_ok" = 0 ]; then
		echo "test.sh: ThreadSanitizer does not work on this machine:" >&2
		head -5 "$dir/log" >&2
		if grep -q "unexpected memory mapping" "$dir/log"; then
			echo "test.sh: hint: lower the ASLR entropy (sysctl vm.mmap_rnd_bits=28) or install setarch (util-linux)" >&2
		fi
	fi
	rm -rf "$dir"
	return 0
}

run_config() {
	local name=$1 dir="build-$1" log="$logdir/$1.log" cc="${CC:-}"
	local -a cmake_args=(-S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo)
	case $name in
	plain) ;;
	asan) cmake_args+=(-DCOHERIO_SANITIZE=address); cc=${ASAN_CC:-$cc} ;;
	tsan) cmake_args+=(-DCOHERIO_SANITIZE=thread); cc=${TSAN_CC:-$cc} ;;
	*) echo "test.sh: unknown configuration '$name'" >&2; return 1 ;;
	esac
	[ -n "$cc" ] && cmake_args+=(-DCMAKE_C_COMPILER="$cc")

	echo "=== $name: configure and build in $dir"
	if ! cmake "${cmake_args[@]}" >"$log" 2>&1; then
		tail -30 "$log"
		echo "=== $name: cmake configure FAILED (log: $log)"
		summary+=("$name: configure failed")
		return 1
	fi
	if ! cmake --build "$dir" -j "$jobs" >>"$log" 2>&1; then
		grep -E "error|Error" "$log" | head -30
		echo "=== $name: build FAILED (log: $log)"
		summary+=("$name: build failed")
		return 1
	fi
	if [ "$name" = tsan ]; then
		local tcc
		tcc=$(sed -n 's/^CMAKE_C_COMPILER:[A-Z]*=//p' "$dir/CMakeCache.txt")
		tsan_probe "${tcc:-cc}"
	fi

	local ok=0 engine first=1
	for engine in $engines; do
		run_ctest "$name" "$dir" "$log" "$engine" "$first" || ok=1
		first=0
	done
	return $ok
}

# One ctest run of build $2 with COHERIO_ENGINE=$4. Tests labelled
# engine_independent (install, man pages, ABI: tests/ecosystem/) run only in
# the first engine's run ($5 = 1).
run_ctest() {
	local name=$1 dir=$2 log=$3 engine=$4 first=$5
	local -a prefix=() select=()
	[ "$name" = tsan ] && prefix=("${tsan_prefix[@]}")
	[ "$first" = 1 ] || select=(-LE engine_independent)
	echo "=== $name/$engine: ctest${select:+ (without the engine_independent tests: they ran with the first engine)}"
	local out rc
	(cd "$dir" && COHERIO_ENGINE=$engine "${prefix[@]}" ctest --output-on-failure -j "$ctest_jobs" "${select[@]}") 2>&1 |
		tee "$dir/ctest-$engine.out"
	rc=${PIPESTATUS[0]}
	# ctest prints "***Skipped" without the reason: show it
	"$root/scripts/skip_reasons.sh" "$dir/ctest-$engine.out" "$dir" | tee -a "$dir/ctest-$engine.out"
	out=$(cat "$dir/ctest-$engine.out")
	cat "$dir/ctest-$engine.out" >>"$log"

	# "100% tests passed, 0 tests failed out of 12"
	local line pass=0 fail=0 skip all
	skip=$(printf '%s\n' "$out" | grep -cE 'Test +#[0-9]+: .*\*\*\*(Skipped|Not Run)')
	line=$(printf '%s\n' "$out" | grep -E '[0-9]+% tests passed, [0-9]+ tests? failed out of [0-9]+' | tail -1)
	if [ -n "$line" ]; then
		fail=$(sed -E 's/.* ([0-9]+) tests? failed out of ([0-9]+).*/\1/' <<<"$line")
		all=$(sed -E 's/.* failed out of ([0-9]+).*/\1/' <<<"$line")
		pass=$((all - fail - skip))
	elif printf '%s\n' "$out" | grep -q "No tests were found"; then
		echo "=== $name/$engine: no tests found"
	else
		echo "=== $name/$engine: could not read ctest's result line"
		rc=1
	fi
	if [ "$name" = tsan ] && printf '%s\n' "$out" | grep -q "unexpected memory mapping"; then
		echo "=== tsan: a test died with 'unexpected memory mapping' (ASLR vs TSan);" \
		     "see the hint above"
	fi
	total_pass=$((total_pass + pass))
	total_fail=$((total_fail + fail))
	total_skip=$((total_skip + skip))
	summary+=("$name/$engine: $pass passed, $fail failed, $skip skipped")
	[ "$rc" -eq 0 ] && [ "$fail" -eq 0 ]
}

start=$(date +%s)
for cfg in $configs; do
	if ! run_config "$cfg"; then
		bad_configs+=("$cfg")
	fi
done

echo
echo "=== summary ($(( $(date +%s) - start )) s; logs in build-logs/)"
for s in "${summary[@]}"; do
	echo "  $s"
done
if [ ${#bad_configs[@]} -gt 0 ]; then
	echo "  failed configurations: ${bad_configs[*]}"
fi
[ "$total_skip" -gt 0 ] && echo "  ($total_skip skipped, counted in neither)"
echo "$total_pass passed, $total_fail failed"
[ ${#bad_configs[@]} -eq 0 ]
