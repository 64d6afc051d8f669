/* SPDX-License-Identifier: MIT */
/*
 * shard.h - the engine and its shards: what every engine file shares.
 * Internal: users see only include/ringwire.h.
 *
 * Owns: struct rw_engine and struct rw_shard, the counters macros, the one
 * place that knows how the shard is written into receiver indices and
 * session ids, and cross-thread commands (struct rw_cmd).
 *
 * Ownership: an engine runs N reactors ("shards" here). A session lives on
 * exactly one shard and only that shard's thread touches it. Which shard owns
 * a keypair is written in the low bits of the receiver index the shard drew
 * for it, so a packet that lands elsewhere is handed to its owner without any
 * lookup. The only state shared between shards is the peer table (peers.h),
 * touched on handshakes, never per data packet.
 */
#ifndef RW_SHARD_H
#define RW_SHARD_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "cookie.h"
#include "log.h"
#include "crypto.h"
#include "noise.h"
#include "peers.h"
#include "pmtu.h"
#include "ratelimit.h"
#include "reactor.h"
#include "reliable.h"
#include "resolver.h"
#include "ringwire.h"
#include "timer.h"
#include "transport.h"
#include "tcp.h"
#include "udp.h"

enum {
	RW_MAX_REACTORS = 64,
	RW_SHARD_BITS_MAX = 6,
	RW_DEFAULT_MAX_SESSIONS = 16384,
	RW_DEFAULT_MAX_FRAME_BYTES = 16 << 20,
	/* a core computes ~6,000 responder handshakes a second (166 us each with the cached
	 * static-static DH): under load from two thirds of that, a third left for the data */
	RW_DEFAULT_LOAD_HPS = 4000,
	RW_DEFAULT_SOURCE_RATE = 20,
	RW_DEFAULT_SOURCE_BURST = 10,
	RW_DEFAULT_MIN_HALF_OPEN = 256,
	RW_DEFAULT_SOURCE_MAX_HALF_OPEN = 8,
	RW_DEFAULT_SEND_BUFFERS = 4096,
	RW_AEAD_FAILURES_REHANDSHAKE = 8,
	/* Stop using a send counter this close to 2^64 (docs/protocol.md §7.2). */
	RW_COUNTER_LIMIT_MARGIN = 1 << 16,
	RW_CLOSE_MESSAGE_MAX = 120,
};

/* Keep one counter add cheap (no lock prefix) yet readable from other threads. */
#define RW_STAT_ADD(field, n) \
	__atomic_store_n(&(field), __atomic_load_n(&(field), __ATOMIC_RELAXED) + (n), __ATOMIC_RELAXED)
#define RW_STAT_INC(field) RW_STAT_ADD(field, 1)
#define RW_STAT_GET(field) __atomic_load_n(&(field), __ATOMIC_RELAXED)

struct rw_session;
struct rw_shard;
struct rw_noise_worker;
struct rw_parked;

/* ---- the shard bits of receiver indices and session ids: here and nowhere else ---- */

/*
 * A receiver index carries its shard in its low shard_bits bits (the rest is
 * random); a session id in its low RW_ID_SHARD_BITS bits (the rest counts).
 */
enum { RW_ID_SHARD_BITS = 8 };

static inline unsigned rw__index_shard(unsigned shard_bits, uint32_t index)
{
	return index & ((1u << shard_bits) - 1);
}

/* The bits of an index that are not the shard's: what a table hashes on. */
static inline uint32_t rw__index_rest(unsigned shard_bits, uint32_t index)
{
	return index >> shard_bits;
}

static inline uint32_t rw__index_make(unsigned shard_bits, uint32_t random, unsigned shard)
{
	return (random & ~((1u << shard_bits) - 1)) | shard;
}

static inline unsigned rw__id_shard(uint64_t id)
{
	return (unsigned)(id & ((1u << RW_ID_SHARD_BITS) - 1));
}

static inline uint64_t rw__id_rest(uint64_t id)
{
	return id >> RW_ID_SHARD_BITS;
}

static inline uint64_t rw__id_make(uint64_t seq, unsigned shard)
{
	return seq << RW_ID_SHARD_BITS | shard;
}

/* ---- commands between threads ---- */

/*
 * A command posted to a shard runs there as run(sh, c), which owns c (and
 * frees it). The sender names what to do; the receiving side needs no table
 * of command types, so no file has to know every other file's commands.
 */
struct rw_cmd {
	struct rw_cmd_node node;
	void (*run)(struct rw_shard *sh, struct rw_cmd *c);
};

/* One entry of a shard's receiver-index table. */
struct rw_index_slot {
	uint32_t index;
	struct rw_keypair *kp;	/* NULL: empty; TOMBSTONE: deleted */
};

/*
 * A latency histogram: fixed log2 buckets of microseconds (bucket k holds
 * values up to 2^k us, the last one everything beyond), written by the
 * owner thread with relaxed stores and summed over shards on a scrape.
 */
enum { RW_HIST_BUCKETS = 24 };	/* le 1 us .. 2^22 us (4.2 s), then +Inf */

