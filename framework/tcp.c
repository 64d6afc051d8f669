/* SPDX-License-Identifier: MIT */
/*
 * tcp.c - the TCP transport (transport.h, docs/protocol.md §17): the same
 * packets as UDP, each behind a 2-byte big-endian length, on the reactor's
 * own ring. Owns: the reactor's listening socket (SO_REUSEPORT, so the
 * kernel spreads connections over reactors and the reactor that accepted a
 * connection owns the sessions handshaken over it: nothing is handed over),
 * its connections, their reads, writes and timeouts.
 *
 * No thread per connection and no blocking call on the reactor: accept is
 * one multishot IORING_OP_ACCEPT; each connection has one IORING_OP_RECV in
 * flight into its own buffer (the deframer's, stream.h: 8 KiB, grown to
 * RW_TCP_LEN_SIZE + max_datagram while long packets come), whose whole
 * packets go up in place, like a UDP datagram in its receive buffer. A
 * provided-buffer ring would hand out pieces of the stream in buffers of its
 * own: a packet cut between two of them would need a copy to be whole
 * again, and in-place decryption wants it whole.
 *
 * Sends use the reactor's send buffers (UDP's pool: buf_get/buf_put are
 * the reactor's): a packet's buffer is queued on its connection with its
 * length prefix beside it, and at the end of the batch up to RW_TCP_GATHER
 * queued packets leave in one IORING_OP_SENDMSG (prefix and packet as two
 * iovecs each), one write in flight per connection so bytes stay in order;
 * a partial write continues where it stopped. A buffer returns to the pool
 * when its bytes are written. The queue holds RW_TCP_QUEUE_MAX packets
 * beyond the kernel's socket buffer; more are refused (counted): memory
 * stays bounded, and a peer that does not read holds at most that many of
 * the reactor's buffers (then the pipeline parks and reliable channels see
 * -EAGAIN) until the stall timeout closes its connection.
 *
 * Closing: shutdown(2) ends the read and write in flight; the slot and fd
 * are freed when the last completion is in. Peers name a connection by
 * slot and generation (rw_peer_addr.conn), so a packet for a connection
 * that closed meanwhile is refused, never sent on a newer one. A client's
 * connections are found by the server's address (conn 0) and opened on the
 * first packet to it, with IORING_OP_CONNECT: a session whose connection
 * broke reconnects with its next handshake.
 */
#include "tcp.h"

#include <errno.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <linux/sockios.h>

#include "wire.h"

#define NIL UINT32_MAX
#define QMASK (RW_TCP_QUEUE_MAX - 1)
#define SWEEP_MAX_MS 1000
#define LISTEN_BACKLOG 1024
#define RX_SMALL 8192			/* an idle connection's receive buffer */
#define SHRINK_MS 1000
_Static_assert((RW_TCP_QUEUE_MAX & QMASK) == 0, "queue size is a power of two");

enum kind { K_ACCEPT, K_RECV, K_SEND, K_CONNECT };
enum cstate { C_FREE, C_CONNECTING, C_OPEN, C_CLOSING };

struct tx_ent {
	uint8_t *buf;		/* a reactor send buffer */
	uint32_t len;
	uint8_t hdr[RW_TCP_LEN_SIZE];
};

struct rw_tcp_conn {
	int fd;
	uint16_t gen;		/* bumped on every free: a stale rw_peer_addr.conn matches nothing */
	uint8_t state;
	bool outgoing, recv_on, send_on, connect_on, in_flush;
	bool wrote;		/* a write completed since the last sweep */
	uint32_t free_next, flush_next;
	struct rw_peer_addr peer;	/* what goes up as `from`, and where a client connects */
	struct rw_stream in;	/* its buffer: RX_SMALL bytes, or the largest packet's while they come */
	struct tx_ent *q;	/* RW_TCP_QUEUE_MAX entries, a ring */
	uint32_t qhead, qlen;
	uint32_t qoff;		/* bytes of the head entry (prefix included) already written */
	uint64_t rx_ms;		/* last bytes in (or open) */
	uint64_t big_ms;	/* last time a packet needed more than RX_SMALL */
	uint64_t tx_ms;		/* last write progress, or when output started waiting */
	uint32_t outq;		/* bytes the peer had not acknowledged at the last sweep */
	struct msghdr msg;
	struct iovec iov[2 * RW_TCP_GATHER];
};

