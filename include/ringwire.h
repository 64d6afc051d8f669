/* SPDX-License-Identifier: MIT */
/*
 * ringwire.h - the one header a ringwire user includes.
 *
 * ringwire builds servers and clients that speak wiresocket v1: an encrypted,
 * multiplexed UDP event-stream protocol in the style of WireGuard. Endpoints
 * are identified by X25519 public keys written as "wpub1..." and reached at
 * "wire://wpub1...@host:port".
 *
 * Conventions: functions return 0 (or a length) on success and a negative
 * errno on failure; nothing here sets errno. Names are rw_<object>_<verb>.
 */
#ifndef RINGWIRE_H
#define RINGWIRE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define RW_EXTERN __attribute__((visibility("default")))
#else
#define RW_EXTERN
#endif

/* ---- Version --------------------------------------------------------------- */

/*
 * The API version this header declares; meson.build refuses to configure if
 * it differs from the project version. The shared library's soname carries
 * the major number (libringwire.so.0 while the API is 0.x).
 */
#define RW_VERSION_MAJOR 0
#define RW_VERSION_MINOR 1
#define RW_VERSION_PATCH 0
#define RW_VERSION_STRING "0.1.0"

/** The version of the library actually loaded ("0.1.0"): compare with RW_VERSION_STRING. */
RW_EXTERN const char *rw_version(void);

/* ---- Keys and endpoints ------------------------------------------------ */

enum {
	RW_KEY_SIZE = 32,	/* X25519 private and public keys */
	RW_WPUB_LEN = 63,	/* "wpub1" + 52 data + 6 checksum characters */
	RW_KEY_B64_LEN = 44,	/* base64 of 32 bytes, with one '=' */
	RW_KEY_HEX_LEN = 64,
	RW_ERRBUF_SIZE = 256,	/* size for the err buffers below */
	RW_HOST_MAX = 255,
	RW_URI_MAX = 340,	/* "wire://" + wpub + "@[" + host + "]:65535" + NUL, rounded up */
};

/** Generate a new clamped X25519 private key. */
RW_EXTERN int rw_key_generate(uint8_t priv[RW_KEY_SIZE]);

/**
 * Derive the public key of a private key. The key is clamped on a copy first,
 * so an unclamped key (from another tool) gives the same public key as its
 * clamped form; priv itself is not changed.
 */
RW_EXTERN int rw_key_public(uint8_t pub[RW_KEY_SIZE], const uint8_t priv[RW_KEY_SIZE]);

/**
 * Parse a private key given as text: base64 (44 characters, as WireGuard's)
 * or hex (64 characters); surrounding white space is ignored. On failure err
 * (if not NULL) gets a one-line message naming the problem and the fix; the
 * message never quotes the key text. An all-zero key is refused. priv is
 * unchanged on failure.
 */
RW_EXTERN int rw_key_parse_private(const char *text, size_t len, uint8_t priv[RW_KEY_SIZE], char *err,
				   size_t errlen);

/**
 * Read a private key file. Refuses (-EPERM) a file readable or writable by
 * group or others, with a message saying to run chmod 600. Also -ENOENT for
 * a missing file, -EINVAL for something not a regular file or not a key,
 * -EFBIG for a file over 1 KiB (never read past that). err as above.
 */
RW_EXTERN int rw_key_load_private(const char *path, uint8_t priv[RW_KEY_SIZE], char *err, size_t errlen);

/** Wipe a secret (a private key) so that the compiler cannot drop the wipe. */
RW_EXTERN void rw_memzero(void *p, size_t n);

/** Format a key as base64: out gets RW_KEY_B64_LEN characters and a NUL. */
RW_EXTERN int rw_key_to_base64(char out[RW_KEY_B64_LEN + 1], const uint8_t key[RW_KEY_SIZE]);

/** Format a public key as bech32 "wpub1...": out gets RW_WPUB_LEN characters and a NUL. */
RW_EXTERN int rw_pubkey_to_wpub(char out[RW_WPUB_LEN + 1], const uint8_t pub[RW_KEY_SIZE]);

/**
 * Parse a public key written as wpub1 bech32 (either case), base64 or hex;
 * surrounding white space is ignored and an all-zero key refused. err as
 * above.
 */
RW_EXTERN int rw_pubkey_parse(const char *text, uint8_t pub[RW_KEY_SIZE], char *err, size_t errlen);

/** Address hints one URI may carry: wire://wpub1...@a:9000,b:9000 (docs/protocol.md §16.3). */
enum { RW_ENDPOINT_ADDRS_MAX = 8 };

/** One address hint of an endpoint. host has no brackets. */
struct rw_endpoint_addr {
	char host[RW_HOST_MAX + 1];
	uint16_t port;
};

/**
 * A parsed "wire://wpub1...@host:port[,host:port...]" endpoint. host and
 * port are the first (usually the only) address; addrs[0..naddrs-1] are all
 * of them in the order written, addrs[0] being host:port again. One key,
 * several places where that identity is served: a dialer tries them in order.
 */
/**
 * Which transport carries a session (docs/protocol.md §17): the datagrams
 * of UDP, or the same packets over TCP, each behind a 2-byte big-endian
 * length. AUTO (clients only) tries UDP first and falls back to TCP when no
 * handshake response came within rw_client_config.tcp_fallback_ms.
 */
