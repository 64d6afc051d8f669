/* SPDX-License-Identifier: MIT */
/*
 * reactor.c - per-core io_uring reactors over SO_REUSEPORT UDP sockets.
 *
 * Shape of one loop iteration (one "batch"):
 *   io_uring_enter                     one syscall: submit what the previous
 *                                      batch queued, sleep until a completion
 *                                      or the next timer expiry
 *   fire due timers                    first, see reap
 *   for each CQE: dispatch on the op   recv / send / wake / handoff / msg
 *   io_uring_cq_advance once           one store for the whole batch
 *   publish recycled receive buffers   one store-release for the whole batch
 *   re-arm what ended, on_batch_end, then one msg_ring per reactor we
 *   handed datagrams to, then sends parked while the SQ was full.
 *
 * user_data packs the op in the top byte and an index (send buffer, source
 * reactor, target reactor) in the low 32 bits; liburing's own internal
 * timeouts use all-ones, an op we do not know and skip.
 *
 * Send mode, measured with tools/bench-udp (kernel 6.18, 2 vCPUs shared with
 * other work, loopback, one sender core to one receiver core; datagrams/s
 * received, two quietest of five interleaved 3 s runs):
 *                      64 B                1232 B
 *   SEND + address     265-270 k pps       235-245 k pps
 *   SENDMSG            190-235 k pps       225-235 k pps
 *   SEND_ZC fixed      185-215 k pps       200 k pps
 * (with batch_wait_us = 20: SEND 287 k / 275-297 k, SENDMSG 273-290 k /
 * 252 k, SEND_ZC 235-239 k / 215-228 k). The sender is the bound: on
 * loopback it runs the receive stack too, as a blocking sendto/recvmmsg pair
 * does (270-290 k pps on the same machine).
 * Loopback copies the pages at delivery anyway, so zero-copy only adds a
 * notification CQE and page pinning per send; sendmsg adds a msghdr copy.
 * IORING_OP_SEND with IORING_RECVSEND_FIXED_BUF is refused (-EINVAL) by 6.18
 * (only SEND_ZC takes registered buffers). AUTO therefore picks PLAIN, then
 * ZC_FIXED, then SENDMSG: the first a one-time probe shows working.
 *
 * GSO / GRO (ringwire-load one-way against ringwire-echo, one reactor each,
 * 4 sessions, loopback, the 2 vCPUs shared with 15-24 runnable threads, so
 * throughput moved 2-3x between runs; sender CPU per 1232-byte packet is the
 * steadier figure, medians of 3): consecutive packets of one flush or of a
 * fragmented event leave 28 (64 KiB events) to 50 (1 KiB events) to a
 * sendmsg, and the sender's CPU per packet falls from 1.9-2.5 us to 1.3-1.9
 * us. The rest is the AEAD (~1 us a packet each way). Runs are gathered in
 * user space across calls rather than per pipeline batch: one session's
 * flushes are one packet each, and the run is what the kernel sees as a
 * burst. SENDMSG_ZC for runs measured no faster (64 KiB events: 1.18 vs 1.22
 * Gbit/s, medians of 3): loopback copies at delivery anyway; it stays a
 * switch (gso_zc), capped at 16 segments (MAX_SKB_FRAGS).
 */
#include "reactor.h"

#include <errno.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "wire.h"

#define CACHELINE 64
#define NIL UINT32_MAX
#define BGID 0				/* one buffer group per ring: any id will do */
#define MAX_REACTORS 1024
#define MAX_BUF_COUNT 32768		/* kernel limit on provided-buffer ring entries */
#define MAX_SEND_BUFS 65536
#define MAX_HANDOFF_SLOTS 65536
#define MAX_BUF_SIZE (1u << 20)
#define CMD_BUDGET 1024			/* commands run per wake before yielding to I/O */
#define RX_ERR_STREAK 8			/* failed re-arms in a row before backing off */
#define RX_RETRY_MS 100
#define STOP_DRAIN_MS 200		/* how long on_stop's sends may take to complete */
#define BATCH_NR 64			/* completions that end a batch_wait_us window early */
#define IDLE_WAKE_MS (3600 * 1000)	/* longest sleep when batching and no timer is armed */
#define FEAT_MIN_TIMEOUT (1U << 15)	/* IORING_FEAT_MIN_TIMEOUT, newer than liburing 2.3 */
#define MAX_DGRAM_V4 65507u		/* 65535 - 20 (IPv4) - 8 (UDP) */
#define MAX_DGRAM_V6 65527u		/* 65535 - 8 (UDP): the IPv6 payload length */
#define BIG_BUF 65536u			/* a large send buffer; a large receive buffer holds RX_HDR more */
#define GSO_MAX_SEGS 64			/* UDP_MAX_SEGMENTS of older kernels */
#define GSO_MAX_BYTES MAX_DGRAM_V4	/* one super-datagram, whatever the family of the peer */
/*
 * Zero copy pins each buffer as a page fragment of one skb: more than
 * MAX_SKB_FRAGS (17 by default) and the kernel says -EMSGSIZE (measured:
 * runs of 40-53 x 1232 B all refused). Small buffers never straddle a page
 * (the stride divides 4096), so 16 segments fit.
 */
#define GSO_ZC_MAX_SEGS 16

enum op {
	OP_RECV = 1,	/* multishot recvmsg */
	OP_SEND,	/* idx: send buffer */
	OP_WAKE,	/* multishot poll on the eventfd */
	OP_HANDOFF,	/* msg_ring from reactor idx: its SPSC ring has data */
	OP_MSG,		/* our msg_ring to reactor idx failed (success CQEs skipped) */
	OP_GSO,		/* idx: a GSO send (struct gso_send) */
	OP_EXT,		/* idx: a tag of another user of the ring (ops.on_ext) */
};

static inline uint64_t ud_pack(enum op op, uint32_t idx)
{
	return (uint64_t)op << 56 | idx;
}

static inline unsigned ud_op(uint64_t ud)
{
	return (unsigned)(ud >> 56);
}

static inline uint32_t ud_idx(uint64_t ud)
{
	return (uint32_t)ud;
}

union addr {
	struct sockaddr sa;
	struct sockaddr_in in;
	struct sockaddr_in6 in6;
};

enum slot_state { SLOT_FREE, SLOT_OWNED, SLOT_PARKED, SLOT_INFLIGHT };

struct send_slot {
	union addr to;		/* stable until the CQE: the kernel may read it late */
	socklen_t tolen;
	uint32_t len;
	uint32_t next;		/* free stack or parked FIFO */
	uint32_t gso;		/* the GSO send it leads or belongs to, NIL if none */
	uint8_t state;
	struct msghdr msg;	/* RW_SEND_MSG only */
	struct iovec iov;
};

/*
 * One GSO send: a run of datagrams to one destination, every one of
 * length seg but the last, each still in its own send buffer; the kernel
 * gathers them from an iovec array (one copy, as for any send) and cuts
 * the super-datagram at seg. The run collects in rw__reactor_send and is
 * issued when it cannot grow (another destination or length, 64 segments,
 * 65,507 bytes) or at the end of the batch. Its slots go back to the pool
 * on its one completion (on the notification with zero copy).
 */
struct gso_send {
	struct msghdr msg;
	union addr to;
	socklen_t tolen;
	uint32_t bytes;
	uint16_t n, seg;
	int res;		/* zero copy: the send's result, kept until the notification */
	bool fake_refuse;	/* test hook: issued as a NOP that "fails" like a refusing kernel */
	union {
		struct cmsghdr align;
		uint8_t buf[CMSG_SPACE(sizeof(uint16_t))];
	} cm;
	uint32_t idx[GSO_MAX_SEGS];
	struct iovec iov[GSO_MAX_SEGS];
};

/* Header of one handoff slot; the datagram follows. */
struct hand_hdr {
	uint32_t len;
	uint32_t addrlen;
	union addr from;
};

/* Payloads start 16-byte aligned, in handoff slots and receive buffers alike. */
#define HAND_HDR_SIZE ((sizeof(struct hand_hdr) + 15) & ~(size_t)15)
#define RX_NAME_SPACE 32	/* >= sizeof(struct sockaddr_in6) */
/* UDP_GRO (int) and SO_RXQ_OVFL (uint32_t): 24 bytes each on LP64 */
#define RX_CTRL_SPACE (CMSG_SPACE(sizeof(int)) + CMSG_SPACE(sizeof(uint32_t)))
#define RX_HDR (sizeof(struct io_uring_recvmsg_out) + RX_NAME_SPACE + RX_CTRL_SPACE)	/* 96 */
_Static_assert(sizeof(struct io_uring_recvmsg_out) == 16, "recvmsg_out layout");
_Static_assert(RX_NAME_SPACE >= sizeof(struct sockaddr_in6), "room for an IPv6 source");
_Static_assert(RX_HDR % 16 == 0, "payloads start 16-byte aligned");

/*
 * One bounded SPSC ring (from -> to), owned by the target: a ring of bytes
 * holding records of a header and a datagram, each rounded up to a cache
 * line, so a 64 KiB datagram and a 64-byte one both fit without every slot
 * being 64 KiB. A record never wraps: when it would, the producer writes a
 * pad record (len HAND_PAD) to the end and starts at offset 0. head and
 * tail are byte counts (mod 2^32; the size is a power of two). The producer
 * and consumer indices live on separate cache lines so the two cores do not
 * bounce one line per datagram; the producer keeps a private copy of head
 * and only re-reads the shared one when the ring looks full.
 */
#define HAND_PAD UINT32_MAX
struct hand_ring {
	uint8_t *mem;
	uint32_t mask;	/* bytes - 1 */
	_Alignas(CACHELINE) _Atomic uint32_t tail;	/* written by the producer */
	uint32_t head_cache;				/* producer-private */
	_Alignas(CACHELINE) _Atomic uint32_t head;	/* written by the consumer */
	/* 1 while a msg_ring wake-up is on its way; see flush_wakes. */
	_Alignas(CACHELINE) _Atomic uint32_t wake;
};

/* Owner-written counters that other threads snapshot: relaxed atomics. */
#define STATS(X) \
	X(rx_packets) X(rx_bytes) X(tx_packets) X(tx_bytes) X(tx_errors) X(rx_nobufs) \
	X(rx_errors) X(rx_truncated) X(rearms) X(handoffs_out) X(handoffs_in) X(handoff_full) \
	X(send_buf_exhausted) X(send_queued) X(commands) X(wake_errors) X(tx_gso_sends) \
	X(tx_gso_segments) X(tx_gso_refused) X(tx_gso_off) X(rx_gro_packets) X(rx_gro_segments) \
	X(rx_kernel_drops)

struct stats {
#define X(f) _Atomic uint64_t f;
	STATS(X)
#undef X
	_Atomic int tx_last_error;
};

/*
 * One writer (the owner), so a relaxed load + store is enough and compiles
 * to a plain add: no locked RMW on the hot path.
 */
#define STAT_ADD(r, f, v) \
	atomic_store_explicit(&(r)->st.f, atomic_load_explicit(&(r)->st.f, memory_order_relaxed) + (v), \
			      memory_order_relaxed)

