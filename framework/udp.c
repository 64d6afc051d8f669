/* SPDX-License-Identifier: MIT */
/*
 * udp.c - the UDP transport (transport.h) over one reactor: the only code
 * above the reactor that touches its send buffers, SQEs, socket and sockaddr
 * lengths. Owns: turning the pipeline's batches into reactor sends (the
 * reactor gathers consecutive equal-length datagrams to one peer, across
 * batches, into one UDP GSO sendmsg, issued at the end of its batch: flush
 * has nothing to do), returning buffers the reactor refused, and turning
 * received datagrams (GRO super-datagrams already split by the reactor)
 * into on_datagram calls with a struct rw_peer_addr.
 */
#include "udp.h"

#include <errno.h>
#include <string.h>

#include "wire.h"

static struct rw_udp *udp(struct rw_transport *t)
{
	return rw_container_of(t, struct rw_udp, t);
}

static uint8_t *udp_buf_get(struct rw_transport *t, size_t need)
{
	unsigned idx;

	return rw__reactor_send_buf_get(udp(t)->r, need, &idx);
}

static void udp_buf_put(struct rw_transport *t, uint8_t *buf)
{
	struct rw_reactor *r = udp(t)->r;

	rw__reactor_send_buf_put(r, rw__reactor_send_buf_idx(r, buf));
}

static int udp_send(struct rw_transport *t, const struct rw_peer_addr *to, const struct iovec *iov, unsigned n)
{
	struct rw_reactor *r = udp(t)->r;
	int err = 0;

	for (unsigned i = 0; i < n; i++) {
		unsigned idx = rw__reactor_send_buf_idx(r, iov[i].iov_base);
		int ret = rw__reactor_send(r, idx, iov[i].iov_len, &to->u.sa, to->len);

		if (rw_unlikely(ret)) {
			/* refused before the kernel saw it: the buffer is still ours */
			rw__reactor_send_buf_put(r, idx);
			t->tx_errors++;
			err = ret;
		}
	}
	return err;
}

static void udp_flush(struct rw_transport *t)
{
	/* the reactor submits every queued SQE at the end of its batch */
	(void)t;
}

static int udp_handoff(struct rw_transport *t, unsigned shard, const uint8_t *data, size_t len,
		       const struct rw_peer_addr *from)
{
	return rw__reactor_handoff(udp(t)->r, shard, data, len, &from->u.sa, from->len);
}

static const struct rw_transport_ops udp_ops = {
	.buf_get = udp_buf_get,
	.buf_put = udp_buf_put,
	.send = udp_send,
	.flush = udp_flush,
	.handoff = udp_handoff,
};

void rw__udp_listen_on(struct rw_reactor_config *rc, const struct rw_peer_addr *listen)
{
	memcpy(&rc->listen, &listen->u, listen->len);
	rc->listen_len = listen->len;
}

uint16_t rw__udp_local_port(const struct rw_reactor_group *g)
{
	struct sockaddr_storage ss;
	socklen_t len;

	if (rw__reactor_local_addr(g, &ss, &len))
		return 0;
	return ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
					      : ((struct sockaddr_in *)&ss)->sin_port);
}

void rw__udp_init(struct rw_udp *u, struct rw_reactor *r, rw_transport_rx_fn on_datagram, void *up)
{
	u->t.ops = &udp_ops;
	u->t.buf_size = rw__reactor_send_buf_size(r);
	u->t.max_datagram = rw__reactor_max_datagram(r);
	u->t.on_datagram = on_datagram;
	u->t.up = up;
	u->r = r;
	u->g = rw__reactor_group(r);
	{
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);

		u->t.v6_source_only = rw__reactor_local_addr(u->g, &ss, &len) == 0 && ss.ss_family == AF_INET6 &&
				      !IN6_IS_ADDR_UNSPECIFIED(&((const struct sockaddr_in6 *)&ss)->sin6_addr);
	}
	rw__reactor_set_ctx(r, u);
}

struct rw_udp *rw__udp_of(struct rw_reactor *r)
{
	return rw__reactor_get_ctx(r);
}

void rw__udp_send_error(struct rw_udp *u, const struct sockaddr *to, socklen_t tolen, int err)
{
	struct rw_peer_addr p;

	if (!u->t.on_send_error)
		return;
	rw__peer_set(&p, to, tolen);
	u->t.on_send_error(u->t.up, &p, err);
}

void rw__udp_on_datagram(struct rw_reactor *r, uint8_t *data, size_t len, const struct sockaddr *from,
			 socklen_t fromlen)
{
	struct rw_udp *u = rw__udp_of(r);
	struct rw_peer_addr p;

	rw__peer_set(&p, from, fromlen);
	u->t.on_datagram(u->t.up, data, len, &p);
}
