/* SPDX-License-Identifier: MIT */
/*
 * session.h - one session and its keys: struct rw_session, struct
 * rw_keypair, and the session API the packet handlers, the engine and the
 * timers use (session.c). A session lives on one shard (shard.h); only that
 * shard's thread touches it.
 */
#ifndef RW_SESSION_H
#define RW_SESSION_H

#include <stdbool.h>
#include <stdint.h>

#include "crypto.h"
#include "fragment.h"
#include "frame.h"
#include "noise.h"
#include "pacer.h"
#include "pmtu.h"
#include "replay.h"
#include "resolver.h"
#include "shard.h"
#include "timer.h"
#include "transport.h"

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
	bool resolving;		/* reconnect: waiting for the resolver */
	bool tcp_auto;		/* initiator, RW_TRANSPORT_AUTO: UDP unanswered -> TCP (§17.4) */
	uint8_t via;		/* initiator: the transport its peer is reached over (RW_VIA_*) */
	/* responder: half-open until the initiator's first packet under our keys */
	bool half_open;

	/*
	 * What every datagram touches comes first, together: with 10,000s of
	 * sessions a packet finds its session cold in the cache, and each
	 * line of it read is a miss (receive: keys, peer, last_rx_ms, stats;
	 * send: the block below).
	 */
	struct rw_keypair *cur, *prev, *next;
	/*
	 * Responder: the next keys a newer HandshakeInit (a retry) superseded
	 * before either was confirmed. The initiator may have consumed the
	 * response of the older one first and use those keys: either pair
	 * that is used first is confirmed, the other freed.
	 */
	struct rw_keypair *next_old;
	struct rw_peer_addr peer;
	uint32_t tick_ms;
	uint64_t last_rx_ms, last_tx_ms;	/* the lazy timers re-arm from these */
	uint32_t aead_failures;
	void *user;
	struct rw_session_stats st;

	/* send pipeline state (send.c owns every field of this block) */
	struct {
		struct rw_frame_builder fb;	/* the frame being filled, inside buf */
		uint8_t *buf;			/* a transport buffer, or NULL */
		uint32_t buf_size;		/* the datagram buf was taken for: padding's bound */
		int channel;			/* -1: no frame open */
		struct rw_frag_ids frag_ids;
		struct rw_pacer pacer;
		bool pacing;			/* draining the pacer: do not queue again */
		uint64_t blocked[4];		/* channels told -EAGAIN: on_writable when room is back */
		bool dirty;			/* on the shard's dirty list */
		bool attn;			/* on the shard's attention list */
		bool waiting;			/* on the shard's list of sessions told -EAGAIN by a full park */
		bool doomed;			/* a reliable frame could not be kept: close */
		bool rekey_due;			/* the counter passed rekey_after_messages */
		struct rw_session *dirty_next, *attn_next, *waiting_next;
	} tx;

	struct rw_reliable *rel[RW_MAX_CHANNELS];	/* reliable channel state, lazily */

	uint8_t peer_key[RW_KEY_SIZE];
	struct rw_noise_remote remote;		/* initiator: the server, with the cached ss */
	struct rw_noise_identity *local;	/* our static key for this session */
	struct rw_noise_identity own_local;	/* when the client draws a key per session */

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
	uint64_t hs_started_ns;		/* the handshake-time histogram's start */
	uint32_t hs_gen;		/* attempts made: an init back from the Noise worker for an older one is not sent */
	uint8_t hs_resp_jobs;		/* responses on the Noise worker (handshake_resp.c) */
	/* a first HandshakeResp that passed MAC1, consumed at the batch end (handshake_resp.c) */
	uint8_t hs_resp[RW_SIZE_HANDSHAKE_RESP];
	struct rw_peer_addr hs_resp_from;
	uint32_t hs_resp_index;		/* the local index of the keypair it answers */
	bool hs_resp_queued;
	bool rekey_queued;		/* a due rekey waits for the batch end */

	/* timers (timers.c; lazy: re-armed from last_rx/last_tx when they fire) */
	struct rw_timer t_keepalive, t_timeout, t_rekey, t_handshake, t_drain, t_frag, t_tick, t_pace, t_pmtu;
	struct rw_timer t_cover;	/* padding's cover traffic (padding.h), only with cover_interval_ms */

	struct rw_reasm reasm;

	/* path MTU discovery (pmtu.h): pmtu.size is the largest datagram send.c builds */
	struct rw_pmtu pmtu;

	uint64_t subs[4];	/* broadcast subscriptions, a bit per channel */

	/* closing */
	enum rw_close_reason peer_reason;
	bool peer_gave_reason;
	char peer_message[RW_CLOSE_MESSAGE_MAX + 1];

	/* client: where to reconnect to */
	char host[RW_HOST_MAX + 1];
	uint16_t port;
	/* a URI with several addresses (§16.3): all of them, the one in use, how many this dial tried */
	struct rw_endpoint_addr *hints;		/* NULL for one address */
	uint8_t nhints, hint, hints_tried;

	/* responder, half-open (half_open above) */
	uint8_t source[16];		/* the address it came from, as the limiter groups it */
	uint64_t born_ms;
	struct rw_session *ho_next, *ho_prev;	/* the shard's half-open FIFO, oldest first */
	/* responder over TCP: when its connection closed (0: it has one); it may come back on another */
	uint64_t orphan_ms;

	/* responder, confirmed: in the shard's map of peer addresses (rw__session_known_addr) */
	bool in_addr_map;
	struct rw_session *addr_next;

	struct rw_session *list_next, *list_prev;	/* the shard's session list */
	uint64_t walk_seq;				/* last broadcast that visited it */
};

