/* SPDX-License-Identifier: MIT */
/*
 * reactor.h - the protocol-agnostic I/O substrate: one io_uring reactor thread
 * per core, each owning its own SO_REUSEPORT UDP socket on the shared listen
 * address. Nothing here knows about wiresocket; sessions and handshakes are
 * built on top through the callbacks below.
 *
 * Per reactor:
 *  - an io_uring set up with SINGLE_ISSUER | DEFER_TASKRUN | SUBMIT_ALL (the
 *    kernel refusing them is handled by retrying with fewer flags);
 *  - one multishot recvmsg fed by a hand-mapped provided-buffer ring: each
 *    datagram is one completion, its buffer goes back to the ring when the
 *    on_datagram callback returns; running out of buffers (-ENOBUFS) is
 *    backpressure, counted, and the multishot is re-armed;
 *  - receive buffers large enough for the largest datagram (max_datagram)
 *    and, with UDP_GRO, for a coalesced super-datagram, which is split by
 *    its gso_size so each segment reaches on_datagram as its own datagram;
 *  - two pools of send buffers, small (buf_size) and large (64 KiB, for
 *    datagrams above buf_size), registered with the ring when the send mode
 *    uses fixed buffers. Consecutive sends of equal length to one
 *    destination within a batch leave as ONE sendmsg with UDP_SEGMENT (GSO,
 *    at most 64 segments / 65,507 bytes; the last may be shorter); a socket
 *    whose kernel or NIC refuses GSO resends them one by one and turns it
 *    off. A failed send costs its own datagrams an error count and nothing
 *    else;
 *  - bounded lock-free SPSC rings from every reactor for handing datagrams
 *    over (wake-up by IORING_OP_MSG_RING, at most once per batch per target);
 *  - an intrusive lock-free MPSC queue of commands that any thread may post
 *    (wake-up through an eventfd polled by the ring);
 *  - a timer wheel (timer.h); the ring wait is bounded by its next expiry.
 *
 * Threading: every rw__reactor_* call taking a struct rw_reactor is for the
 * owner thread only (from inside a callback), except rw__reactor_post,
 * rw__reactor_stats, rw__reactor_id, rw__reactor_user, the getters of
 * immutable state, and the group calls, which say so. Callbacks run on the
 * owner thread, never concurrently for one reactor.
 *
 * Errors: 0 or a negative errno; nothing here leaves a meaning in errno.
 */
#ifndef RW_REACTOR_H
#define RW_REACTOR_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "timer.h"

struct rw_reactor;
struct rw_reactor_group;

/**
 * Link for rw__reactor_post. Embed it in the command object and recover the
 * object in on_command with rw_container_of. The reactor owns the node from
 * a successful post until on_command returns (which may free it).
 */
struct rw_cmd_node {
	_Atomic(struct rw_cmd_node *) next;
};

/** Callbacks; every one is optional. All run on the reactor's own thread. */
struct rw_reactor_ops {
	/**
	 * One received datagram. data, len and from are valid only during the
	 * call: the buffer goes back to the receive ring afterwards. data is
	 * writable (decrypt in place).
	 */
	void (*on_datagram)(struct rw_reactor *r, uint8_t *data, size_t len, const struct sockaddr *from,
			    socklen_t fromlen);
	/** A datagram another reactor handed over with rw__reactor_handoff; same lifetime rules. */
	void (*on_handoff)(struct rw_reactor *r, uint8_t *data, size_t len, const struct sockaddr *from,
			   socklen_t fromlen);
	/**
	 * End of one batch of completions (timers fire at its start): the
	 * place to flush coalesced sends. Whatever was queued is submitted
	 * right after, in the same io_uring_enter as the next wait.
	 */
	void (*on_batch_end)(struct rw_reactor *r);
	/** A command posted with rw__reactor_post. */
	void (*on_command)(struct rw_reactor *r, struct rw_cmd_node *cmd);
	/** Once on the thread before the first wait; may send, arm timers. */
	void (*on_start)(struct rw_reactor *r);
	/** Once when the group stops; sends queued here are still flushed. */
	void (*on_stop)(struct rw_reactor *r);
	/**
	 * A send completed with an error (negative errno), to `to` as the
	 * caller gave it (an IPv4 address stays AF_INET). Optional: the error
	 * is counted in tx_errors either way.
	 */
	void (*on_send_error)(struct rw_reactor *r, const struct sockaddr *to, socklen_t tolen, int err);
	/**
	 * A completion of an SQE another user of the ring queued with
	 * rw__reactor_ext_sqe (tcp.c): its tag, res and CQE flags.
	 */
	void (*on_ext)(struct rw_reactor *r, uint32_t tag, int res, uint32_t flags);
};