static struct rw_tcp *tcp(struct rw_transport *t)
{
	return rw_container_of(t, struct rw_tcp, t);
}

static inline uint32_t tag(uint32_t slot, enum kind k)
{
	return slot << 2 | k;
}

static inline uint32_t slot_of(const struct rw_tcp *t, const struct rw_tcp_conn *c)
{
	return (uint32_t)(c - t->conns);
}

static inline uint32_t conn_id(const struct rw_tcp *t, const struct rw_tcp_conn *c)
{
	return (uint32_t)c->gen << 16 | slot_of(t, c);
}

static inline uint64_t now_ms(const struct rw_tcp *t)
{
	return rw__reactor_now_ms(t->r);
}

/* one writer (the owner), read from other threads: a relaxed load and store, no locked add */
#define STAT_ADD(field, n) \
	__atomic_store_n(&(field), __atomic_load_n(&(field), __ATOMIC_RELAXED) + (n), __ATOMIC_RELAXED)
#define INC(f) STAT_ADD(f, 1)

static void put_buf(struct rw_tcp *t, uint8_t *buf)
{
	rw__reactor_send_buf_put(t->r, rw__reactor_send_buf_idx(t->r, buf));
}

/* ---- connection life ------------------------------------------------------------ */

static struct rw_tcp_conn *conn_alloc(struct rw_tcp *t, int fd)
{
	struct rw_tcp_conn *c;
	uint32_t slot = t->free_head;
	uint8_t *rx;

	if (slot == NIL)
		return NULL;
	c = &t->conns[slot];
	rx = malloc(RX_SMALL);
	c->q = malloc(RW_TCP_QUEUE_MAX * sizeof(*c->q));
	if (!rx || !c->q) {
		free(rx);
		free(c->q);
		c->q = NULL;
		return NULL;
	}
	t->free_head = c->free_next;
	if (slot + 1 > t->hiwat)
		t->hiwat = slot + 1;
	c->fd = fd;
	c->outgoing = c->recv_on = c->send_on = c->connect_on = c->wrote = false;
	c->qhead = c->qlen = c->qoff = c->outq = 0;
	rw__stream_init(&c->in, rx, RX_SMALL, t->t.max_datagram);
	c->rx_ms = c->tx_ms = c->big_ms = now_ms(t);
	memset(&c->msg, 0, sizeof(c->msg));
	c->msg.msg_iov = c->iov;
	INC(t->st.open);
	return c;
}

/* The last completion is in: close the socket, give the buffers back, free the slot. */
static void maybe_free(struct rw_tcp *t, struct rw_tcp_conn *c)
{
	if (c->state != C_CLOSING || c->recv_on || c->send_on || c->connect_on)
		return;
	close(c->fd);
	c->fd = -1;
	while (c->qlen) {
		put_buf(t, c->q[c->qhead].buf);
		c->qhead = (c->qhead + 1) & QMASK;
		c->qlen--;
	}
	free(c->in.buf);
	free(c->q);
	c->in.buf = NULL;
	c->q = NULL;
	c->state = C_FREE;
	if (++c->gen == 0)
		c->gen = 1;
	c->free_next = t->free_head;
	t->free_head = slot_of(t, c);
	STAT_ADD(t->st.open, (uint64_t)-1);
}

/* End a connection (counted under why, may be NULL); the operations in flight end with it. */
static void conn_close(struct rw_tcp *t, struct rw_tcp_conn *c, uint64_t *why)
{
	if (c->state == C_FREE || c->state == C_CLOSING)
		return;
	if (why)
		INC(*why);
	c->state = C_CLOSING;
	/* wakes the read and the write in flight (and a connect still in progress) */
	shutdown(c->fd, SHUT_RDWR);
	/*
	 * The sessions of an accepted connection cannot be reached any more
	 * (a client's next packet opens a new connection by itself).
	 */
	if (!c->outgoing && t->t.on_peer_gone)
		t->t.on_peer_gone(t->t.up, &c->peer);
	maybe_free(t, c);
}

/*
 * The receive buffer fits the packet arriving: RX_SMALL bytes (handshakes,
 * keepalives, packets of the base size, several to a read) until a longer
 * packet is announced, then the largest packet's, back to RX_SMALL once no
 * long packet came for SHRINK_MS. An idle connection holds RX_SMALL bytes,
 * not 64 KiB. Only between reads: no read is in flight into the buffer.
 */
