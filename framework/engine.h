/* SPDX-License-Identifier: MIT */
/*
 * engine.h - what the server, the client, the sessions and the packet
 * handlers share. Internal: users see only include/ringwire.h.
 *
 * Ownership: an engine runs N reactors ("shards" here). A session lives on
 * exactly one shard and only that shard's thread touches it. Which shard owns
 * a keypair is written in the low bits of the receiver index the shard drew
 * for it, so a packet that lands elsewhere is handed to its owner without any
 * lookup. The only state shared between shards is the peer table (peers.h),
 * touched on handshakes, never per data packet.
 */
#ifndef RW_ENGINE_H
#define RW_ENGINE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "cookie.h"
#include "crypto.h"
#include "fragment.h"
#include "frame.h"
#include "noise.h"
#include "pacer.h"
#include "packet.h"
#include "peers.h"
#include "ratelimit.h"
#include "reactor.h"
#include "replay.h"
#include "ringwire.h"
#include "timer.h"

enum {
	RW_MAX_REACTORS = 64,
	RW_MAX_STAGING = 9216,		/* >= the largest max_packet (9000) */
	RW_SHARD_BITS_MAX = 6,
	RW_DEFAULT_MAX_SESSIONS = 16384,
	RW_DEFAULT_MAX_FRAME_BYTES = 16 << 20,
	RW_DEFAULT_LOAD_HPS = 2000,
	RW_DEFAULT_SOURCE_RATE = 20,
	RW_DEFAULT_SOURCE_BURST = 10,
	RW_DEFAULT_MIN_HALF_OPEN = 256,
	RW_DEFAULT_SOURCE_MAX_HALF_OPEN = 8,
	RW_AEAD_FAILURES_REHANDSHAKE = 8,
	/* Stop using a send counter this close to 2^64 (spec §7.2). */
	RW_COUNTER_LIMIT_MARGIN = 1 << 16,
	/* Internal events on channel 255 (v1 peers ignore the channel). */
	RW_INTERNAL_CLOSE_REASON = 1,
	RW_CLOSE_MESSAGE_MAX = 120,
};

/* Keep one counter add cheap (no lock prefix) yet readable from other threads. */
#define RW_STAT_ADD(field, n) \
	__atomic_store_n(&(field), __atomic_load_n(&(field), __ATOMIC_RELAXED) + (n), __ATOMIC_RELAXED)
#define RW_STAT_INC(field) RW_STAT_ADD(field, 1)
#define RW_STAT_GET(field) __atomic_load_n(&(field), __ATOMIC_RELAXED)

struct rw_session;
struct rw_shard;
struct rw_reliable;
struct rw_block;

/* One Noise session's keys: a session has a current, a previous and a next. */
struct rw_keypair {
	struct rw_aead tx, rx;
	struct rw_replay replay;
	uint64_t tx_counter;
	uint64_t born_ms;
	uint32_t local_index, remote_index;
	struct rw_session *s;
	bool initiator;
	bool ready;		/* keys installed (an initiator's is not until the response) */
};

enum rw_session_state {
	RW_SS_CONNECTING,	/* initiator: first handshake under way */
	RW_SS_ESTABLISHED,
	RW_SS_CLOSED,
};

struct rw_session {
	struct rw_engine *e;
	struct rw_shard *sh;
	uint64_t id;
	enum rw_session_state state;
	bool initiator;		/* we dialled it: we rekey and reconnect */
	bool opened;		/* on_open delivered */
	bool dirty;		/* on the shard's flush list */
	bool doomed;		/* a reliable frame could not be kept: close at the next flush */

	uint8_t peer_key[RW_KEY_SIZE];
	struct rw_noise_remote remote;		/* initiator: the server, with the cached ss */
	struct rw_noise_identity *local;	/* our static key for this session */
	struct rw_noise_identity own_local;	/* when the client draws a key per session */
	struct sockaddr_storage addr;
	socklen_t addrlen;

	struct rw_keypair *cur, *prev, *next;

	/* initiator handshake */
	struct rw_handshake hs;
	struct rw_keypair *hs_kp;		/* holds the index the response comes back to */
	uint8_t hs_msg[RW_SIZE_HANDSHAKE_INIT];
	uint8_t cookie[RW_COOKIE_LEN];
	uint64_t cookie_ms;
	bool has_cookie;
	bool cookie_retried;	/* this attempt already answered a CookieReply at once */
	uint32_t hs_attempt;
	uint64_t hs_started_ms;

