/* SPDX-License-Identifier: MIT */
/* allowlist.c - the allow-list file format and the set a running server checks handshakes against. */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "allowlist.h"
#include "errmsg.h"
#include "keys.h"

enum {
	/* ~10,000 keys with names: anything bigger is the wrong file */
	ALLOW_FILE_MAX = 1 << 20,
	ALLOW_NAME_MAX = 64,
	ALLOW_LINE_MAX = 512,
};

/* ---- sets ----------------------------------------------------------------------- */

struct sort_item {
	const uint8_t *key;
	const char *name;
};

static int cmp_item(const void *a, const void *b)
{
	return memcmp(((const struct sort_item *)a)->key, ((const struct sort_item *)b)->key, RW_KEY_SIZE);
}

struct rw__allowset *rw__allowset_new(const uint8_t (*keys)[RW_KEY_SIZE], const char *const *names, size_t n)
{
	struct rw__allowset *set = calloc(1, sizeof(*set));
	struct sort_item *items = NULL;

	if (!set)
		return NULL;
	set->n = n;
	if (n) {
		set->keys = malloc(n * RW_KEY_SIZE);
		set->names = calloc(n, sizeof(*set->names));
		items = malloc(n * sizeof(*items));
		if (!set->keys || !set->names || !items)
			goto fail;
		for (size_t i = 0; i < n; i++)
			items[i] = (struct sort_item){ keys[i], names ? names[i] : NULL };
		qsort(items, n, sizeof(*items), cmp_item);
		for (size_t i = 0; i < n; i++) {
			memcpy(set->keys[i], items[i].key, RW_KEY_SIZE);
			if (items[i].name && !(set->names[i] = strdup(items[i].name)))
				goto fail;
		}
	}
	free(items);
	return set;
fail:
	free(items);
	rw__allowset_free(set);
	return NULL;
}

void rw__allowset_free(struct rw__allowset *set)
{
	if (!set)
		return;
	if (set->names)
		for (size_t i = 0; i < set->n; i++)
			free(set->names[i]);
	free(set->names);
	free(set->keys);
	free(set);
}

long rw__allowset_find(const struct rw__allowset *set, const uint8_t key[RW_KEY_SIZE])
{
	size_t lo = 0, hi = set->n;

	/* public keys, not secrets: an ordinary comparison is fine */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = memcmp(set->keys[mid], key, RW_KEY_SIZE);

		if (c == 0)
			return (long)mid;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

/* ---- the slot: one writer swaps, many readers check ------------------------------- */

void rw__allow_slot_init(struct rw__allow_slot *slot)
{
	atomic_init(&slot->cur, NULL);
	atomic_init(&slot->readers, 0);
	pthread_mutex_init(&slot->wlock, NULL);
}

void rw__allow_slot_destroy(struct rw__allow_slot *slot)
{
	rw__allowset_free(atomic_exchange(&slot->cur, NULL));
	pthread_mutex_destroy(&slot->wlock);
}

int rw__allow_check(struct rw__allow_slot *slot, const uint8_t key[RW_KEY_SIZE])
{
	struct rw__allowset *set;
	int ret;

	/* announce first, then load: see allowlist.h for why this is a grace period */
	atomic_fetch_add_explicit(&slot->readers, 1, memory_order_seq_cst);
	set = atomic_load_explicit(&slot->cur, memory_order_seq_cst);
	ret = set ? rw__allowset_find(set, key) >= 0 : -1;
	atomic_fetch_sub_explicit(&slot->readers, 1, memory_order_release);
	return ret;
}

void rw__allow_swap(struct rw__allow_slot *slot, struct rw__allowset *set)
{
	struct rw__allowset *old;

	pthread_mutex_lock(&slot->wlock);
	old = atomic_exchange_explicit(&slot->cur, set, memory_order_seq_cst);
	/*
	 * Every reader that can still hold old announced itself before the
	 * exchange; once the count is seen at zero they are all gone (later
	 * readers load the new set).
	 */
	while (atomic_load_explicit(&slot->readers, memory_order_seq_cst) != 0)
		sched_yield();
	rw__allowset_free(old);
	pthread_mutex_unlock(&slot->wlock);
}

bool rw__allow_size(struct rw__allow_slot *slot, size_t *n)
{
	struct rw__allowset *set;
	bool has;

	atomic_fetch_add_explicit(&slot->readers, 1, memory_order_seq_cst);
	set = atomic_load_explicit(&slot->cur, memory_order_seq_cst);
	has = set != NULL;
	*n = set ? set->n : 0;
	atomic_fetch_sub_explicit(&slot->readers, 1, memory_order_release);
	return has;
}

/* ---- the file ------------------------------------------------------------------------ */

static int is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

void rw_allowlist_free(struct rw_allowlist *al)
{
	if (!al)
		return;
	if (al->names)
		for (size_t i = 0; i < al->n; i++)
			free(al->names[i]);
	free(al->names);
	free(al->keys);
	memset(al, 0, sizeof(*al));
}

static int grow(struct rw_allowlist *al, size_t *cap)
{
	size_t ncap = *cap ? *cap * 2 : 16;
	uint8_t(*k)[RW_KEY_SIZE] = realloc(al->keys, ncap * RW_KEY_SIZE);
	char **nm;

	if (!k)
		return -ENOMEM;
	al->keys = k;
	nm = realloc(al->names, ncap * sizeof(*nm));
	if (!nm)
		return -ENOMEM;
	al->names = nm;
	*cap = ncap;
	return 0;
}

int rw__allowlist_parse(const char *name, const char *text, size_t len, struct rw_allowlist *out, char *err,
			size_t errlen)
{
	struct rw_allowlist al = { 0 };
	size_t cap = 0, lineno = 0;
	const char *p = text, *end = text + len;
	int ret = 0;

	memset(out, 0, sizeof(*out));
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *le = nl ? nl : end, *hash, *k, *ke, *nb, *ne;
		char line[ALLOW_LINE_MAX + 1], why[RW_ERRBUF_SIZE];
		uint8_t key[RW_KEY_SIZE];

		lineno++;
		if ((size_t)(le - p) > ALLOW_LINE_MAX) {
			ret = rw__errf(err, errlen, -EINVAL, "%s:%zu: line longer than %d characters; one key and a name per line",
				       name, lineno, ALLOW_LINE_MAX);
			goto fail;
		}
		if (memchr(p, '\0', (size_t)(le - p))) {
			ret = rw__errf(err, errlen, -EINVAL, "%s:%zu: NUL byte; is this a text file?", name, lineno);
			goto fail;
		}
		hash = memchr(p, '#', (size_t)(le - p));
		if (hash)
			le = hash;
		for (k = p; k < le && is_blank(*k); k++)
			;
		for (ke = k; ke < le && !is_blank(*ke); ke++)
			;
		for (nb = ke; nb < le && is_blank(*nb); nb++)
			;
		for (ne = le; ne > nb && is_blank(ne[-1]); ne--)
			;
		p = nl ? nl + 1 : end;
		if (k == ke)
			continue;	/* blank or comment */
		memcpy(line, k, (size_t)(ke - k));
		line[ke - k] = '\0';
		if (rw_pubkey_parse(line, key, why, sizeof(why))) {
			ret = rw__errf(err, errlen, -EINVAL, "%s:%zu: %s", name, lineno, why);
			goto fail;
		}
		if (ne - nb > ALLOW_NAME_MAX) {
			ret = rw__errf(err, errlen, -EINVAL, "%s:%zu: name longer than %d characters", name, lineno,
				       ALLOW_NAME_MAX);
			goto fail;
		}
		for (const char *c = nb; c < ne; c++)
			if ((unsigned char)*c < 0x20 || *c == 0x7f) {
				ret = rw__errf(err, errlen, -EINVAL, "%s:%zu: control character in the name", name,
					       lineno);
				goto fail;
			}
		for (size_t i = 0; i < al.n; i++)
			if (memcmp(al.keys[i], key, RW_KEY_SIZE) == 0) {
				ret = rw__errf(err, errlen, -EINVAL,
					       "%s:%zu: this key is already listed%s%s; remove one of the two lines", name,
					       lineno, al.names[i] ? " as " : "", al.names[i] ? al.names[i] : "");
				goto fail;
			}
		if (al.n == cap && (ret = grow(&al, &cap))) {
			rw__errf(err, errlen, ret, "out of memory");
			goto fail;
		}
		memcpy(al.keys[al.n], key, RW_KEY_SIZE);
		al.names[al.n] = NULL;
		if (ne > nb && !(al.names[al.n] = strndup(nb, (size_t)(ne - nb)))) {
			ret = rw__errf(err, errlen, -ENOMEM, "out of memory");
			goto fail;
		}
		al.n++;
	}
	*out = al;
	return 0;
fail:
	rw_allowlist_free(&al);
	return ret;
}

