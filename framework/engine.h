/* SPDX-License-Identifier: MIT */
/*
 * engine.h - the engine's life (engine.c): create the shards over a reactor
 * group, start, stop, and the calls the public server and client APIs make
 * from any thread (send by id, broadcast, dial). The structs are in shard.h.
 */
#ifndef RW_ENGINE_H
#define RW_ENGINE_H

#include <stdbool.h>
#include <stddef.h>

#include "shard.h"

struct rw_engine_config {
	bool server;			/* responder (true) or initiator */
	const char *listen;		/* "host:port" to bind */
	unsigned reactors;		/* 0: one per CPU */
	const struct rw_timers *timers;	/* NULL or zeros: defaults */
	unsigned max_packet;		/* 0: RW_DEFAULT_MAX_PACKET */
	unsigned max_packet_size;	/* path MTU cap; 0: RW_PMTU_MAX_DATAGRAM or the transport's maximum */
	unsigned max_sessions;		/* 0: RW_DEFAULT_MAX_SESSIONS */
	unsigned max_incomplete;	/* 0: RW_DEFAULT_MAX_INCOMPLETE_FRAMES */
	size_t max_frame_bytes;		/* 0: RW_DEFAULT_MAX_FRAME_BYTES */
	unsigned send_buffers;		/* per reactor; 0: RW_DEFAULT_SEND_BUFFERS */
	bool quiet;
	/* wiresocket over TCP (§17): a server's listener ("host:port", NULL: none); both roles' limits */
	const char *listen_tcp;
	unsigned tcp_max_conns;		/* per reactor, 0: the role's default */
	uint32_t tcp_stall_ms;		/* 0: RW_TCP_DEFAULT_STALL_MS */
};

int rw__engine_init(struct rw_engine *e, const struct rw_engine_config *cfg, char *err, size_t errlen);
int rw__engine_on(struct rw_engine *e, int channel, const struct rw_handler *h);
int rw__engine_start(struct rw_engine *e);
int rw__engine_stop(struct rw_engine *e);
int rw__engine_wait(struct rw_engine *e);
/* Start, wait for SIGINT/SIGTERM or a stop, stop gracefully, join (server.c). */
int rw__engine_run(struct rw_engine *e);
void rw__engine_destroy(struct rw_engine *e);
void rw__engine_stats(const struct rw_engine *e, struct rw_stats *st);
/* The send pipeline's counters, summed over the shards. */
void rw__engine_send_stats(const struct rw_engine *e, struct rw_send_stats *st);
int rw__engine_send(struct rw_engine *e, uint64_t id, uint8_t channel, uint8_t type, const void *payload,
		    size_t len);
int rw__engine_broadcast(struct rw_engine *e, uint8_t channel, uint8_t type, const void *payload, size_t len);
int rw__engine_set_limits(struct rw_engine *e);
int rw__engine_dial(struct rw_engine *e, const char *uri, void *user, uint64_t *id_out, char *err, size_t errlen);

/* The engine under a public handle (tests of the internals). */
struct rw_engine *rw__server_engine(struct rw_server *srv);
struct rw_engine *rw__client_engine(struct rw_client *cli);

#endif