	/* timers (lazy: re-armed from last_rx/last_tx when they fire) */
	struct rw_timer t_keepalive, t_timeout, t_rekey, t_handshake, t_drain, t_frag, t_tick, t_pace;
	struct rw_pacer pacer;
	uint64_t pace_blocked[4];	/* channels told -EAGAIN by the pacer */
	bool pacing;			/* draining the pacer: do not queue again */
	uint32_t tick_ms;
	uint64_t last_rx_ms, last_tx_ms;
	uint32_t aead_failures;

	struct rw_reasm reasm;
	struct rw_frag_ids frag_ids;

	/* coalescing: the frame being filled, inside a reactor send buffer */
	struct rw_frame_builder txb;
	unsigned tx_idx;
	uint8_t *tx_buf;
	int tx_channel;		/* -1: none open */
	struct rw_session *dirty_next;

	struct rw_reliable *rel[RW_MAX_CHANNELS];	/* reliable channel state, lazily */

	uint64_t subs[4];	/* broadcast subscriptions, a bit per channel */
	void *user;
	struct rw_session_stats st;

	/* closing */
	enum rw_close_reason peer_reason;
	bool peer_gave_reason;
	char peer_message[RW_CLOSE_MESSAGE_MAX + 1];

	/* client: where to reconnect to */
	char host[RW_HOST_MAX + 1];
	uint16_t port;

	/* responder: half-open until the initiator's first packet under our keys */
	bool half_open;
	uint8_t source[16];		/* the address it came from, as the limiter groups it */
	uint64_t born_ms;
	struct rw_session *ho_next, *ho_prev;	/* the shard's half-open FIFO, oldest first */

	struct rw_session *list_next, *list_prev;	/* the shard's session list */
	uint64_t walk_seq;				/* last broadcast that visited it */
};

/* One entry of a shard's receiver-index table. */
struct rw_index_slot {
	uint32_t index;
	struct rw_keypair *kp;	/* NULL: empty; TOMBSTONE: deleted */
};

struct rw_shard {
	struct rw_engine *e;
	struct rw_reactor *r;
	unsigned id;

	/* receiver index -> keypair, open addressing (owner thread only) */
	struct rw_index_slot *idx;
	uint32_t idx_mask, idx_used;
	/* session id -> session, open addressing */
	struct rw_session **ids;
	uint32_t ids_mask, ids_count;
	uint64_t next_id;

	struct rw_session *sessions;	/* list of all sessions */
	uint32_t nsessions;		/* all of them, half-open ones included */
	struct rw_session *ho_head, *ho_tail;	/* half-open sessions, oldest first */
	uint32_t nhalf_open;
	struct rw_session *dirty;	/* sessions with a frame to flush */
	struct rw_session *graveyard;	/* closed, freed at the end of the batch */
	uint64_t closes;		/* sessions closed: a walk of the list restarts when it moves */
	uint64_t walk_seq;

	/* handshake load */
	uint64_t hs_window_ms;
	uint32_t hs_in_window;
	struct rw_cookie_checker cookies;
	uint64_t cookie_epoch;
	struct rw_ratelimit limiter;

	/* scratch for large frames, and one packet sent synchronously when every send buffer is in flight */
	uint8_t *big;
	size_t big_cap;
	uint8_t staging[RW_MAX_STAGING];

	/* freelist of packet-sized blocks for reliable frames kept for retransmission */
	struct rw_block *blocks;
	uint32_t nblocks;

	struct rw_stats st;
	uint64_t half_open_evicted, half_open_expired;
	uint64_t drop_log_ms;		/* rate limit of drop log lines */
	uint32_t drop_log_suppressed;

	struct rw_timer t_housekeeping;
};

struct rw_engine {
	bool server;
	struct rw_reactor_group *group;
	unsigned nshards;
	unsigned shard_bits;
	struct rw_shard shards[RW_MAX_REACTORS];

	struct rw_noise_identity id;	/* server key, or the client's fixed key */
	bool has_id;
	uint8_t cookie_master[RW_KEY_LEN];

	struct rw_handler handlers[RW_MAX_CHANNELS];
	bool has_handler[RW_MAX_CHANNELS];
	struct rw_handler any;
	bool has_any;

	struct rw_timers t;		/* resolved: no zeros */
	unsigned max_packet;
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

	struct rw_peers peers;

	char host[RW_HOST_MAX + 1];	/* as given in listen, for the URI */
	uint16_t port;
	int stop_fd;			/* eventfd that wakes rw_*_run */
	atomic_bool started, stopping;
	atomic_uint_fast64_t dial_seq;
};

/* Commands between threads (engine.c runs them on the target shard). */
enum rw_cmd_type { CMD_SEND, CMD_BROADCAST, CMD_DIAL, CMD_HANDSHAKE, CMD_CLOSE };

struct rw_cmd {
	struct rw_cmd_node node;
	enum rw_cmd_type type;
};