struct rw_reactor {
	struct io_uring ring;
	struct rw_reactor_group *g;
	unsigned id;
	int fd;			/* UDP socket */
	int sqe_fd;		/* fd or fixed-file index used in SQEs */
	uint8_t sqe_flags;	/* IOSQE_FIXED_FILE when the socket is registered */
	int efd;		/* eventfd: commands and stop */
	int family;
	unsigned ring_flags;
	bool ring_disabled;	/* created R_DISABLED: the owner thread enables it */
	bool ring_fd_registered;
	bool closing;		/* stopping: no more deliveries */
	enum rw_send_mode mode;
	pthread_t thread;
	bool thread_started;
	int loop_err;
	void *ctx;
	uint64_t now_ms;
	unsigned cq_budget;
	unsigned batch_wait_us;	/* 0 unless configured and the kernel has min-wait */

	/* receive: provided-buffer ring, mapped by hand */
	struct io_uring_buf_ring *br;
	size_t br_len;
	uint8_t *rx_mem;
	size_t rx_len;
	unsigned rx_entries, rx_mask, buf_size;
	unsigned rx_buf_size;	/* buf_size, or RX_HDR + BIG_BUF when datagrams may be large */
	unsigned max_datagram;
	bool gro;
	uint8_t *rx_scratch;	/* a GRO segment that would start unaligned is copied here */
	unsigned rx_recycled;	/* added to br but not yet published */
	bool rx_need_arm;
	unsigned rx_err_streak;
	struct rw_timer rx_retry;
	struct msghdr rx_msg;	/* layout template of every receive buffer */

	/* send: slots [0, send_count) are small buffers, [send_count, slot_count) large */
	uint8_t *tx_mem;
	uint8_t *tx_big;	/* inside tx_mem, after the small buffers */
	size_t tx_len;
	struct send_slot *slots;
	unsigned send_count, slot_count;
	uint32_t free_head, big_free_head;
	uint32_t park_head, park_tail;
	unsigned inflight;

	/* GSO: descriptors on a free stack (touched only when used), the open run */
	struct gso_send *gso;
	uint32_t *gso_free;
	unsigned gso_count, gso_nfree;
	uint32_t run;		/* the run collecting sends, NIL if none */
	bool gso_on, gso_zc;
	unsigned gso_max_segs;
	bool gso_ok;		/* a GSO send went through: later refusals are per send, not the kernel's */
	unsigned gso_fake_refuse;	/* test hook: GSO sends still to refuse */
	int rcvbuf, sndbuf;	/* as granted */

	/* handoff: rings into this reactor (in[from]) and wake-ups we owe */
	struct hand_ring *in;
	uint8_t *hand_mem;
	size_t hand_len;
	size_t hand_cap;	/* bytes of one ring */
	uint8_t *wake_mark;	/* per target: listed in wake_list */
	uint8_t *wake_owed;	/* per target: we must (re)send a msg_ring */
	unsigned *wake_list;
	unsigned wake_n;
	bool wake_need_arm;

	struct rw_timer_wheel wheel;
	struct stats st;

	/* command MPSC queue (Vyukov): producers swap head, the owner walks tail */
	_Alignas(CACHELINE) _Atomic(struct rw_cmd_node *) q_head;
	_Atomic uint32_t q_wake;	/* 1 while an eventfd wake is pending */
	_Atomic uint64_t post_wake_errors;
	_Alignas(CACHELINE) struct rw_cmd_node *q_tail;
	struct rw_cmd_node q_stub;
};

struct rw_reactor_group {
	struct rw_reactor_config cfg;
	unsigned n;
	struct rw_reactor **r;
	struct sockaddr_storage local;
	socklen_t local_len;
	_Atomic int stopping;
	bool started, joined;
	/* start handshake: threads report ready, then wait for go */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	unsigned ready;
	bool go;
	_Atomic int start_err;
};

static inline uint8_t *slot_buf(const struct rw_reactor *r, uint32_t idx)
{
	return idx < r->send_count ? r->tx_mem + (size_t)idx * r->buf_size
				   : r->tx_big + (size_t)(idx - r->send_count) * BIG_BUF;
}

static inline size_t slot_cap(const struct rw_reactor *r, uint32_t idx)
{
	return idx < r->send_count ? r->buf_size : BIG_BUF;
}

static uint64_t clock_ms(void)
{
	struct timespec ts;

	/* CLOCK_MONOTONIC cannot fail with a valid pointer. */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static inline unsigned round_pow2(unsigned v)
{
	unsigned p = 1;

	while (p < v)
		p <<= 1;
	return p;
}

static inline size_t round_up(size_t v, size_t a)
{
	return (v + a - 1) / a * a;
}

static void *map_anon(size_t len, bool noreserve)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | (noreserve ? MAP_NORESERVE : 0), -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

/* ---- send mode probe ----------------------------------------------------- */

/*
 * Try one send mode for real: a 16-byte datagram to a loopback socket must
 * arrive. Flags the kernel does not know are ignored by some versions (an
 * address on IORING_OP_SEND before 6.0), so "the SQE was accepted" is not
 * proof; the datagram arriving is.
 */
static int probe_one(enum rw_send_mode mode, int family)
{
	struct io_uring ring;
	struct io_uring_cqe *cqe;
	struct io_uring_sqe *sqe;
	union addr a;
	socklen_t alen = family == AF_INET ? sizeof(a.in) : sizeof(a.in6);
	struct iovec iov;
	struct msghdr msg;
	struct pollfd pfd;
	uint8_t *buf;
	uint8_t got[32];
	int rx = -1, tx = -1, ret, more = 0;

	buf = map_anon(4096, false);
	if (!buf)
		return -ENOMEM;
	ret = io_uring_queue_init(8, &ring, 0);
	if (ret < 0)
		goto out_buf;
	rx = socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	tx = socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (rx < 0 || tx < 0) {
		ret = -errno;
		goto out;
	}
	memset(&a, 0, sizeof(a));
	a.sa.sa_family = (sa_family_t)family;
	if (family == AF_INET)
		a.in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	else
		a.in6.sin6_addr = in6addr_loopback;
	if (bind(rx, &a.sa, alen) < 0 || getsockname(rx, &a.sa, &alen) < 0) {
		ret = -errno;
		goto out;
	}
	iov.iov_base = buf;
	iov.iov_len = 4096;
	if (mode == RW_SEND_ZC_FIXED) {
		ret = io_uring_register_buffers(&ring, &iov, 1);
		if (ret < 0)
			goto out;
	}
	memset(buf, 0xa5, 16);
	sqe = io_uring_get_sqe(&ring);
	switch (mode) {
	case RW_SEND_ZC_FIXED:
		io_uring_prep_send_zc_fixed(sqe, tx, buf, 16, 0, 0, 0);
		io_uring_prep_send_set_addr(sqe, &a.sa, (uint16_t)alen);
		break;
	case RW_SEND_MSG:
		iov.iov_len = 16;
		memset(&msg, 0, sizeof(msg));
		msg.msg_name = &a;
		msg.msg_namelen = alen;
		msg.msg_iov = &iov;
		msg.msg_iovlen = 1;
		io_uring_prep_sendmsg(sqe, tx, &msg, 0);
		break;
	default:
		io_uring_prep_send(sqe, tx, buf, 16, 0);
		io_uring_prep_send_set_addr(sqe, &a.sa, (uint16_t)alen);
		break;
	}
	ret = io_uring_submit_and_wait(&ring, 1);
	if (ret < 0)
		goto out;
	ret = io_uring_peek_cqe(&ring, &cqe);
	if (ret < 0)
		goto out;
	ret = cqe->res == 16 ? 0 : (cqe->res < 0 ? cqe->res : -EIO);
	more = cqe->flags & IORING_CQE_F_MORE;
	io_uring_cqe_seen(&ring, cqe);
	if (more && io_uring_wait_cqe(&ring, &cqe) == 0)	/* the zero-copy notification */
		io_uring_cqe_seen(&ring, cqe);
	if (ret)
		goto out;
	pfd.fd = rx;
	pfd.events = POLLIN;
	if (poll(&pfd, 1, 500) != 1 || recv(rx, got, sizeof(got), MSG_DONTWAIT) != 16)
		ret = -EIO;
out:
	if (rx >= 0)
		close(rx);
	if (tx >= 0)
		close(tx);
	io_uring_queue_exit(&ring);
out_buf:
	munmap(buf, 4096);
	return ret;
}

static pthread_once_t probe_once = PTHREAD_ONCE_INIT;
static enum rw_send_mode probed_mode = RW_SEND_MSG;

static void probe_modes(void)
{
	/* Fastest first (see the top of this file). */
	static const enum rw_send_mode order[] = { RW_SEND_PLAIN, RW_SEND_ZC_FIXED, RW_SEND_MSG };

	for (unsigned i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
		if (probe_one(order[i], AF_INET) == 0 || probe_one(order[i], AF_INET6) == 0) {
			probed_mode = order[i];
			return;
		}
	}
	probed_mode = RW_SEND_MSG;	/* no loopback to probe with: the safe choice */
}

static enum rw_send_mode resolve_mode(enum rw_send_mode want)
{
	if (want != RW_SEND_AUTO)
		return want;
	pthread_once(&probe_once, probe_modes);
	return probed_mode;
}

/* ---- setup --------------------------------------------------------------- */

static int set_sockbuf(int fd, int force_opt, int opt, int bytes)
{
	/* FORCE ignores rmem_max/wmem_max but needs CAP_NET_ADMIN. */
	if (setsockopt(fd, SOL_SOCKET, force_opt, &bytes, sizeof(bytes)) == 0)
		return 0;
	if (setsockopt(fd, SOL_SOCKET, opt, &bytes, sizeof(bytes)) == 0)
		return 0;
	return -errno;
}

static int open_socket(const struct rw_reactor_config *c, const struct sockaddr *addr, socklen_t len)
{
	int fd, one = 1, ret;

	fd = socket(addr->sa_family, SOCK_DGRAM | SOCK_CLOEXEC, IPPROTO_UDP);
	if (fd < 0)
		return -errno;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0) {
		ret = -errno;
		goto fail;
	}
	if (addr->sa_family == AF_INET6) {
		int v6only = c->v6only;

		/* before bind: the sysctl default (bindv6only) differs between hosts */
		if (setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof(v6only)) < 0) {
			ret = -errno;
			goto fail;
		}
	}
	ret = set_sockbuf(fd, SO_RCVBUFFORCE, SO_RCVBUF, c->rcvbuf);
	if (ret)
		goto fail;
	ret = set_sockbuf(fd, SO_SNDBUFFORCE, SO_SNDBUF, c->sndbuf);
	if (ret)
		goto fail;
	/* the socket's cumulative drop count rides on received datagrams (rx_kernel_drops) */
	if (setsockopt(fd, SOL_SOCKET, SO_RXQ_OVFL, &one, sizeof(one)) < 0) {
		ret = -errno;
		goto fail;
	}
	if (bind(fd, addr, len) < 0) {
		ret = -errno;
		goto fail;
	}
	return fd;
fail:
	close(fd);
	return ret;
}

