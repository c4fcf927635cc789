#!/usr/bin/env bash
# tests/loopdev/loopdev.sh FSTYPE PHASES PROGRAM [ARGS...] - for each phase
# in PHASES (a space-separated list), run PROGRAM ARGS... MOUNTDIR FSTYPE PHASE
# on a fresh, small FSTYPE (ext4 | xfs) file system that this script makes in
# a file under /var/tmp, attaches to a loop device and mounts in a fresh
# directory; everything (mount, loop device, image, directories) is removed
# on exit, on failure too (trap). Exits with the first failing PROGRAM's
# status, or 77 (skip, with the reason printed) where loop devices, mkfs,
# mount or the file system are missing or not permitted (not root, a
# container without loop devices). An unmount or detach that fails fails the
# test.
set -u
usage="usage: loopdev.sh ext4|xfs PHASES PROGRAM [ARGS...]"
fstype=${1:?$usage}
phases=${2:?$usage}
shift 2
[ $# -ge 1 ] || { echo "$usage" >&2; exit 2; }
export PATH="$PATH:/usr/sbin:/sbin"

skip() {
	echo "SKIP loopdev/$fstype: $*"
	exit 77
}

[ "$(id -u)" = 0 ] || skip "not root (losetup and mount need root)"
[ -e /dev/loop-control ] || skip "no /dev/loop-control (no loop devices)"
for t in losetup mount umount mkfs."$fstype"; do
	command -v "$t" >/dev/null 2>&1 || skip "$t not installed"
done
grep -qw "$fstype" /proc/filesystems || skip "the kernel has no $fstype (not in /proc/filesystems)"

work=$(mktemp -d /var/tmp/coherio-loopdev-"$fstype".XXXXXX) || skip "cannot make a directory under /var/tmp"
img=$work/img
mnt=$work/mnt
backing=$work/backing
export LOOPDEV_BACKING=$backing
# The thin phase's tmpfs (XFS only, see loopdev_faults.c): what mkfs.xfs
# writes (64.3 MiB, mostly its log) and some room.
thin_size=72M
dev=
phase=
cleanup() {
	unmake_fs
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP
mkdir "$mnt" || exit 1

# make_fs: a fresh file system in $img, attached and mounted on $mnt.
make_fs() {
	img=$work/img
	if [ "$phase" = thin ]; then
		# A thin device: the image on a tmpfs only a little larger than
		# what mkfs writes, which the program then fills.
		mkdir -p "$backing" &&
			mount -t tmpfs -o size=$thin_size tmpfs "$backing" 2>"$work/tmpfs.log" ||
			{ cat "$work/tmpfs.log"; skip "cannot mount a tmpfs"; }
		img=$backing/img
	fi
	rm -f "$img"
	case $fstype in
	ext4)
		# Small, no blocks reserved for root (the test runs as root and
		# must be able to fill it), inode tables and journal written by
		# mkfs so that no lazy-init thread writes behind the test's back.
		truncate -s 64M "$img" || exit 1
		mkfs.ext4 -q -F -m 0 -E lazy_itable_init=0,lazy_journal_init=0 "$img" >"$work/mkfs.log" 2>&1 ||
			{ cat "$work/mkfs.log"; skip "mkfs.ext4 failed"; }
		# errors=remount-ro: loopdev_faults' erofs phase's error makes
		# it read-only.
		opts=errors=remount-ro ;;
	xfs)
		# 300 MiB is the smallest XFS that xfsprogs >= 5.19 makes; the
		# image is sparse, so it costs what is written. reflink=1 (the
		# default) is asked for explicitly: the FICLONE check needs it.
		truncate -s 320M "$img" || exit 1
		mkfs.xfs -q -f -m reflink=1 "$img" >"$work/mkfs.log" 2>&1 ||
			{ cat "$work/mkfs.log"; skip "mkfs.xfs failed"; }
		opts=defaults ;;
	*)
		echo "loopdev.sh: unknown file system '$fstype'" >&2
		exit 2 ;;
	esac
	dev=$(losetup -f --show "$img" 2>"$work/losetup.log") ||
		{ dev=; cat "$work/losetup.log"; skip "losetup failed (loop devices not permitted here?)"; }
	mount -t "$fstype" -o "$opts" "$dev" "$mnt" 2>"$work/mount.log" ||
		{ cat "$work/mount.log"; skip "mount of $dev failed (mount not permitted here?)"; }
}

# unmake_fs: unmount and detach (a shut-down or read-only file system
# unmounts too).
mounted() {
	# Not mountpoint(1): it stats the directory, which fails with EIO on a
	# shut-down XFS.
	awk -v m="$mnt" '$2 == m { found = 1 } END { exit !found }' /proc/self/mounts
}
unmake_fs() {
	local ok=0
	if mounted; then
		umount "$mnt" || { umount -l "$mnt"; ok=1; }
	fi
	if [ -n "$dev" ]; then
		losetup -d "$dev" || ok=1
	fi
	dev=
	if [ -d "$backing" ] && awk -v m="$backing" '$2 == m { f = 1 } END { exit !f }' /proc/self/mounts; then
		umount "$backing" || ok=1
	fi
	return $ok
}

for phase in $phases; do
	make_fs
	echo "loopdev/$fstype: $dev mounted on $mnt, phase $phase"
	"$@" "$mnt" "$fstype" "$phase" || exit $?
	unmake_fs || { echo "loopdev.sh: could not unmount $mnt or detach its loop device" >&2; exit 1; }
done
exit 0