enum rw_transport_kind {
	RW_TRANSPORT_UDP = 0,
	RW_TRANSPORT_TCP = 1,
	RW_TRANSPORT_AUTO = 2,
};

struct rw_endpoint {
	uint8_t pubkey[RW_KEY_SIZE];
	enum rw_transport_kind transport;	/* RW_TRANSPORT_TCP for wire+tcp://, else RW_TRANSPORT_UDP */
	char host[RW_HOST_MAX + 1];
	uint16_t port;
	unsigned naddrs;			/* 1..RW_ENDPOINT_ADDRS_MAX */
	struct rw_endpoint_addr addrs[RW_ENDPOINT_ADDRS_MAX];
};

/**
 * Parse a wire:// URI (or wire+tcp://, the same over TCP: ep->transport); IPv6 hosts are written in brackets. The key must be
 * wpub1 (base64 has '/' and '='). After the '@' come one to
 * RW_ENDPOINT_ADDRS_MAX addresses separated by ',' (no spaces): hints of
 * where the key's owner is served. Host names are not resolved here. ep is
 * unchanged on failure. err as above.
 */
RW_EXTERN int rw_uri_parse(const char *uri, struct rw_endpoint *ep, char *err, size_t errlen);

/**
 * Parse "host:port" or "[ipv6]:port" (a listen or bind address; port 0 is
 * allowed and means "pick one"). host gets the host without brackets.
 */
RW_EXTERN int rw_hostport_parse(const char *s, char host[RW_HOST_MAX + 1], uint16_t *port, char *err,
				size_t errlen);

/**
 * Format a wire:// URI (brackets added around an IPv6 host). Returns the
 * length written (without NUL), -ENOSPC, or -EINVAL for port 0 or a host that
 * rw_uri_parse() would refuse.
 */
RW_EXTERN int rw_uri_format(char *out, size_t outlen, const uint8_t pub[RW_KEY_SIZE], const char *host,
			    uint16_t port);
/** The same as a wire+tcp:// URI (docs/protocol.md §17). */
RW_EXTERN int rw_uri_format_tcp(char *out, size_t outlen, const uint8_t pub[RW_KEY_SIZE], const char *host,
				uint16_t port);

/* ---- Drop reasons --------------------------------------------------------- */

/**
 * Why a datagram was dropped. Every dropped datagram is counted under exactly
 * one reason; rw_drop_reason_name() gives a short stable name for logs.
 */
enum rw_drop_reason {
	RW_DROP_NONE = 0,
	RW_DROP_EMPTY,			/* zero-length datagram */
	RW_DROP_UNKNOWN_TYPE,		/* first byte is not a v1 packet type */
	RW_DROP_BAD_SIZE,		/* wrong length for its type */
	RW_DROP_BAD_MAC1,
	RW_DROP_BAD_MAC2,		/* under load, MAC2 missing or wrong */
	RW_DROP_UNDER_LOAD,		/* answered with a CookieReply instead */
	RW_DROP_RATE_LIMITED,		/* per-source handshake rate limit */
	RW_DROP_UNKNOWN_INDEX,		/* no session has that receiver index */
	RW_DROP_DECRYPT,		/* AEAD authentication failed */
	RW_DROP_REPLAY,			/* counter seen before or too old */
	RW_DROP_STALE_TIMESTAMP,	/* handshake timestamp skewed or not newer */
	RW_DROP_REJECTED_KEY,		/* client key not allowed */
	RW_DROP_HANDSHAKE,		/* handshake failed (AEAD or low-order key) */
	RW_DROP_BAD_COOKIE,		/* CookieReply that does not open */
	RW_DROP_BAD_FRAME,		/* decrypted frame is malformed */
	RW_DROP_BAD_FRAGMENT,		/* fragment header invalid or inconsistent */
	RW_DROP_FRAGMENT_LIMIT,		/* reassembly limits reached */
	RW_DROP_NO_BUFFER,		/* out of buffers: backpressure */
	RW_DROP_LIMIT,			/* counter exhausted: session must rekey */
	RW_DROP_HALF_OPEN_LIMIT,	/* under load, the source already holds its share of half-open sessions */
	RW_DROP_BAD_LENGTH,		/* TCP: a length prefix of 0 or above the largest packet (connection closed) */
	RW_DROP__COUNT
};

RW_EXTERN const char *rw_drop_reason_name(enum rw_drop_reason r);

/* ---- Start-up self-test -------------------------------------------------- */

/**
 * Run the compiled-in known-answer tests of X25519, ChaCha20-Poly1305,
 * BLAKE2s and the protocol's KDF once per process. Returns 0, or -EIO (with a
 * message in err) if this CPU or emulator computes a wrong result: nothing in
 * ringwire serves or dials after that.
 */
RW_EXTERN int rw_selftest(char *err, size_t errlen);

/* ---- Engine: servers, clients and sessions ------------------------------ */

/*
 * A server and a client both run the same engine: one io_uring reactor thread
 * per core (configurable). A session is one authenticated peer (one peer
 * public key); it survives rekeys and roaming. Every session belongs to one
 * reactor, and every callback about it runs on that reactor's thread, so a
 * handler needs no locks. The session pointer handed to a callback is valid
 * until on_close returns; other threads refer to a session by its id.
 */