/* How a session closes (rw__session_close). */
enum rw_close_flags {
	RW_CLOSE_F_BY_PEER = 1 << 0,	/* the peer closed: send it nothing */
	RW_CLOSE_F_TELL = 1 << 1,	/* send the reason event before the Disconnect */
};

/*
 * Rekey timing (the initiator's; docs/protocol.md §7.4). Each rekey is due
 * rekey_after_ms less a random 0 to 1/RW_REKEY_JITTER_DIV of it, per
 * session and per rekey. A rekey that gets no answer retries (backing off,
 * each retry late by a random 0 to RW_HANDSHAKE_JITTER_MAX_MS) while the
 * current keys carry the session, until they are RW_REKEY_REJECT_MUL times
 * rekey_after_ms old (WireGuard's REJECT_AFTER_TIME is 1.5 times its
 * REKEY_AFTER_TIME; a larger margin, as the interval may be short): then
 * they are dropped and the session reconnects, or closes.
 */
enum {
	RW_REKEY_JITTER_DIV = 10,
	RW_HANDSHAKE_JITTER_MAX_MS = 333,
	RW_REKEY_REJECT_MUL = 3,
};

/* When the current keys may no longer be used (initiator); UINT64_MAX without keys. */
uint64_t rw__session_keys_expire_at(const struct rw_session *s);

/* id 0: draw one on this shard. */
struct rw_session *rw__session_new(struct rw_shard *sh, const uint8_t peer_key[RW_KEY_SIZE], uint64_t id);
/*
 * A responder session that stays half-open until the initiator's first
 * packet under its keys: it takes a slot of the shard's half-open pool, not
 * of the session table, evicting the oldest half-open session when the pool
 * is full. NULL when the table of confirmed sessions is full.
 */
struct rw_session *rw__session_new_half_open(struct rw_shard *sh, const uint8_t peer_key[RW_KEY_SIZE],
					      const struct rw_peer_addr *from);
/*
 * A confirmed responder session of this shard is at exactly this address
 * (IP and port): a HandshakeInit from there that proved the address with
 * MAC2 is that session's rekey, or one of its own, not a stranger's.
 */
bool rw__session_known_addr(const struct rw_shard *sh, const struct rw_peer_addr *from);
/* How many half-open sessions of this shard came from the source of from. */
unsigned rw__half_open_from(const struct rw_shard *sh, const struct rw_peer_addr *from);
/* A half-open session that never confirmed within half_open_timeout_ms (timers.c). */
void rw__half_open_expire(struct rw_session *s);
/* The shard is crowded: half its half-open pool, or 90% of its session table, is taken. */
bool rw__shard_crowded(const struct rw_shard *sh);
struct rw_session *rw__session_by_id(struct rw_shard *sh, uint64_t id);
void rw__session_set_peer(struct rw_session *s, const struct rw_peer_addr *a);
struct rw_keypair *rw__keypair_new(struct rw_session *s, bool initiator);
int rw__keypair_install(struct rw_keypair *kp, const uint8_t send[RW_KEY_LEN], const uint8_t recv[RW_KEY_LEN],
			uint32_t remote_index);
