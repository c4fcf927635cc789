/*
 * check_stamp.c - stamps: the content of every 64-byte block the checker
 * writes, which names its own version, and the random numbers and clock the
 * checker uses. No state, no locks.
 *
 * A stamped cell is eight 64-bit words (little endian):
 *   w0  magic (32 bits) | file (16) | writer (16)
 *   w1  file offset of the cell
 *   w2  sequence: the invocation tick of the write that made it
 *   w3..w6  filler derived from w0..w2 (a torn cell fails here)
 *   w7  checksum of w0..w6
 * A reader can tell a whole old or new version (stamp) from zeros (a hole,
 * or never written) from anything else (torn, stale from another offset or
 * file, uninitialised memory): garbage.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "check.h"

#define STAMP_MAGIC 0xC0E1C4ECu

uint64_t chk_mix(uint64_t x)
{
	x += 0x9E3779B97F4A7C15ull;
	x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
	x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
	return x ^ (x >> 31);
}

uint64_t chk_rand(uint64_t *s)
{
	uint64_t x = *s ? *s : 0x2545F4914F6CDD1Dull;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545F4914F6CDD1Dull;
}

uint64_t chk_below(uint64_t *s, uint64_t n)
{
	return n ? chk_rand(s) % n : 0;
}

double chk_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static void make_words(uint64_t w[8], uint32_t file, uint32_t writer,
                       uint64_t off, uint64_t seq)
{
	uint64_t h;

	w[0] = (uint64_t)STAMP_MAGIC << 32 | (uint64_t)(file & 0xffff) << 16 |
	       (writer & 0xffff);
	w[1] = off;
	w[2] = seq;
	h = chk_mix(w[0] ^ chk_mix(w[1] ^ chk_mix(w[2])));
	for (int i = 3; i < 7; i++) {
		h = chk_mix(h + (uint64_t)i);
		w[i] = h;
	}
	h = 0;
	for (int i = 0; i < 7; i++)
		h = chk_mix(h ^ w[i]);
	w[7] = h;
}

void chk_stamp_fill(uint8_t *dst, uint64_t len, uint32_t file, uint32_t writer,
                    uint64_t off, uint64_t seq)
{
	uint64_t w[8];

	for (uint64_t k = 0; k + CHK_CELL <= len; k += CHK_CELL) {
		make_words(w, file, writer, off + k, seq);
		for (int i = 0; i < 8; i++)
			put64(dst + k + 8 * i, w[i]);
	}
}

int chk_stamp_parse(const uint8_t *cell, struct chk_stamp *st)
{
	uint64_t w[8], want[8];
	int zero = 1;

	for (int i = 0; i < 8; i++) {
		w[i] = get64(cell + 8 * i);
		if (w[i])
			zero = 0;
	}
	if (zero)
		return CELL_ZERO;
	if ((uint32_t)(w[0] >> 32) != STAMP_MAGIC)
		return CELL_GARBAGE;
	make_words(want, (uint32_t)(w[0] >> 16) & 0xffff, (uint32_t)w[0] & 0xffff,
	           w[1], w[2]);
	if (memcmp(w, want, sizeof(w)) != 0)
		return CELL_GARBAGE;
	st->file = (uint32_t)(w[0] >> 16) & 0xffff;
	st->writer = (uint32_t)w[0] & 0xffff;
	st->off = w[1];
	st->seq = w[2];
	return CELL_STAMP;
}

void chk_cell_describe(const uint8_t *cell, char *buf, size_t len)
{
	struct chk_stamp st;

	switch (chk_stamp_parse(cell, &st)) {
	case CELL_ZERO:
		snprintf(buf, len, "zeros");
		break;
	case CELL_STAMP:
		snprintf(buf, len, "the block of write #%llu (thread %u; stamped "
		         "for file %u offset %llu)", (unsigned long long)st.seq,
		         st.writer, st.file, (unsigned long long)st.off);
		break;
	default: {
		size_t n = (size_t)snprintf(buf, len, "garbage (neither zeros nor a "
		                            "whole stamp):");
		for (int i = 0; i < 16 && n + 4 < len; i++)
			n += (size_t)snprintf(buf + n, len - n, " %02x", cell[i]);
		if (n + 4 < len)
			snprintf(buf + n, len - n, " ...");
	}
	}
}