static int fit_rx(struct rw_tcp *t, struct rw_tcp_conn *c)
{
	size_t want = rw__stream_want(&c->in), cap;
	uint64_t now = now_ms(t);
	uint8_t *nb, *old = c->in.buf;

	if (want > RX_SMALL)
		c->big_ms = now;
	if (want > c->in.cap)
		cap = rw__stream_buf_size(t->t.max_datagram);
	else if (c->in.cap > RX_SMALL && rw__stream_pending(&c->in) <= RX_SMALL && now - c->big_ms >= SHRINK_MS)
		cap = RX_SMALL;
	else
		return 0;
	nb = malloc(cap);
	if (!nb)
		return want > c->in.cap ? -ENOMEM : 0;
	rw__stream_rebuf(&c->in, nb, cap);
	free(old);
	return 0;
}

static void arm_recv(struct rw_tcp *t, struct rw_tcp_conn *c)
{
	struct io_uring_sqe *sqe;
	size_t room;
	uint8_t *at;

	if (fit_rx(t, c)) {
		conn_close(t, c, &t->st.closed_peer);
		return;
	}
	at = rw__stream_space(&c->in, &room);
	sqe = rw__reactor_ext_sqe(t->r);
	if (!sqe || !room) {
		conn_close(t, c, &t->st.closed_peer);
		return;
	}
	io_uring_prep_recv(sqe, c->fd, at, room, 0);
	io_uring_sqe_set_data64(sqe, rw__reactor_ext_data(tag(slot_of(t, c), K_RECV)));
	c->recv_on = true;
}

/* One write of up to RW_TCP_GATHER queued packets, from where the last one stopped. */
static void issue_send(struct rw_tcp *t, struct rw_tcp_conn *c)
{
	struct io_uring_sqe *sqe;
	uint32_t off = c->qoff;
	unsigned k = 0;

	for (uint32_t i = 0; i < c->qlen && i < RW_TCP_GATHER; i++) {
		struct tx_ent *e = &c->q[(c->qhead + i) & QMASK];

		if (off < RW_TCP_LEN_SIZE) {
			c->iov[k++] = (struct iovec){ e->hdr + off, RW_TCP_LEN_SIZE - off };
			c->iov[k++] = (struct iovec){ e->buf, e->len };
		} else {
			c->iov[k++] = (struct iovec){ e->buf + (off - RW_TCP_LEN_SIZE), e->len - (off - RW_TCP_LEN_SIZE) };
		}
		off = 0;
	}
	c->msg.msg_iovlen = k;
	sqe = rw__reactor_ext_sqe(t->r);
	if (!sqe) {
		conn_close(t, c, &t->st.closed_peer);
		return;
	}
	io_uring_prep_sendmsg(sqe, c->fd, &c->msg, MSG_NOSIGNAL);
	io_uring_sqe_set_data64(sqe, rw__reactor_ext_data(tag(slot_of(t, c), K_SEND)));
	c->send_on = true;
}

/* Written: res bytes from the head of the queue. */
static void sent(struct rw_tcp *t, struct rw_tcp_conn *c, size_t res)
{
	while (res && c->qlen) {
		struct tx_ent *e = &c->q[c->qhead];
		size_t left = RW_TCP_LEN_SIZE + e->len - c->qoff;

		if (res < left) {
			c->qoff += (uint32_t)res;
			return;
		}
		res -= left;
		INC(t->st.tx_packets);
		STAT_ADD(t->st.tx_bytes, e->len);
		put_buf(t, e->buf);
		c->qhead = (c->qhead + 1) & QMASK;
		c->qlen--;
		c->qoff = 0;
	}
}

static void want_flush(struct rw_tcp *t, struct rw_tcp_conn *c)
{
	if (!c->in_flush) {
		c->in_flush = true;
		c->flush_next = t->flush_head;
		t->flush_head = slot_of(t, c);
	}
}

/* ---- the transport ops ------------------------------------------------------------- */

static uint8_t *tcp_buf_get(struct rw_transport *tt, size_t need)
{
	unsigned idx;

	return rw__reactor_send_buf_get(tcp(tt)->r, need, &idx);
}

