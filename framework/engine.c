/* SPDX-License-Identifier: MIT */
/*
 * engine.c - the engine's life and its calls from other threads: create the
 * shards (one per reactor, each with its UDP transport), register the
 * reactor callbacks (receive -> recv.c, batch end -> session.c, commands ->
 * whatever each command names), per-shard housekeeping, counters, start and
 * stop, and the cross-thread API (send by id, broadcast, dial), which posts
 * commands to the owning shard.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "engine.h"
#include "errmsg.h"
#include "index.h"
#include "noise_worker.h"
#include "portclaim.h"
#include "recv.h"
#include "send.h"
#include "session.h"
#include "timers.h"

struct cmd_send {
	struct rw_cmd c;
	uint64_t id;
	uint8_t channel, type;
	size_t len;
	uint8_t payload[];
};

struct bcast {
	atomic_uint refs;
	uint8_t channel, type;
	size_t len;
	uint8_t payload[];
};

struct cmd_bcast {
	struct rw_cmd c;
	struct bcast *b;
};

struct cmd_dial {
	struct rw_cmd c;
	uint64_t id;
	struct rw_endpoint ep;
	unsigned first;			/* the hint addr resolves: the first that did */
	struct rw_peer_addr addr;
	void *user;
};

static struct rw_shard *shard_of(struct rw_reactor *r)
{
	return rw__udp_of(r)->t.up;
}

/* ---- reactor callbacks ---------------------------------------------------------- */

static void set_cookie_epoch(struct rw_shard *sh)
{
	struct rw_engine *e = sh->e;
	uint64_t epoch = (uint64_t)time(NULL) * 1000 / e->t.cookie_rotation_ms;
	uint8_t secret[RW_KEY_LEN], in[8];

	if (epoch == sh->cookie_epoch)
		return;
	/*
	 * Every shard derives the same secret for the same epoch from one
	 * master key: a cookie handed out by one shard is honoured by all,
	 * and rotation needs no coordination between threads.
	 */
	rw_put_le64(in, epoch);
	if (!rw__mac(secret, e->cookie_master, RW_KEY_LEN, in, sizeof(in), NULL, 0) &&
	    !rw__cookie_checker_set_secret(&sh->cookies, secret, rw__now_ms(sh)))
		sh->cookie_epoch = epoch;
	rw__memzero(secret, sizeof(secret));
}

static void on_housekeeping(struct rw_timer *t, uint64_t now)
{
	struct rw_shard *sh = rw_container_of(t, struct rw_shard, t_housekeeping);

	set_cookie_epoch(sh);
	/* a flood that stopped is still told, once its window is over */
	rw__drop_summary_flush(&sh->drop_sum, now, sh->id);
	rw__timer_add(sh->wheel, t, now + 1000);
}

/* Test hook: RW_TEST_DROP_WINDOW_MS shortens the drop summary's window (default 10 s). */
static uint32_t drop_window_ms(void)
{
	const char *v = getenv("RW_TEST_DROP_WINDOW_MS");
	long n = v ? strtol(v, NULL, 10) : 0;

	return n > 0 ? (uint32_t)n : 10000;
}

static void on_start(struct rw_reactor *r)
{
	struct rw_shard *sh = shard_of(r);
	struct rw_engine *e = sh->e;

	rw__current_shard = sh;
	if (rw__cookie_checker_init(&sh->cookies, e->id.pub, rw__now_ms(sh), e->t.cookie_rotation_ms,
				    e->t.cookie_rotation_ms / 12))
	{
		char re[12];

		snprintf(re, sizeof(re), "%u", sh->id);
		rw__log(e, RW_LOG_ERROR, "cannot initialise cookies", 1, "reactor", re);
	}
	sh->cookie_epoch = 0;
	set_cookie_epoch(sh);
	sh->hs_window_ms = rw__now_ms(sh);
	rw__drop_summary_init(&sh->drop_sum, drop_window_ms(), rw__now_ms(sh));
	rw__timer_init(&sh->t_housekeeping, on_housekeeping);
	rw__timer_add(sh->wheel, &sh->t_housekeeping, rw__now_ms(sh) + 1000);
	rw__tcp_start(&sh->tcp);
}