/*
 * Port 0: choose the port with a plain socket first. An SO_REUSEPORT socket
 * binding port 0 may be given a port that another SO_REUSEPORT socket of the
 * same user already holds (the kernel counts that as sharing, not as a
 * conflict): a client would join some server's group and get part of its
 * traffic. A socket without SO_REUSEPORT conflicts with every holder, so the
 * port it gets is free; our sockets then bind it the moment it is released.
 */
static int pick_port(const struct rw_reactor_config *c, struct sockaddr *addr, socklen_t len)
{
	struct sockaddr_storage got;
	socklen_t glen = sizeof(got);
	int fd, ret = 0;

	in_port_t port = addr->sa_family == AF_INET6 ? ((struct sockaddr_in6 *)addr)->sin6_port
						     : ((struct sockaddr_in *)addr)->sin_port;

	if (port)
		return 0;
	fd = socket(addr->sa_family, SOCK_DGRAM | SOCK_CLOEXEC, IPPROTO_UDP);
	if (fd < 0)
		return -errno;
	if (addr->sa_family == AF_INET6)
		(void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &(int){ c->v6only }, sizeof(int));
	if (bind(fd, addr, len) < 0 || getsockname(fd, (struct sockaddr *)&got, &glen) < 0)
		ret = -errno;
	else if (addr->sa_family == AF_INET6)
		((struct sockaddr_in6 *)addr)->sin6_port = ((struct sockaddr_in6 *)&got)->sin6_port;
	else
		((struct sockaddr_in *)addr)->sin_port = ((struct sockaddr_in *)&got)->sin_port;
	close(fd);
	return ret;
}

/*
 * Rings are created disabled so that SINGLE_ISSUER binds them to the thread
 * that enables them (the reactor), not to the creating thread; registration
 * (buffers, files) is allowed on a disabled ring. Kernels that refuse a flag
 * say -EINVAL: retry with fewer, down to none.
 */
static int setup_ring(struct rw_reactor *r, const struct rw_reactor_config *c, unsigned cq_entries)
{
	static const unsigned sets[] = {
		IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_SUBMIT_ALL |
			IORING_SETUP_R_DISABLED,
		IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_COOP_TASKRUN | IORING_SETUP_SUBMIT_ALL |
			IORING_SETUP_R_DISABLED,
		IORING_SETUP_COOP_TASKRUN | IORING_SETUP_SUBMIT_ALL,
		0,
	};
	unsigned i = c->compat_ring ? sizeof(sets) / sizeof(sets[0]) - 1 : 0;
	int ret = -EINVAL;

	for (; i < sizeof(sets) / sizeof(sets[0]); i++) {
		struct io_uring_params p;

		memset(&p, 0, sizeof(p));
		p.flags = sets[i] | IORING_SETUP_CQSIZE | IORING_SETUP_CLAMP;
		p.cq_entries = cq_entries;
		ret = io_uring_queue_init_params(c->ring_entries, &r->ring, &p);
		if (ret == 0) {
			r->ring_flags = p.flags;
			r->ring_disabled = p.flags & IORING_SETUP_R_DISABLED;
			r->cq_budget = p.cq_entries;
			if ((p.features & FEAT_MIN_TIMEOUT) && (p.features & IORING_FEAT_EXT_ARG))
				r->batch_wait_us = c->batch_wait_us;
			return 0;
		}
		if (ret != -EINVAL)
			return ret;
	}
	return ret;
}

static int setup_rx(struct rw_reactor *r, const struct rw_reactor_config *c)
{
	struct io_uring_buf_reg reg;
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	bool big = r->max_datagram > r->buf_size - RX_HDR;
	int ret;

	/*
	 * Large datagrams (or GRO super-datagrams) need 64 KiB buffers: fewer
	 * of them (128 by default, 8 MiB), or a reactor would map 128 MiB.
	 * Pages are only touched as far as datagrams fill them.
	 */
	r->rx_entries = big ? c->big_rx_count : c->buf_count;
	r->rx_buf_size = big ? (unsigned)(RX_HDR + BIG_BUF) : r->buf_size;
	r->rx_mask = r->rx_entries - 1;
	r->br_len = round_up(r->rx_entries * sizeof(struct io_uring_buf), page);
	r->br = map_anon(r->br_len, false);
	r->rx_len = round_up((size_t)r->rx_entries * r->rx_buf_size, page);
	r->rx_mem = map_anon(r->rx_len, false);
	if (!r->br || !r->rx_mem)
		return -ENOMEM;
	if (big && !c->no_gro) {
		int one = 1;

		/* without it the kernel cuts a GSO burst back into datagrams before the socket */
		r->gro = setsockopt(r->fd, SOL_UDP, UDP_GRO, &one, sizeof(one)) == 0;
		if (r->gro && (r->rx_scratch = aligned_alloc(64, BIG_BUF)) == NULL)
			return -ENOMEM;
	}
	io_uring_buf_ring_init(r->br);
	memset(&reg, 0, sizeof(reg));
	reg.ring_addr = (uint64_t)(uintptr_t)r->br;
	reg.ring_entries = r->rx_entries;
	reg.bgid = BGID;
	ret = io_uring_register_buf_ring(&r->ring, &reg, 0);
	if (ret < 0)
		return ret;
	for (unsigned i = 0; i < r->rx_entries; i++)
		io_uring_buf_ring_add(r->br, r->rx_mem + (size_t)i * r->rx_buf_size, r->rx_buf_size, (unsigned short)i,
				      (int)r->rx_mask, (int)i);
	io_uring_buf_ring_advance(r->br, (int)r->rx_entries);

	/*
	 * Every buffer the multishot fills is laid out as io_uring_recvmsg_out
	 * (16 bytes), then msg_namelen bytes of source address, then
	 * msg_controllen bytes of control messages, then the payload. Reserve
	 * room for an IPv6 address whatever the family and for both control
	 * messages (96 bytes in all), so the payload starts 16-byte aligned.
	 */
	memset(&r->rx_msg, 0, sizeof(r->rx_msg));
	r->rx_msg.msg_namelen = RX_NAME_SPACE;
	r->rx_msg.msg_controllen = RX_CTRL_SPACE;
	return 0;
}

static int setup_tx(struct rw_reactor *r, const struct rw_reactor_config *c)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	unsigned big = r->max_datagram > r->buf_size ? c->big_send_count : 0;
	size_t small_len = round_up((size_t)c->send_buf_count * r->buf_size, page);

	r->send_count = c->send_buf_count;
	r->slot_count = r->send_count + big;
	r->tx_len = small_len + (size_t)big * BIG_BUF;
	r->tx_mem = map_anon(r->tx_len, false);
	r->tx_big = r->tx_mem ? r->tx_mem + small_len : NULL;
	r->slots = calloc(r->slot_count, sizeof(*r->slots));
	/* a run needs two buffers: never more runs than that in flight */
	r->gso_count = r->slot_count / 2;
	r->gso = calloc(r->gso_count, sizeof(*r->gso));
	r->gso_free = calloc(r->gso_count, sizeof(*r->gso_free));
	if (!r->tx_mem || !r->slots || !r->gso || !r->gso_free)
		return -ENOMEM;
	for (unsigned i = 0; i < r->slot_count; i++) {
		struct send_slot *s = &r->slots[i];

		s->state = SLOT_FREE;
		s->next = i + 1 < r->slot_count && i + 1 != r->send_count ? i + 1 : NIL;
		s->gso = NIL;
		s->iov.iov_base = slot_buf(r, i);
		s->msg.msg_name = &s->to;
		s->msg.msg_iov = &s->iov;
		s->msg.msg_iovlen = 1;
	}
	r->free_head = r->send_count ? 0 : NIL;
	r->big_free_head = big ? r->send_count : NIL;
	for (unsigned i = 0; i < r->gso_count; i++)
		r->gso_free[i] = r->gso_count - 1 - i;
	r->gso_nfree = r->gso_count;
	r->run = NIL;
	r->gso_on = !c->no_gso && r->gso_count > 0;
	r->gso_zc = c->gso_zc;
	r->gso_max_segs = c->gso_zc ? GSO_ZC_MAX_SEGS : GSO_MAX_SEGS;
	r->park_head = r->park_tail = NIL;
	if (r->mode == RW_SEND_ZC_FIXED) {
		struct iovec iov = { .iov_base = r->tx_mem, .iov_len = r->tx_len };

		/* One registration covers the pool: buf_index 0, any address inside. */
		if (io_uring_register_buffers(&r->ring, &iov, 1) < 0)
			r->mode = RW_SEND_PLAIN;	/* e.g. RLIMIT_MEMLOCK: copy instead */
	}
	return 0;
}

static int setup_handoff(struct rw_reactor *r, unsigned n, unsigned slots)
{
	/* as many bytes as `slots` small datagrams, and room for a few of the largest */
	size_t want = (size_t)slots * r->buf_size, least = 4 * round_up(HAND_HDR_SIZE + r->max_datagram, CACHELINE);

	if (want < least)
		want = least;
	for (r->hand_cap = CACHELINE; r->hand_cap < want && r->hand_cap < (1u << 30);)
		r->hand_cap <<= 1;
	r->hand_len = (size_t)n * r->hand_cap;
	/* NORESERVE and untouched: only slots that carry traffic cost memory. */
	r->hand_mem = map_anon(r->hand_len, true);
	r->in = aligned_alloc(CACHELINE, round_up(n * sizeof(*r->in), CACHELINE));
	r->wake_mark = calloc(n, 1);
	r->wake_owed = calloc(n, 1);
	r->wake_list = calloc(n, sizeof(*r->wake_list));
	if (!r->hand_mem || !r->in || !r->wake_mark || !r->wake_owed || !r->wake_list)
		return -ENOMEM;
	memset(r->in, 0, n * sizeof(*r->in));
	for (unsigned i = 0; i < n; i++) {
		r->in[i].mem = r->hand_mem + (size_t)i * r->hand_cap;
		r->in[i].mask = (uint32_t)r->hand_cap - 1;
	}
	return 0;
}

static void rx_retry_fn(struct rw_timer *t, uint64_t now);

/* Test hook: RW_TEST_GSO_REFUSE=n makes the first n GSO sends of each reactor fail like a refusing kernel. */
static unsigned gso_refuse_hook(void)
{
	const char *v = getenv("RW_TEST_GSO_REFUSE");

	return v ? (unsigned)strtoul(v, NULL, 10) : 0;
}

static int reactor_create(struct rw_reactor_group *g, unsigned id, const struct sockaddr *addr, socklen_t alen,
			  enum rw_send_mode mode, struct rw_reactor **out)
{
	const struct rw_reactor_config *c = &g->cfg;
	struct rw_reactor *r;
	unsigned cq;
	int ret;

	r = aligned_alloc(CACHELINE, round_up(sizeof(*r), CACHELINE));
	if (!r)
		return -ENOMEM;
	memset(r, 0, sizeof(*r));
	r->g = g;
	r->id = id;
	r->fd = -1;
	r->efd = -1;
	r->ring.ring_fd = -1;
	r->family = addr->sa_family;
	r->buf_size = c->buf_size;
	r->max_datagram = c->max_datagram;
	r->gso_fake_refuse = gso_refuse_hook();
	r->mode = mode;
	r->q_tail = &r->q_stub;
	atomic_init(&r->q_head, &r->q_stub);
	atomic_init(&r->q_stub.next, NULL);
	rw__timer_init(&r->rx_retry, rx_retry_fn);
	rw__timer_wheel_init(&r->wheel, clock_ms());
	*out = r;	/* partially built is fine: destroy copes */