/** How sends are issued (see reactor.c for the measurements). */
enum rw_send_mode {
	RW_SEND_AUTO = 0,	/* the fastest mode the kernel accepts (probed once) */
	RW_SEND_PLAIN,		/* IORING_OP_SEND with a destination address (sendto) */
	RW_SEND_ZC_FIXED,	/* IORING_OP_SEND_ZC from the registered send buffers */
	RW_SEND_MSG,		/* IORING_OP_SENDMSG: the fallback any io_uring kernel has */
};

/** Group configuration. Zero fields take the defaults noted. */
struct rw_reactor_config {
	struct sockaddr_storage listen;	/* AF_INET or AF_INET6; port 0 picks one */
	socklen_t listen_len;
	unsigned n_reactors;		/* default: CPUs this process may run on */
	unsigned ring_entries;		/* SQ size, default 256 (CQ gets more) */
	unsigned buf_count;		/* small receive buffers per reactor, default 1024, rounded up to 2^n */
	/*
	 * Bytes per small receive / send buffer and per handoff slot, >= 2048,
	 * default 2048. A receive buffer also holds a 96-byte header (source
	 * address, control messages), so with small receive buffers datagrams
	 * above buf_size - 96 are dropped (rx_truncated). Payloads are 16-byte
	 * aligned.
	 */
	unsigned buf_size;
	unsigned send_buf_count;	/* small send buffers per reactor, default 512 */
	/*
	 * The largest datagram sent or received: default and upper bound
	 * 65,507 (IPv4) / 65,527 (IPv6). Above buf_size - 96 the receive
	 * buffers are large (64 KiB + header, big_rx_count of them instead of
	 * buf_count) and big_send_count large send buffers exist.
	 */
	unsigned max_datagram;
	unsigned big_rx_count;		/* large receive buffers, default 128 (8 MiB, committed), rounded to 2^n */
	/*
	 * Large send buffers, default 256 (16 MiB of address space, resident
	 * only as far as bursts have used them): one ACK may release a
	 * reliable window of 64 KiB frames in one batch, and what finds no
	 * buffer is parked in a heap copy (64: 10 % of a bulk sender in
	 * memmove; 64 KiB one-way reliable 10.2 Gbit/s, 128: 11.0, 256: 11.7).
	 */
	unsigned big_send_count;
	bool no_gso;			/* never coalesce sends (env RW_TEST_NO_GSO=1 too) */
	bool no_gro;			/* no UDP_GRO on receive (env RW_TEST_NO_GRO=1 too) */
	bool gso_zc;			/* GSO sends as IORING_OP_SENDMSG_ZC (env RW_TEST_GSO_ZC=1); see reactor.c */
	/* per (from, to) pair: a ring of handoff_slots x buf_size bytes (2^n, >= 4 of the largest datagram), default 256 */
	unsigned handoff_slots;
	int rcvbuf, sndbuf;		/* socket buffers, default 4 MiB (FORCE, then plain) */
	/*
	 * Under load, let completions gather for up to this many µs before a
	 * sleeping reactor wakes (needs kernel 6.12+, ignored before): fewer
	 * wake-ups, at most this much added latency. 0: wake on each one.
	 */
	unsigned batch_wait_us;
	bool pin_cpus;			/* reactor i on the i-th allowed CPU */
	/*
	 * An AF_INET6 socket takes IPv6 only. Default off (IPV6_V6ONLY=0 set
	 * explicitly, whatever the host's sysctl): "[::]" also serves IPv4.
	 */
	bool v6only;
	bool compat_ring;		/* skip the optional ring flags (tests the fallback) */
	enum rw_send_mode send_mode;
	struct rw_reactor_ops ops;
	void *user;
};

