/* SPDX-License-Identifier: MIT */
/* metrics.c - the Prometheus exposition of rw_stats, and the /metrics endpoint. */
#include <errno.h>
#include <netdb.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <sys/socket.h>

#include "engine.h"
#include "errmsg.h"
#include "metrics.h"
#include "send.h"
#include "session.h"

#ifdef RW_HAVE_MICROHTTPD
#include <microhttpd.h>
#endif

/* ---- the exposition ------------------------------------------------------------------ */

struct out {
	char *buf;
	size_t cap, len;
	bool full;
};

static void put(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(struct out *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (o->full)
		return;
	va_start(ap, fmt);
	n = vsnprintf(o->buf + o->len, o->cap - o->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= o->cap - o->len) {
		o->full = true;
		return;
	}
	o->len += (size_t)n;
}

/* One series without labels: HELP, TYPE, the sample. */
static void metric(struct out *o, const char *name, const char *type, const char *help, uint64_t v)
{
	put(o, "# HELP %s %s\n# TYPE %s %s\n%s %llu\n", name, help, name, type, name, (unsigned long long)v);
}

/* A histogram of log2 buckets of microseconds, in seconds, cumulative as Prometheus has it. */
static void histogram(struct out *o, const char *name, const char *help, const struct rw_hist *h)
{
	uint64_t cum = 0;

	put(o, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
	for (unsigned k = 0; k + 1 < RW_HIST_BUCKETS; k++) {
		cum += h->bucket[k];
		put(o, "%s_bucket{le=\"%.6f\"} %llu\n", name, (double)(UINT64_C(1) << k) / 1e6, (unsigned long long)cum);
	}
	cum += h->bucket[RW_HIST_BUCKETS - 1];
	put(o, "%s_bucket{le=\"+Inf\"} %llu\n", name, (unsigned long long)cum);
	put(o, "%s_sum %.9f\n", name, (double)h->sum_ns / 1e9);
	/* the count is the buckets' sum: a scrape racing an observation stays consistent */
	put(o, "%s_count %llu\n", name, (unsigned long long)cum);
}

static void format_ops(struct out *o, const struct rw_stats *st, const struct rw_ops_stats *ops)
{
	put(o, "# HELP ringwire_sessions_closed_by_reason_total Sessions closed, by the reason on_close reported.\n"
	       "# TYPE ringwire_sessions_closed_by_reason_total counter\n");
	for (int r = RW_CLOSE_NONE + 1; r < RW_CLOSE__COUNT; r++)
		put(o, "ringwire_sessions_closed_by_reason_total{reason=\"%s\"} %llu\n",
		    rw__close_reason_token((enum rw_close_reason)r), (unsigned long long)ops->closed[r]);
	put(o, "# HELP ringwire_handshakes_total Handshakes by outcome: completed (either role), rejected (key not "
	       "allowed), timed_out (a dial with no response), cookie (answered with a CookieReply under load).\n"
	       "# TYPE ringwire_handshakes_total counter\n"
	       "ringwire_handshakes_total{outcome=\"completed\"} %llu\n"
	       "ringwire_handshakes_total{outcome=\"rejected\"} %llu\n"
	       "ringwire_handshakes_total{outcome=\"timed_out\"} %llu\n"
	       "ringwire_handshakes_total{outcome=\"cookie\"} %llu\n",
	    (unsigned long long)st->handshakes_completed, (unsigned long long)st->drops[RW_DROP_REJECTED_KEY],
	    (unsigned long long)ops->closed[RW_CLOSE_RETRIES], (unsigned long long)st->cookies_sent);
	metric(o, "ringwire_reliable_window_stalls_total", "counter",
	       "Sends on a reliable channel refused with EAGAIN (window full).", ops->reliable_stalls);
	histogram(o, "ringwire_handshake_duration_seconds",
		  "Initiator: from sending a handshake initiation (dial or rekey) to its response.", &ops->hs_time);
	histogram(o, "ringwire_event_dispatch_seconds",
		  "Sampled (1 in 64): from the start of the receive batch to the return of on_event.", &ops->dispatch);
}

void rw__metrics_ops(const struct rw_engine *e, struct rw_ops_stats *out)
{
	memset(out, 0, sizeof(*out));
	for (unsigned i = 0; i < e->nshards; i++) {
		const struct rw_ops_stats *o = &e->shards[i].ops;

		for (int r = 0; r < RW_CLOSE__COUNT; r++)
			out->closed[r] += RW_STAT_GET(o->closed[r]);
		out->rx_batches += RW_STAT_GET(o->rx_batches);
		out->rx_batch_datagrams += RW_STAT_GET(o->rx_batch_datagrams);
		out->reliable_stalls += RW_STAT_GET(o->reliable_stalls);
		for (int k = 0; k < RW_HIST_BUCKETS; k++) {
			out->hs_time.bucket[k] += RW_STAT_GET(o->hs_time.bucket[k]);
			out->dispatch.bucket[k] += RW_STAT_GET(o->dispatch.bucket[k]);
		}
		out->hs_time.sum_ns += RW_STAT_GET(o->hs_time.sum_ns);
		out->dispatch.sum_ns += RW_STAT_GET(o->dispatch.sum_ns);
	}
}

int rw__metrics_format(const struct rw_stats *st, const struct rw__metrics_info *info, char *buf, size_t cap)
{
	struct out o = { buf, cap, 0, false };

	if (!buf || !cap)
		return -ENOSPC;
	buf[0] = '\0';
	put(&o, "# HELP ringwire_build_info The ringwire library serving these metrics.\n"
		"# TYPE ringwire_build_info gauge\n"
		"ringwire_build_info{version=\"%s\",role=\"%s\"} 1\n",
	    rw_version(), info->server ? "server" : "client");
	metric(&o, "ringwire_reactors", "gauge", "Reactor threads.", info->reactors);
	metric(&o, "ringwire_packets_received_total", "counter", "UDP datagrams received.", st->rx_packets);
	metric(&o, "ringwire_bytes_received_total", "counter", "UDP payload bytes received.", st->rx_bytes);
	metric(&o, "ringwire_packets_sent_total", "counter", "UDP datagrams sent.", st->tx_packets);
	metric(&o, "ringwire_bytes_sent_total", "counter", "UDP payload bytes sent.", st->tx_bytes);
	metric(&o, "ringwire_send_errors_total", "counter", "Datagrams the kernel refused to send.", st->tx_errors);
	put(&o, "# HELP ringwire_drops_total Datagrams dropped, by reason.\n# TYPE ringwire_drops_total counter\n");
	for (int r = RW_DROP_NONE + 1; r < RW_DROP__COUNT; r++)
		put(&o, "ringwire_drops_total{reason=\"%s\"} %llu\n", rw_drop_reason_name((enum rw_drop_reason)r),
		    (unsigned long long)st->drops[r]);
	metric(&o, "ringwire_handshakes_completed_total", "counter",
	       "Handshakes completed (sessions established or rekeyed), either role.", st->handshakes_completed);
	metric(&o, "ringwire_handshakes_initiated_total", "counter", "Handshakes this side initiated.",
	       st->handshakes_initiated);
	metric(&o, "ringwire_handshakes_queued", "gauge",
	       "Handshakes whose X25519 work waits for or runs on a Noise worker now.", st->handshakes_queued);
	metric(&o, "ringwire_handshakes_inline_total", "counter",
	       "Handshakes computed on a reactor because its Noise worker fell behind.", st->handshakes_inline);
	metric(&o, "ringwire_cookies_sent_total", "counter", "CookieReply messages sent (under load).",
	       st->cookies_sent);
	metric(&o, "ringwire_rekeys_total", "counter", "Sessions rekeyed.", st->rekeys);
	metric(&o, "ringwire_sessions_open", "gauge", "Sessions open now.", st->sessions_open);
	metric(&o, "ringwire_sessions_opened_total", "counter", "Sessions opened.", st->sessions_opened);
	metric(&o, "ringwire_sessions_closed_total", "counter", "Sessions closed.", st->sessions_closed);
	metric(&o, "ringwire_half_open_sessions", "gauge",
	       "Answered handshakes not yet confirmed by the initiator's first packet.", st->half_open);
	metric(&o, "ringwire_half_open_evicted_total", "counter",
	       "Half-open sessions closed to make room for a newer one.", st->half_open_evicted);
	metric(&o, "ringwire_half_open_expired_total", "counter",
	       "Half-open sessions never confirmed within the half-open timeout.", st->half_open_expired);
	metric(&o, "ringwire_events_received_total", "counter", "Events delivered to handlers.", st->events_in);
	metric(&o, "ringwire_events_sent_total", "counter", "Events sent.", st->events_out);
	metric(&o, "ringwire_retransmits_total", "counter", "Reliable frames retransmitted.", st->retransmits);
	metric(&o, "ringwire_spurious_retransmits_total", "counter",
	       "Retransmits an ACK showed unnecessary (a lower bound).", st->spurious_retransmits);
	metric(&o, "ringwire_pmtu_black_holes_total", "counter",
	       "Grown packet sizes that stopped getting through (path MTU discovery fell back).",
	       st->pmtu_black_holes);
	metric(&o, "ringwire_padding_bytes_sent_total", "counter",
	       "Padding bytes added to sent packets by the padding policy, cover packets included.",
	       st->tx_padding_bytes);
	metric(&o, "ringwire_cover_packets_sent_total", "counter",
	       "Cover packets sent (padding only, on idle sessions).", st->cover_packets);
	metric(&o, "ringwire_handoffs_total", "counter",
	       "Datagrams that reached a reactor not owning their session and were handed over.", st->handoffs);
	/* wiresocket over TCP (docs/protocol.md §17) */
	metric(&o, "ringwire_tcp_connections", "gauge", "TCP connections open now.", st->tcp_connections);
	metric(&o, "ringwire_tcp_accepted_total", "counter", "TCP connections accepted.", st->tcp_accepted);
	metric(&o, "ringwire_tcp_connected_total", "counter", "TCP connections made.", st->tcp_connected);
	metric(&o, "ringwire_tcp_refused_total", "counter", "TCP connections closed at once: the limit was reached.",
	       st->tcp_refused);
	metric(&o, "ringwire_tcp_closed_framing_total", "counter",
	       "TCP connections closed on a length of 0 or above the largest packet.", st->tcp_closed_framing);
	metric(&o, "ringwire_tcp_closed_timeout_total", "counter",
	       "TCP connections closed: a packet or a write stalled, or the connection fell silent.",
	       st->tcp_closed_timeout);
	metric(&o, "ringwire_tcp_closed_peer_total", "counter", "TCP connections closed by the peer or an error.",
	       st->tcp_closed_peer);
	metric(&o, "ringwire_tcp_queue_full_total", "counter", "Packets refused: a TCP connection's queue was full.",
	       st->tcp_queue_full);
	if (info->per) {
		static const struct {
			const char *name, *help;
			size_t off;
		} series[] = {
#define S(f, n, h) { "ringwire_reactor_" n, h, offsetof(struct rw__metrics_reactor, f) }
			S(rx_packets, "packets_received_total", "UDP datagrams this reactor received."),
			S(rx_bytes, "bytes_received_total", "UDP payload bytes this reactor received."),
			S(handoffs_out, "handoffs_out_total",
			  "Datagrams this reactor handed to the reactor owning their session."),
			S(handoffs_in, "handoffs_in_total", "Datagrams other reactors handed to this one."),
			S(handoff_full, "handoff_full_total", "Hand-overs dropped: the owner's queue was full."),
			S(rx_nobufs, "receive_ring_empty_total", "Times the receive buffer ring ran dry."),
			S(send_buf_exhausted, "send_buffers_exhausted_total", "Sends that found no free send buffer."),
			S(send_parked, "send_parked_total", "Packets parked until a send buffer came back."),
			S(send_resumed, "send_resumed_total", "Parked packets sent once buffers came back."),
			S(send_paced, "send_paced_total", "Packets held back by a session's send-rate limit."),
			S(rx_batches, "receive_batches_total",
			  "Receive batches (completions reaped together) that held at least one datagram."),
			S(rx_batch_datagrams, "receive_batch_datagrams_total",
			  "Datagrams of those batches: divided by the batches, the mean batch size."),
#undef S
		};

		for (size_t k = 0; k < sizeof(series) / sizeof(series[0]); k++) {
			put(&o, "# HELP %s %s\n# TYPE %s counter\n", series[k].name, series[k].help, series[k].name);
			for (unsigned i = 0; i < info->reactors; i++)
				put(&o, "%s{reactor=\"%u\"} %llu\n", series[k].name, i,
				    (unsigned long long)*(const uint64_t *)((const char *)&info->per[i] + series[k].off));
		}
	}
	if (info->ops)
		format_ops(&o, st, info->ops);
	if (info->has_allowlist)
		metric(&o, "ringwire_allowed_keys", "gauge", "Keys on the allow-list.", info->allowed_keys);
	return o.full ? -ENOSPC : (int)o.len;
}

unsigned rw__metrics_reactors(const struct rw_engine *e, struct rw__metrics_reactor *per, unsigned max)
{
	unsigned n = e->nshards < max ? e->nshards : max;

	for (unsigned i = 0; i < n; i++) {
		struct rw_reactor_stats rs;
		struct rw_send_stats ss;

		rw__reactor_stats(e->shards[i].r, &rs);
		rw__send_stats(&e->shards[i], &ss);
		per[i] = (struct rw__metrics_reactor){
			.rx_packets = rs.rx_packets,
			.rx_bytes = rs.rx_bytes,
			.handoffs_out = rs.handoffs_out,
			.handoffs_in = rs.handoffs_in,
			.handoff_full = rs.handoff_full,
			.rx_nobufs = rs.rx_nobufs,
			.send_buf_exhausted = rs.send_buf_exhausted,
			.send_parked = ss.parked,
			.send_resumed = ss.resumed,
			.send_paced = ss.paced,
			.rx_batches = RW_STAT_GET(e->shards[i].ops.rx_batches),
			.rx_batch_datagrams = RW_STAT_GET(e->shards[i].ops.rx_batch_datagrams),
		};
	}
	return n;
}

/* ---- the endpoint ---------------------------------------------------------------------- */

#ifdef RW_HAVE_MICROHTTPD

enum {
	METRICS_CONN_LIMIT = 32,	/* scrapers are few: more is a misbehaving client */
	METRICS_PER_IP_LIMIT = 8,
	METRICS_TIMEOUT_S = 10,		/* a client that stalls is cut off after this */
	METRICS_CONN_MEMORY = 16 * 1024,	/* request line and headers: a huge header gets 431 */
	METRICS_BUF_START = 16 * 1024,
	METRICS_BUF_MAX = 4 << 20,
};

struct rw__metrics {
	struct MHD_Daemon *d;
	rw__metrics_fill_fn fill;
	void *obj;
};

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, const char *text)
{
	struct MHD_Response *r =
		MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_PERSISTENT);
	enum MHD_Result ret;

	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; charset=utf-8");
	if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
				  const char *version, const char *upload_data, size_t *upload_size, void **con_cls)
{
	struct rw__metrics *m = cls;
	struct MHD_Response *r;
	enum MHD_Result ret;
	size_t cap = METRICS_BUF_START;
	char *buf = NULL;
	int n;

	/* a body (POST, PUT) is never read: the answer does not depend on it */
	if (strcmp(method, MHD_HTTP_METHOD_GET) && strcmp(method, MHD_HTTP_METHOD_HEAD))
		return reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, "only GET /metrics here\n");
	if (strcmp(url, "/metrics"))
		return reply(c, MHD_HTTP_NOT_FOUND, "not found; the metrics are at /metrics\n");
	for (;;) {
		char *nb = realloc(buf, cap);

		if (!nb) {
			free(buf);
			return reply(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n");
		}
		buf = nb;
		n = m->fill(m->obj, buf, cap);
		if (n != -ENOSPC || cap >= METRICS_BUF_MAX)
			break;
		cap *= 2;
	}
	if (n < 0) {
		free(buf);
		return reply(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "cannot format the metrics\n");
	}
	r = MHD_create_response_from_buffer((size_t)n, buf, MHD_RESPMEM_MUST_FREE);
	if (!r) {
		free(buf);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8");
	ret = MHD_queue_response(c, MHD_HTTP_OK, r);
	MHD_destroy_response(r);
	return ret;
}

int rw__metrics_listen(struct rw__metrics **out, const char *hostport, rw__metrics_fill_fn fill, void *obj,
		       char *err, size_t errlen)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV | AI_PASSIVE }, *res = NULL;
	char host[RW_HOST_MAX + 1], service[8];
	sigset_t all, old;
	struct rw__metrics *m;
	const union MHD_DaemonInfo *di;
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO;
	uint16_t port;
	int ret;

	ret = rw_hostport_parse(hostport, host, &port, err, errlen);
	if (ret)
		return ret;
	snprintf(service, sizeof(service), "%u", port);
	if (getaddrinfo(host[0] ? host : NULL, service, &hints, &res) || !res)
		return rw__errf(err, errlen, -EHOSTUNREACH, "cannot resolve metrics address \"%s\"", hostport);
	if (res->ai_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	m = calloc(1, sizeof(*m));
	if (!m) {
		freeaddrinfo(res);
		return rw__errf(err, errlen, -ENOMEM, "out of memory");
	}
	m->fill = fill;
	m->obj = obj;
	/*
	 * The thread inherits our signal mask: with every signal blocked,
	 * SIGINT/SIGTERM/SIGHUP stay with the thread that waits for them
	 * (rw_server_run) instead of killing the process from here.
	 */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	errno = 0;
	m->d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, m, MHD_OPTION_SOCK_ADDR, res->ai_addr,
				MHD_OPTION_CONNECTION_LIMIT, (unsigned)METRICS_CONN_LIMIT,
				MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)METRICS_PER_IP_LIMIT,
				MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)METRICS_TIMEOUT_S,
				MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)METRICS_CONN_MEMORY, MHD_OPTION_END);
	ret = errno;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	freeaddrinfo(res);
	if (!m->d) {
		free(m);
		ret = ret ? -ret : -EADDRINUSE;
		return rw__errf(err, errlen, ret, "cannot serve metrics on %s: %s; pick another port", hostport,
				strerror(-ret));
	}
	di = MHD_get_daemon_info(m->d, MHD_DAEMON_INFO_BIND_PORT);
	*out = m;
	return di && di->port ? di->port : port;
}

void rw__metrics_stop(struct rw__metrics *m)
{
	if (!m)
		return;
	MHD_stop_daemon(m->d);
	free(m);
}

#else

struct rw__metrics {
	int unused;
};

int rw__metrics_listen(struct rw__metrics **out, const char *hostport, rw__metrics_fill_fn fill, void *obj,
		       char *err, size_t errlen)
{
	return rw__errf(err, errlen, -ENOTSUP, "this ringwire was built without libmicrohttpd: no metrics endpoint; "
			"use rw_server_metrics_write with an HTTP server of your own");
}

void rw__metrics_stop(struct rw__metrics *m)
{
	free(m);
}

#endif

int rw__metrics_write_engine(const struct rw_engine *e, struct rw__metrics_info *info, char *buf, size_t cap)
{
	struct rw__metrics_reactor per[RW_MAX_REACTORS];
	struct rw_ops_stats ops;
	struct rw_stats st;

	rw__engine_stats(e, &st);
	info->reactors = rw__metrics_reactors(e, per, RW_MAX_REACTORS);
	info->per = per;
	rw__metrics_ops(e, &ops);
	info->ops = &ops;
	return rw__metrics_format(&st, info, buf, cap);
}
