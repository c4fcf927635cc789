#!/bin/sh
# install_consumer.sh BUILD_DIR SOURCE_DIR WORK_DIR CC - install this build
# the ways users do and build examples/consumer against each installed copy:
#   1. `cmake --install BUILD_DIR --prefix WORK/opt` (a prefix other than the
#      configure-time one): coherio.pc must name WORK/opt; the consumer is
#      built with pkg-config (shared, with an RPATH, and static with
#      `pkg-config --static`) and with find_package (coherio::coherio and
#      coherio::coherio_static), and each is run; `man -M` opens the
#      installed cio_read(3), cio_unpin(3), coherio(1) and coherio(7);
#   2. `DESTDIR=WORK/root cmake --install BUILD_DIR` (the default prefix,
#      staged): coherio.pc must name the configure-time prefix and the
#      consumer builds with PKG_CONFIG_SYSROOT_DIR and runs;
#   3. find_package from the build tree (coherio_DIR=BUILD_DIR).
# Exit 0 when all hold, 1 on the first failure (saying which), 77 when a
# tool it needs is missing.
set -eu
build=$1 src=$2 work=$3 cc=$4

for t in pkg-config make cmake; do
	command -v "$t" >/dev/null 2>&1 || { echo "skipped: no $t on PATH"; exit 77; }
done
fail() { echo "FAIL: $*"; exit 1; }
step() { echo "--- $*"; }

rm -rf "$work"
mkdir -p "$work"
version=$(sed -n 's/^CMAKE_PROJECT_VERSION:STATIC=//p' "$build/CMakeCache.txt")
[ -n "$version" ] || fail "no CMAKE_PROJECT_VERSION in $build/CMakeCache.txt"
major_minor=${version%.*}

# Runs the consumer binary $1 and checks it says what it should.
run_consumer() {
	out=$("$1" "$work/consumer.dat") || fail "$1 exited $?: $out"
	echo "$out"
	case $out in *"coherio $version: installed coherio works"*) ;; *) fail "$1: unexpected output";; esac
}
# Fails if binary $1 depends on libcoherio.so (a static consumer must not).
no_shared_coherio() {
	if readelf -d "$1" | grep -q 'NEEDED.*libcoherio'; then
		fail "$1 is linked against libcoherio.so, not the static library"
	fi
}

step "1. cmake --install --prefix $work/opt"
prefix=$work/opt
cmake --install "$build" --prefix "$prefix" >"$work/install-opt.log" 2>&1 ||
	{ cat "$work/install-opt.log"; fail "cmake --install --prefix failed"; }
pc=$(find "$prefix" -name coherio.pc)
[ -n "$pc" ] || fail "no coherio.pc installed under $prefix"
grep -qx "prefix=$prefix" "$pc" || { cat "$pc"; fail "$pc does not say prefix=$prefix"; }
export PKG_CONFIG_PATH="$(dirname "$pc")"
libdir=$(pkg-config --variable=libdir coherio)
[ -e "$libdir/libcoherio.so.${version%%.*}" ] || fail "pkg-config libdir $libdir has no libcoherio.so.${version%%.*}"
[ "$(pkg-config --modversion coherio)" = "$version" ] || fail "pkg-config --modversion is not $version"
static_libs=$(pkg-config --static --libs coherio)
case $static_libs in *-luring*) ;; *) fail "pkg-config --static --libs lacks liburing: $static_libs";; esac
case $static_libs in *-pthread*) ;; *) fail "pkg-config --static --libs lacks -pthread: $static_libs";; esac
[ -e "$(pkg-config --variable=preloadlib coherio)" ] || echo "note: no preload library installed (no preload/ in this build)"

if command -v man >/dev/null 2>&1; then
	for q in "3 cio_read" "3 cio_unpin" "1 coherio" "7 coherio"; do
		# shellcheck disable=SC2086
		MANWIDTH=80 man -M "$prefix/share/man" -P cat $q 2>/dev/null | grep -q "^SEE ALSO" ||
			fail "man -M $prefix/share/man $q does not show the installed page"
	done
else
	echo "note: no man command: the installed man pages were not opened"
fi

step "1a. pkg-config: make -f examples/consumer/Makefile"
mkdir -p "$work/pc" && cd "$work/pc"
make -s -f "$src/examples/consumer/Makefile" VPATH="$src/examples/consumer" CC="$cc" >"$work/make.log" 2>&1 ||
	{ cat "$work/make.log"; fail "pkg-config build of the consumer failed"; }
run_consumer ./consumer
run_consumer ./consumer_static
no_shared_coherio ./consumer_static

step "1b. find_package(coherio $major_minor) from $prefix"
cmake -S "$src/examples/consumer" -B "$work/cm" -DCMAKE_C_COMPILER="$cc" \
	-DCMAKE_PREFIX_PATH="$prefix" -DCOHERIO_MIN_VERSION="$major_minor" >"$work/cm.log" 2>&1 ||
	{ cat "$work/cm.log"; fail "configuring the consumer with find_package failed"; }
grep -q "coherio $version from $prefix/" "$work/cm.log" || { cat "$work/cm.log"; fail "find_package did not find the copy in $prefix"; }
cmake --build "$work/cm" >>"$work/cm.log" 2>&1 || { cat "$work/cm.log"; fail "building the find_package consumer failed"; }
run_consumer "$work/cm/consumer"
run_consumer "$work/cm/consumer_static"
no_shared_coherio "$work/cm/consumer_static"
# a newer release than this one must be refused
if cmake -S "$src/examples/consumer" -B "$work/cm-new" -DCMAKE_PREFIX_PATH="$prefix" \
	-DCOHERIO_MIN_VERSION="$((${version%%.*} + 1)).0" >"$work/cm-new.log" 2>&1; then
	fail "find_package(coherio $((${version%%.*} + 1)).0) accepted release $version"
fi

step "2. DESTDIR=$work/root cmake --install (the default prefix)"
default_prefix=$(sed -n 's/^CMAKE_INSTALL_PREFIX:PATH=//p' "$build/CMakeCache.txt")
DESTDIR="$work/root" cmake --install "$build" >"$work/install-root.log" 2>&1 ||
	{ cat "$work/install-root.log"; fail "DESTDIR install failed"; }
pc=$(find "$work/root" -name coherio.pc)
grep -qx "prefix=$default_prefix" "$pc" || { cat "$pc"; fail "$pc does not say prefix=$default_prefix"; }
mkdir -p "$work/pc-root" && cd "$work/pc-root"
PKG_CONFIG_PATH="$(dirname "$pc")" PKG_CONFIG_SYSROOT_DIR="$work/root" \
	make -s -f "$src/examples/consumer/Makefile" VPATH="$src/examples/consumer" CC="$cc" consumer \
	>"$work/make-root.log" 2>&1 || { cat "$work/make-root.log"; fail "pkg-config build against the DESTDIR copy failed"; }
LD_LIBRARY_PATH="$work/root$(PKG_CONFIG_PATH="$(dirname "$pc")" pkg-config --variable=libdir coherio)" \
	run_consumer ./consumer

step "3. find_package from the build tree (coherio_DIR=$build)"
cmake -S "$src/examples/consumer" -B "$work/bt" -DCMAKE_C_COMPILER="$cc" \
	-Dcoherio_DIR="$build" >"$work/bt.log" 2>&1 && cmake --build "$work/bt" >>"$work/bt.log" 2>&1 ||
	{ cat "$work/bt.log"; fail "the build-tree find_package consumer failed"; }
run_consumer "$work/bt/consumer"
run_consumer "$work/bt/consumer_static"

rm -rf "$work"
echo "install_consumer: all installed copies work"