static void on_stop(struct rw_reactor *r)
{
	struct rw_shard *sh = shard_of(r);

	rw__timer_cancel(sh->wheel, &sh->t_housekeeping);
	/* its completions still to come find the pool (freed with the engine) but no thread */
	if (sh->nw)
		rw__nw_stop(sh->nw);
	rw__session_rekey_queue_free(sh);
	rw__shard_close_all(sh, RW_CLOSE_SHUTDOWN, sh->e->server ? "server shutting down" : "client shutting down");
	rw__shard_batch_end(sh);
	rw__tcp_stop(&sh->tcp);
	rw__cookie_checker_wipe(&sh->cookies);
	rw__crypto_thread_release();
	rw__current_shard = NULL;
}

static void on_ext(struct rw_reactor *r, uint32_t tag, int res, uint32_t flags)
{
	/* the TCP transport is the ring's only other user */
	rw__tcp_on_cqe(&shard_of(r)->tcp, tag, res, flags);
}

/* A packet a TCP connection delivered: counted into the batch as a datagram is (on_datagram below). */
static void on_tcp_packet(void *up, uint8_t *data, size_t len, const struct rw_peer_addr *from)
{
	struct rw_shard *sh = up;

	if (!sh->batch_dgrams++)
		sh->batch_start_ns = rw__now_ns();
	rw__recv_datagram(up, data, len, from);
}

static void on_send_error(struct rw_reactor *r, const struct sockaddr *to, socklen_t tolen, int err)
{
	rw__udp_send_error(rw__udp_of(r), to, tolen, err);
}

/*
 * Every datagram (own or handed over) passes here first: the first of a
 * batch notes the time, which the sampled dispatch latency is measured from.
 */
static void on_datagram(struct rw_reactor *r, uint8_t *data, size_t len, const struct sockaddr *from,
			socklen_t fromlen)
{
	struct rw_shard *sh = shard_of(r);

	if (!sh->batch_dgrams++)
		sh->batch_start_ns = rw__now_ns();
	rw__udp_on_datagram(r, data, len, from, fromlen);
}

static void on_batch_end(struct rw_reactor *r)
{
	struct rw_shard *sh = shard_of(r);

	rw__shard_batch_end(sh);
	rw__transport_flush(&sh->tcp.t);	/* one write per TCP connection for what the batch queued */
	/*
	 * An initiator's due rekeys after the data: the batch's sends go to
	 * the kernel first; what the rekeys send leaves with the next enter.
	 * (Their DH work, and a responder's, runs on the Noise worker.)
	 */
	if (rw__session_rekeys_pending(sh)) {
		rw__reactor_submit(r);
		rw__session_rekeys_run(sh);
		rw__shard_batch_end(sh);
		rw__transport_flush(&sh->tcp.t);
	}
	if (sh->batch_dgrams) {
		RW_STAT_INC(sh->ops.rx_batches);
		RW_STAT_ADD(sh->ops.rx_batch_datagrams, sh->batch_dgrams);
		sh->batch_dgrams = 0;
		sh->batch_start_ns = 0;
	}
}

static void run_send(struct rw_shard *sh, struct rw_cmd *cmd)
{
	struct cmd_send *c = (struct cmd_send *)cmd;
	struct rw_session *s = rw__session_by_id(sh, c->id);

	if (s)
		rw__session_send_event(s, c->channel, c->type, c->payload, c->len);
	free(c);
}

static void run_broadcast(struct rw_shard *sh, struct bcast *b)
{
	uint64_t seq = ++sh->walk_seq, closes;

	/*
	 * A send may close sessions (a reliable channel that gives up), which
	 * moves them off the list under our feet: then walk again from the
	 * head, skipping the sessions this broadcast already visited.
	 */
restart:
	closes = sh->closes;
	for (struct rw_session *s = sh->sessions; s; s = s->list_next) {
		if (s->walk_seq == seq)
			continue;
		s->walk_seq = seq;
		if (s->state == RW_SS_ESTABLISHED && (s->subs[b->channel >> 6] >> (b->channel & 63) & 1))
			rw__session_send_event(s, b->channel, b->type, b->payload, b->len);
		if (sh->closes != closes)
			goto restart;
	}
	if (atomic_fetch_sub(&b->refs, 1) == 1)
		free(b);
}

static void run_bcast(struct rw_shard *sh, struct rw_cmd *cmd)
{
	run_broadcast(sh, ((struct cmd_bcast *)cmd)->b);
	free(cmd);
}