/** Counters of one reactor; a snapshot, read from any thread. */
struct rw_reactor_stats {
	uint64_t rx_packets, rx_bytes;
	uint64_t tx_packets, tx_bytes;
	uint64_t tx_errors;		/* sends that completed with an error, each counted once */
	uint64_t rx_nobufs;		/* -ENOBUFS: the receive ring ran dry */
	uint64_t rx_errors;		/* other receive errors */
	uint64_t rx_truncated;		/* datagrams larger than a buffer, dropped */
	uint64_t rearms;		/* multishot receives re-armed after ending */
	uint64_t handoffs_out, handoffs_in, handoff_full;
	uint64_t send_buf_exhausted;	/* rw__reactor_send_buf found no free buffer */
	uint64_t send_queued;		/* sends parked in user space while the SQ was full */
	uint64_t commands;
	uint64_t wake_errors;		/* failed msg_ring / eventfd wakes (retried) */
	uint64_t tx_gso_sends;		/* sendmsgs carrying >= 2 datagrams (UDP_SEGMENT) */
	uint64_t tx_gso_segments;	/* datagrams they carried (also in tx_packets) */
	uint64_t tx_gso_refused;	/* GSO sends the kernel refused: resent one by one */
	uint64_t tx_gso_off;		/* 1 once GSO is off for this socket (refused before it ever worked) */
	uint64_t rx_gro_packets;	/* coalesced super-datagrams received (UDP_GRO) */
	uint64_t rx_gro_segments;	/* datagrams they were split into (also in rx_packets) */
	uint64_t rx_kernel_drops;	/* the socket's drop count (SO_RXQ_OVFL), latest seen */
	int tx_last_error;		/* the last send error (negative errno), 0 if none */
};

/* ---- group lifetime (any one thread; stop from anywhere) ---------------- */

/**
 * Create n reactors: bind one SO_REUSEPORT socket each (with port 0, the
 * first picks the port and the others bind it), set up the rings and buffers.
 * No thread runs yet.
 */
int rw__reactor_group_create(struct rw_reactor_group **g, const struct rw_reactor_config *cfg);

/**
 * Spawn one thread per reactor (signals blocked in them). Returns once every
 * ring is live, or the error of the first reactor that failed (then the
 * threads that did start are stopped and joined).
 */
int rw__reactor_group_start(struct rw_reactor_group *g);

/**
 * Ask every reactor to finish: each wakes (even if blocked in io_uring_enter),
 * runs on_stop, flushes its sends and exits. Thread-safe and async-signal-
 * safe (an atomic store and write(2)s). Idempotent. Commands posted after
 * this are refused; ones already queued may not run.
 */
int rw__reactor_group_stop(struct rw_reactor_group *g);

/**
 * Wait for the threads. Returns 0, or the error that made a reactor leave its
 * loop early (a failed io_uring_enter).
 */
int rw__reactor_group_join(struct rw_reactor_group *g);

/** Free everything (stops and joins first if still running). NULL is fine. */
void rw__reactor_group_destroy(struct rw_reactor_group *g);

unsigned rw__reactor_count(const struct rw_reactor_group *g);
struct rw_reactor *rw__reactor_get(struct rw_reactor_group *g, unsigned id);
/** The bound address (with the picked port). */
int rw__reactor_local_addr(const struct rw_reactor_group *g, struct sockaddr_storage *ss, socklen_t *len);

/* ---- per-reactor state -------------------------------------------------- */

unsigned rw__reactor_id(const struct rw_reactor *r);
struct rw_reactor_group *rw__reactor_group(struct rw_reactor *r);
/** cfg->user, shared by the group. */
void *rw__reactor_user(const struct rw_reactor *r);
/** Per-reactor user state (owner thread, or before start). */
void rw__reactor_set_ctx(struct rw_reactor *r, void *ctx);
void *rw__reactor_get_ctx(const struct rw_reactor *r);
/** CLOCK_MONOTONIC in ms, read once per batch. */
uint64_t rw__reactor_now_ms(const struct rw_reactor *r);
/*
 * Completions this batch has not dispatched yet: true while the timers at a
 * batch's start run and datagrams that arrived meanwhile wait behind them.
 */
bool rw__reactor_unread(const struct rw_reactor *r);
/**
 * The reactor's timer wheel (owner thread, or before start). Due timers fire
 * at the start of each batch; the wheel's current time is rw__reactor_now_ms,
 * so rw__timer_add_in delays count from the batch start.
 */
