/* SPDX-License-Identifier: MIT */
/*
 * timers.c - what happens when a session's timer fires, one named hook per
 * timer, in the manner of WireGuard's timers.c:
 *
 *   on_handshake_retry  the initiator's HandshakeInit got no answer: resend
 *                       (backing off), or give up
 *   on_keepalive        nothing sent for keepalive_ms: a Keepalive
 *   on_timeout          nothing received for session_timeout_ms: reconnect
 *                       (initiator) or close
 *   on_rekey            keys older than rekey_after_ms: a new handshake, at
 *                       the batch end
 *   on_drain            the previous keys stop decrypting
 *   on_frag             incomplete reassemblies expire
 *   on_tick             the application's on_tick
 *   on_pace             the pacer may send again
 *   on_pmtu             path MTU discovery: a probe due, or one timed out
 *   on_cover            padding: nothing sent for cover_interval_ms, a cover
 *                       packet (docs/protocol.md §13.7)
 *
 * Timers are lazy: the session arms them (rw__timer_add on the shard's wheel)
 * and a hook re-arms from last_rx/last_tx when it fires early. The engine
 * registers the table below; hooks call down into session.c and send.c.
 */
#include "timers.h"

#include "send.h"
#include "session.h"

static void arm(struct rw_session *s, struct rw_timer *t, uint64_t at)
{
	rw__timer_add(s->sh->wheel, t, at);
}

static void on_handshake_retry(struct rw_timer *t, uint64_t now)
{
	rw__session_handshake_retry(rw_container_of(t, struct rw_session, t_handshake), now);
}

static void on_keepalive(struct rw_timer *t, uint64_t now)
{
	struct rw_session *s = rw_container_of(t, struct rw_session, t_keepalive);
	uint64_t due = s->last_tx_ms + s->e->t.keepalive_ms;

	if (s->state != RW_SS_ESTABLISHED)
		return;
	if (now >= due) {
		rw__send_flush(s);
		rw__send_control(s, RW_MSG_KEEPALIVE);
		due = now + s->e->t.keepalive_ms;
	}
	arm(s, t, due);
}

static void on_timeout(struct rw_timer *t, uint64_t now)
{
	struct rw_session *s = rw_container_of(t, struct rw_session, t_timeout);
	uint64_t due = s->last_rx_ms + s->e->t.session_timeout_ms;

	if (s->half_open) {
		/* a responder's session nobody used: counted, closed */
		if (now < s->born_ms + s->e->half_open_timeout_ms)
			arm(s, t, s->born_ms + s->e->half_open_timeout_ms);
		else
			rw__half_open_expire(s);
		return;
	}
	if (rw_unlikely(s->orphan_ms)) {
		uint64_t gone = s->orphan_ms + s->sh->tcp.stall_ms;

		if (now >= gone) {
			rw__session_close(s, RW_CLOSE_NETWORK, RW_CLOSE_F_BY_PEER,
					  "its TCP connection closed and no other came");
			return;
		}
		if (gone < due)
			due = gone;
	}
	if (now < due) {
		arm(s, t, due);
		return;
	}
	if (s->initiator && s->e->reconnect && s->state == RW_SS_ESTABLISHED) {
		/* persistent connection: start over with a fresh handshake */
		arm(s, t, now + s->e->t.session_timeout_ms);
		rw__session_reconnect(s, now);
		return;
	}
	rw__session_close(s, RW_CLOSE_TIMEOUT, 0, "session timed out");
}

static void on_rekey(struct rw_timer *t, uint64_t now)
{
	struct rw_session *s = rw_container_of(t, struct rw_session, t_rekey);

	/* at the batch end, after the data (rw__session_rekeys_run) */
	rw__session_rekey_due(s);
	(void)now;
}

static void on_drain(struct rw_timer *t, uint64_t now)
{
	struct rw_session *s = rw_container_of(t, struct rw_session, t_drain);

	/* the drain window is over: the previous keys stop decrypting */
	rw__keypair_free(s->prev);
	s->prev = NULL;
	(void)now;
}

static void on_frag(struct rw_timer *t, uint64_t now)
{
	struct rw_session *s = rw_container_of(t, struct rw_session, t_frag);

	rw__reasm_expire(&s->reasm, now, s->e->t.fragment_timeout_ms);
	if (rw__reasm_pending(&s->reasm))
		arm(s, t, now + s->e->t.fragment_timeout_ms);
}

static void on_tick(struct rw_timer *t, uint64_t now)
{
	struct rw_session *s = rw_container_of(t, struct rw_session, t_tick);
	struct rw_engine *e = s->e;

	if (s->state != RW_SS_ESTABLISHED || !s->tick_ms)
		return;
	/*
	 * Re-arm from the time it really is, not the tick due: a reactor that
	 * ran late calls on_tick once, not once per missed interval.
	 */
	(void)now;
	arm(s, t, rw__now_ms(s->sh) + s->tick_ms);
	for (int ch = 0; ch < RW_MAX_CHANNELS && s->state == RW_SS_ESTABLISHED; ch++)
		if (e->has_handler[ch] && e->handlers[ch].on_tick)
			e->handlers[ch].on_tick(s, e->handlers[ch].user);
	if (s->state == RW_SS_ESTABLISHED && e->has_any && e->any.on_tick)
		e->any.on_tick(s, e->any.user);
}

static void on_pace(struct rw_timer *t, uint64_t now)
{
	rw__send_paced(rw_container_of(t, struct rw_session, t_pace), now);
}

static void on_pmtu(struct rw_timer *t, uint64_t now)
{
	rw__session_pmtu_run(rw_container_of(t, struct rw_session, t_pmtu), now);
}

/*
 * Lazy like the keepalive: real sends only move last_tx_ms, and the timer,
 * firing once per interval, sends a cover packet only if nothing left for
 * a whole interval. So cover traffic stops while real traffic flows, costs
 * no timer work per packet, and resumes an interval after the last send.
 */
static void on_cover(struct rw_timer *t, uint64_t now)
{
	struct rw_session *s = rw_container_of(t, struct rw_session, t_cover);
	uint32_t every = s->e->pad.cover_interval_ms;
	uint64_t due = s->last_tx_ms + every;

	if (s->state != RW_SS_ESTABLISHED || !every)
		return;
	if (now >= due) {
		/* not before the peer proved its address: no packets to an unconfirmed source */
		if (!s->half_open)
			rw__send_cover(s);
		due = now + every;
	}
	arm(s, t, due);
}

const struct rw_session_timer_fns rw__session_timer_fns = {
	.keepalive = on_keepalive,
	.timeout = on_timeout,
	.rekey = on_rekey,
	.handshake_retry = on_handshake_retry,
	.drain = on_drain,
	.frag = on_frag,
	.tick = on_tick,
	.pace = on_pace,
	.pmtu = on_pmtu,
	.cover = on_cover,
};
