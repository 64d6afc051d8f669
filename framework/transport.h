/* SPDX-License-Identifier: MIT */
/*
 * transport.h - the seam between the send pipeline (send.c) and the sockets.
 *
 * Owns: the interface every transport implements, and the peer address type
 * the layers above use instead of a sockaddr and its length. udp.c is the
 * first implementation (the reactor's UDP socket, send buffers and SQEs);
 * tcp.c the second (docs/protocol.md §17), on the same reactor and send
 * buffers. The pipeline picks one per peer (rw_peer_addr.via).
 *
 * Contract:
 *  - buf_get hands out one packet buffer of at least `need` bytes, need <=
 *    max_datagram (NULL when every buffer of that size is in flight: the
 *    caller parks its packet, it never blocks). Buffers of buf_size are many;
 *    larger ones (for datagrams above buf_size) are fewer.
 *  - send takes a BATCH of n datagrams to one peer, each iov[i] one datagram
 *    inside a buffer from buf_get. From the call on, the transport owns every
 *    one of those buffers, success or failure, and returns each to its pool
 *    when the kernel is done with it. A batch to one peer is what lets a
 *    transport coalesce it (UDP GSO: one sendmsg with UDP_SEGMENT) without
 *    any change above this line. UDP coalesces consecutive batches to one
 *    peer too, holding them no longer than the end of the reactor's batch
 *    (after on_batch_end, so after flush).
 *  - buf_put returns a buffer that was taken but will not be sent.
 *  - flush: the pipeline has nothing more for now (a transport that holds
 *    batches back pushes them out here).
 *  - handoff: a received datagram belongs to another shard's session.
 *  - upward, every received datagram goes to on_datagram(up, ...), and a
 *    send the kernel refused later to on_send_error(up, ...). A send refused
 *    at once is send's return value.
 * All calls run on the owning reactor thread.
 */
#ifndef RW_TRANSPORT_H
#define RW_TRANSPORT_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

/* Which transport a peer is reached over: a session stays on the one its handshake came on. */
enum { RW_VIA_UDP = 0, RW_VIA_TCP = 1 };

/*
 * Where a peer is. Layers above compare and copy it whole; only transports
 * look inside. Over TCP, conn names the connection (tcp.c: its slot and
 * generation) and u is the connection's remote address; conn 0 is "the
 * connection this side opens to u", made on first send.
 */
struct rw_peer_addr {
	socklen_t len;
	uint8_t via;
	uint32_t conn;
	union {
		struct sockaddr sa;
		struct sockaddr_in in;
		struct sockaddr_in6 in6;
	} u;
};

static inline void rw__peer_set(struct rw_peer_addr *p, const struct sockaddr *sa, socklen_t len)
{
	if (len > sizeof(p->u))
		len = sizeof(p->u);
	memcpy(&p->u, sa, len);
	p->len = len;
	p->via = RW_VIA_UDP;
	p->conn = 0;
}

static inline bool rw__peer_eq(const struct rw_peer_addr *a, const struct rw_peer_addr *b)
{
	return a->len == b->len && a->via == b->via && a->conn == b->conn && memcmp(&a->u, &b->u, a->len) == 0;
}

static inline int rw__peer_family(const struct rw_peer_addr *p)
{
	return p->len ? p->u.sa.sa_family : AF_UNSPEC;
}

struct rw_transport;

/* One received datagram; data is writable (decrypt in place) and valid during the call only. */
typedef void (*rw_transport_rx_fn)(void *up, uint8_t *data, size_t len, const struct rw_peer_addr *from);
/* A send to `to` failed after it left the pipeline (negative errno). */
typedef void (*rw_transport_err_fn)(void *up, const struct rw_peer_addr *to, int err);

struct rw_transport_ops {
	uint8_t *(*buf_get)(struct rw_transport *t, size_t need);
	void (*buf_put)(struct rw_transport *t, uint8_t *buf);
	int (*send)(struct rw_transport *t, const struct rw_peer_addr *to, const struct iovec *iov, unsigned n);
	void (*flush)(struct rw_transport *t);
	int (*handoff)(struct rw_transport *t, unsigned shard, const uint8_t *data, size_t len,
		       const struct rw_peer_addr *from);
};

struct rw_transport {
	const struct rw_transport_ops *ops;
	size_t buf_size;		/* bytes of one (small) packet buffer */
	size_t max_datagram;		/* the largest datagram sent and received (buffers exist for it) */
	rw_transport_rx_fn on_datagram;	/* upward */
	rw_transport_err_fn on_send_error;	/* upward, optional */
	/* upward, optional: a connection-oriented transport lost its way to a peer it accepted (TCP) */
	void (*on_peer_gone)(void *up, const struct rw_peer_addr *peer);
	void *up;
	uint64_t tx_errors;		/* datagrams refused before reaching the kernel */
	bool v6_source_only;		/* bound to one IPv6 address: IPv4 peers are out of reach */
};

static inline uint8_t *rw__transport_buf_get(struct rw_transport *t, size_t need)
{
	return t->ops->buf_get(t, need);
}

static inline void rw__transport_buf_put(struct rw_transport *t, uint8_t *buf)
{
	t->ops->buf_put(t, buf);
}

static inline int rw__transport_send(struct rw_transport *t, const struct rw_peer_addr *to, const struct iovec *iov,
				     unsigned n)
{
	return t->ops->send(t, to, iov, n);
}

static inline void rw__transport_flush(struct rw_transport *t)
{
	t->ops->flush(t);
}

static inline int rw__transport_handoff(struct rw_transport *t, unsigned shard, const uint8_t *data, size_t len,
					const struct rw_peer_addr *from)
{
	return t->ops->handoff(t, shard, data, len, from);
}

#endif
