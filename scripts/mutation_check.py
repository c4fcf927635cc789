#!/usr/bin/env python3
"""Deliberately broken builds: for each mechanism behind a guarantee, copy
the tree, remove the mechanism (one exact source edit), build the test that
should catch it, and check that the test FAILS. Exit 0 only if every mutant
is caught. Usage: scripts/mutation_check.py [--check] [NAME ...]

With --check, each mutant is run against `coherio check` (the model-based
stress, docs/check.md) instead of its unit test: the time until the first
violation and the violation's first lines are printed."""
import os, shutil, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# name: (file, exact text, replacement, test that must fail, what it breaks)
MUTANTS = {
    "no-coherence-after-direct-write": (
        "src/direct_io.c",
        "update_cached_copies(ino, a->iov, a->iovcnt, (uint64_t)a->op.off, a->done);",
        "(void)update_cached_copies;",
        "test_dio_write_visible_after_readahead", "G1: cached copies updated after a direct write"),
    "direct-read-skips-writeback": (
        "src/direct_io.c",
        "r = cio_writeback_pages(ino, v, n, true, NULL, NULL);",
        "r = 0;",
        "test_direct_read_sees_cached_write", "G2: dirty pages written before a direct read"),
    "writeback-error-drops-page": (
        "src/writeback.c",
        "atomic_fetch_or(&pg->pg_flags, PG_DIRTY | PG_ERROR); /* still counted */\n\t} else {",
        "atomic_fetch_or(&pg->pg_flags, PG_ERROR); cio_page_clear_dirty_count(ino);\n\t} else {",
        "test_writeback_error_reported_to_every_handle", "G6: failed pages stay dirty"),
    "errseq-not-per-handle": (
        "src/writeback.c",
        "\treturn (old & ERRSEQ_SEEN) ? old : 0;",
        "\treturn 0;",
        "test_writeback_error_reported_to_every_handle", "G6: a handle opened after the error was seen does not see it"),
    "invalidate-drops-dirty": (
        "src/invalidate.c",
        "if ((fl & PG_DIRTY) && !(flags & CIO_INVAL_DISCARD)) {",
        "if (0) {",
        "test_invalidate_skips_pinned_dirty_page", "G3: invalidation launders dirty pages"),
    "direct-write-ignores-pins": (
        "src/direct_io.c",
        "int r = wait_for_pins(ino, (uint64_t)a->op.off, a->want, nowait_flag || !can_block);",
        "int r = 0; (void)wait_for_pins;",
        "test_pin_latches_direct_write_and_truncate", "G7: direct writes wait for pins"),
    "truncate-does-not-drain": (
        "src/truncate.c",
        "r = cio_range_lock(ino, &range, from, UINT64_MAX, nowait);",
        "r = 0; cio_range_lock(ino, &range, 0, 0, true); /* an empty range: waits for nothing */",
        "test_truncate_drains_direct_writes", "G8: truncate waits for direct writes in flight"),
    "size-before-data": (
        "src/direct_io.c",
        "static bool stage_issue(struct cio_aop *a)\n{\n\tstruct cio_inode *ino = a->file->h_inode;",
        "static bool stage_issue(struct cio_aop *a)\n{\n\tstruct cio_inode *ino = a->file->h_inode;\n"
        "\tif (a->kind == AK_DIRECT_WRITE)\n\t\tcio_size_extend(ino, a->op.off + (int64_t)a->want);",
        "test_size_grows_only_with_data", "G5: size moves only after the data is on the device"),
    "no-alignment-check": (
        "src/rw.c",
        "\t\tif ((uint64_t)off % ino->i_lbs)\n\t\t\treturn -EINVAL;",
        "",
        "test_bad_input_rejected", "G11: misaligned direct I/O is rejected"),
    "fallocate-lowers-size": (
        "src/fallocate.c",
        "r = cio_size_change(ino, off + len, false, true);",
        "r = cio_size_change(ino, off + len, false, false);",
        "test_fallocate_never_lowers_size", "G5: a growing fallocate never lowers the size"),
}