	ret = open_socket(c, addr, alen);
	if (ret < 0)
		return ret;
	r->fd = ret;
	r->sqe_fd = r->fd;
	{
		socklen_t l = sizeof(int);

		if (getsockopt(r->fd, SOL_SOCKET, SO_RCVBUF, &r->rcvbuf, &l) < 0)
			r->rcvbuf = -1;
		l = sizeof(int);
		if (getsockopt(r->fd, SOL_SOCKET, SO_SNDBUF, &r->sndbuf, &l) < 0)
			r->sndbuf = -1;
	}
	r->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (r->efd < 0)
		return -errno;
	/* Room for every receive buffer and every send to complete in one batch. */
	cq = round_pow2((r->max_datagram > r->buf_size - RX_HDR ? c->big_rx_count : c->buf_count) +
			2 * (c->send_buf_count + c->big_send_count) + 4 * g->n + 64);
	if (cq < 2 * c->ring_entries)
		cq = 2 * c->ring_entries;
	ret = setup_ring(r, c, cq);
	if (ret < 0) {
		r->ring.ring_fd = -1;
		return ret;
	}
	/* A fixed file saves a file reference per SQE; not essential. */
	if (io_uring_register_files(&r->ring, &r->fd, 1) == 0) {
		r->sqe_fd = 0;
		r->sqe_flags = IOSQE_FIXED_FILE;
	}
	ret = setup_rx(r, c);
	if (ret < 0)
		return ret;
	ret = setup_tx(r, c);
	if (ret < 0)
		return ret;
	return setup_handoff(r, g->n, c->handoff_slots);
}

static void reactor_free(struct rw_reactor *r)
{
	if (!r)
		return;
	/* Closing the ring cancels whatever is in flight and unpins buffers. */
	if (r->ring.ring_fd >= 0)
		io_uring_queue_exit(&r->ring);
	if (r->fd >= 0)
		close(r->fd);
	if (r->efd >= 0)
		close(r->efd);
	if (r->br)
		munmap(r->br, r->br_len);
	if (r->rx_mem)
		munmap(r->rx_mem, r->rx_len);
	if (r->tx_mem)
		munmap(r->tx_mem, r->tx_len);
	if (r->hand_mem)
		munmap(r->hand_mem, r->hand_len);
	free(r->slots);
	free(r->gso);
	free(r->gso_free);
	free(r->rx_scratch);
	free(r->in);
	free(r->wake_mark);
	free(r->wake_owed);
	free(r->wake_list);
	free(r);
}

static int apply_defaults(struct rw_reactor_config *c)
{
	if (c->listen.ss_family == AF_INET) {
		if (c->listen_len < sizeof(struct sockaddr_in))
			return -EINVAL;
		c->listen_len = sizeof(struct sockaddr_in);
	} else if (c->listen.ss_family == AF_INET6) {
		if (c->listen_len < sizeof(struct sockaddr_in6))
			return -EINVAL;
		c->listen_len = sizeof(struct sockaddr_in6);
	} else {
		return -EAFNOSUPPORT;
	}
	if (!c->n_reactors) {
		cpu_set_t set;

		if (sched_getaffinity(0, sizeof(set), &set) < 0)
			return -errno;
		c->n_reactors = (unsigned)CPU_COUNT(&set);
	}
	if (!c->ring_entries)
		c->ring_entries = 256;
	if (!c->buf_count)
		c->buf_count = 1024;
	if (!c->buf_size)
		c->buf_size = 2048;
	if (!c->send_buf_count)
		c->send_buf_count = 512;
	if (!c->handoff_slots)
		c->handoff_slots = 256;
	{
		unsigned fam_max = c->listen.ss_family == AF_INET6 ? MAX_DGRAM_V6 : MAX_DGRAM_V4;

		if (!c->max_datagram || c->max_datagram > fam_max)
			c->max_datagram = fam_max;
	}
	if (!c->big_rx_count)
		c->big_rx_count = 128;
	if (!c->big_send_count)
		c->big_send_count = 256;
	/* Test switches, so a whole program can run without GSO / GRO / with zero-copy GSO. */
	if (getenv("RW_TEST_NO_GSO") && atoi(getenv("RW_TEST_NO_GSO")))
		c->no_gso = true;
	if (getenv("RW_TEST_NO_GRO") && atoi(getenv("RW_TEST_NO_GRO")))
		c->no_gro = true;
	if (getenv("RW_TEST_GSO_ZC") && atoi(getenv("RW_TEST_GSO_ZC")))
		c->gso_zc = true;
	if (!c->rcvbuf)
		c->rcvbuf = 4 << 20;
	if (!c->sndbuf)
		c->sndbuf = 4 << 20;
	if (c->n_reactors > MAX_REACTORS || c->buf_count > MAX_BUF_COUNT || c->buf_size < 2048 ||
	    c->buf_size > MAX_BUF_SIZE || c->send_buf_count > MAX_SEND_BUFS ||
	    c->handoff_slots > MAX_HANDOFF_SLOTS || c->ring_entries > 32768 || c->rcvbuf < 0 || c->sndbuf < 0 ||
	    c->send_mode > RW_SEND_MSG || c->big_rx_count > MAX_BUF_COUNT || c->big_send_count > MAX_SEND_BUFS ||
	    c->max_datagram < 64)
		return -EINVAL;
	c->buf_count = round_pow2(c->buf_count);
	c->big_rx_count = round_pow2(c->big_rx_count);
	c->handoff_slots = round_pow2(c->handoff_slots);
	return 0;
}

int rw__reactor_group_create(struct rw_reactor_group **gp, const struct rw_reactor_config *cfg)
{
	struct rw_reactor_group *g;
	struct sockaddr_storage addr;
	enum rw_send_mode mode;
	int ret;

	*gp = NULL;
	g = calloc(1, sizeof(*g));
	if (!g)
		return -ENOMEM;
	g->cfg = *cfg;
	ret = apply_defaults(&g->cfg);
	if (ret)
		goto fail_nolock;
	ret = pthread_mutex_init(&g->lock, NULL);
	if (ret) {
		ret = -ret;
		goto fail_nolock;
	}
	ret = pthread_cond_init(&g->cond, NULL);
	if (ret) {
		pthread_mutex_destroy(&g->lock);
		ret = -ret;
		goto fail_nolock;
	}
	g->n = g->cfg.n_reactors;
	g->r = calloc(g->n, sizeof(*g->r));
	if (!g->r) {
		ret = -ENOMEM;
		goto fail;
	}
	mode = resolve_mode(g->cfg.send_mode);
	addr = g->cfg.listen;
	ret = pick_port(&g->cfg, (struct sockaddr *)&addr, g->cfg.listen_len);
	if (ret < 0)
		goto fail;
	for (unsigned i = 0; i < g->n; i++) {
		ret = reactor_create(g, i, (struct sockaddr *)&addr, g->cfg.listen_len, mode, &g->r[i]);
		if (ret < 0)
			goto fail;
		if (i == 0) {
			/* Port 0: the first socket picked one; the others share it. */
			g->local_len = sizeof(g->local);
			if (getsockname(g->r[0]->fd, (struct sockaddr *)&g->local, &g->local_len) < 0) {
				ret = -errno;
				goto fail;
			}
			memcpy(&addr, &g->local, g->local_len);
		}
	}
	*gp = g;
	return 0;
fail:
	rw__reactor_group_destroy(g);
	return ret;
fail_nolock:
	free(g);
	return ret;
}

/* ---- owner-thread helpers ------------------------------------------------- */

/* Make the buffers recycled so far visible to the kernel: one store-release. */
static inline void rx_publish(struct rw_reactor *r)
{
	if (r->rx_recycled) {
		io_uring_buf_ring_advance(r->br, (int)r->rx_recycled);
		r->rx_recycled = 0;
	}
}

static struct io_uring_sqe *get_sqe(struct rw_reactor *r)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&r->ring);

	if (rw_likely(sqe))
		return sqe;
	/*
	 * SQ full mid-batch: hand the kernel what we have and retry. Publish
	 * recycled receive buffers first, or the multishot may run dry while
	 * the kernel works through the queue.
	 */
	rx_publish(r);
	if (io_uring_submit(&r->ring) < 0)
		return NULL;
	return io_uring_get_sqe(&r->ring);
}

struct io_uring_sqe *rw__reactor_ext_sqe(struct rw_reactor *r)
{
	return get_sqe(r);
}

uint64_t rw__reactor_ext_data(uint32_t tag)
{
	return ud_pack(OP_EXT, tag);
}

static int arm_recv(struct rw_reactor *r)
{
	struct io_uring_sqe *sqe = get_sqe(r);

	if (!sqe)
		return -EBUSY;
	io_uring_prep_recvmsg_multishot(sqe, r->sqe_fd, &r->rx_msg, 0);
	sqe->flags |= IOSQE_BUFFER_SELECT | r->sqe_flags;
	sqe->buf_group = BGID;
	io_uring_sqe_set_data64(sqe, ud_pack(OP_RECV, 0));
	r->rx_need_arm = false;
	return 0;
}

static int arm_wake(struct rw_reactor *r)
{
	struct io_uring_sqe *sqe = get_sqe(r);

	if (!sqe)
		return -EBUSY;
	io_uring_prep_poll_multishot(sqe, r->efd, POLLIN);
	io_uring_sqe_set_data64(sqe, ud_pack(OP_WAKE, 0));
	r->wake_need_arm = false;
	return 0;
}

static void rx_retry_fn(struct rw_timer *t, uint64_t now)
{
	struct rw_reactor *r = rw_container_of(t, struct rw_reactor, rx_retry);

	(void)now;
	if (r->rx_need_arm && arm_recv(r) == 0)
		STAT_ADD(r, rearms, 1);
}

/*
 * A v4-mapped IPv6 address (::ffff:a.b.c.d, what a dual-stack socket reports
 * for an IPv4 peer) as the AF_INET address it stands for; set_dest maps it
 * back on the way out. One peer, one address: limiter, cookies, logs and
 * sessions above never see the mapped form.
 */
static const struct sockaddr *unmap(const struct sockaddr *a, socklen_t *len, struct sockaddr_in *tmp)
{
	const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)a;

	if (a->sa_family != AF_INET6 || *len < sizeof(*in6) || !IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr))
		return a;
	memset(tmp, 0, sizeof(*tmp));
	tmp->sin_family = AF_INET;
	tmp->sin_port = in6->sin6_port;
	memcpy(&tmp->sin_addr, &in6->sin6_addr.s6_addr[12], 4);
	*len = sizeof(*tmp);
	return (const struct sockaddr *)tmp;
}