static void run_dial(struct rw_shard *sh, struct rw_cmd *cmd)
{
	struct cmd_dial *c = (struct cmd_dial *)cmd;
	struct rw_engine *e = sh->e;
	struct rw_session *s = rw__session_new(sh, c->ep.pubkey, c->id);
	int ret;

	if (!s) {
		char a[RW_HOST_MAX + 10];

		snprintf(a, sizeof(a), "%s%s%s:%u", strchr(c->ep.host, ':') ? "[" : "", c->ep.host,
			 strchr(c->ep.host, ':') ? "]" : "", c->ep.port);
		rw__log(e, RW_LOG_WARN, "dial refused", 2, "addr", a, "reason", "session limit reached");
		free(c);
		return;
	}
	s->initiator = true;
	s->state = RW_SS_CONNECTING;
	/* §17: wire+tcp:// is TCP whatever the client says; AUTO starts on UDP */
	s->via = c->ep.transport == RW_TRANSPORT_TCP || e->transport == RW_TRANSPORT_TCP ? RW_VIA_TCP : RW_VIA_UDP;
	s->tcp_auto = c->ep.transport != RW_TRANSPORT_TCP && e->transport == RW_TRANSPORT_AUTO;
	s->user = c->user;
	memcpy(s->host, c->ep.addrs[c->first].host, sizeof(s->host));
	s->port = c->ep.addrs[c->first].port;
	if (c->ep.naddrs > 1) {
		/* several hints (§16.3): the session keeps them; session.c moves along them */
		s->hints = malloc(c->ep.naddrs * sizeof(*s->hints));
		if (s->hints) {
			memcpy(s->hints, c->ep.addrs, c->ep.naddrs * sizeof(*s->hints));
			s->nhints = (uint8_t)c->ep.naddrs;
			s->hint = (uint8_t)c->first;
			s->hints_tried = (uint8_t)c->first;	/* the ones that did not resolve count as tried */
		}
	}
	rw__session_set_peer(s, &c->addr);
	if (!e->has_id) {
		/* no key configured: this session gets its own identity */
		uint8_t priv[RW_KEY_LEN], pub[RW_KEY_LEN];

		ret = rw__x25519_generate(priv, pub);
		if (!ret)
			ret = rw__noise_identity_init(&s->own_local, priv);
		rw__memzero(priv, sizeof(priv));
		if (ret)
			goto fail;
		s->local = &s->own_local;
	}
	ret = rw__noise_remote_init(&s->remote, s->local, c->ep.pubkey);
	if (ret)
		goto fail;
	ret = rw__session_handshake_start(s);
	if (ret && ret != -EAGAIN && !rw__session_dial_error(s, ret)) {
		char a[RW_ADDR_STR_MAX] = "?";

		rw__peer_to_string(a, &c->addr);
		rw__log(e, RW_LOG_WARN, "handshake send failed, retrying", 2, "addr", a, "error", strerror(-ret));
	}
	free(c);
	return;
fail:
	rw__session_close(s, RW_CLOSE_PROTOCOL, 0, "cannot set up keys for this server key");
	free(c);
}

static void on_command(struct rw_reactor *r, struct rw_cmd_node *node)
{
	struct rw_cmd *c = rw_container_of(node, struct rw_cmd, node);

	/* each command names what runs it, and that frees it */
	c->run(shard_of(r), c);
}

/* ---- lifetime ------------------------------------------------------------------------ */

static void resolve_timers(struct rw_timers *t, const struct rw_timers *in)
{
	*t = in ? *in : (struct rw_timers){ 0 };
#define DEF(f, v) \
	if (!t->f) \
		t->f = v
	DEF(keepalive_ms, RW_KEEPALIVE_INTERVAL_S * 1000u);
	DEF(session_timeout_ms, RW_SESSION_TIMEOUT_S * 1000u);
	DEF(rekey_after_ms, RW_REKEY_AFTER_TIME_S * 1000u);
	DEF(rekey_after_messages, RW_REKEY_AFTER_MESSAGES);
	DEF(rekey_drain_ms, 10000);
	DEF(handshake_retry_ms, 1000);
	DEF(handshake_attempts, 10);
	DEF(cookie_rotation_ms, RW_COOKIE_ROTATION_S * 1000u);
	DEF(fragment_timeout_ms, 2 * RW_KEEPALIVE_INTERVAL_S * 1000u);
	DEF(ack_delay_ms, RW_DEFAULT_ACK_DELAY_MS);
	DEF(pmtu_raise_ms, RW_PMTU_RAISE_MS);
#undef DEF
}