struct rw_server;
struct rw_client;
struct rw_session;

/** Matches any channel that has no handler of its own (rw_server_on). */
#define RW_CHANNEL_ANY (-1)

/** Why a session closed. */
enum rw_close_reason {
	RW_CLOSE_NONE = 0,
	RW_CLOSE_LOCAL,			/* the application closed it */
	RW_CLOSE_PEER,			/* the peer sent Disconnect */
	RW_CLOSE_TIMEOUT,		/* nothing received for the session timeout */
	RW_CLOSE_SHUTDOWN,		/* the server or client is shutting down */
	RW_CLOSE_REJECTED,		/* the key is not allowed (allow-list or authenticate) */
	RW_CLOSE_RETRIES,		/* handshake retries exhausted */
	RW_CLOSE_RELIABLE,		/* a reliable channel gave up retransmitting */
	RW_CLOSE_PROTOCOL,		/* counters exhausted or unrecoverable state */
	RW_CLOSE_NETWORK,		/* a local send error that retrying cannot fix (no route, wrong
					 * address family, not permitted): the message names the errno */
	RW_CLOSE__COUNT
};

RW_EXTERN const char *rw_close_reason_name(enum rw_close_reason r);

/**
 * What on_close reports. by_peer: the peer closed it, and reason is what the
 * peer said (a ringwire peer sends its reason before Disconnect; a plain v1
 * peer gives none, reported as RW_CLOSE_PEER). message: text, never NULL.
 */
struct rw_close_info {
	enum rw_close_reason reason;
	int by_peer;
	const char *message;
};

/** Channel options (rw_handler.flags). */
enum {
	RW_CHANNEL_RELIABLE = 1 << 0,	/* sequence, ACK and retransmit (docs/protocol.md §11) */
};

/**
 * Callbacks for one channel (or RW_CHANNEL_ANY). Every member is optional.
 * payload is valid only during on_event: copy what you keep. on_open,
 * on_close and on_tick are session-wide: they run once for every registered
 * handler that has them, so keep per-session setup in one of them.
 * RW_CHANNEL_RELIABLE on a channel's own handler makes it reliable from the
 * start; on RW_CHANNEL_ANY it only sets the window/RTO/retries used when a
 * peer's reliable frames switch a channel to reliable (docs/protocol.md §11.8).
 */
struct rw_handler {
	void (*on_open)(struct rw_session *s, void *user);
	void (*on_event)(struct rw_session *s, uint8_t channel, uint8_t type, const uint8_t *payload, size_t len,
			 void *user);
	void (*on_close)(struct rw_session *s, const struct rw_close_info *why, void *user);
	/* A send on channel returned -EAGAIN earlier and there is room now. */
	void (*on_writable)(struct rw_session *s, uint8_t channel, void *user);
	/* Every interval set with rw_session_set_tick, on the session's thread. */
	void (*on_tick)(struct rw_session *s, void *user);
	void *user;
	unsigned flags;			/* RW_CHANNEL_* */
	uint32_t window;		/* reliable: frames in flight, default 256 */
	uint32_t base_rto_ms;		/* reliable: default 200 */
	uint32_t max_retries;		/* reliable: default 10 */
};

/* ---- Padding against traffic analysis (docs/protocol.md §13.7) ------------ */

/**
 * How much padding a packet gets. Sizes and timing show what an encrypted
 * channel carries; a padding policy hides sizes (and, with cover traffic,
 * idle periods) at the cost of bandwidth. Padding goes inside the encrypted
 * frame in a form v1 peers skip, so it is invisible to a peer that knows
 * nothing of it. Data and DataFragment packets are padded; handshakes,
 * Keepalive and Disconnect have fixed sizes already, and path MTU probes
 * are sized by discovery.
 */
enum rw_pad_policy {
	RW_PAD_NONE = 0,		/* no padding (the default) */
	RW_PAD_MULTIPLE,		/* every datagram a multiple of size bytes, or the
					 * session's packet size; size 0: always the packet size */
	RW_PAD_FIXED,			/* every datagram exactly size bytes (0: max_packet); packets
					 * are never built larger (coalescing and fragmentation at size),
					 * and cover traffic when idle (cover_interval_ms) */
	RW_PAD_CALLBACK,		/* fn decides, per packet */
};

/**
 * The callback of RW_PAD_CALLBACK, in the manner of OpenSSL's record padding
 * callback: plain_len is the packet's plaintext (the frame of a Data packet,
 * or the 8-byte fragment header and chunk of a DataFragment), max_len the
 * most it may grow to; the datagram is 32 bytes more. Returns the plaintext
 * length wanted: the engine clamps it to [plain_len, max_len] and, as
 * padding takes at least 2 bytes, rounds a wish for 1 byte up to 2 (or
 * down to 0 at max_len). Runs on the session's reactor for every packet:
 * keep it cheap, never block, never send from it.
 */
typedef size_t (*rw_padding_fn)(const struct rw_session *s, size_t plain_len, size_t max_len, void *user);