static void rx_deliver(struct rw_reactor *r, uint8_t *buf, int res)
{
	struct io_uring_recvmsg_out *out = io_uring_recvmsg_validate(buf, res, &r->rx_msg);
	const struct sockaddr *from;
	struct sockaddr_in v4;
	socklen_t namelen;
	unsigned plen, seg = 0;
	uint8_t *payload;

	if (rw_unlikely(!out)) {
		STAT_ADD(r, rx_errors, 1);
		return;
	}
	if (rw_unlikely(out->flags & MSG_TRUNC)) {
		STAT_ADD(r, rx_truncated, 1);
		return;
	}
	plen = io_uring_recvmsg_payload_length(out, res, &r->rx_msg);
	namelen = out->namelen < r->rx_msg.msg_namelen ? out->namelen : r->rx_msg.msg_namelen;
	if (out->controllen) {
		for (struct cmsghdr *cm = io_uring_recvmsg_cmsg_firsthdr(out, &r->rx_msg); cm;
		     cm = io_uring_recvmsg_cmsg_nexthdr(out, &r->rx_msg, cm)) {
			if (cm->cmsg_level == SOL_UDP && cm->cmsg_type == UDP_GRO) {
				int v;

				memcpy(&v, CMSG_DATA(cm), sizeof(v));
				seg = v > 0 ? (unsigned)v : 0;
			} else if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SO_RXQ_OVFL) {
				uint32_t drops;

				/* the socket's count so far, carried only once it is non-zero */
				memcpy(&drops, CMSG_DATA(cm), sizeof(drops));
				atomic_store_explicit(&r->st.rx_kernel_drops, drops, memory_order_relaxed);
			}
		}
	}
	r->rx_err_streak = 0;
	from = io_uring_recvmsg_name(out);
	if (r->family == AF_INET6)
		from = unmap(from, &namelen, &v4);
	payload = io_uring_recvmsg_payload(out, &r->rx_msg);
	if (rw_likely(!seg || seg >= plen)) {
		STAT_ADD(r, rx_packets, 1);
		STAT_ADD(r, rx_bytes, plen);
		if (rw_likely(!r->closing && r->g->cfg.ops.on_datagram))
			r->g->cfg.ops.on_datagram(r, payload, plen, from, namelen);
		return;
	}
	/*
	 * A GRO super-datagram: the datagrams of one burst, each seg bytes but
	 * the last. Each is a datagram of its own above (authenticated, handed
	 * off, dropped on its own). A segment that would start unaligned (seg
	 * not a multiple of 16) is copied out first: payloads stay aligned.
	 */
	STAT_ADD(r, rx_gro_packets, 1);
	STAT_ADD(r, rx_bytes, plen);
	for (unsigned off = 0; off < plen; off += seg) {
		unsigned n = plen - off < seg ? plen - off : seg;
		uint8_t *p = payload + off;

		STAT_ADD(r, rx_packets, 1);
		STAT_ADD(r, rx_gro_segments, 1);
		if (rw_unlikely(r->closing || !r->g->cfg.ops.on_datagram))
			continue;
		if ((uintptr_t)p & 15) {
			memcpy(r->rx_scratch, p, n);
			p = r->rx_scratch;
		}
		r->g->cfg.ops.on_datagram(r, p, n, from, namelen);
	}
}

static void on_recv(struct rw_reactor *r, const struct io_uring_cqe *cqe)
{
	if (rw_likely(cqe->flags & IORING_CQE_F_BUFFER)) {
		unsigned bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
		uint8_t *buf = r->rx_mem + (size_t)bid * r->rx_buf_size;

		if (rw_likely(cqe->res > 0))
			rx_deliver(r, buf, cqe->res);
		/* Back on the ring now, visible to the kernel at batch end. */
		io_uring_buf_ring_add(r->br, buf, r->rx_buf_size, (unsigned short)bid, (int)r->rx_mask,
				      (int)r->rx_recycled++);
	}
	if (rw_unlikely(cqe->res < 0)) {
		if (cqe->res == -ENOBUFS) {
			STAT_ADD(r, rx_nobufs, 1);
		} else {
			STAT_ADD(r, rx_errors, 1);
			r->rx_err_streak++;
		}
	}
	/* No F_MORE: this multishot is over (ran dry, error, cancel). */
	if (!(cqe->flags & IORING_CQE_F_MORE))
		r->rx_need_arm = true;
}

static inline void slot_release(struct rw_reactor *r, uint32_t idx)
{
	struct send_slot *s = &r->slots[idx];
	uint32_t *head = idx < r->send_count ? &r->free_head : &r->big_free_head;

	s->state = SLOT_FREE;
	s->gso = NIL;
	s->next = *head;
	*head = idx;
}

static void on_send_done(struct rw_reactor *r, uint32_t idx, const struct io_uring_cqe *cqe)
{
	if (rw_unlikely(idx >= r->slot_count || r->slots[idx].state != SLOT_INFLIGHT))
		return;
	/* A zero-copy send's second CQE: the kernel is done with the pages. */
	if (cqe->flags & IORING_CQE_F_NOTIF) {
		r->inflight--;
		slot_release(r, idx);
		return;
	}
	if (rw_likely(cqe->res >= 0)) {
		STAT_ADD(r, tx_packets, 1);
		STAT_ADD(r, tx_bytes, (uint64_t)cqe->res);
	} else {
		STAT_ADD(r, tx_errors, 1);
		atomic_store_explicit(&r->st.tx_last_error, cqe->res, memory_order_relaxed);
		if (r->g->cfg.ops.on_send_error) {
			socklen_t len = r->slots[idx].tolen;
			struct sockaddr_in v4;
			const struct sockaddr *to = unmap(&r->slots[idx].to.sa, &len, &v4);

			r->g->cfg.ops.on_send_error(r, to, len, cqe->res);
		}
	}
	if (!(cqe->flags & IORING_CQE_F_MORE)) {
		r->inflight--;
		slot_release(r, idx);
	}
}

/* ---- GSO ------------------------------------------------------------------- */

static bool issue_send(struct rw_reactor *r, uint32_t idx);

/* Queue slot idx (filled, destination set) as a send of its own: now, or parked behind others. */
static void send_single(struct rw_reactor *r, uint32_t idx)
{
	struct send_slot *s = &r->slots[idx];

	if (rw_likely(r->park_head == NIL) && issue_send(r, idx))
		return;
	s->state = SLOT_PARKED;
	s->next = NIL;
	if (r->park_tail == NIL)
		r->park_head = idx;
	else
		r->slots[r->park_tail].next = idx;
	r->park_tail = idx;
	STAT_ADD(r, send_queued, 1);
}

static void gso_put(struct rw_reactor *r, uint32_t d)
{
	r->gso_free[r->gso_nfree++] = d;
}

/* Prepare the SQE of a GSO send: one sendmsg, its datagrams gathered from their buffers. */
static bool issue_gso(struct rw_reactor *r, uint32_t di)
{
	struct gso_send *d = &r->gso[di];
	struct io_uring_sqe *sqe = get_sqe(r);
	struct cmsghdr *cm = &d->cm.align;

	if (rw_unlikely(!sqe))
		return false;
	memset(&d->msg, 0, sizeof(d->msg));
	d->msg.msg_name = &d->to;
	d->msg.msg_namelen = d->tolen;
	d->msg.msg_iov = d->iov;
	d->msg.msg_iovlen = d->n;
	d->msg.msg_control = d->cm.buf;
	d->msg.msg_controllen = sizeof(d->cm.buf);
	cm->cmsg_level = SOL_UDP;
	cm->cmsg_type = UDP_SEGMENT;
	cm->cmsg_len = CMSG_LEN(sizeof(uint16_t));
	memcpy(CMSG_DATA(cm), &d->seg, sizeof(uint16_t));
	d->res = 0;
	d->fake_refuse = false;
	if (rw_unlikely(r->gso_fake_refuse)) {
		/* the test's refusing kernel: nothing leaves, the completion says -EIO */
		r->gso_fake_refuse--;
		d->fake_refuse = true;
		io_uring_prep_nop(sqe);
	} else if (r->gso_zc) {
		io_uring_prep_sendmsg_zc(sqe, r->sqe_fd, &d->msg, 0);
		sqe->flags |= r->sqe_flags;
	} else {
		io_uring_prep_sendmsg(sqe, r->sqe_fd, &d->msg, 0);
		sqe->flags |= r->sqe_flags;
	}
	io_uring_sqe_set_data64(sqe, ud_pack(OP_GSO, di));
	for (unsigned i = 0; i < d->n; i++)
		r->slots[d->idx[i]].state = SLOT_INFLIGHT;
	r->inflight++;
	return true;
}

/* The open run can grow no more: issue it (a run of one is a plain send). */
static void run_close(struct rw_reactor *r)
{
	uint32_t di = r->run, lead;
	struct gso_send *d;

	if (di == NIL)
		return;
	r->run = NIL;
	d = &r->gso[di];
	lead = d->idx[0];
	if (d->n == 1) {
		r->slots[lead].gso = NIL;
		gso_put(r, di);
		send_single(r, lead);
		return;
	}
	if (rw_likely(r->park_head == NIL) && issue_gso(r, di))
		return;
	/* the leader stands for the whole run in the parked FIFO */
	r->slots[lead].next = NIL;
	if (r->park_tail == NIL)
		r->park_head = lead;
	else
		r->slots[r->park_tail].next = lead;
	r->park_tail = lead;
	STAT_ADD(r, send_queued, 1);
}

/* A filled slot (destination set) joins the open run, starts one, or leaves on its own. */
static void run_add(struct rw_reactor *r, uint32_t idx)
{
	struct send_slot *s = &r->slots[idx];
	struct gso_send *d;
	uint32_t di;

	if (r->run != NIL) {
		d = &r->gso[r->run];
		if (s->len <= d->seg && d->bytes + s->len <= GSO_MAX_BYTES && s->tolen == d->tolen &&
		    memcmp(&s->to, &d->to, s->tolen) == 0) {
			d->idx[d->n] = idx;
			d->iov[d->n].iov_base = slot_buf(r, idx);
			d->iov[d->n].iov_len = s->len;
			d->n++;
			d->bytes += s->len;
			s->gso = r->run;
			s->state = SLOT_PARKED;
			/* a shorter datagram ends a run: only the last segment may be short */
			if (s->len < d->seg || d->n == r->gso_max_segs || d->bytes + d->seg > GSO_MAX_BYTES)
				run_close(r);
			return;
		}
		run_close(r);
	}
	if (2 * (size_t)s->len > GSO_MAX_BYTES || !r->gso_nfree) {
		send_single(r, idx);
		return;
	}
	di = r->gso_free[--r->gso_nfree];
	d = &r->gso[di];
	d->to = s->to;
	d->tolen = s->tolen;
	d->seg = (uint16_t)s->len;
	d->n = 1;
	d->bytes = s->len;
	d->idx[0] = idx;
	d->iov[0].iov_base = slot_buf(r, idx);
	d->iov[0].iov_len = s->len;
	s->gso = di;
	s->state = SLOT_PARKED;
	r->run = di;
}

static bool gso_refusal(int err)
{
	/* no UDP_SEGMENT (old kernel), no checksum offload on the route (-EIO), too big for the device */
	return err == -EIO || err == -EINVAL || err == -EOPNOTSUPP || err == -EMSGSIZE;
}

