/* SPDX-License-Identifier: MIT */
/*
 * index.c - a shard's receiver-index and session-id tables (index.h): open
 * addressing, sized once at start (committed then, so memory stays flat).
 * Which bits of an index or an id name the shard is shard.h's business;
 * these tables hash on the rest.
 */
#include "index.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "session.h"

#define TOMBSTONE ((struct rw_keypair *)(uintptr_t)1)

/*
 * Every packet looks up a random slot: with many sessions that is a TLB miss
 * per packet on 4 KiB pages (a 16 MiB table for 131072 sessions spans 4096
 * of them), and a costly one in a VM. On 2 MiB pages, where the kernel
 * gives them (transparent huge pages in madvise mode), the whole table
 * needs a handful of TLB entries. Zeroed by the caller.
 */
static void *table_alloc(size_t bytes)
{
	const size_t huge = (size_t)2 << 20;
	void *p;

	if (bytes < huge)
		return malloc(bytes);
	bytes = (bytes + huge - 1) & ~(huge - 1);
	if (posix_memalign(&p, huge, bytes))
		return NULL;
	(void)madvise(p, bytes, MADV_HUGEPAGE);	/* advice only: 4 KiB pages still work */
	return p;
}

int rw__index_init(struct rw_shard *sh, uint32_t max_sessions)
{
	uint32_t cap = 1024;

	/* up to three keypairs per session (previous, current, next) at half load */
	while (cap < 6 * max_sessions && cap < (1u << 28))
		cap <<= 1;
	sh->idx = table_alloc((size_t)cap * sizeof(*sh->idx));
	sh->ids = table_alloc((size_t)(cap / 4) * sizeof(*sh->ids));
	if (!sh->idx || !sh->ids)
		return -ENOMEM;
	/*
	 * Commit the pages now: random indices would otherwise touch a new
	 * page now and then for as long as the server runs, and memory that
	 * only ever creeps up hides a real leak. max_sessions sizes it.
	 */
	rw__memzero(sh->idx, (size_t)cap * sizeof(*sh->idx));
	rw__memzero(sh->ids, (size_t)(cap / 4) * sizeof(*sh->ids));
	sh->idx_mask = cap - 1;
	sh->ids_mask = cap / 4 - 1;
	return 0;
}

void rw__index_free(struct rw_shard *sh)
{
	free(sh->idx);
	free(sh->ids);
	sh->idx = NULL;
	sh->ids = NULL;
}

/* ---- receiver-index table --------------------------------------------------- */

static uint32_t idx_home(const struct rw_shard *sh, uint32_t index)
{
	/* the shard bits are the same for every index here; the rest is random */
	return rw__index_rest(sh->e->shard_bits, index) & sh->idx_mask;
}

struct rw_keypair *rw__index_lookup(struct rw_shard *sh, uint32_t index)
{
	for (uint32_t i = idx_home(sh, index);; i = (i + 1) & sh->idx_mask) {
		struct rw_index_slot *x = &sh->idx[i];

		if (!x->kp)
			return NULL;
		if (x->kp != TOMBSTONE && x->index == index)
			return x->kp;
	}
}

int rw__index_insert(struct rw_shard *sh, struct rw_keypair *kp)
{
	/* keep the table at most half full so probes stay short */
	if (sh->idx_used >= (sh->idx_mask + 1) / 2)
		return -ENOSPC;
	for (int tries = 0; tries < 64; tries++) {
		uint32_t index;

		if (rw__random(&index, sizeof(index)))
			return -EIO;
		index = rw__index_make(sh->e->shard_bits, index, sh->id);
		if (rw__index_lookup(sh, index))
			continue;	/* collision: draw again, as WireGuard does */
		for (uint32_t i = idx_home(sh, index);; i = (i + 1) & sh->idx_mask) {
			struct rw_index_slot *x = &sh->idx[i];

			if (!x->kp || x->kp == TOMBSTONE) {
				if (!x->kp)
					sh->idx_used++;
				x->index = index;
				x->kp = kp;
				kp->local_index = index;
				return 0;
			}
		}
	}
	return -EAGAIN;
}

void rw__index_remove(struct rw_shard *sh, struct rw_keypair *kp)
{
	for (uint32_t i = idx_home(sh, kp->local_index);; i = (i + 1) & sh->idx_mask) {
		struct rw_index_slot *x = &sh->idx[i];

		if (!x->kp)
			return;
		if (x->kp == kp) {
			/* a tombstone is only needed if a probe chain runs past it */
			if (!sh->idx[(i + 1) & sh->idx_mask].kp) {
				x->kp = NULL;
				sh->idx_used--;
			} else {
				x->kp = TOMBSTONE;
			}
			return;
		}
	}
}

/* ---- session-id table ------------------------------------------------------- */

static uint32_t id_home(const struct rw_shard *sh, uint64_t id)
{
	return (uint32_t)(rw__id_rest(id) * 0x9e3779b97f4a7c15ull >> 32) & sh->ids_mask;
}

struct rw_session *rw__ids_lookup(struct rw_shard *sh, uint64_t id)
{
	for (uint32_t i = id_home(sh, id);; i = (i + 1) & sh->ids_mask) {
		struct rw_session *s = sh->ids[i];

		if (!s)
			return NULL;
		if (s->id == id)
			return s;
	}
}

void rw__ids_insert(struct rw_shard *sh, struct rw_session *s)
{
	uint32_t i = id_home(sh, s->id);

	while (sh->ids[i])
		i = (i + 1) & sh->ids_mask;
	sh->ids[i] = s;
	sh->ids_count++;
}

void rw__ids_remove(struct rw_shard *sh, struct rw_session *s)
{
	uint32_t i = id_home(sh, s->id), j;

	while (sh->ids[i] != s) {
		if (!sh->ids[i])
			return;
		i = (i + 1) & sh->ids_mask;
	}
	sh->ids[i] = NULL;
	sh->ids_count--;
	for (j = (i + 1) & sh->ids_mask; sh->ids[j]; j = (j + 1) & sh->ids_mask) {
		uint32_t home = id_home(sh, sh->ids[j]->id);

		if (((j - home) & sh->ids_mask) >= ((j - i) & sh->ids_mask)) {
			sh->ids[i] = sh->ids[j];
			sh->ids[j] = NULL;
			i = j;
		}
	}
}