struct rw_padding {
	int policy;			/* enum rw_pad_policy */
	unsigned size;			/* RW_PAD_MULTIPLE: N (16..65000, or 0); RW_PAD_FIXED: the size
					 * (128..65000, or 0: max_packet) */
	/* RW_PAD_FIXED: a cover packet of the fixed size (padding only) when the
	 * session has sent nothing for this long; real traffic holds it off, and
	 * it also stands in for keepalives. 0: no cover traffic. */
	uint32_t cover_interval_ms;
	rw_padding_fn fn;		/* RW_PAD_CALLBACK */
	void *user;			/* fn's last argument */
};

/** Timers; 0 takes the default shown. Tests shorten them. */
struct rw_timers {
	uint32_t keepalive_ms;		/* 10000: send a keepalive after this long with nothing sent */
	uint32_t session_timeout_ms;	/* 180000: close after this long with nothing received */
	uint32_t rekey_after_ms;	/* 180000: the initiator rekeys a session this old */
	uint64_t rekey_after_messages;	/* 2^60 packets sent */
	uint32_t rekey_drain_ms;	/* 10000: old keys still decrypt this long after a rekey */
	uint32_t handshake_retry_ms;	/* 1000: first retry; doubles per attempt, capped at 8 s */
	uint32_t handshake_attempts;	/* 10: then the dial fails (RW_CLOSE_RETRIES) */
	uint32_t cookie_rotation_ms;	/* 120000 */
	uint32_t fragment_timeout_ms;	/* 20000: partial frames older than this are dropped */
	uint32_t ack_delay_ms;		/* 20: standalone ACK after this long */
	/* 600000: a path MTU search that stopped below the cap (or a peer that
	 * never answered probes) is tried again after this long (RFC 8899's
	 * PMTU_RAISE_TIMER) */
	uint32_t pmtu_raise_ms;
};

/** Counters, summed over reactors. */
struct rw_stats {
	uint64_t rx_packets, rx_bytes, tx_packets, tx_bytes, tx_errors;
	uint64_t handshakes_completed;	/* sessions established or rekeyed, either role */
	uint64_t handshakes_initiated;
	/* now: handshakes whose X25519 work waits for or runs on a reactor's Noise
	 * worker thread (at most 4096 per reactor; more inits are dropped, no_buffer) */
	uint64_t handshakes_queued;
	/* handshakes whose X25519 work ran on a reactor instead, because its Noise
	 * worker fell behind (a job queued over 500 ms: other processes take the CPU) */
	uint64_t handshakes_inline;
	uint64_t cookies_sent;
	uint64_t rekeys;
	uint64_t sessions_open;		/* now */
	uint64_t sessions_opened, sessions_closed;
	uint64_t events_in, events_out;
	uint64_t retransmits;
	uint64_t spurious_retransmits;	/* of those, shown unnecessary by an ACK (a lower bound) */
	uint64_t handoffs;		/* packets that reached a reactor not owning their session */
	/* Half-open sessions: answered handshakes whose initiator has not yet
	 * sent anything under the new keys (server side). */
	uint64_t half_open;		/* now */
	uint64_t half_open_evicted;	/* closed to make room for a newer one */
	uint64_t half_open_expired;	/* never confirmed within the half-open timeout */
	uint64_t pmtu_black_holes;	/* sessions whose grown packet size stopped getting through */
	uint64_t drops[RW_DROP__COUNT];
	/* datagrams the kernel dropped before the reactors read them (socket buffer full) */
	uint64_t kernel_drops;
	/* padding (rw_padding): bytes added to Data and DataFragment packets, cover packets included */
	uint64_t tx_padding_bytes;
	uint64_t cover_packets;		/* cover packets sent (padding only, when idle) */
	/* wiresocket over TCP (docs/protocol.md §17); packets and bytes are in the totals above */
	uint64_t tcp_connections;	/* open now */
	uint64_t tcp_accepted;		/* connections accepted (server) */
	uint64_t tcp_connected;		/* connections made (client) */
	uint64_t tcp_refused;		/* accepted and closed at once: tcp_max_connections reached */
	uint64_t tcp_closed_framing;	/* closed on a length of 0 or above the largest packet (drop bad_length) */
	uint64_t tcp_closed_timeout;	/* closed: a packet or a write stalled for tcp_stall_timeout_ms, or idle */
	uint64_t tcp_closed_peer;	/* closed by the peer or by an error of the socket */
	uint64_t tcp_queue_full;	/* packets refused: the connection's send queue was full */
};