static void gso_done(struct rw_reactor *r, uint32_t di, int res)
{
	struct gso_send *d = &r->gso[di];

	r->inflight--;
	if (rw_likely(res >= 0)) {
		r->gso_ok = true;
		STAT_ADD(r, tx_packets, d->n);
		STAT_ADD(r, tx_bytes, (uint64_t)res);
		STAT_ADD(r, tx_gso_sends, 1);
		STAT_ADD(r, tx_gso_segments, d->n);
		for (unsigned i = 0; i < d->n; i++)
			slot_release(r, d->idx[i]);
		gso_put(r, di);
		return;
	}
	if (gso_refusal(res)) {
		/*
		 * Refused as a whole: every datagram goes again on its own (and
		 * meets its own error there, if it has one). A socket that never
		 * got a GSO send through stops trying.
		 */
		STAT_ADD(r, tx_gso_refused, 1);
		if (!r->gso_ok && res != -EMSGSIZE && r->gso_on) {
			r->gso_on = false;
			STAT_ADD(r, tx_gso_off, 1);
		}
		for (unsigned i = 0; i < d->n; i++) {
			struct send_slot *s = &r->slots[d->idx[i]];

			s->to = d->to;
			s->tolen = d->tolen;
			s->len = (uint32_t)d->iov[i].iov_len;
			s->gso = NIL;
			send_single(r, d->idx[i]);
		}
		gso_put(r, di);
		return;
	}
	STAT_ADD(r, tx_errors, d->n);
	atomic_store_explicit(&r->st.tx_last_error, res, memory_order_relaxed);
	if (r->g->cfg.ops.on_send_error) {
		socklen_t len = d->tolen;
		struct sockaddr_in v4;
		const struct sockaddr *to = unmap(&d->to.sa, &len, &v4);

		r->g->cfg.ops.on_send_error(r, to, len, res);
	}
	for (unsigned i = 0; i < d->n; i++)
		slot_release(r, d->idx[i]);
	gso_put(r, di);
}

static void on_gso_cqe(struct rw_reactor *r, uint32_t di, const struct io_uring_cqe *cqe)
{
	struct gso_send *d;

	if (rw_unlikely(di >= r->gso_count))
		return;
	d = &r->gso[di];
	/* zero copy: the result came first; the buffers are free only now */
	if (cqe->flags & IORING_CQE_F_NOTIF) {
		gso_done(r, di, d->res);
		return;
	}
	d->res = d->fake_refuse ? -EIO : cqe->res;
	if (!(cqe->flags & IORING_CQE_F_MORE))
		gso_done(r, di, d->res);
}

/* Prepare the send SQE of a filled slot; false if no SQE could be had. */
static bool issue_send(struct rw_reactor *r, uint32_t idx)
{
	struct send_slot *s = &r->slots[idx];
	struct io_uring_sqe *sqe;
	uint8_t *buf = slot_buf(r, idx);

	if (s->gso != NIL)
		return issue_gso(r, s->gso);
	sqe = get_sqe(r);
	if (rw_unlikely(!sqe))
		return false;
	switch (r->mode) {
	case RW_SEND_ZC_FIXED:
		io_uring_prep_send_zc_fixed(sqe, r->sqe_fd, buf, s->len, 0, 0, 0);
		io_uring_prep_send_set_addr(sqe, &s->to.sa, (uint16_t)s->tolen);
		break;
	case RW_SEND_MSG:
		s->iov.iov_len = s->len;
		s->msg.msg_namelen = s->tolen;
		io_uring_prep_sendmsg(sqe, r->sqe_fd, &s->msg, 0);
		break;
	default:
		io_uring_prep_send(sqe, r->sqe_fd, buf, s->len, 0);
		io_uring_prep_send_set_addr(sqe, &s->to.sa, (uint16_t)s->tolen);
		break;
	}
	sqe->flags |= r->sqe_flags;
	io_uring_sqe_set_data64(sqe, ud_pack(OP_SEND, idx));
	s->state = SLOT_INFLIGHT;
	r->inflight++;
	return true;
}

/* Sends parked while the SQ was full go out first, in order. */
static void flush_parked(struct rw_reactor *r)
{
	while (r->park_head != NIL) {
		uint32_t idx = r->park_head, next = r->slots[idx].next;

		if (!issue_send(r, idx))
			return;
		r->park_head = next;
		if (next == NIL)
			r->park_tail = NIL;
	}
}

int rw__reactor_submit(struct rw_reactor *r)
{
	run_close(r);
	flush_parked(r);
	return io_uring_submit(&r->ring) < 0 ? -EIO : 0;
}

/*
 * Drain the handoff ring from reactor `from`. The wake flag is cleared
 * (acq_rel) before tail is read: a producer that found the flag still set
 * skipped its msg_ring, and this exchange is what makes its datagrams
 * visible here (see flush_wakes).
 */
static void drain_handoff(struct rw_reactor *r, uint32_t from)
{
	struct hand_ring *q;
	uint32_t head, tail;

	if (rw_unlikely(from >= r->g->n))
		return;
	q = &r->in[from];
	atomic_exchange_explicit(&q->wake, 0, memory_order_acq_rel);
	head = atomic_load_explicit(&q->head, memory_order_relaxed);
	tail = atomic_load_explicit(&q->tail, memory_order_acquire);
	while (head != tail) {
		uint32_t off = head & q->mask;
		struct hand_hdr *h = (struct hand_hdr *)(q->mem + off);

		if (h->len == HAND_PAD) {
			head += q->mask + 1 - off;	/* the rest up to the end was padding */
		} else {
			STAT_ADD(r, handoffs_in, 1);
			if (rw_likely(!r->closing && r->g->cfg.ops.on_handoff))
				r->g->cfg.ops.on_handoff(r, (uint8_t *)h + HAND_HDR_SIZE, h->len, &h->from.sa,
							 h->addrlen);
			head += (uint32_t)round_up(HAND_HDR_SIZE + h->len, CACHELINE);
		}
		/* Release: the producer may reuse the bytes once it sees head move. */
		atomic_store_explicit(&q->head, head, memory_order_release);
	}
}

static bool queue_msg(struct rw_reactor *r, unsigned to)
{
	struct io_uring_sqe *sqe = get_sqe(r);

	if (!sqe)
		return false;
	/* The target sees user_data = (OP_HANDOFF, our id); we see a CQE only on failure. */
	io_uring_prep_msg_ring(sqe, r->g->r[to]->ring.ring_fd, 0, ud_pack(OP_HANDOFF, r->id), 0);
	sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
	io_uring_sqe_set_data64(sqe, ud_pack(OP_MSG, to));
	return true;
}

/*
 * One msg_ring per target per batch, and none while the target still has one
 * pending: the exchange on the ring's wake flag is 0 -> 1 for exactly one
 * producer batch until the consumer swaps it back to 0 before draining.
 */
static void flush_wakes(struct rw_reactor *r)
{
	unsigned i, kept = 0;

	for (i = 0; i < r->wake_n; i++) {
		unsigned t = r->wake_list[i];
		struct hand_ring *q = &r->g->r[t]->in[r->id];

		if (!r->wake_owed[t] && atomic_exchange_explicit(&q->wake, 1, memory_order_acq_rel) == 0)
			r->wake_owed[t] = 1;
		if (r->wake_owed[t]) {
			if (!queue_msg(r, t)) {
				r->wake_list[kept++] = t;	/* no SQE: next batch */
				continue;
			}
			r->wake_owed[t] = 0;
		}
		r->wake_mark[t] = 0;
	}
	r->wake_n = kept;
}

static void mark_wake(struct rw_reactor *r, unsigned to)
{
	if (!r->wake_mark[to]) {
		r->wake_mark[to] = 1;
		r->wake_list[r->wake_n++] = to;
	}
}

static void on_msg_failed(struct rw_reactor *r, uint32_t to, int res)
{
	if (to >= r->g->n)
		return;
	STAT_ADD(r, wake_errors, 1);
	/*
	 * The flag is still 1, so nobody else will wake the target: resend,
	 * but only for errors that can pass (a target whose ring is gone
	 * fails for good, and retrying would spin).
	 */
	if (res == -EOVERFLOW || res == -EAGAIN || res == -ENOMEM || res == -EBUSY || res == -EINTR) {
		r->wake_owed[to] = 1;
		mark_wake(r, to);
	}
}

static void drain_commands(struct rw_reactor *r);