int rw_allowlist_load(const char *path, struct rw_allowlist *out, char *err, size_t errlen)
{
	struct stat st;
	char *buf = NULL;
	size_t n = 0;
	int fd, ret;

	if (!path || !out)
		return rw__errf(err, errlen, -EINVAL, "missing argument");
	memset(out, 0, sizeof(*out));
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		ret = -errno;
		if (ret == -ENOENT)
			return rw__errf(err, errlen, ret, "%s: no such file; write one public key (wpub1...) per line",
					path);
		return rw__errf(err, errlen, ret, "%s: cannot open: %s", path, strerror(-ret));
	}
	/* the file we opened, not the name: nothing can be swapped in between */
	if (fstat(fd, &st) < 0) {
		ret = -errno;
		rw__errf(err, errlen, ret, "%s: cannot stat: %s", path, strerror(-ret));
		goto out;
	}
	ret = rw__private_file_check(path, &st, "an allow-list (one wpub1... key per line)", err, errlen);
	if (ret)
		goto out;
	if (st.st_size > ALLOW_FILE_MAX) {
		ret = rw__errf(err, errlen, -EFBIG, "%s: %lld bytes is too big for an allow-list (1 MiB at most)", path,
			       (long long)st.st_size);
		goto out;
	}
	buf = malloc(ALLOW_FILE_MAX + 1);
	if (!buf) {
		ret = rw__errf(err, errlen, -ENOMEM, "out of memory");
		goto out;
	}
	/* bounded: the file may grow after fstat() */
	for (;;) {
		ssize_t r = read(fd, buf + n, ALLOW_FILE_MAX + 1 - n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			ret = -errno;
			rw__errf(err, errlen, ret, "%s: cannot read: %s", path, strerror(-ret));
			goto out;
		}
		if (r == 0 || (n += (size_t)r) > ALLOW_FILE_MAX)
			break;
	}
	if (n > ALLOW_FILE_MAX) {
		ret = rw__errf(err, errlen, -EFBIG, "%s: too big for an allow-list (1 MiB at most)", path);
		goto out;
	}
	ret = rw__allowlist_parse(path, buf, n, out, err, errlen);
out:
	free(buf);
	close(fd);
	return ret;
}