struct rw_server_config {
	const char *listen;		/* "127.0.0.1:9000", "[::]:9000", "0.0.0.0:0" */
	uint8_t private_key[RW_KEY_SIZE];
	unsigned reactors;		/* 0: one per online CPU */
	unsigned max_sessions;		/* 0: 16384 in all; sizes tables committed at start (~1 KiB a session) */
	unsigned max_packet;		/* 0: 1232 (IPv6 minimum MTU minus headers) */
	/*
	 * Path MTU discovery (docs/protocol.md §13.6): every session starts at
	 * max_packet and grows its datagrams, probing, up to the largest the path
	 * and the peer carry, at most max_packet_size bytes; it also bounds the
	 * datagrams this side receives. 0: 65000, or what the sockets' buffers
	 * hold if less. Set it to max_packet to turn discovery off. A v1 peer
	 * never answers probes: its sessions stay at max_packet.
	 */
	unsigned max_packet_size;
	unsigned max_incomplete_frames;	/* 0: 64 partial frames per session */
	size_t max_frame_bytes;		/* 0: 16 MiB largest reassembled frame */
	struct rw_timers timers;
	/* Handshakes per second per reactor above which the server is "under
	 * load" and demands cookies (MAC2). 0: 4000 (two thirds of what one
	 * core computes). */
	unsigned load_handshakes_per_s;
	int force_cookies;		/* always under load (testing the cookie path) */
	/*
	 * Under load, handshakes per second and burst per source address (an
	 * IPv4 address, also seen v4-mapped on a "[::]" server, or an IPv6 /64),
	 * per reactor. 0: 20/s, burst 10: WireGuard's rate, with room for a
	 * group of clients behind one NAT address reconnecting together.
	 */
	unsigned source_rate, source_burst;
	/*
	 * Half-open sessions (answered, not yet confirmed by the client's first
	 * packet under the new keys) live in a pool of their own, so a flood of
	 * fresh keys can never take the slots of real sessions. max_half_open:
	 * the pool, all reactors together (0: max_sessions / 4, at least 256);
	 * the oldest is evicted when it is full, and one unconfirmed after
	 * half_open_timeout_ms (0: two keepalives + 5 s: a v1 client that sends
	 * nothing still sends a keepalive within one) is closed. Once the pool is
	 * half full the server is under load (cookies), and then a source
	 * address (an IPv6 /64) may hold at most source_max_half_open of them per
	 * reactor (0: 8).
	 */
	unsigned max_half_open;
	uint32_t half_open_timeout_ms;
	unsigned source_max_half_open;
	/* Who may connect: a key in allowed_keys, or for which authenticate
	 * returns 0. Neither set: everyone. */
	const uint8_t (*allowed_keys)[RW_KEY_SIZE];
	size_t allowed_count;
	int (*authenticate)(const uint8_t peer_key[RW_KEY_SIZE], void *user);
	void *auth_user;
	int reject_silently;		/* rejected keys get no reason, WireGuard-style */
	/* Per-session send limit in bytes/s (burst of twice that); 0: none.
	 * Excess waits in a bounded queue; beyond it sends return -EAGAIN. */
	uint64_t send_rate_bps;
	int quiet;			/* no log lines on stderr */
	struct rw_padding padding;	/* per-packet padding and cover traffic; zeros: none */
	/*
	 * wiresocket over TCP (docs/protocol.md §17) beside UDP: "host:port" to
	 * listen on (NULL: UDP only), same key, handlers and sessions; a session
	 * stays on the transport its handshake came on. tcp_max_connections per
	 * reactor (0: 1024; more are accepted and closed at once, counted);
	 * tcp_stall_timeout_ms (0: 10000): a connection whose peer stops
	 * mid-packet, or does not read what is queued for it, for this long is
	 * closed (counted); one silent for a session timeout is closed too.
	 */
	const char *listen_tcp;
	unsigned tcp_max_connections;
	uint32_t tcp_stall_timeout_ms;
};

/** Fill cfg with the defaults (and listen "0.0.0.0:0"). */
RW_EXTERN void rw_server_config_init(struct rw_server_config *cfg);
/** Create a server (binds its sockets; nothing runs yet). err as above. */
RW_EXTERN int rw_server_create(struct rw_server **srv, const struct rw_server_config *cfg, char *err, size_t errlen);
/** Register callbacks for a channel (0-254) or RW_CHANNEL_ANY. Before start only. */
RW_EXTERN int rw_server_on(struct rw_server *srv, int channel, const struct rw_handler *h);
/** Start the reactor threads. */
RW_EXTERN int rw_server_start(struct rw_server *srv);
/**
 * Start, then block until SIGINT or SIGTERM (or rw_server_stop from another
 * thread), then shut down gracefully: Disconnect to every session, flush.
 * SIGHUP reloads the allow-list file (rw_server_allow_file) and never stops
 * the server. The signals are taken through a signalfd: threads the program
 * starts itself must block SIGINT, SIGTERM and SIGHUP. Under systemd (Type=notify) it reports READY=1 once running
 * and STOPPING=1 when the shutdown begins.
 */
RW_EXTERN int rw_server_run(struct rw_server *srv);
/** Graceful stop; thread-safe, async-signal-safe. */
RW_EXTERN int rw_server_stop(struct rw_server *srv);
/** Wait for the threads after a stop. */
RW_EXTERN int rw_server_wait(struct rw_server *srv);
RW_EXTERN void rw_server_destroy(struct rw_server *srv);
/**
 * A "wire://wpub1...@host:port" URI a client on this machine can dial: the
 * listen host as given, or for a wildcard listen address (0.0.0.0, [::]) the
 * loopback address of that family (127.0.0.1, [::1]).
 */
RW_EXTERN int rw_server_uri(const struct rw_server *srv, char *out, size_t outlen);
/**
 * Every URI a client could dial, one per line ('\n'-terminated) in out:
 * first the one rw_server_uri gives, then, for a wildcard listen address, one
 * per address of the local interfaces that the socket serves (both families
 * for [::], which also takes IPv4). Returns the number of lines, or
 * -ENOSPC if out is too small (RW_URI_MAX per line is always enough).
 */