static void tcp_buf_put(struct rw_transport *tt, uint8_t *buf)
{
	put_buf(tcp(tt), buf);
}

static bool same_addr(const struct rw_peer_addr *a, const struct rw_peer_addr *b)
{
	return a->len == b->len && memcmp(&a->u, &b->u, a->len) == 0;
}

static struct rw_tcp_conn *find(struct rw_tcp *t, const struct rw_peer_addr *to)
{
	if (to->conn) {
		uint32_t slot = to->conn & 0xffff;
		struct rw_tcp_conn *c = slot < t->hiwat ? &t->conns[slot] : NULL;

		if (c && !c->outgoing && (c->state == C_OPEN) && conn_id(t, c) == to->conn)
			return c;
		return NULL;
	}
	/* a client's connections: few (one per server address), found by address */
	for (uint32_t i = 0; i < t->hiwat; i++) {
		struct rw_tcp_conn *c = &t->conns[i];

		if (c->outgoing && (c->state == C_OPEN || c->state == C_CONNECTING) && same_addr(&c->peer, to))
			return c;
	}
	return NULL;
}

/* A client's connection to `to`, opened now; packets queue until it is up. */
static struct rw_tcp_conn *dial(struct rw_tcp *t, const struct rw_peer_addr *to)
{
	struct io_uring_sqe *sqe;
	struct rw_tcp_conn *c;
	int one = 1, fd;

