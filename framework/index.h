/* SPDX-License-Identifier: MIT */
/*
 * index.h - a shard's two lookup tables: receiver index -> keypair (every
 * transport packet) and session id -> session (commands, sends by id).
 * Owner thread only.
 */
#ifndef RW_INDEX_H
#define RW_INDEX_H

#include <stdint.h>

#include "shard.h"

struct rw_keypair;

int rw__index_init(struct rw_shard *sh, uint32_t max_sessions);
void rw__index_free(struct rw_shard *sh);
struct rw_keypair *rw__index_lookup(struct rw_shard *sh, uint32_t index);
/* Draw a fresh receiver index naming this shard for kp (sets kp->local_index). */
int rw__index_insert(struct rw_shard *sh, struct rw_keypair *kp);
void rw__index_remove(struct rw_shard *sh, struct rw_keypair *kp);

struct rw_session *rw__ids_lookup(struct rw_shard *sh, uint64_t id);
void rw__ids_insert(struct rw_shard *sh, struct rw_session *s);
void rw__ids_remove(struct rw_shard *sh, struct rw_session *s);

#endif