/* Test hook: RW_TEST_SEND_BUFFERS sets the send buffers per reactor (a full send ring on demand). */
static unsigned send_buffers(const struct rw_engine_config *cfg)
{
	const char *v = getenv("RW_TEST_SEND_BUFFERS");
	long n = v ? strtol(v, NULL, 10) : 0;

	if (n > 0)
		return (unsigned)n;
	return cfg->send_buffers ? cfg->send_buffers : RW_DEFAULT_SEND_BUFFERS;
}

int rw__engine_init(struct rw_engine *e, const struct rw_engine_config *cfg, char *err, size_t errlen)
{
	struct rw_reactor_config rc = { 0 };
	struct rw_peer_addr listen;
	char host[RW_HOST_MAX + 1];
	uint16_t port;
	int ret;

	ret = rw_selftest(err, errlen);
	if (ret)
		return ret;
	e->server = cfg->server;
	e->quiet = cfg->quiet;
	e->stop_fd = -1;
	e->timer_fns = &rw__session_timer_fns;
	e->hs_resp_run = rw__handshake_resp_run;
	resolve_timers(&e->t, cfg->timers);
	e->max_packet = cfg->max_packet ? cfg->max_packet : RW_DEFAULT_MAX_PACKET;
	if (e->max_packet < 128 || e->max_packet > 9000)
		return rw__errf(err, errlen, -EINVAL, "max_packet %u is out of range 128..9000", e->max_packet);
	if (cfg->max_packet_size && (cfg->max_packet_size < e->max_packet || cfg->max_packet_size > RW_PMTU_MAX_DATAGRAM))
		return rw__errf(err, errlen, -EINVAL,
				"max_packet_size %u is out of range %u..%u (max_packet..65000; max_packet turns path MTU "
				"discovery off)",
				cfg->max_packet_size, e->max_packet, (unsigned)RW_PMTU_MAX_DATAGRAM);
	e->max_sessions = cfg->max_sessions ? cfg->max_sessions : RW_DEFAULT_MAX_SESSIONS;
	e->max_incomplete = cfg->max_incomplete ? cfg->max_incomplete : RW_DEFAULT_MAX_INCOMPLETE_FRAMES;
	e->max_frame_bytes = cfg->max_frame_bytes ? cfg->max_frame_bytes : RW_DEFAULT_MAX_FRAME_BYTES;
	e->reconnect = true;

	ret = rw_hostport_parse(cfg->listen, host, &port, err, errlen);
	if (ret)
		return ret;
	if (rw__resolve_now(host, port, true, &listen))
		return rw__errf(err, errlen, -EHOSTUNREACH, "cannot resolve listen address \"%s\"", cfg->listen);
	rw__udp_listen_on(&rc, &listen);
	snprintf(e->host, sizeof(e->host), "%s", host[0] ? host : "0.0.0.0");
	if (rw__random(e->cookie_master, sizeof(e->cookie_master)))
		return rw__errf(err, errlen, -EIO, "no randomness available");
	ret = rw__peers_init(&e->peers, e->max_sessions);
	if (ret)
		return rw__errf(err, errlen, ret, "out of memory for the peer table");
	ret = rw__resolver_init(&e->resolver);
	if (ret) {
		rw__peers_destroy(&e->peers);
		return rw__errf(err, errlen, ret, "cannot set up the resolver");
	}

	rc.n_reactors = cfg->reactors;
	/*
	 * Buffers of max_packet are many; datagrams above it (a session grown by
	 * path MTU discovery, a GRO super-datagram) use the reactor's pools of
	 * large buffers, up to max_datagram.
	 */
	rc.buf_size = e->max_packet + 64 > 2048 ? (e->max_packet + 64 + 1023) / 1024 * 1024 : 2048;
	rc.send_buf_count = send_buffers(cfg);
	rc.buf_count = 2048;
	rc.handoff_slots = 1024;
	rc.ops = (struct rw_reactor_ops){
		.on_datagram = on_datagram,
		.on_handoff = on_datagram,	/* the owner handles it like its own */
		.on_batch_end = on_batch_end,
		.on_command = on_command,
		.on_start = on_start,
		.on_stop = on_stop,
		.on_send_error = on_send_error,
		.on_ext = on_ext,
	};
	rc.user = e;
	{
		/* a client binding a fixed port must not join a server's reuseport group either */
		char who[128];

		ret = rw__port_claim_check((const struct sockaddr *)&rc.listen, rc.listen_len, who, sizeof(who));
		if (ret == -EADDRINUSE) {
			rw__resolver_destroy(&e->resolver);
			rw__peers_destroy(&e->peers);
			return rw__errf(err, errlen, ret, "port %u/udp is already in use by %s; %s", port, who,
					cfg->server ? "stop it or listen on another port" : "bind another port (or port 0)");
		}
	}
	ret = rw__reactor_group_create(&e->group, &rc);
	if (ret) {
		rw__resolver_destroy(&e->resolver);
		rw__peers_destroy(&e->peers);
		return rw__errf(err, errlen, ret, "cannot listen on %s: %s", cfg->listen, strerror(-ret));
	}
	e->nshards = rw__reactor_count(e->group);
	if (e->nshards > RW_MAX_REACTORS) {
		rw__reactor_group_destroy(e->group);
		rw__resolver_destroy(&e->resolver);
		rw__peers_destroy(&e->peers);
		return rw__errf(err, errlen, -EINVAL, "at most %d reactors", RW_MAX_REACTORS);
	}
	while ((1u << e->shard_bits) < e->nshards)
		e->shard_bits++;
	{
		/* §17: every reactor also listens on TCP (SO_REUSEPORT spreads the connections) */
		int fds[RW_MAX_REACTORS];
		struct rw_tcp_config tc = {
			.max_conns = cfg->tcp_max_conns,
			.stall_ms = cfg->tcp_stall_ms,
			/* sessions keep a connection busy (keepalives): a silent one has none left */
			.idle_ms = e->t.session_timeout_ms + e->t.keepalive_ms,
		};

		for (unsigned i = 0; i < e->nshards; i++)
			fds[i] = -1;
		if (cfg->listen_tcp) {
			struct rw_peer_addr tl;
			char thost[RW_HOST_MAX + 1];
			uint16_t tport;

			ret = rw_hostport_parse(cfg->listen_tcp, thost, &tport, err, errlen);
			if (!ret && rw__resolve_now(thost, tport, true, &tl))
				ret = rw__errf(err, errlen, -EHOSTUNREACH, "cannot resolve TCP listen address \"%s\"",
					       cfg->listen_tcp);
			if (!ret) {
				ret = rw__tcp_listen(&tl, e->nshards, fds, &e->tcp_port);
				if (ret)
					rw__errf(err, errlen, ret, "cannot listen on %s/tcp: %s%s", cfg->listen_tcp,
						 strerror(-ret),
						 ret == -EADDRINUSE ? "; stop what uses it or pick another port" : "");
			}
			if (ret) {
				rw__reactor_group_destroy(e->group);
				e->group = NULL;
				rw__resolver_destroy(&e->resolver);
				rw__peers_destroy(&e->peers);
				return ret;
			}
			snprintf(e->tcp_host, sizeof(e->tcp_host), "%s", thost[0] ? thost : "0.0.0.0");
		}
		for (unsigned i = 0; i < e->nshards; i++) {
			struct rw_shard *sh = &e->shards[i];

			ret = rw__tcp_init(&sh->tcp, rw__reactor_get(e->group, i), fds[i], &tc, on_tcp_packet, sh);
			sh->tcp.t.on_peer_gone = rw__shard_peer_gone;
			sh->tcp.t.on_send_error = rw__shard_send_failed;
			if (ret) {
				for (unsigned j = i; j < e->nshards; j++)
					if (fds[j] >= 0)
						close(fds[j]);
				rw__engine_destroy(e);
				return rw__errf(err, errlen, ret, "out of memory");
			}
		}
	}
	for (unsigned i = 0; i < e->nshards; i++) {
		struct rw_shard *sh = &e->shards[i];

		sh->e = e;
		sh->id = i;
		sh->r = rw__reactor_get(e->group, i);
		sh->wheel = rw__reactor_timers(sh->r);
		rw__udp_init(&sh->udp, sh->r, rw__recv_datagram, sh);
		sh->udp.t.on_send_error = rw__shard_send_failed;
		sh->tr = &sh->udp.t;
		ret = rw__send_shard_init(sh);
		if (!ret)
			ret = rw__index_init(sh, e->max_sessions / e->nshards + 1);
		if (!ret)
			ret = rw__ratelimit_init(&sh->limiter, 8192, RW_DEFAULT_SOURCE_RATE, RW_DEFAULT_SOURCE_BURST);
		if (ret) {
			rw__engine_destroy(e);
			return rw__errf(err, errlen, ret, "out of memory");
		}
	}
	{
		/* path MTU discovery: from max_packet up to what this side and its transport carry */
		size_t tmax = e->shards[0].tr->max_datagram;
		uint32_t cap = cfg->max_packet_size ? cfg->max_packet_size : RW_PMTU_MAX_DATAGRAM;

		if (cap > tmax)
			cap = (uint32_t)tmax;
		if (cap < e->max_packet)
			cap = e->max_packet;
		e->pmtu = (struct rw_pmtu_cfg){
			.base = e->max_packet,
			.cap = cap,
			.raise_ms = e->t.pmtu_raise_ms,
			.confirm_ms = RW_PMTU_CONFIRM_MS,
		};
		e->pmtu_rx_max = cap;
	}
	e->port = rw__udp_local_port(e->group);
	e->stop_fd = eventfd(0, EFD_CLOEXEC);
	return 0;
}