	fd = socket(rw__peer_family(to), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return NULL;
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c = conn_alloc(t, fd);
	sqe = c ? rw__reactor_ext_sqe(t->r) : NULL;
	if (!sqe) {
		if (c) {
			c->state = C_CLOSING;
			maybe_free(t, c);
		} else {
			close(fd);
		}
		return NULL;
	}
	c->outgoing = true;
	c->state = C_CONNECTING;
	c->peer = *to;
	c->peer.via = RW_VIA_TCP;
	c->peer.conn = 0;
	io_uring_prep_connect(sqe, fd, &c->peer.u.sa, c->peer.len);
	io_uring_sqe_set_data64(sqe, rw__reactor_ext_data(tag(slot_of(t, c), K_CONNECT)));
	c->connect_on = true;
	return c;
}

static int tcp_send(struct rw_transport *tt, const struct rw_peer_addr *to, const struct iovec *iov, unsigned n)
{
	struct rw_tcp *t = tcp(tt);
	struct rw_tcp_conn *c = find(t, to);
	int err = 0;

	if (!c && !to->conn && t->lfd < 0)
		c = dial(t, to);
	for (unsigned i = 0; i < n; i++) {
		struct tx_ent *e;

		if (rw_unlikely(!c)) {
			put_buf(t, iov[i].iov_base);
			INC(t->st.no_conn);
			err = -ENOTCONN;
			continue;
		}
		if (rw_unlikely(c->qlen == RW_TCP_QUEUE_MAX)) {
			/* the peer does not read fast enough: bounded, like a full socket buffer */
			put_buf(t, iov[i].iov_base);
			INC(t->st.queue_full);
			err = -ENOBUFS;
			continue;
		}
		if (!c->qlen)
			c->tx_ms = now_ms(t);	/* the stall clock starts when output waits */
		e = &c->q[(c->qhead + c->qlen) & QMASK];
		e->buf = iov[i].iov_base;
		e->len = (uint32_t)iov[i].iov_len;
		rw__stream_put_len(e->hdr, e->len);
		c->qlen++;
	}
	if (c)
		want_flush(t, c);
	return err;
}

/* End of the batch: one write per connection with output and none in flight. */
static void tcp_flush(struct rw_transport *tt)
{
	struct rw_tcp *t = tcp(tt);

	while (t->flush_head != NIL) {
		struct rw_tcp_conn *c = &t->conns[t->flush_head];

		t->flush_head = c->flush_next;
		c->in_flush = false;
		if (c->state == C_OPEN && !c->send_on && c->qlen)
			issue_send(t, c);
	}
}

static int tcp_handoff(struct rw_transport *tt, unsigned shard, const uint8_t *data, size_t len,
		       const struct rw_peer_addr *from)
{
	/* a connection's sessions live on the reactor that owns it (see the top) */
	(void)tt, (void)shard, (void)data, (void)len, (void)from;
	return -EXDEV;
}

static const struct rw_transport_ops tcp_ops = {
	.buf_get = tcp_buf_get,
	.buf_put = tcp_buf_put,
	.send = tcp_send,
	.flush = tcp_flush,
	.handoff = tcp_handoff,
};

/* ---- completions ------------------------------------------------------------------- */

/* An IPv4 peer on a dual-stack listener is told as AF_INET, as UDP tells it. */
static void set_peer(struct rw_peer_addr *p, const struct sockaddr_storage *ss, socklen_t len)
{
	const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;

	if (ss->ss_family == AF_INET6 && IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
		struct sockaddr_in in = { .sin_family = AF_INET, .sin_port = in6->sin6_port };

		memcpy(&in.sin_addr, &in6->sin6_addr.s6_addr[12], 4);
		rw__peer_set(p, (const struct sockaddr *)&in, sizeof(in));
	} else {
		rw__peer_set(p, (const struct sockaddr *)ss, len);
	}
}

static void arm_accept(struct rw_tcp *t)
{
	struct io_uring_sqe *sqe;

	if (t->lfd < 0 || t->accept_on)
		return;
	sqe = rw__reactor_ext_sqe(t->r);
	if (!sqe)
		return;	/* the sweep tries again */
	io_uring_prep_multishot_accept(sqe, t->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	io_uring_sqe_set_data64(sqe, rw__reactor_ext_data(tag(0, K_ACCEPT)));
	t->accept_on = true;
}

static void on_accept(struct rw_tcp *t, int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	struct rw_tcp_conn *c;
	int one = 1;

	if (getpeername(fd, (struct sockaddr *)&ss, &len)) {
		close(fd);
		return;
	}
	c = conn_alloc(t, fd);
	if (!c) {
		/* tcp_max_connections (or memory): the connection is closed at once, counted */
		close(fd);
		INC(t->st.refused);
		return;
	}
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->state = C_OPEN;
	set_peer(&c->peer, &ss, len);
	c->peer.via = RW_VIA_TCP;
	c->peer.conn = conn_id(t, c);
	INC(t->st.accepted);
	arm_recv(t, c);
}

static void on_recv(struct rw_tcp *t, struct rw_tcp_conn *c, int res)
{
	uint8_t *pkt;
	size_t len;
	int ret;

	c->recv_on = false;
	if (c->state != C_OPEN) {
		maybe_free(t, c);
		return;
	}
	if (res <= 0) {
		if (res == -EINTR || res == -EAGAIN)
			arm_recv(t, c);
		else
			conn_close(t, c, &t->st.closed_peer);	/* 0: the peer closed */
		return;
	}
	rw__stream_commit(&c->in, (size_t)res);
	c->rx_ms = now_ms(t);
	while ((ret = rw__stream_next(&c->in, &pkt, &len)) == 1) {
		INC(t->st.rx_packets);
		STAT_ADD(t->st.rx_bytes, len);
		t->t.on_datagram(t->t.up, pkt, len, &c->peer);
		if (c->state != C_OPEN)
			break;
	}
	if (ret < 0) {
		/* a length of 0 or above the largest packet: nothing after it can be framed */
		conn_close(t, c, &t->st.closed_framing);
		return;
	}
	if (c->state == C_OPEN)
		arm_recv(t, c);
	else
		maybe_free(t, c);
}

static void on_sent(struct rw_tcp *t, struct rw_tcp_conn *c, int res)
{
	c->send_on = false;
	if (c->state != C_OPEN) {
		maybe_free(t, c);
		return;
	}
	if (res <= 0) {
		if (res == -EINTR || res == -EAGAIN)
			issue_send(t, c);
		else
			conn_close(t, c, &t->st.closed_peer);
		return;
	}
	c->tx_ms = now_ms(t);
	c->wrote = true;
	sent(t, c, (size_t)res);
	if (c->qlen)
		issue_send(t, c);
}

static void on_connect(struct rw_tcp *t, struct rw_tcp_conn *c, int res)
{
	c->connect_on = false;
	if (c->state != C_CONNECTING) {
		maybe_free(t, c);
		return;
	}
	if (res < 0) {
		/*
		 * refused or unreachable: the packets queued for it go, and the
		 * sessions hear why (a first dial ends on a refusal; others retry,
		 * and their next packet dials again)
		 */
		struct rw_peer_addr to = c->peer;

		conn_close(t, c, &t->st.closed_peer);
		if (t->t.on_send_error)
			t->t.on_send_error(t->t.up, &to, res);
		return;
	}
	c->state = C_OPEN;
	c->rx_ms = c->tx_ms = now_ms(t);
	INC(t->st.connected);
	arm_recv(t, c);
	if (c->state == C_OPEN && c->qlen && !c->send_on)
		issue_send(t, c);
}

void rw__tcp_on_cqe(struct rw_tcp *t, uint32_t tg, int res, uint32_t flags)
{
	uint32_t slot = tg >> 2;
	struct rw_tcp_conn *c;

	if ((tg & 3) == K_ACCEPT) {
		if (!(flags & IORING_CQE_F_MORE))
			t->accept_on = false;
		if (res >= 0)
			on_accept(t, res);
		/* an error (out of fds) is not retried at once: the sweep re-arms */
		if (!t->accept_on && res >= 0)
			arm_accept(t);
		return;
	}
	if (slot >= t->hiwat)
		return;
	c = &t->conns[slot];
	switch (tg & 3) {
	case K_RECV:
		on_recv(t, c, res);
		break;
	case K_SEND:
		on_sent(t, c, res);
		break;
	case K_CONNECT:
		on_connect(t, c, res);
		break;
	}
}

/* ---- timeouts ------------------------------------------------------------------------ */

static uint32_t sweep_every(const struct rw_tcp *t)
{
	uint32_t ms = t->stall_ms / 4;

	return ms < 10 ? 10 : ms > SWEEP_MAX_MS ? SWEEP_MAX_MS : ms;
}

static void on_sweep(struct rw_timer *tm, uint64_t now)
{
	struct rw_tcp *t = rw_container_of(tm, struct rw_tcp, t_sweep);

	for (uint32_t i = 0; i < t->hiwat; i++) {
		struct rw_tcp_conn *c = &t->conns[i];

		if (c->state != C_OPEN && c->state != C_CONNECTING)
			continue;
		if (c->state == C_OPEN && !c->qlen && (c->wrote || c->outq)) {
			/*
			 * Everything was written, perhaps into a socket buffer the
			 * peer never drains: what it has not acknowledged must
			 * shrink now and then (one ioctl per sweep, for connections
			 * that wrote since the last one or still had bytes out).
			 */
			int outq = 0;

			if (ioctl(c->fd, SIOCOUTQ, &outq) || outq <= 0 || (uint32_t)outq < c->outq)
				c->tx_ms = now;
			c->outq = outq > 0 ? (uint32_t)outq : 0;
		}
		c->wrote = false;
		if ((rw__stream_pending(&c->in) && now - c->rx_ms >= t->stall_ms) ||	/* stopped mid-packet */
		    ((c->qlen || c->outq) && now - c->tx_ms >= t->stall_ms) ||		/* does not read */
		    (c->state == C_CONNECTING && now - c->tx_ms >= t->stall_ms) ||
		    (t->idle_ms && now - c->rx_ms >= t->idle_ms))			/* silent */
			conn_close(t, c, &t->st.closed_timeout);
	}
	arm_accept(t);
	rw__timer_add(rw__reactor_timers(t->r), tm, now + sweep_every(t));
}

/* ---- setup ------------------------------------------------------------------------------ */

int rw__tcp_listen(const struct rw_peer_addr *where, unsigned n, int *fds, uint16_t *port)
{
	struct rw_peer_addr a = *where;
	int ret = 0;

	for (unsigned i = 0; i < n; i++)
		fds[i] = -1;
	if (a.u.in.sin_port) {
		/*
		 * SO_REUSEPORT lets any socket of this user join the port: a
		 * second server would silently take part of the connections. A
		 * plain bind first fails while anyone listens there (portclaim.h
		 * does the same for UDP).
		 */
		int one = 1, fd = socket(rw__peer_family(&a), SOCK_STREAM | SOCK_CLOEXEC, 0);

		if (fd < 0)
			return -errno;
		(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));	/* TIME_WAIT is no holder */
		ret = bind(fd, &a.u.sa, a.len) ? -errno : 0;
		close(fd);
		if (ret)
			return ret;
	}
	for (unsigned i = 0; i < n; i++) {
		int one = 1, zero = 0, fd;

		fd = socket(rw__peer_family(&a), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			ret = -errno;
			goto fail;
		}
		fds[i] = fd;
		if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
		    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) ||
		    (rw__peer_family(&a) == AF_INET6 &&
		     setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero))) ||
		    bind(fd, &a.u.sa, a.len) || listen(fd, LISTEN_BACKLOG)) {
			ret = -errno;
			goto fail;
		}
		if (i == 0) {
			/* port 0: the first socket picked one, the others join it */
			struct sockaddr_storage ss;
			socklen_t len = sizeof(ss);

			if (getsockname(fd, (struct sockaddr *)&ss, &len)) {
				ret = -errno;
				goto fail;
			}
			a.u.in.sin_port = ((struct sockaddr_in *)&ss)->sin_port;	/* same offset in sockaddr_in6 */
			*port = ntohs(a.u.in.sin_port);
		}
	}
	return 0;
