/*
 * iov.c - scatter/gather helpers: totals with overflow checks, copies
 * between iovecs and flat memory, slicing. Pure functions, no locks.
 */
#include "internal.h"

#include <limits.h>
#include <string.h>

size_t cio_iov_total(const struct iovec *iov, int n, int *err)
{
	size_t total = 0;
	*err = 0;
	if (n < 1 || n > IOV_MAX) {
		*err = -EINVAL;
		return 0;
	}
	if (!iov) {
		*err = -EFAULT;
		return 0;
	}
	for (int i = 0; i < n; i++) {
		if (iov[i].iov_len && !iov[i].iov_base) {
			*err = -EFAULT;
			return 0;
		}
		if (iov[i].iov_len > SSIZE_MAX - total) {
			*err = -EFBIG;
			return 0;
		}
		total += iov[i].iov_len;
	}
	return total;
}

/* Copy @len bytes of @src into the iovec at byte position @pos. */
void cio_iov_copy_out(const struct iovec *iov, int n, size_t pos, const void *src, size_t len)
{
	const uint8_t *s = src;
	for (int i = 0; i < n && len; i++) {
		if (pos >= iov[i].iov_len) {
			pos -= iov[i].iov_len;
			continue;
		}
		size_t k = CIO_MIN(len, iov[i].iov_len - pos);
		memcpy((uint8_t *)iov[i].iov_base + pos, s, k);
		s += k;
		len -= k;
		pos = 0;
	}
}

/* Copy @len bytes from the iovec at byte position @pos into @dst. */
void cio_iov_copy_in(const struct iovec *iov, int n, size_t pos, void *dst, size_t len)
{
	uint8_t *d = dst;
	for (int i = 0; i < n && len; i++) {
		if (pos >= iov[i].iov_len) {
			pos -= iov[i].iov_len;
			continue;
		}
		size_t k = CIO_MIN(len, iov[i].iov_len - pos);
		memcpy(d, (const uint8_t *)iov[i].iov_base + pos, k);
		d += k;
		len -= k;
		pos = 0;
	}
}

/* Describe bytes [pos, pos+len) of an iovec in @out (at most @outmax
 * entries; a longer slice is cut short). Returns the entries used. */
int cio_iov_slice(const struct iovec *iov, int n, size_t pos, size_t len,
                  struct iovec *out, int outmax)
{
	int k = 0;
	for (int i = 0; i < n && len && k < outmax; i++) {
		if (pos >= iov[i].iov_len) {
			pos -= iov[i].iov_len;
			continue;
		}
		size_t m = CIO_MIN(len, iov[i].iov_len - pos);
		out[k].iov_base = (uint8_t *)iov[i].iov_base + pos;
		out[k].iov_len = m;
		k++;
		len -= m;
		pos = 0;
	}
	return k;
}