void rw__keypair_free(struct rw_keypair *kp);
/* After a handshake: make kp current (initiator) or next (responder). */
void rw__session_keys_established(struct rw_session *s, struct rw_keypair *kp);
/* A transport packet decrypted under kp: rotate keys on confirmation, roam, timers. */
void rw__session_rx_ok(struct rw_session *s, struct rw_keypair *kp, const struct rw_peer_addr *from, size_t bytes);
void rw__session_aead_failed(struct rw_session *s);
/* A decrypted frame (whole, or reassembled). */
void rw__session_deliver_frame(struct rw_session *s, const uint8_t *frame, size_t len);
/* Arm the reassembly collection timer if it is not armed. */
void rw__session_frag_timer(struct rw_session *s);
int rw__session_send_event(struct rw_session *s, uint8_t channel, uint8_t type, const void *payload, size_t len);
/* Close: reason event + Disconnect unless by the peer, then on_close; freed at the end of the batch. */
void rw__session_close(struct rw_session *s, enum rw_close_reason reason, unsigned flags, const char *message);
/* Close a session by id on whichever shard owns it (any thread; posted). */
/* Close a session by id from any thread; message: a string that lives forever (a literal). */
int rw__session_close_id(struct rw_engine *e, uint64_t id, enum rw_close_reason reason, const char *message);
void rw__session_opened(struct rw_session *s);
/* The path MTU timer (timers.c): send the probe due, handle timeouts, re-arm. */
void rw__session_pmtu_run(struct rw_session *s, uint64_t now);
/* Initiator: start (or restart) a handshake / retry it (timers.c). */
int rw__session_handshake_start(struct rw_session *s);
/*
 * An initiator's handshake work waits for the batch end, after the batch's
 * data, within a budget per batch: a rekey that is due (timers.c; its DH
 * then runs on the Noise worker), a first session's HandshakeResp to
 * consume (handshake_resp.c; a rekey's goes to the worker at once).
 * rw__session_noise_later queues s (false: no room, do it now).
 */
bool rw__session_noise_later(struct rw_session *s);
void rw__session_rekey_due(struct rw_session *s);
bool rw__session_rekeys_pending(const struct rw_shard *sh);
void rw__session_rekeys_run(struct rw_shard *sh);
void rw__session_rekey_queue_free(struct rw_shard *sh);
/* A close reason as one word for logs and metric labels ("timeout", "rejected"): the enum's own name. */
const char *rw__close_reason_token(enum rw_close_reason r);
void rw__session_handshake_retry(struct rw_session *s, uint64_t now);
/*
 * A dial (no session yet) whose send failed with err: when the error is
 * permanent, close it now with RW_CLOSE_NETWORK and a message naming the
 * error and the fix. true when it closed s.
 */
bool rw__session_dial_error(struct rw_session *s, int err);
/* The transport's on_send_error (up: the shard): end the dials to `to` if err is permanent. */
void rw__shard_send_failed(void *up, const struct rw_peer_addr *to, int err);
/*
 * A TCP connection the server accepted closed (tcp.c's on_peer_gone): its
 * sessions wait tcp_stall_ms for a packet on another connection (roaming,
 * docs/protocol.md §17.3), then close.
 */
void rw__shard_peer_gone(void *up, const struct rw_peer_addr *peer);
/* Initiator lost the server: new keys, and the host name looked up again off the reactor. */
void rw__session_reconnect(struct rw_session *s, uint64_t now);
/* End of a reactor batch: flush and resume sends, act on what the pipeline flagged, free closed sessions. */
void rw__shard_batch_end(struct rw_shard *sh);
void rw__shard_close_all(struct rw_shard *sh, enum rw_close_reason reason, const char *message);
/* Free the sessions closed during this batch. */
void rw__shard_reap(struct rw_shard *sh);

#endif