fail:
	for (unsigned i = 0; i < n; i++) {
		if (fds[i] >= 0)
			close(fds[i]);
		fds[i] = -1;
	}
	return ret;
}
_Static_assert(offsetof(struct sockaddr_in, sin_port) == offsetof(struct sockaddr_in6, sin6_port), "port offset");

int rw__tcp_init(struct rw_tcp *t, struct rw_reactor *r, int lfd, const struct rw_tcp_config *cfg,
		 rw_transport_rx_fn on_datagram, void *up)
{
	unsigned max = cfg->max_conns ? cfg->max_conns : lfd >= 0 ? RW_TCP_DEFAULT_MAX_CONNS : RW_TCP_CLIENT_MAX_CONNS;

	memset(t, 0, sizeof(*t));
	t->lfd = -1;
	if (max > 0xffff)
		max = 0xffff;	/* a slot is 16 bits of rw_peer_addr.conn */
	t->conns = calloc(max, sizeof(*t->conns));
	if (!t->conns)
		return -ENOMEM;
	t->t.ops = &tcp_ops;
	t->t.buf_size = rw__reactor_send_buf_size(r);
	t->t.max_datagram = rw__reactor_max_datagram(r);
	if (t->t.max_datagram > RW_TCP_MAX_PACKET)
		t->t.max_datagram = RW_TCP_MAX_PACKET;
	t->t.on_datagram = on_datagram;
	t->t.up = up;
	t->r = r;
	t->lfd = lfd;
	t->max_conns = max;
	t->stall_ms = cfg->stall_ms ? cfg->stall_ms : RW_TCP_DEFAULT_STALL_MS;
	t->idle_ms = cfg->idle_ms;
	t->flush_head = NIL;
	for (uint32_t i = 0; i < max; i++) {
		t->conns[i].fd = -1;
		t->conns[i].gen = 1;
		t->conns[i].free_next = i + 1 < max ? i + 1 : NIL;
	}
	t->free_head = 0;
	rw__timer_init(&t->t_sweep, on_sweep);
	return 0;
}

void rw__tcp_start(struct rw_tcp *t)
{
	if (!t->r)
		return;
	arm_accept(t);
	rw__timer_add_in(rw__reactor_timers(t->r), &t->t_sweep, sweep_every(t));
}

void rw__tcp_stop(struct rw_tcp *t)
{
	if (!t->r)
		return;
	rw__timer_cancel(rw__reactor_timers(t->r), &t->t_sweep);
	/* what on_stop queued (Disconnects) is written now; close(2) at free lets the kernel finish it */
	tcp_flush(&t->t);
	if (t->lfd >= 0)
		shutdown(t->lfd, SHUT_RDWR);
}

void rw__tcp_free(struct rw_tcp *t)
{
	if (!t->r)
		return;
	/* the ring is gone: nothing is in flight, and the send buffers went with the reactor */
	for (uint32_t i = 0; i < t->hiwat; i++) {
		struct rw_tcp_conn *c = &t->conns[i];

		if (c->state == C_FREE)
			continue;
		close(c->fd);
		free(c->in.buf);
		free(c->q);
	}
	if (t->lfd >= 0)
		close(t->lfd);
	free(t->conns);
	memset(t, 0, sizeof(*t));
	t->lfd = -1;
}