/* The shard whose thread is running, NULL on other threads. */
extern _Thread_local struct rw_shard *rw__current_shard;

static inline struct rw_shard *rw__shard_of(struct rw_reactor *r)
{
	return rw__reactor_get_ctx(r);
}

/* Which shard owns a receiver index. */
static inline unsigned rw__index_shard(const struct rw_engine *e, uint32_t index)
{
	return index & ((1u << e->shard_bits) - 1);
}

/* ---- engine.c ---- */
int rw__engine_init(struct rw_engine *e, bool server, const char *listen, unsigned reactors,
		    const struct rw_timers *t, unsigned max_packet, unsigned max_sessions, unsigned max_incomplete,
		    size_t max_frame, bool quiet, char *err, size_t errlen);
int rw__engine_on(struct rw_engine *e, int channel, const struct rw_handler *h);
int rw__engine_start(struct rw_engine *e);
int rw__engine_stop(struct rw_engine *e);
int rw__engine_wait(struct rw_engine *e);
/* Start, wait for SIGINT/SIGTERM or a stop, stop gracefully, join. */
int rw__engine_run(struct rw_engine *e);
void rw__engine_destroy(struct rw_engine *e);
void rw__engine_stats(const struct rw_engine *e, struct rw_stats *st);
int rw__engine_send(struct rw_engine *e, uint64_t id, uint8_t channel, uint8_t type, const void *payload,
		    size_t len);
int rw__engine_broadcast(struct rw_engine *e, uint8_t channel, uint8_t type, const void *payload, size_t len);
const struct rw_handler *rw__engine_handler(const struct rw_engine *e, uint8_t channel);
int rw__engine_set_limits(struct rw_engine *e);
int rw__engine_dial(struct rw_engine *e, const char *uri, void *user, uint64_t *id_out, char *err, size_t errlen);
int rw__engine_close_id(struct rw_engine *e, uint64_t id, enum rw_close_reason reason);
/* Hand a handshake to the shard owning the peer's session (the node is a struct rw_cmd). */
int rw__engine_post_handshake(struct rw_engine *e, unsigned shard, struct rw_cmd_node *node);
/* Count a drop (and log it, rate-limited). */
void rw__drop(struct rw_shard *sh, enum rw_drop_reason why, const struct sockaddr *from, socklen_t fromlen);
/* Send a datagram built by fill() into a reactor buffer (or a stack fallback). */
int rw__shard_send_raw(struct rw_shard *sh, const uint8_t *data, size_t len, const struct sockaddr *to,
		       socklen_t tolen);