static void on_wake(struct rw_reactor *r, const struct io_uring_cqe *cqe)
{
	uint64_t v;

	if (!(cqe->flags & IORING_CQE_F_MORE))
		r->wake_need_arm = true;
	/* Reset the counter; EAGAIN means another wake already consumed it. */
	if (read(r->efd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		STAT_ADD(r, wake_errors, 1);
	drain_commands(r);
}

static void dispatch(struct rw_reactor *r, const struct io_uring_cqe *cqe)
{
	switch (ud_op(cqe->user_data)) {
	case OP_RECV:
		on_recv(r, cqe);
		break;
	case OP_SEND:
		on_send_done(r, ud_idx(cqe->user_data), cqe);
		break;
	case OP_WAKE:
		on_wake(r, cqe);
		break;
	case OP_HANDOFF:
		drain_handoff(r, ud_idx(cqe->user_data));
		break;
	case OP_MSG:
		on_msg_failed(r, ud_idx(cqe->user_data), cqe->res);
		break;
	case OP_GSO:
		on_gso_cqe(r, ud_idx(cqe->user_data), cqe);
		break;
	case OP_EXT:
		if (r->g->cfg.ops.on_ext)
			r->g->cfg.ops.on_ext(r, ud_idx(cqe->user_data), cqe->res, cqe->flags);
		break;
	default:
		break;	/* liburing-internal (LIBURING_UDATA_TIMEOUT) */
	}
}

/* Consume every CQE posted so far, then settle the batch in one go. */
static void reap(struct rw_reactor *r)
{
	struct io_uring_cqe *cqe;
	unsigned head, n = 0;

	/*
	 * Timers first, so the wheel's "now" equals rw__reactor_now_ms for the
	 * whole batch: a delay armed from any callback counts from there.
	 */
	r->now_ms = clock_ms();
	rw__timer_wheel_advance(&r->wheel, r->now_ms);
	io_uring_for_each_cqe(&r->ring, head, cqe) {
		dispatch(r, cqe);
		if (++n == r->cq_budget)
			break;
	}
	io_uring_cq_advance(&r->ring, n);
	rx_publish(r);
	/* After publishing, so a multishot that ran dry finds buffers again. */
	if (r->rx_need_arm && !r->closing && !rw__timer_pending(&r->rx_retry)) {
		if (r->rx_err_streak >= RX_ERR_STREAK)
			rw__timer_add_in(&r->wheel, &r->rx_retry, RX_RETRY_MS);	/* persistent error: do not spin */
		else if (arm_recv(r) == 0)
			STAT_ADD(r, rearms, 1);
	}
	if (r->wake_need_arm)
		arm_wake(r);
}

static void batch_end(struct rw_reactor *r)
{
	if (r->g->cfg.ops.on_batch_end && !r->closing)
		r->g->cfg.ops.on_batch_end(r);
	run_close(r);
	flush_wakes(r);
	flush_parked(r);
}

/*
 * One io_uring_enter: submit the batch's SQEs and sleep until the next
 * completion or timeout_ms (-1: none). With batch_wait_us the kernel
 * (FEAT_MIN_TIMEOUT, 6.12+) holds the sleeper until BATCH_NR completions or
 * batch_wait_us have passed, whichever first, then returns with whatever
 * arrived; a reactor that found nothing in that window sleeps normally and
 * the first completion wakes it at once. Under load that turns one wake-up
 * (IPI, context switch) per datagram into one per window.
 */
static int wait_events(struct rw_reactor *r, int64_t timeout_ms)
{
	struct io_uring_getevents_arg arg;
	struct __kernel_timespec ts;
	struct io_uring_cqe *cqe;
	unsigned flags = IORING_ENTER_GETEVENTS | IORING_ENTER_EXT_ARG;
	long ret;

	/* a run still collecting (sends from on_start, or after on_batch_end) leaves with this enter */
	run_close(r);
	if (!r->batch_wait_us) {
		/* liburing's own submit-and-wait: one io_uring_enter with EXT_ARG kernels */
		ts.tv_sec = timeout_ms / 1000;
		ts.tv_nsec = (timeout_ms % 1000) * 1000000;
		ret = io_uring_submit_and_wait_timeout(&r->ring, &cqe, 1, timeout_ms >= 0 ? &ts : NULL, NULL);
		goto out;
	}
	/*
	 * The min-wait argument is newer than liburing 2.3: submit through its
	 * public API first, then wait with a raw io_uring_enter that submits
	 * nothing (it only reads the ring fd, never the ring's head or tail).
	 */
	if (io_uring_sq_ready(&r->ring)) {
		ret = io_uring_submit(&r->ring);
		if (ret < 0)
			goto out;
	}
	memset(&arg, 0, sizeof(arg));
	/* The min wait needs a general timeout to fall back to, or it just wakes. */
	if (timeout_ms < 0)
		timeout_ms = IDLE_WAKE_MS;
	ts.tv_sec = timeout_ms / 1000;
	ts.tv_nsec = (timeout_ms % 1000) * 1000000;
	arg.ts = (uint64_t)(uintptr_t)&ts;
	if (timeout_ms > 0)
		arg.pad = r->batch_wait_us;	/* min_wait_usec in 6.12+ uapi */
	if (r->ring_fd_registered)
		flags |= IORING_ENTER_REGISTERED_RING;
	ret = syscall(__NR_io_uring_enter, r->ring_fd_registered ? r->ring.enter_ring_fd : r->ring.ring_fd, 0,
		      timeout_ms > 0 ? BATCH_NR : 1, flags, &arg, sizeof(arg));
	if (ret < 0)
		ret = -errno;
out:
	if (ret >= 0 || ret == -ETIME || ret == -EINTR || ret == -EAGAIN || ret == -EBUSY)
		return 0;
	return (int)ret;
}

static int run_loop(struct rw_reactor *r)
{
	for (;;) {
		int64_t ms;
		int ret;

		if (atomic_load_explicit(&r->g->stopping, memory_order_acquire))
			return 0;
		if (r->park_head != NIL || r->wake_n || io_uring_cq_ready(&r->ring)) {
			/* Owed work that needs SQ space, or CQEs already posted: poll. */
			ms = 0;
		} else {
			ms = rw__timer_wheel_next_ms(&r->wheel);
			if (ms > 0) {
				/* The wheel's "now" is the batch start; time has moved since. */
				uint64_t spent = clock_ms() - rw__timer_wheel_now(&r->wheel);

				ms = (uint64_t)ms > spent ? ms - (int64_t)spent : 0;
			}
		}
		ret = wait_events(r, ms);
		if (rw_unlikely(ret < 0))
			return ret;
		reap(r);
		batch_end(r);
	}
}

/*
 * After on_stop: push out what it queued and wait (bounded) for the sends in
 * flight, so final datagrams leave and every buffer is accounted for.
 */
static void drain_on_stop(struct rw_reactor *r)
{
	uint64_t deadline = clock_ms() + STOP_DRAIN_MS;

	run_close(r);
	flush_wakes(r);
	flush_parked(r);
	while ((r->inflight || r->park_head != NIL) && clock_ms() < deadline) {
		if (wait_events(r, 10) < 0)
			break;
		reap(r);
		flush_parked(r);
	}
	io_uring_submit(&r->ring);
}

static int pin_cpu(unsigned id)
{
	cpu_set_t set, one;
	unsigned n, k = 0;
	int ret;

	if (sched_getaffinity(0, sizeof(set), &set) < 0)
		return -errno;
	n = (unsigned)CPU_COUNT(&set);
	if (!n)
		return -EINVAL;
	for (int cpu = 0; cpu < CPU_SETSIZE; cpu++) {
		if (!CPU_ISSET(cpu, &set))
			continue;
		if (k++ == id % n) {
			CPU_ZERO(&one);
			CPU_SET(cpu, &one);
			ret = pthread_setaffinity_np(pthread_self(), sizeof(one), &one);
			return -ret;
		}
	}
	return -EINVAL;
}

static int enable_ring(struct rw_reactor *r)
{
	/* liburing 2.3 declares io_uring_enable_rings but does not export it. */
	if (syscall(__NR_io_uring_register, r->ring.ring_fd, IORING_REGISTER_ENABLE_RINGS, NULL, 0) < 0)
		return -errno;
	return 0;
}

static int thread_setup(struct rw_reactor *r)
{
	int ret;

	if (r->g->cfg.pin_cpus)
		pin_cpu(r->id);	/* best effort: an unpinned reactor still works */
	if (r->ring_disabled) {
		ret = enable_ring(r);
		if (ret)
			return ret;
	}
	/* Registered ring fd: io_uring_enter skips the fd lookup. Optional. */
	if (io_uring_register_ring_fd(&r->ring) == 1)
		r->ring_fd_registered = true;
	ret = arm_recv(r);
	if (!ret)
		ret = arm_wake(r);
	if (!ret) {
		ret = io_uring_submit(&r->ring);
		if (ret > 0)
			ret = 0;
	}
	return ret;
}

static void *reactor_thread(void *arg)
{
	struct rw_reactor *r = arg;
	struct rw_reactor_group *g = r->g;
	int ret = thread_setup(r), expected = 0;

	if (ret)
		atomic_compare_exchange_strong(&g->start_err, &expected, ret);
	/* Nobody runs before every ring is live: msg_ring to a disabled ring fails. */
	pthread_mutex_lock(&g->lock);
	g->ready++;
	pthread_cond_broadcast(&g->cond);
	while (!g->go)
		pthread_cond_wait(&g->cond, &g->lock);
	pthread_mutex_unlock(&g->lock);
	if (atomic_load(&g->start_err))
		goto out;

	r->now_ms = clock_ms();
	rw__timer_wheel_advance(&r->wheel, r->now_ms);
	if (g->cfg.ops.on_start)
		g->cfg.ops.on_start(r);
	r->loop_err = run_loop(r);
	r->now_ms = clock_ms();
	/* Commands posted before stop still run. */
	drain_commands(r);
	if (g->cfg.ops.on_stop)
		g->cfg.ops.on_stop(r);
	r->closing = true;
	drain_on_stop(r);
out:
	/* Per-task registration: must be undone by this thread. */
	if (r->ring_fd_registered && io_uring_unregister_ring_fd(&r->ring) == 1)
		r->ring_fd_registered = false;
	return NULL;
}

/* ---- commands: Vyukov's intrusive MPSC queue ----------------------------- */

static void q_push(struct rw_reactor *r, struct rw_cmd_node *n)
{
	struct rw_cmd_node *prev;

	atomic_store_explicit(&n->next, NULL, memory_order_relaxed);
	prev = atomic_exchange_explicit(&r->q_head, n, memory_order_acq_rel);
	/* Between the exchange and this store the list is briefly cut; pop copes. */
	atomic_store_explicit(&prev->next, n, memory_order_release);
}

static struct rw_cmd_node *q_pop(struct rw_reactor *r)
{
	struct rw_cmd_node *tail = r->q_tail, *next, *head;

	next = atomic_load_explicit(&tail->next, memory_order_acquire);
	if (tail == &r->q_stub) {
		if (!next)
			return NULL;
		r->q_tail = tail = next;
		next = atomic_load_explicit(&next->next, memory_order_acquire);
	}
	if (next) {
		r->q_tail = next;
		return tail;
	}
	head = atomic_load_explicit(&r->q_head, memory_order_acquire);
	/*
	 * A producer is between its exchange and its link: stop here. It
	 * will see q_wake cleared (or another wake pending) and wake us again.
	 */
	if (tail != head)
		return NULL;
	q_push(r, &r->q_stub);
	next = atomic_load_explicit(&tail->next, memory_order_acquire);
	if (next) {
		r->q_tail = next;
		return tail;
	}
	return NULL;
}

static void wake_efd(struct rw_reactor *r)
{
	uint64_t one = 1;

	/* EAGAIN: the counter is saturated, so the reactor is due to wake anyway. */
	if (write(r->efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		atomic_fetch_add_explicit(&r->post_wake_errors, 1, memory_order_relaxed);
}

static void drain_commands(struct rw_reactor *r)
{
	struct rw_cmd_node *n;
	unsigned budget = CMD_BUDGET;

	/* Clear before popping: a post that lands after this wakes us again. */
	atomic_exchange_explicit(&r->q_wake, 0, memory_order_acq_rel);
	while (budget && (n = q_pop(r)) != NULL) {
		budget--;
		STAT_ADD(r, commands, 1);
		if (r->g->cfg.ops.on_command)
			r->g->cfg.ops.on_command(r, n);
	}
	/* Out of budget with work left: come back after the pending I/O. */
	if (!budget && atomic_exchange_explicit(&r->q_wake, 1, memory_order_acq_rel) == 0)
		wake_efd(r);
}

int rw__reactor_post(struct rw_reactor *r, struct rw_cmd_node *cmd)
{
	if (atomic_load_explicit(&r->g->stopping, memory_order_acquire))
		return -ESHUTDOWN;
	q_push(r, cmd);
	/* Only the poster that flips 0 -> 1 pays for the write(2). */
	if (atomic_exchange_explicit(&r->q_wake, 1, memory_order_acq_rel) == 0)
		wake_efd(r);
	return 0;
}

/* ---- public per-reactor calls -------------------------------------------- */

static uint8_t *buf_take(struct rw_reactor *r, uint32_t *head, unsigned *idx)
{
	uint32_t i = *head;

	if (rw_unlikely(i == NIL)) {
		STAT_ADD(r, send_buf_exhausted, 1);
		return NULL;
	}
	*head = r->slots[i].next;
	r->slots[i].state = SLOT_OWNED;
	*idx = i;
	return slot_buf(r, i);
}

uint8_t *rw__reactor_send_buf(struct rw_reactor *r, unsigned *idx)
{
	return buf_take(r, &r->free_head, idx);
}

uint8_t *rw__reactor_send_buf_get(struct rw_reactor *r, size_t need, unsigned *idx)
{
	if (rw_likely(need <= r->buf_size))
		return buf_take(r, &r->free_head, idx);
	if (need > r->max_datagram || r->slot_count == r->send_count)
		return NULL;
	return buf_take(r, &r->big_free_head, idx);
}

unsigned rw__reactor_send_buf_idx(const struct rw_reactor *r, const void *buf)
{
	const uint8_t *b = buf;

	if (b >= r->tx_mem && b < r->tx_mem + (size_t)r->send_count * r->buf_size)
		return (unsigned)((size_t)(b - r->tx_mem) / r->buf_size);
	if (b >= r->tx_big && b < r->tx_big + (size_t)(r->slot_count - r->send_count) * BIG_BUF)
		return r->send_count + (unsigned)((size_t)(b - r->tx_big) / BIG_BUF);
	return UINT32_MAX;
}

size_t rw__reactor_send_buf_size(const struct rw_reactor *r)
{
	return r->buf_size;
}

size_t rw__reactor_max_datagram(const struct rw_reactor *r)
{
	return r->max_datagram;
}

bool rw__reactor_gso(const struct rw_reactor *r)
{
	return r->gso_on;
}

bool rw__reactor_gro(const struct rw_reactor *r)
{
	return r->gro;
}

void rw__reactor_sockbufs(const struct rw_reactor *r, int *rcvbuf, int *sndbuf)
{
	*rcvbuf = r->rcvbuf;
	*sndbuf = r->sndbuf;
}

void rw__reactor_send_buf_put(struct rw_reactor *r, unsigned idx)
{
	if (idx < r->slot_count && r->slots[idx].state == SLOT_OWNED)
		slot_release(r, idx);
}

/* Copy a destination into a slot, v4-mapping it for an IPv6 socket. */
static int set_dest(const struct rw_reactor *r, struct send_slot *s, const struct sockaddr *to, socklen_t tolen)
{
	if (to->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)to;

		if (tolen < sizeof(*in))
			return -EINVAL;
		if (r->family == AF_INET) {
			s->to.in = *in;
			s->tolen = sizeof(*in);
			return 0;
		}
		memset(&s->to.in6, 0, sizeof(s->to.in6));
		s->to.in6.sin6_family = AF_INET6;
		s->to.in6.sin6_port = in->sin_port;
		s->to.in6.sin6_addr.s6_addr[10] = 0xff;
		s->to.in6.sin6_addr.s6_addr[11] = 0xff;
		memcpy(&s->to.in6.sin6_addr.s6_addr[12], &in->sin_addr, 4);
		s->tolen = sizeof(s->to.in6);
		return 0;
	}
	if (to->sa_family == AF_INET6) {
		if (tolen < sizeof(struct sockaddr_in6))
			return -EINVAL;
		if (r->family != AF_INET6)
			return -EAFNOSUPPORT;
		memcpy(&s->to.in6, to, sizeof(s->to.in6));
		s->tolen = sizeof(s->to.in6);
		return 0;
	}
	return -EAFNOSUPPORT;
}

int rw__reactor_send(struct rw_reactor *r, unsigned idx, size_t len, const struct sockaddr *to, socklen_t tolen)
{
	struct send_slot *s;
	int ret;

	if (rw_unlikely(idx >= r->slot_count || r->slots[idx].state != SLOT_OWNED))
		return -EINVAL;
	if (rw_unlikely(len > slot_cap(r, idx) || len > r->max_datagram))
		return -EMSGSIZE;
	s = &r->slots[idx];
	ret = set_dest(r, s, to, tolen);
	if (rw_unlikely(ret))
		return ret;
	s->len = (uint32_t)len;
	s->gso = NIL;
	/* into the open run (GSO), or alone; behind parked sends either way, in order */
	if (rw_likely(r->gso_on) && len)
		run_add(r, idx);
	else
		send_single(r, idx);
	return 0;
}

int rw__reactor_handoff(struct rw_reactor *from, unsigned to_id, const uint8_t *data, size_t len,
			const struct sockaddr *src, socklen_t srclen)
{
	struct hand_ring *q;
	struct hand_hdr *h;
	uint32_t tail, off, rec, to_end, need;

	if (rw_unlikely(to_id >= from->g->n || srclen > sizeof(union addr)))
		return -EINVAL;
	if (rw_unlikely(len > from->max_datagram))
		return -EMSGSIZE;
	q = &from->g->r[to_id]->in[from->id];
	tail = atomic_load_explicit(&q->tail, memory_order_relaxed);
	off = tail & q->mask;
	rec = (uint32_t)round_up(HAND_HDR_SIZE + len, CACHELINE);
	to_end = q->mask + 1 - off;
	need = rec > to_end ? to_end + rec : rec;	/* a record does not wrap: pad to the end first */
	if (q->mask + 1 - (tail - q->head_cache) < need) {
		q->head_cache = atomic_load_explicit(&q->head, memory_order_acquire);
		if (q->mask + 1 - (tail - q->head_cache) < need) {
			STAT_ADD(from, handoff_full, 1);
			return -ENOBUFS;
		}
	}
	if (rec > to_end) {
		((struct hand_hdr *)(q->mem + off))->len = HAND_PAD;
		tail += to_end;
		off = 0;
	}
	h = (struct hand_hdr *)(q->mem + off);
	h->len = (uint32_t)len;
	h->addrlen = srclen;
	memcpy(&h->from, src, srclen);
	memcpy((uint8_t *)h + HAND_HDR_SIZE, data, len);
	/* Release: the record's bytes (and a pad before it) are visible before the new tail. */
	atomic_store_explicit(&q->tail, tail + rec, memory_order_release);
	STAT_ADD(from, handoffs_out, 1);
	mark_wake(from, to_id);
	return 0;
}

unsigned rw__reactor_id(const struct rw_reactor *r)
{
	return r->id;
}

struct rw_reactor_group *rw__reactor_group(struct rw_reactor *r)
{
	return r->g;
}

void *rw__reactor_user(const struct rw_reactor *r)
{
	return r->g->cfg.user;
}

void rw__reactor_set_ctx(struct rw_reactor *r, void *ctx)
{
	r->ctx = ctx;
}

void *rw__reactor_get_ctx(const struct rw_reactor *r)
{
	return r->ctx;
}

uint64_t rw__reactor_now_ms(const struct rw_reactor *r)
{
	return r->now_ms;
}

bool rw__reactor_unread(const struct rw_reactor *r)
{
	return io_uring_cq_ready(&r->ring) != 0;
}

struct rw_timer_wheel *rw__reactor_timers(struct rw_reactor *r)
{
	return &r->wheel;
}

enum rw_send_mode rw__reactor_send_mode(const struct rw_reactor *r)
{
	return r->mode;
}

unsigned rw__reactor_ring_flags(const struct rw_reactor *r)
{
	return r->ring_flags;
}

int rw__reactor_fd(const struct rw_reactor *r)
{
	return r->fd;
}

void rw__reactor_stats(const struct rw_reactor *r, struct rw_reactor_stats *st)
{
	memset(st, 0, sizeof(*st));
#define X(f) st->f = atomic_load_explicit(&r->st.f, memory_order_relaxed);
	STATS(X)
#undef X
	st->wake_errors += atomic_load_explicit(&r->post_wake_errors, memory_order_relaxed);
	st->tx_last_error = atomic_load_explicit(&r->st.tx_last_error, memory_order_relaxed);
}

/* ---- group --------------------------------------------------------------- */

unsigned rw__reactor_count(const struct rw_reactor_group *g)
{
	return g->n;
}

struct rw_reactor *rw__reactor_get(struct rw_reactor_group *g, unsigned id)
{
	return id < g->n ? g->r[id] : NULL;
}

int rw__reactor_local_addr(const struct rw_reactor_group *g, struct sockaddr_storage *ss, socklen_t *len)
{
	memcpy(ss, &g->local, sizeof(*ss));
	*len = g->local_len;
	return 0;
}

int rw__reactor_group_start(struct rw_reactor_group *g)
{
	sigset_t all, old;
	unsigned created = 0;
	int ret = 0, err;

	if (g->started)
		return -EALREADY;
	g->started = true;
	/* Reactors take no signals: they inherit a full mask. */
	sigfillset(&all);
	ret = pthread_sigmask(SIG_SETMASK, &all, &old);
	if (ret)
		return -ret;
	for (; created < g->n; created++) {
		ret = pthread_create(&g->r[created]->thread, NULL, reactor_thread, g->r[created]);
		if (ret) {
			int expected = 0;

			atomic_compare_exchange_strong(&g->start_err, &expected, -ret);
			break;
		}
		g->r[created]->thread_started = true;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);

	pthread_mutex_lock(&g->lock);
	while (g->ready < created)
		pthread_cond_wait(&g->cond, &g->lock);
	g->go = true;
	pthread_cond_broadcast(&g->cond);
	pthread_mutex_unlock(&g->lock);

	err = atomic_load(&g->start_err);
	if (err) {
		rw__reactor_group_stop(g);
		rw__reactor_group_join(g);
		return err;
	}
	return 0;
}

int rw__reactor_group_stop(struct rw_reactor_group *g)
{
	int saved = errno;	/* may run in a signal handler */

	atomic_store_explicit(&g->stopping, 1, memory_order_release);
	for (unsigned i = 0; i < g->n; i++)
		if (g->r[i] && g->r[i]->efd >= 0)
			wake_efd(g->r[i]);
	errno = saved;
	return 0;
}

int rw__reactor_group_join(struct rw_reactor_group *g)
{
	int err = 0;

	if (g->joined)
		return 0;
	for (unsigned i = 0; i < g->n; i++) {
		struct rw_reactor *r = g->r[i];

		if (!r || !r->thread_started)
			continue;
		pthread_join(r->thread, NULL);
		r->thread_started = false;
		if (r->loop_err && !err)
			err = r->loop_err;
	}
	g->joined = true;
	return err;
}

/* Test hook (RW_TEST_REACTOR_STATS=1): the batching counters of each reactor on stderr, for benchmarks. */
static void print_stats(const struct rw_reactor_group *g)
{
	for (unsigned i = 0; i < g->n; i++) {
		struct rw_reactor_stats st;

		if (!g->r[i])
			continue;
		rw__reactor_stats(g->r[i], &st);
		fprintf(stderr,
			"reactor %u: tx %llu datagrams, %llu in %llu GSO sends, refused %llu, off %llu; rx %llu datagrams, "
			"%llu in %llu GRO receives, nobufs %llu, kernel drops %llu, rcvbuf %d\n",
			i, (unsigned long long)st.tx_packets, (unsigned long long)st.tx_gso_segments,
			(unsigned long long)st.tx_gso_sends, (unsigned long long)st.tx_gso_refused,
			(unsigned long long)st.tx_gso_off, (unsigned long long)st.rx_packets,
			(unsigned long long)st.rx_gro_segments, (unsigned long long)st.rx_gro_packets,
			(unsigned long long)st.rx_nobufs, (unsigned long long)st.rx_kernel_drops, g->r[i]->rcvbuf);
	}
}

void rw__reactor_group_destroy(struct rw_reactor_group *g)
{
	if (!g)
		return;
	if (g->started && !g->joined) {
		rw__reactor_group_stop(g);
		rw__reactor_group_join(g);
	}
	if (g->r && getenv("RW_TEST_REACTOR_STATS"))
		print_stats(g);
	if (g->r)
		for (unsigned i = 0; i < g->n; i++)
			reactor_free(g->r[i]);
	free(g->r);
	pthread_cond_destroy(&g->cond);
	pthread_mutex_destroy(&g->lock);
	free(g);
}