/*
 * Set the per-source limiter once the server config is known (engine_init
 * runs first). Each reactor gets the whole rate, as it gets the whole
 * load_handshakes_per_s: SO_REUSEPORT sends all of one source port to one
 * reactor, so a client retrying from its port only ever sees one bucket.
 * Dividing the rate by the reactor count left it 1/s, burst 1, on hosts
 * with 20 or more CPUs.
 */
int rw__engine_set_limits(struct rw_engine *e)
{
	int ret;

	/*
	 * Room for the half-open pool beside the sessions: in the peer table
	 * (every answered key is bound there) and in each shard's index tables.
	 * Nothing runs yet, so the tables are simply made anew.
	 */
	rw__peers_destroy(&e->peers);
	ret = rw__peers_init(&e->peers, e->max_sessions + e->max_half_open * e->nshards);
	if (ret)
		return ret;
	for (unsigned i = 0; i < e->nshards; i++) {
		struct rw_shard *sh = &e->shards[i];

		rw__index_free(sh);
		ret = rw__index_init(sh, e->max_sessions / e->nshards + 1 + e->max_half_open);
		if (ret)
			return ret;
	}
	for (unsigned i = 0; i < e->nshards; i++) {
		struct rw_shard *sh = &e->shards[i];

		rw__ratelimit_destroy(&sh->limiter);
		ret = rw__ratelimit_init(&sh->limiter, 8192, e->source_rate, e->source_burst);
		if (ret)
			return ret;
	}
	return 0;
}