RW_EXTERN int rw_server_uris(const struct rw_server *srv, char *out, size_t outlen);
RW_EXTERN uint16_t rw_server_port(const struct rw_server *srv);
/** The TCP port (listen_tcp, with the one picked for port 0), 0 when not listening on TCP. */
RW_EXTERN uint16_t rw_server_tcp_port(const struct rw_server *srv);
/** As rw_server_uri, the wire+tcp:// URI of the TCP listener; -ENOTCONN without one. */
RW_EXTERN int rw_server_uri_tcp(const struct rw_server *srv, char *out, size_t outlen);
RW_EXTERN void rw_server_stats(const struct rw_server *srv, struct rw_stats *st);
/**
 * Send to a session by id from any thread: the event is copied and handed to
 * the session's reactor, and 0 means it was queued there. What happens then
 * is not reported back: it is dropped if the session is gone or, on a
 * reliable channel, if the window is full. To see -EAGAIN and get
 * on_writable, send from the session's own thread (on_event, on_tick).
 * -ENOENT for an id no reactor owns.
 */
RW_EXTERN int rw_server_send(struct rw_server *srv, uint64_t session_id, uint8_t channel, uint8_t type,
			     const void *payload, size_t len);
/** Send to every session subscribed to channel, across all reactors; any thread. */
RW_EXTERN int rw_server_broadcast(struct rw_server *srv, uint8_t channel, uint8_t type, const void *payload,
				  size_t len);

struct rw_client_config {
	uint8_t private_key[RW_KEY_SIZE];
	int has_private_key;		/* 0: a fresh key per session */
	unsigned reactors;		/* 0: 1 */
	/* Local address. Default "[::]:0" with IPV6_V6ONLY off, so one socket
	 * reaches IPv4 and IPv6 peers ("0.0.0.0:0" on a host without IPv6). */
	const char *bind;
	unsigned max_sessions;		/* 0: 16384 */
	unsigned max_packet, max_incomplete_frames;
	unsigned max_packet_size;	/* path MTU discovery's cap, as for servers */
	size_t max_frame_bytes;
	struct rw_timers timers;
	int reconnect;			/* re-handshake (re-resolving the host) after a timeout; default on */
	/* A dial that has no session after this long fails with RW_CLOSE_RETRIES
	 * ("no handshake response ..."). 0: only timers.handshake_attempts bounds it. */
	uint32_t handshake_timeout_ms;
	uint64_t send_rate_bps;		/* per-session send limit, as for servers */
	int quiet;
	struct rw_padding padding;	/* as for servers */
	/*
	 * How sessions reach servers (docs/protocol.md §17): RW_TRANSPORT_UDP
	 * (the default), RW_TRANSPORT_TCP, or RW_TRANSPORT_AUTO: UDP first, and
	 * TCP to the same host and port when no handshake response came within
	 * tcp_fallback_ms (0: 1000 ms). A wire+tcp:// URI is always TCP.
	 * rw_session_transport tells which one a session uses.
	 * tcp_stall_timeout_ms as for servers (0: 10000).
	 */
	enum rw_transport_kind transport;
	uint32_t tcp_fallback_ms;
	uint32_t tcp_stall_timeout_ms;
};

RW_EXTERN void rw_client_config_init(struct rw_client_config *cfg);
RW_EXTERN int rw_client_create(struct rw_client **cli, const struct rw_client_config *cfg, char *err, size_t errlen);
RW_EXTERN int rw_client_on(struct rw_client *cli, int channel, const struct rw_handler *h);
RW_EXTERN int rw_client_start(struct rw_client *cli);
/**
 * Open a session to a wire:// URI; thread-safe, returns at once. The
 * handshake runs on a reactor; on_open or on_close (RW_CLOSE_RETRIES) tells
 * how it went. A URI with several addresses is tried in order: when one
 * gives no answer within handshake_timeout_ms (or handshake_attempts), the
 * next is tried, and the dial fails once every one has. With reconnect on, a
 * session that times out reconnects to the next address (wrapping round),
 * as it reconnects to its one address: same session, id and user pointer,
 * reliable channels started over. An application that keeps state on the
 * server (subscriptions) sets reconnect off and dials again on on_close. user is the session's user pointer from the start. *id (may
 * be NULL) gets the session id.
 */
RW_EXTERN int rw_client_dial(struct rw_client *cli, const char *uri, void *user, uint64_t *id, char *err,
			     size_t errlen);
RW_EXTERN int rw_client_stop(struct rw_client *cli);
RW_EXTERN int rw_client_wait(struct rw_client *cli);
RW_EXTERN void rw_client_destroy(struct rw_client *cli);
RW_EXTERN void rw_client_stats(const struct rw_client *cli, struct rw_stats *st);
RW_EXTERN int rw_client_send(struct rw_client *cli, uint64_t session_id, uint8_t channel, uint8_t type,
			     const void *payload, size_t len);

/**
 * One-call client: create, register h for every channel, start, dial uri.
 * The session id goes to *id.
 */
RW_EXTERN int rw_dial(struct rw_client **cli, const char *uri, const struct rw_client_config *cfg,
		      const struct rw_handler *h, uint64_t *id, char *err, size_t errlen);

/* Sessions: only on the thread that runs its callbacks. */