uint64_t rw__now_ms(const struct rw_shard *sh);
void rw__log(const struct rw_engine *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- session.c ---- */
/* id 0: draw one on this shard. NULL when the session table is full. */
struct rw_session *rw__session_new(struct rw_shard *sh, const uint8_t peer_key[RW_KEY_SIZE], uint64_t id);
/*
 * A responder session that stays half-open until the initiator's first
 * packet under its keys: it takes a slot of the shard's half-open pool, not
 * of the session table, evicting the oldest half-open session when the pool
 * is full. NULL when the table of confirmed sessions is full.
 */
struct rw_session *rw__session_new_half_open(struct rw_shard *sh, const uint8_t peer_key[RW_KEY_SIZE],
					      const struct sockaddr *from, socklen_t fromlen);
/* How many half-open sessions of this shard came from the source of from. */
unsigned rw__half_open_from(const struct rw_shard *sh, const struct sockaddr *from, socklen_t fromlen);
/* The shard is crowded: half its half-open pool, or 90% of its session table, is taken. */
bool rw__shard_crowded(const struct rw_shard *sh);
int rw__session_reresolve(struct rw_session *s);
/* Arm the reassembly collection timer if it is not armed. */
void rw__session_frag_timer(struct rw_session *s);
void rw__session_set_addr(struct rw_session *s, const struct sockaddr *a, socklen_t len);
struct rw_session *rw__session_by_id(struct rw_shard *sh, uint64_t id);
struct rw_keypair *rw__keypair_new(struct rw_session *s, bool initiator);
int rw__keypair_install(struct rw_keypair *kp, const uint8_t send[RW_KEY_LEN], const uint8_t recv[RW_KEY_LEN],
			uint32_t remote_index);
void rw__keypair_free(struct rw_keypair *kp);
struct rw_keypair *rw__index_lookup(struct rw_shard *sh, uint32_t index);
/* After a handshake: make kp current (initiator) or next (responder). */
void rw__session_keys_established(struct rw_session *s, struct rw_keypair *kp);
/* A transport packet decrypted under kp: rotate keys on confirmation, roam, timers. */
void rw__session_rx_ok(struct rw_session *s, struct rw_keypair *kp, const struct sockaddr *from, socklen_t fromlen,
		       size_t bytes);
void rw__session_deliver_frame(struct rw_session *s, const uint8_t *frame, size_t len);
int rw__session_send_event(struct rw_session *s, uint8_t channel, uint8_t type, const void *payload, size_t len);
/* Seal and send a frame already encoded (the reliable layer's retransmits). */
int rw__session_send_frame(struct rw_session *s, const uint8_t *frame, size_t len);
void rw__session_flush(struct rw_session *s);
int rw__session_send_keepalive(struct rw_session *s);
/* Close: reason event + Disconnect unless by_peer, then on_close and free. */
void rw__session_close(struct rw_session *s, enum rw_close_reason reason, bool by_peer, const char *message,
		       bool send_reason);
void rw__session_opened(struct rw_session *s);
/* Initiator: start (or restart) a handshake. */
int rw__session_handshake_start(struct rw_session *s);
/* A send error that no retry fixes (no route, wrong address family, not permitted). */
bool rw__send_error_permanent(int err);
/*
 * A dial (no session yet) whose send failed with err: when the error is
 * permanent, close it now with RW_CLOSE_NETWORK and a message naming the
 * error and the fix. true when it closed s.
 */
bool rw__session_dial_error(struct rw_session *s, int err);
/* A send to `to` completed with err: end the dials to that address if it is permanent. */
void rw__shard_send_failed(struct rw_shard *sh, const struct sockaddr *to, socklen_t tolen, int err);
void rw__session_aead_failed(struct rw_session *s);
void rw__shard_flush_all(struct rw_shard *sh);
/* Free the sessions closed during this batch. */
void rw__shard_reap(struct rw_shard *sh);
/* Free the shard's block pool (engine teardown). */
void rw__reliable_pool_free(struct rw_shard *sh);
int rw__shard_init_tables(struct rw_shard *sh, uint32_t max_sessions);
void rw__shard_free_tables(struct rw_shard *sh);
void rw__shard_close_all(struct rw_shard *sh, enum rw_close_reason reason, const char *message);

/* ---- handlers/ : one per packet type, dispatched from engine.c ---- */
typedef void (*rw_packet_handler)(struct rw_shard *sh, struct rw_packet *p, uint8_t *data, const struct sockaddr *from,
				  socklen_t fromlen);
void rw__handle_handshake_init(struct rw_shard *sh, struct rw_packet *p, uint8_t *data, const struct sockaddr *from,
			       socklen_t fromlen);
void rw__handle_handshake_resp(struct rw_shard *sh, struct rw_packet *p, uint8_t *data, const struct sockaddr *from,
			       socklen_t fromlen);
void rw__handle_cookie_reply(struct rw_shard *sh, struct rw_packet *p, uint8_t *data, const struct sockaddr *from,
			     socklen_t fromlen);
void rw__handle_data(struct rw_shard *sh, struct rw_packet *p, uint8_t *data, const struct sockaddr *from,
		     socklen_t fromlen);
void rw__handle_disconnect(struct rw_shard *sh, struct rw_packet *p, uint8_t *data, const struct sockaddr *from,
			   socklen_t fromlen);
void rw__handle_keepalive(struct rw_shard *sh, struct rw_packet *p, uint8_t *data, const struct sockaddr *from,
			  socklen_t fromlen);
void rw__handle_fragment(struct rw_shard *sh, struct rw_packet *p, uint8_t *data, const struct sockaddr *from,
			 socklen_t fromlen);
/*
 * A packet whose receiver index names another shard: hand it over (or drop
 * it, counted). true when the caller must stop.
 */
bool rw__route_elsewhere(struct rw_shard *sh, const struct rw_packet *p, const uint8_t *data,
			 const struct sockaddr *from, socklen_t fromlen);
/* HandshakeResp and CookieReply: the keypair of our pending handshake, or NULL (counted). */
struct rw_keypair *rw__pending_handshake(struct rw_shard *sh, const struct rw_packet *p, const uint8_t *data,
					 const struct sockaddr *from, socklen_t fromlen);
/*
 * Shared by the four transport handlers: find the keypair (handing the packet
 * to its owner shard if need be), check replay, decrypt in place, update the
 * window. Returns the plaintext length, or -1 when the packet was dropped or
 * handed off (already counted).
 */
int rw__transport_open(struct rw_shard *sh, struct rw_packet *p, uint8_t *data, const struct sockaddr *from,
		       socklen_t fromlen, struct rw_keypair **kpp);

/* Handshake hand-over to the shard owning the peer's session (handshake_init.c). */
struct rw_hs_cmd;
void rw__handshake_finish_cmd(struct rw_shard *sh, struct rw_hs_cmd *c);

#endif