int rw__engine_on(struct rw_engine *e, int channel, const struct rw_handler *h)
{
	if (atomic_load(&e->started))
		return -EBUSY;
	if (!h)
		return -EINVAL;
	if (channel == RW_CHANNEL_ANY) {
		e->any = *h;
		e->has_any = true;
		return 0;
	}
	if (channel < 0 || channel >= RW_CHANNEL_INTERNAL)
		return -EINVAL;
	e->handlers[channel] = *h;
	e->has_handler[channel] = true;
	return 0;
}

int rw__engine_start(struct rw_engine *e)
{
	bool no = false;

	if (!atomic_compare_exchange_strong(&e->started, &no, true))
		return -EALREADY;
	return rw__reactor_group_start(e->group);
}

int rw__engine_stop(struct rw_engine *e)
{
	uint64_t one = 1;

	atomic_store(&e->stopping, true);
	if (e->stop_fd >= 0 && write(e->stop_fd, &one, sizeof(one)) < 0) {
		/* the counter is saturated: a stop is already pending */
	}
	return e->group ? rw__reactor_group_stop(e->group) : 0;
}

int rw__engine_wait(struct rw_engine *e)
{
	return e->group ? rw__reactor_group_join(e->group) : 0;
}

void rw__engine_destroy(struct rw_engine *e)
{
	/* first: their threads may still post to a reactor */
	rw__resolver_destroy(&e->resolver);
	for (unsigned i = 0; i < e->nshards; i++)
		if (e->shards[i].nw)
			rw__nw_stop(e->shards[i].nw);
	if (e->group) {
		rw__reactor_group_destroy(e->group);
		e->group = NULL;
	}
	for (unsigned i = 0; i < e->nshards; i++) {
		struct rw_shard *sh = &e->shards[i];

		/* sessions still there (never started): free them quietly */
		while (sh->sessions) {
			struct rw_session *s = sh->sessions;

			s->opened = false;
			s->initiator = false;
			e->has_any = false;
			memset(e->has_handler, 0, sizeof(e->has_handler));
			rw__session_close(s, RW_CLOSE_SHUTDOWN, RW_CLOSE_F_BY_PEER, NULL);
		}
		rw__shard_reap(sh);
		rw__tcp_free(&sh->tcp);	/* after the ring: nothing of it is in flight any more */
		rw__reliable_pool_free(&sh->pool);
		rw__index_free(sh);
		rw__ratelimit_destroy(&sh->limiter);
		rw__send_shard_free(sh);
		if (sh->nw) {
			rw__nw_free(sh->nw);
			free(sh->nw);
			sh->nw = NULL;
		}
	}
	rw__peers_destroy(&e->peers);
	free(e->allowed);
	e->allowed = NULL;
	if (e->stop_fd >= 0)
		close(e->stop_fd);
	e->stop_fd = -1;
	rw__memzero(&e->id, sizeof(e->id));
	rw__memzero(e->cookie_master, sizeof(e->cookie_master));
}