/**
 * Queue an event (type 0-254) on a channel; events queued in one reactor
 * iteration are packed into as few packets as fit, and flushed at its end.
 * Large events are fragmented. The payload is copied. -EAGAIN when a reliable
 * channel's window is full (on_writable follows), -EMSGSIZE when too large,
 * -EPERM from a thread that does not own the session, -ENOTCONN if closing.
 * A send can close the session (a reliable frame that cannot be kept): then
 * on_close runs before it returns, so hold no lock across a send that
 * on_close would take. The session's memory stays valid until the callback
 * that called it returns.
 */
RW_EXTERN int rw_session_send(struct rw_session *s, uint8_t channel, uint8_t type, const void *payload,
			      size_t len);
/** Close: sends the reason (an internal event v1 peers ignore), then Disconnect. */
RW_EXTERN int rw_session_close(struct rw_session *s, enum rw_close_reason reason, const char *message);
/** Broadcast filter: deliver rw_server_broadcast on channel to this session. */
RW_EXTERN int rw_session_subscribe(struct rw_session *s, uint8_t channel);
RW_EXTERN int rw_session_unsubscribe(struct rw_session *s, uint8_t channel);
RW_EXTERN int rw_session_subscribed(const struct rw_session *s, uint8_t channel);
RW_EXTERN uint64_t rw_session_id(const struct rw_session *s);
RW_EXTERN void rw_session_set_user(struct rw_session *s, void *user);
RW_EXTERN void *rw_session_user(const struct rw_session *s);
RW_EXTERN void rw_session_peer_key(const struct rw_session *s, uint8_t key[RW_KEY_SIZE]);
RW_EXTERN void rw_session_peer_wpub(const struct rw_session *s, char out[RW_WPUB_LEN + 1]);
/**
 * The peer's current address (it changes when the peer roams); returns its
 * length. An IPv4 peer is an AF_INET address, also on a dual-stack "[::]"
 * socket (never ::ffff:a.b.c.d).
 */
RW_EXTERN int rw_session_peer_addr(const struct rw_session *s, void *sockaddr_out, size_t cap);
/** "127.0.0.1:5000" or "[2001:db8::1]:5000": the peer's address as a user writes it. */
RW_EXTERN int rw_session_peer_addr_str(const struct rw_session *s, char *out, size_t cap);
/**
 * Call every handler's on_tick for this session every interval_ms (0 stops
 * it), on the session's own thread: the way to pace sends without a thread
 * of your own. One timer per session on the reactor's wheel.
 */
RW_EXTERN int rw_session_set_tick(struct rw_session *s, uint32_t interval_ms);

/** RW_TRANSPORT_UDP or RW_TRANSPORT_TCP: what carries the session now (after an AUTO fallback: TCP). */
RW_EXTERN enum rw_transport_kind rw_session_transport(const struct rw_session *s);

/** Per-session counters: packets, bytes, events in and out, rekeys. */
struct rw_session_stats {
	uint64_t rx_packets, rx_bytes, tx_packets, tx_bytes, events_in, events_out, rekeys, retransmits;
	/* path MTU discovery (docs/protocol.md §13.6) */
	uint32_t pmtu;			/* the largest datagram this session sends now */
	uint32_t pmtu_peer_max;		/* the largest the peer said it receives, 0: not (yet) told */
	uint64_t pmtu_probes_sent, pmtu_probes_acked, pmtu_probes_lost;
	uint64_t pmtu_black_holes;	/* grown sizes that stopped getting through: back to max_packet */
	uint64_t tx_padding_bytes;	/* padding added (rw_padding), cover packets included */
	uint64_t cover_packets;		/* cover packets sent */
};
RW_EXTERN void rw_session_stats(const struct rw_session *s, struct rw_session_stats *st);

/* ---- Metrics (Prometheus) ------------------------------------------------------ */

/*
 * The counters of rw_stats in the Prometheus text exposition format 0.0.4:
 * ringwire_packets_received_total, ringwire_drops_total{reason="bad_mac1"}
 * (one series per rw_drop_reason_name), ringwire_sessions_open (a gauge),
 * per-reactor series (ringwire_reactor_*{reactor="0"}: receives, hand-overs,
 * send buffers) ... (ringwire(3) lists them). Reading them takes no lock and never stalls a
 * reactor: any thread may call these.
 *
 * *_metrics_write: the exposition into buf (NUL-terminated), for a program
 * that has its own HTTP server. Returns its length, or -ENOSPC when cap is
 * too small (8 KiB plus 1 KiB per reactor is ample).
 *
 * *_metrics_listen: serve GET /metrics on "HOST:PORT" (TCP; "[::1]:9100",
 * port 0 picks a free one) from a thread of its own (libmicrohttpd), never
 * from a reactor; other paths get 404, other methods 405. Slow or malformed
 * requests are bounded (connection limit, timeout, request size) and cannot
 * reach the reactors. Returns the bound port, -EALREADY if already listening,
 * -ENOTSUP if the library was built without libmicrohttpd, or a negative
 * errno with a message in err. Stopped by *_destroy.
 */
RW_EXTERN int rw_server_metrics_write(const struct rw_server *srv, char *buf, size_t cap);
RW_EXTERN int rw_server_metrics_listen(struct rw_server *srv, const char *hostport, char *err, size_t errlen);
RW_EXTERN int rw_client_metrics_write(const struct rw_client *cli, char *buf, size_t cap);
RW_EXTERN int rw_client_metrics_listen(struct rw_client *cli, const char *hostport, char *err, size_t errlen);