struct rw_timer_wheel *rw__reactor_timers(struct rw_reactor *r);
/** Snapshot of the counters; any thread. */
void rw__reactor_stats(const struct rw_reactor *r, struct rw_reactor_stats *st);
/** The send mode in use and the io_uring setup flags the kernel accepted. */
enum rw_send_mode rw__reactor_send_mode(const struct rw_reactor *r);
unsigned rw__reactor_ring_flags(const struct rw_reactor *r);
/** The UDP socket (e.g. for getsockopt); do not read from it. */
int rw__reactor_fd(const struct rw_reactor *r);
/** The socket buffer sizes the kernel granted (getsockopt, so doubled as Linux reports them). */
void rw__reactor_sockbufs(const struct rw_reactor *r, int *rcvbuf, int *sndbuf);
/** The largest datagram this reactor sends and receives. */
size_t rw__reactor_max_datagram(const struct rw_reactor *r);
/** Whether sends are still coalesced with UDP_SEGMENT, receives with UDP_GRO. */
bool rw__reactor_gso(const struct rw_reactor *r);
bool rw__reactor_gro(const struct rw_reactor *r);

/* ---- send path (owner thread) -------------------------------------------- */

/**
 * Take a free send buffer of rw__reactor_send_buf_size bytes. NULL when all
 * are in flight (counted in send_buf_exhausted): drop or retry later.
 */
uint8_t *rw__reactor_send_buf(struct rw_reactor *r, unsigned *idx);
/**
 * A send buffer of at least `need` bytes (<= rw__reactor_max_datagram): a
 * small one when need fits buf_size, else a large one. NULL when none of
 * that class is free (counted in send_buf_exhausted) or need is too large.
 */
uint8_t *rw__reactor_send_buf_get(struct rw_reactor *r, size_t need, unsigned *idx);
size_t rw__reactor_send_buf_size(const struct rw_reactor *r);
/** The index of a buffer rw__reactor_send_buf returned (UINT32_MAX if it is not one). */
unsigned rw__reactor_send_buf_idx(const struct rw_reactor *r, const void *buf);
/** Give back a buffer taken but not sent. */
void rw__reactor_send_buf_put(struct rw_reactor *r, unsigned idx);

/**
 * Queue len bytes of buffer idx to `to`. The SQE is submitted at the end of
 * the batch (earlier if the SQ fills; if even that fails it waits in user
 * space: never dropped). Consecutive sends of one length to one destination
 * (the last may be shorter) are held until the run ends and leave as one
 * GSO sendmsg. The buffer returns to the pool when the send
 * completes, and that completion alone counts as a packet or an error. An
 * AF_INET destination on an AF_INET6 socket is sent v4-mapped. On error
 * (-EINVAL, -EMSGSIZE, -EAFNOSUPPORT) the buffer stays with the caller.
 */
int rw__reactor_send(struct rw_reactor *r, unsigned idx, size_t len, const struct sockaddr *to, socklen_t tolen);

/**
 * Hand the kernel every send queued so far, now (UDP sends are issued inline,
 * so they leave before anything the caller then sends with a plain syscall).
 */
int rw__reactor_submit(struct rw_reactor *r);

/* ---- other users of the ring (owner thread) --------------------------------- */

struct io_uring_sqe;
/**
 * An SQE for I/O of another user of this ring (tcp.c's sockets), its
 * completion going to ops.on_ext with tag. Prepare it, then set its
 * user_data to rw__reactor_ext_data(tag) (prep helpers may clear it).
 * NULL when the SQ is full even after submitting what it held.
 */
struct io_uring_sqe *rw__reactor_ext_sqe(struct rw_reactor *r);
uint64_t rw__reactor_ext_data(uint32_t tag);

/* ---- between threads ------------------------------------------------------- */

/**
 * Copy a datagram into the bounded SPSC ring from `from` to reactor to_id
 * (which may be `from` itself); to_id gets it in on_handoff. The target is
 * woken by one IORING_OP_MSG_RING per batch, not per datagram. Owner thread
 * of `from` only. -ENOBUFS when the ring is full (counted in handoff_full),
 * -EMSGSIZE above max_datagram, -EINVAL for a bad id or address.
 */
int rw__reactor_handoff(struct rw_reactor *from, unsigned to_id, const uint8_t *data, size_t len,
			const struct sockaddr *src, socklen_t srclen);

/**
 * Post a command from any thread (a reactor or not). Lock-free; the target is
 * woken through its eventfd only if it is not already due to drain. The node
 * belongs to the reactor until on_command runs. -ESHUTDOWN once the group is
 * stopping.
 */
int rw__reactor_post(struct rw_reactor *target, struct rw_cmd_node *cmd);

#endif