void rw__engine_stats(const struct rw_engine *e, struct rw_stats *st)
{
	memset(st, 0, sizeof(*st));
	for (unsigned i = 0; i < e->nshards; i++) {
		const struct rw_shard *sh = &e->shards[i];
		struct rw_reactor_stats rs;
		struct rw_noise_worker *nw;

		rw__reactor_stats(sh->r, &rs);
		st->rx_packets += rs.rx_packets;
		st->rx_bytes += rs.rx_bytes;
		st->tx_packets += rs.tx_packets;
		st->tx_bytes += rs.tx_bytes;
		st->tx_errors += rs.tx_errors + __atomic_load_n(&sh->udp.t.tx_errors, __ATOMIC_RELAXED);
		st->handoffs += rs.handoffs_out;
		st->handshakes_completed += RW_STAT_GET(sh->st.handshakes_completed);
		st->handshakes_initiated += RW_STAT_GET(sh->st.handshakes_initiated);
		nw = __atomic_load_n(&sh->nw, __ATOMIC_ACQUIRE);
		if (nw) {
			st->handshakes_queued += RW_STAT_GET(nw->out);
			st->handshakes_inline += RW_STAT_GET(nw->behind);
		}
		st->cookies_sent += RW_STAT_GET(sh->st.cookies_sent);
		st->rekeys += RW_STAT_GET(sh->st.rekeys);
		st->sessions_open += RW_STAT_GET(sh->st.sessions_open);
		st->sessions_opened += RW_STAT_GET(sh->st.sessions_opened);
		st->sessions_closed += RW_STAT_GET(sh->st.sessions_closed);
		st->events_in += RW_STAT_GET(sh->st.events_in);
		st->events_out += RW_STAT_GET(sh->st.events_out);
		st->retransmits += RW_STAT_GET(sh->st.retransmits);
		st->spurious_retransmits += RW_STAT_GET(sh->st.spurious_retransmits);
		st->half_open += RW_STAT_GET(sh->nhalf_open);
		st->half_open_evicted += RW_STAT_GET(sh->half_open_evicted);
		st->half_open_expired += RW_STAT_GET(sh->half_open_expired);
		st->pmtu_black_holes += RW_STAT_GET(sh->pmtu_black_holes);
		st->tx_padding_bytes += RW_STAT_GET(sh->st.tx_padding_bytes);
		st->cover_packets += RW_STAT_GET(sh->st.cover_packets);
		for (int d = 0; d < RW_DROP__COUNT; d++)
			st->drops[d] += RW_STAT_GET(sh->st.drops[d]);
		st->drops[RW_DROP_NO_BUFFER] += rs.rx_nobufs + rs.handoff_full;
		/* larger than any v1 packet we accept: the kernel truncated it */
		st->drops[RW_DROP_BAD_SIZE] += rs.rx_truncated;
		st->kernel_drops += rs.rx_kernel_drops;
		{
			const struct rw_tcp_stats *ts = &sh->tcp.st;

			st->rx_packets += RW_STAT_GET(ts->rx_packets);
			st->rx_bytes += RW_STAT_GET(ts->rx_bytes);
			st->tx_packets += RW_STAT_GET(ts->tx_packets);
			st->tx_bytes += RW_STAT_GET(ts->tx_bytes);
			st->tcp_connections += RW_STAT_GET(ts->open);
			st->tcp_accepted += RW_STAT_GET(ts->accepted);
			st->tcp_connected += RW_STAT_GET(ts->connected);
			st->tcp_refused += RW_STAT_GET(ts->refused);
			st->tcp_closed_framing += RW_STAT_GET(ts->closed_framing);
			st->tcp_closed_timeout += RW_STAT_GET(ts->closed_timeout);
			st->tcp_closed_peer += RW_STAT_GET(ts->closed_peer);
			st->tcp_queue_full += RW_STAT_GET(ts->queue_full);
			st->drops[RW_DROP_BAD_LENGTH] += RW_STAT_GET(ts->closed_framing);
		}
	}
}