struct rw_hist {
	uint64_t bucket[RW_HIST_BUCKETS];
	uint64_t sum_ns;	/* the count is the buckets' sum */
};

/* Owner thread only: one observation (relaxed stores, no lock prefix). */
static inline void rw__hist_add(struct rw_hist *h, uint64_t ns)
{
	uint64_t us = ns / 1000;
	unsigned k = us <= 1 ? 0 : 64 - (unsigned)__builtin_clzll(us - 1);

	if (k >= RW_HIST_BUCKETS)
		k = RW_HIST_BUCKETS - 1;
	RW_STAT_INC(h->bucket[k]);
	RW_STAT_ADD(h->sum_ns, ns);
}

/* Monotonic nanoseconds: for the histograms only (a vDSO call, no syscall). */
uint64_t rw__now_ns(void);

/* What the metrics show beyond rw_stats, per shard (each written by its owner only). */
struct rw_ops_stats {
	uint64_t closed[RW_CLOSE__COUNT];	/* sessions closed, by the reason on_close saw */
	uint64_t rx_batches;			/* receive batches that held at least one datagram */
	uint64_t rx_batch_datagrams;		/* the datagrams of those batches (own and handed over) */
	uint64_t reliable_stalls;		/* rw_session_send on a reliable channel said -EAGAIN */
	struct rw_hist hs_time;			/* initiator: handshake start (dial or rekey) -> response */
	struct rw_hist dispatch;		/* sampled: receive batch start -> on_event returned */
};

/* One in this many events has its dispatch latency measured. */
enum { RW_DISPATCH_SAMPLE = 64 };

/* Counters of the send pipeline (send.c), per shard. */
struct rw_send_stats {
	uint64_t parked;	/* packets parked: no send buffer free */
	uint64_t resumed;	/* parked packets sent once buffers came back */
	uint64_t paced;		/* packets held by the pacer */
};

struct rw_shard {
	struct rw_engine *e;
	struct rw_reactor *r;
	struct rw_udp udp;
	struct rw_transport *tr;	/* &udp.t: the pipeline sees only the interface */
	struct rw_tcp tcp;		/* wiresocket over TCP (§17): peers with via RW_VIA_TCP */
	struct rw_timer_wheel *wheel;
	unsigned id;

	/* receiver index -> keypair, open addressing (index.c) */
	struct rw_index_slot *idx;
	uint32_t idx_mask, idx_used;
	/* session id -> session, open addressing (index.c) */
	struct rw_session **ids;
	uint32_t ids_mask, ids_count;
	uint64_t next_id;

	struct rw_session *sessions;	/* list of all sessions */
	uint32_t nsessions;		/* all of them, half-open ones included */
	struct rw_session *ho_head, *ho_tail;	/* half-open sessions, oldest first */
	struct rw_session **by_addr;		/* confirmed responder sessions by peer address (session.c) */
	uint32_t by_addr_mask;
	uint32_t nhalf_open;
	struct rw_session *graveyard;	/* closed, freed at the end of the batch */
	uint64_t closes;		/* sessions closed: a walk of the list restarts when it moves */
	uint64_t walk_seq;

	/* send pipeline (send.c) */
	struct rw_session *dirty;		/* sessions with a frame to flush */
	struct rw_parked *park_head, **park_tail;	/* sealed packets waiting for a send buffer, FIFO */
	size_t park_bytes;
	struct rw_session *waiting;		/* told -EAGAIN while the park was full */
	struct rw_session *attn;		/* sessions the pipeline flagged (doomed, rekey due) */
	uint8_t *big;				/* scratch for frames larger than a packet */
	size_t big_cap;
	struct rw_send_stats sst;

	/* handshake load */
	uint64_t hs_window_ms;
	uint32_t hs_in_window;
	struct rw_cookie_checker cookies;
	uint64_t cookie_epoch;
	struct rw_ratelimit limiter;
	/* the thread that does this shard's X25519 (noise_worker.c), made on first use */
	struct rw_noise_worker *nw;
	/* initiator: sessions with Noise work for the batch end (session.c), by id */
	uint64_t *rekeyq;
	uint32_t rekeyq_head, rekeyq_len;
	struct rw_timer t_rekeyq;

	/* blocks for reliable frames kept for retransmission */
	struct rw_block_pool pool;

	struct rw_stats st;
	uint64_t half_open_evicted, half_open_expired;
	uint64_t pmtu_black_holes;
	struct rw__drop_summary drop_sum;	/* drops told once per window, per reason */
	struct rw_ops_stats ops;
	uint64_t batch_start_ns;		/* 0: no datagram yet in this batch */
	uint32_t batch_dgrams;
	uint32_t dispatch_tick;

	struct rw_timer t_housekeeping;
};

/* The session timer callbacks (timers.c), registered by the engine. */
struct rw_session_timer_fns {
	rw_timer_fn keepalive, timeout, rekey, handshake_retry, drain, frag, tick, pace, pmtu, cover;
};