/* ---- Allow-list ------------------------------------------------------------------ */

/*
 * Replace who may connect, from any thread, while the server runs: keys
 * (n public keys; names[i] an optional label for logs, names itself may be
 * NULL) becomes the allow-list in one atomic step. Handshakes from then on
 * are checked against the new list (or accepted by rw_server_config's
 * authenticate); open sessions whose key is no longer allowed are closed with
 * RW_CLOSE_REJECTED, the others keep running. keys NULL removes the list
 * (everyone may connect, unless authenticate says otherwise); a non-NULL
 * keys with n 0 allows no key. The arrays are copied. Whether an open
 * session's key is still allowed is decided on the calling thread (so
 * authenticate may run there too). Returns 0, -ENOMEM, -EINVAL, or -EDEADLK
 * from a callback of this server: it waits (briefly) for handshakes still
 * reading the old list.
 */
RW_EXTERN int rw_server_set_allowed_keys(struct rw_server *srv, const uint8_t (*keys)[RW_KEY_SIZE],
					 const char *const *names, size_t n);

/** An allow-list as read from a file by rw_allowlist_load. */
struct rw_allowlist {
	uint8_t (*keys)[RW_KEY_SIZE];
	char **names;			/* names[i]: NULL or the label after the key */
	size_t n;
};

/**
 * Read an allow-list file: one public key per line (wpub1..., base64 or
 * hex), optionally followed by white space and a name; '#' starts a comment;
 * blank lines are ignored. Refuses (-EPERM) a file readable or writable by
 * group or others, as rw_key_load_private does. A bad line, or a key listed
 * twice, fails the whole file with -EINVAL and a message naming the line
 * ("allow.txt:7: ..."). On success *out is filled (free it with
 * rw_allowlist_free); on failure it is empty.
 */
RW_EXTERN int rw_allowlist_load(const char *path, struct rw_allowlist *out, char *err, size_t errlen);
RW_EXTERN void rw_allowlist_free(struct rw_allowlist *al);

/**
 * Load path and make it the server's allow-list (rw_server_set_allowed_keys);
 * the path is remembered, and rw_server_run then reloads it on SIGHUP. A
 * file that fails to load leaves the current list in place (the message goes
 * to err, and on SIGHUP to the log).
 */
RW_EXTERN int rw_server_allow_file(struct rw_server *srv, const char *path, char *err, size_t errlen);

/* ---- Logs ---------------------------------------------------------------------- */

enum rw_log_level {
	RW_LOG_DEBUG = 0,
	RW_LOG_INFO,
	RW_LOG_WARN,
	RW_LOG_ERROR,
	RW_LOG_OFF,			/* as a threshold: nothing */
};

enum rw_log_format {
	RW_LOG_LOGFMT = 0,		/* ts=... level=warn msg="handshake rejected" peer=wpub1... */
	RW_LOG_JSON,			/* {"ts":"...","level":"warn","msg":"handshake rejected",...} */
};

/** One key=value of a log record; values are text (numbers formatted). */
struct rw_log_field {
	const char *key;
	const char *value;
};

/**
 * One log event. msg is a fixed phrase ("handshake rejected"), the variable
 * parts are fields (peer, addr, reason, count, ...), so that records can be
 * grouped and counted. Valid only during the callback.
 */
struct rw_log_record {
	enum rw_log_level level;
	uint64_t unix_ms;		/* when it happened */
	const char *msg;
	const struct rw_log_field *fields;
	size_t nfields;
};

typedef void (*rw_log_fn)(const struct rw_log_record *rec, void *user);

/**
 * Process-wide logging. Records at or above the level (default
 * RW_LOG_INFO) go to fn, or, with fn NULL (the default), one line each to
 * stderr in the format chosen (default logfmt). fn runs on the thread that
 * logs, often a reactor: it must not block. Set these at start-up, before
 * any server or client starts. Repeated drops are never one record per
 * packet: they are summarised ("drops", reason=bad_mac1 count=10432
 * window_s=10, once per reactor and reason every 10 s). A server's or
 * client's quiet flag silences stderr, not an installed fn. ringwire(3)
 * lists the records.
 */
RW_EXTERN void rw_set_log_fn(rw_log_fn fn, void *user);
RW_EXTERN void rw_set_log_level(enum rw_log_level level);
RW_EXTERN void rw_set_log_format(enum rw_log_format format);
/** "debug", "info", "warn", "error", "off". */
RW_EXTERN const char *rw_log_level_name(enum rw_log_level level);
/** Parse a level name as above (either case); -EINVAL otherwise. */
RW_EXTERN int rw_log_level_parse(const char *s, enum rw_log_level *level);
/** Parse "logfmt" or "json"; -EINVAL otherwise. */
RW_EXTERN int rw_log_format_parse(const char *s, enum rw_log_format *format);
/**
 * Format a record as one line (with '\n' and a NUL) in the given format: what
 * the default writer prints. Returns the length, or -ENOSPC.
 */
RW_EXTERN int rw_log_format_record(const struct rw_log_record *rec, enum rw_log_format format, char *buf,
				   size_t cap);

#ifdef __cplusplus
}
#endif

#endif