void rw__engine_send_stats(const struct rw_engine *e, struct rw_send_stats *st)
{
	memset(st, 0, sizeof(*st));
	for (unsigned i = 0; i < e->nshards; i++) {
		struct rw_send_stats one;

		rw__send_stats(&e->shards[i], &one);
		st->parked += one.parked;
		st->resumed += one.resumed;
		st->paced += one.paced;
	}
}

int rw__engine_send(struct rw_engine *e, uint64_t id, uint8_t channel, uint8_t type, const void *payload,
		    size_t len)
{
	struct rw_shard *sh = rw__shard_of_id(e, id);
	struct cmd_send *c;
	int ret;

	if (!sh)
		return -ENOENT;
	if (rw__current_shard == sh) {
		/* already on the owner thread: no copy, no queue */
		struct rw_session *s = rw__session_by_id(sh, id);

		return s ? rw__session_send_event(s, channel, type, payload, len) : -ENOENT;
	}
	if (len > e->max_frame_bytes)
		return -EMSGSIZE;
	c = malloc(sizeof(*c) + len);
	if (!c)
		return -ENOMEM;
	c->c.run = run_send;
	c->id = id;
	c->channel = channel;
	c->type = type;
	c->len = len;
	if (len)
		memcpy(c->payload, payload, len);
	ret = rw__shard_post(sh, &c->c);
	if (ret)
		free(c);
	return ret;
}

int rw__engine_broadcast(struct rw_engine *e, uint8_t channel, uint8_t type, const void *payload, size_t len)
{
	struct bcast *b;
	int ret = 0;

	if (len > e->max_frame_bytes)
		return -EMSGSIZE;
	b = malloc(sizeof(*b) + len);
	if (!b)
		return -ENOMEM;
	atomic_init(&b->refs, e->nshards);
	b->channel = channel;
	b->type = type;
	b->len = len;
	if (len)
		memcpy(b->payload, payload, len);
	for (unsigned i = 0; i < e->nshards; i++) {
		struct cmd_bcast *c;

		if (rw__current_shard == &e->shards[i]) {
			run_broadcast(&e->shards[i], b);
			continue;
		}
		c = malloc(sizeof(*c));
		if (c) {
			c->c.run = run_bcast;
			c->b = b;
			if (rw__shard_post(&e->shards[i], &c->c) == 0)
				continue;
			free(c);
		}
		ret = -ENOMEM;
		if (atomic_fetch_sub(&b->refs, 1) == 1)
			free(b);
	}
	return ret;
}

int rw__engine_dial(struct rw_engine *e, const char *uri, void *user, uint64_t *id_out, char *err, size_t errlen)
{
	struct cmd_dial *c;
	unsigned shard;
	int ret;

	c = calloc(1, sizeof(*c));
	if (!c)
		return rw__errf(err, errlen, -ENOMEM, "out of memory");
	c->c.run = run_dial;
	ret = rw_uri_parse(uri, &c->ep, err, errlen);
	if (ret)
		goto fail;
	/* the first address that resolves; a later one resolves when its turn comes (§16.3) */
	while (rw__resolve_now(c->ep.addrs[c->first].host, c->ep.addrs[c->first].port, false, &c->addr)) {
		if (++c->first == c->ep.naddrs) {
			ret = rw__errf(err, errlen, -EHOSTUNREACH, "cannot resolve host \"%s\"%s", c->ep.host,
				       c->ep.naddrs > 1 ? " (nor any other address of the URI)" : "");
			goto fail;
		}
	}
	{
		uint64_t seq = atomic_fetch_add(&e->dial_seq, 1) + 1;

		shard = (unsigned)(seq % e->nshards);
		/* dialled ids live in their own space (top bit) so the caller knows it now */
		c->id = (UINT64_C(1) << 63) | rw__id_make(seq, shard);
	}
	c->user = user;
	if (id_out)
		*id_out = c->id;
	ret = rw__shard_post(&e->shards[shard], &c->c);
	if (ret) {
		rw__errf(err, errlen, ret, "client is not running");
		goto fail;
	}
	return 0;
fail:
	free(c);
	return ret;
}