struct rw_engine {
	bool server;
	struct rw_reactor_group *group;
	unsigned nshards;
	unsigned shard_bits;
	struct rw_shard shards[RW_MAX_REACTORS];
	const struct rw_session_timer_fns *timer_fns;
	/*
	 * Consume a HandshakeResp that waited for the batch end
	 * (handlers/handshake_resp.c), wired by engine.c: the session's Noise
	 * queue and the transport path run it without naming the handler that
	 * owns it (no call circle between session.c and the handlers).
	 */
	void (*hs_resp_run)(struct rw_session *s);
	struct rw_resolver resolver;

	struct rw_noise_identity id;	/* server key, or the client's fixed key */
	bool has_id;
	uint8_t cookie_master[RW_KEY_LEN];

	struct rw_handler handlers[RW_MAX_CHANNELS];
	bool has_handler[RW_MAX_CHANNELS];
	struct rw_handler any;
	bool has_any;

	struct rw_timers t;		/* resolved: no zeros */
	unsigned max_packet;
	struct rw_pmtu_cfg pmtu;	/* base max_packet, cap: min(max_packet_size, the transport's) */
	uint32_t pmtu_rx_max;		/* what this side tells peers it receives */
	bool pmtu_deaf;			/* test hook: ignore the peer's probes, as a v1 peer does */
	unsigned max_sessions;
	unsigned max_incomplete;
	size_t max_frame_bytes;
	unsigned load_hps;
	bool force_cookies;
	unsigned source_rate, source_burst;
	unsigned max_half_open;		/* per shard */
	unsigned source_max_half_open;	/* per source and shard, under load */
	uint32_t half_open_timeout_ms;
	uint8_t (*allowed)[RW_KEY_SIZE];
	size_t nallowed;
	int (*authenticate)(const uint8_t peer_key[RW_KEY_SIZE], void *user);
	void *auth_user;
	bool reject_silently;
	bool quiet;
	bool reconnect;
	uint32_t hs_timeout_ms;		/* client: a first dial's handshake deadline, 0: none */
	uint64_t send_rate;		/* bytes/s per session, 0: unlimited */
	struct rw_padding pad;		/* padding policy (padding.h), checked */
	enum rw_transport_kind transport;	/* client: how dials go (wire+tcp:// URIs are TCP anyway) */
	uint32_t tcp_fallback_ms;	/* client, AUTO: UDP unanswered this long -> TCP */
	uint16_t tcp_port;		/* server: the TCP listener's port, 0: none */
	char tcp_host[RW_HOST_MAX + 1];	/* as given in listen_tcp, for the URI */

	struct rw_peers peers;

	char host[RW_HOST_MAX + 1];	/* as given in listen, for the URI */
	uint16_t port;
	int stop_fd;			/* eventfd that wakes rw_*_run */
	atomic_bool started, stopping;
	atomic_uint_fast64_t dial_seq;
};

/* The shard whose thread is running, NULL on other threads. */
extern _Thread_local struct rw_shard *rw__current_shard;

/* The shard owning a session id, or NULL. */
static inline struct rw_shard *rw__shard_of_id(struct rw_engine *e, uint64_t id)
{
	unsigned s = rw__id_shard(id);

	return s < e->nshards ? &e->shards[s] : NULL;
}

/* Run c on shard target (any thread). On error c is still the caller's. */
static inline int rw__shard_post(struct rw_shard *target, struct rw_cmd *c)
{
	return rw__reactor_post(target->r, &c->node);
}

static inline uint64_t rw__now_ms(const struct rw_shard *sh)
{
	return rw__reactor_now_ms(sh->r);
}

/* The transport that reaches a peer: the one its handshake came on. */
static inline struct rw_transport *rw__shard_transport(struct rw_shard *sh, const struct rw_peer_addr *to)
{
	return rw_unlikely(to->via == RW_VIA_TCP) ? &sh->tcp.t : sh->tr;
}

/* The application's handler for a channel (its own, or the catch-all), or NULL. */
static inline const struct rw_handler *rw__engine_handler(const struct rw_engine *e, uint8_t channel)
{
	if (e->has_handler[channel])
		return &e->handlers[channel];
	return e->has_any ? &e->any : NULL;
}

/* ---- shard.c ---- */
/* Count a drop (and add it to the shard's drop summary). from may be NULL. */
void rw__drop(struct rw_shard *sh, enum rw_drop_reason why, const struct rw_peer_addr *from);
/*
 * One log record: a fixed phrase and nfields key/value pairs of strings
 * after it ("peer", wpub, "addr", a, ...). Nothing is formatted when the
 * level is off or the engine is quiet (and no log function is installed).
 */
void rw__log(const struct rw_engine *e, enum rw_log_level level, const char *msg, unsigned nfields, ...);
/* Whether rw__log would emit at this level (skip building fields otherwise). */
bool rw__log_on(const struct rw_engine *e, enum rw_log_level level);
/* A peer address as text ("1.2.3.4:5", "[::1]:5"). */
int rw__peer_to_string(char out[RW_ADDR_STR_MAX], const struct rw_peer_addr *p);

#endif