# coherio check arguments per mutant (--check); a mutant not listed runs
# the plain model check. Faults are needed to see dropped write-back errors.
CHECK_ARGS = {
    "writeback-error-drops-page": ["--faults"],
    "errseq-not-per-handle": ["--faults"],
}
CHECK_SECONDS = 120

def run(cmd, cwd, log):
    return subprocess.call(cmd, cwd=cwd, stdout=log, stderr=subprocess.STDOUT)

def main(args):
    check = "--check" in args
    names = [a for a in args if a != "--check"] or list(MUTANTS)
    files = subprocess.check_output(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT,
                                    text=True).split()
    failures = 0
    print(f"{'mutant':36} {'test':48} result")
    for name in names:
        path, old, new, test, what = MUTANTS[name]
        with tempfile.TemporaryDirectory(prefix="cio-mut-") as tmp:
            for f in files:
                if os.path.isfile(os.path.join(ROOT, f)):
                    os.makedirs(os.path.join(tmp, os.path.dirname(f)), exist_ok=True)
                    shutil.copy2(os.path.join(ROOT, f), os.path.join(tmp, f))
            src = open(os.path.join(tmp, path)).read()
            if src.count(old) != 1:
                print(f"{name:36} {test:48} MUTATION DID NOT APPLY (source changed?)")
                failures += 1
                continue
            open(os.path.join(tmp, path), "w").write(src.replace(old, new))
            b = os.path.join(tmp, "build")
            with open(os.path.join(tmp, "log"), "w") as log:
                target = "coherio_cli" if check else test
                ok = run(["cmake", "-S", tmp, "-B", b, "-DCMAKE_BUILD_TYPE=RelWithDebInfo"], tmp, log) == 0 and \
                     run(["cmake", "--build", b, "--target", target, "-j2"], tmp, log) == 0
                if not ok:
                    print(f"{name:36} {test:48} BUILD FAILED")
                    failures += 1
                    continue
                if check:
                    data = os.path.join(tmp, "data")
                    os.makedirs(data, exist_ok=True)
                    cmd = [os.path.join(b, "coherio"), "check", "--duration", str(CHECK_SECONDS),
                           "--threads", "3", "--dir", data, "--no-progress"] + CHECK_ARGS.get(name, [])
                    t0 = time.time()
                    try:
                        out = subprocess.run(cmd, cwd=b, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                             text=True, timeout=CHECK_SECONDS + 120)
                        rc, text = out.returncode, out.stdout
                    except subprocess.TimeoutExpired:
                        rc, text = -1, ""
                    secs = time.time() - t0
                    log.write(text)
                    caught = rc == 1 and "VIOLATION" in text
                    print(f"{name:36} {'coherio check ' + ' '.join(CHECK_ARGS.get(name, [])):48} "
                          f"{'caught in %.1f s' % secs if caught else 'NOT CAUGHT (exit %d)' % rc} - {what}")
                    if caught:
                        lines = text[text.index("VIOLATION"):].splitlines()
                        for line in lines[:2]:
                            print("      " + line.strip()[:150])
                    failures += 0 if caught else 1
                    continue
                env = dict(os.environ, COHERIO_TEST_DIR=os.path.join(tmp, "data"))
                try:
                    rc = subprocess.call([os.path.join(b, test)], cwd=b, env=env, stdout=log,
                                         stderr=subprocess.STDOUT, timeout=300)
                except subprocess.TimeoutExpired:
                    rc = -1
            caught = rc not in (0, 77)
            print(f"{name:36} {test:48} {'caught' if caught else 'NOT CAUGHT'} (exit {rc}) - {what}")
            failures += 0 if caught else 1
    print(f"mutation check: {len(names) - failures} caught, {failures} not caught")
    return 1 if failures else 0

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
