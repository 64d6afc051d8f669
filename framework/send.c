/* SPDX-License-Identifier: MIT */
/*
 * send.c - THE send pipeline. Every datagram the engine sends passes here,
 * through these stages in this order and nowhere else:
 *
 *   coalesce   events of one channel share a frame, built in place inside a
 *              transport buffer until the end of the batch (or a frame on
 *              another channel) closes it; reliable frames are stamped and
 *              kept for retransmission as they close
 *   fragment   a frame larger than a packet is cut into fragments; a
 *              packet is as large as the session's path MTU (pmtu.h)
 *              allows: s->pmtu.size, max_packet until discovery grows it
 *   seal       header + AEAD in place, the counter drawn right here, so the
 *              counters leave in the order they were drawn; a padding policy
 *              (padding.h) first grows a Data packet's plaintext with a
 *              padding field. A fragmented frame is padded before it is cut,
 *              so that its last fragment reaches the policy's size
 *   pace       with a send rate, admission is decided just before the seal:
 *              a packet over the rate waits as plaintext in the pacer and is
 *              sealed when it leaves (its counter stays in order)
 *   batch      the packets of one call to one peer (the fragments of an
 *              event, a resumed run) go to the transport together
 *
 * Buffer ownership: a packet buffer is taken from the transport in take()
 * and leaves the pipeline through give() and nowhere else: to the batch (the
 * transport then owns it until its send completes) or, when it will not be
 * sent, straight back to the transport.
 *
 * No buffer free (every one in flight): the packet is sealed into a heap copy
 * and PARKED in the shard's FIFO; while anything is parked every new packet
 * parks behind it, so order holds. The end of each reactor batch (after the
 * completions that returned buffers) resumes the FIFO. Nothing blocks and
 * nothing is dropped; beyond RW_PARK_MAX_BYTES the application gets -EAGAIN
 * and later on_writable.
 *
 * Upward this file calls nobody by name: what a session must act on (a
 * reliable frame it could not keep, a rekey due) is flagged for session.c to
 * pick up (rw__send_attn_pop); the application hears on_writable through its
 * registered handler.
 */
#include "send.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "packet.h"
#include "padding.h"
#include "reliable.h"
#include "session.h"

/* A sealed datagram waiting for a send buffer. */
struct rw_parked {
	struct rw_parked *next;
	struct rw_peer_addr to;
	uint32_t len;
	_Alignas(16) uint8_t data[];	/* the datagram, as it will be sent */
};

/* Datagrams on their way to one peer. */
struct batch {
	struct rw_shard *sh;
	const struct rw_peer_addr *to;
	unsigned n;
	struct iovec iov[RW_SEND_BATCH];
};

static void batch_init(struct batch *b, struct rw_shard *sh, const struct rw_peer_addr *to)
{
	b->sh = sh;
	b->to = to;
	b->n = 0;
}

/* Hand the batch to the transport, which owns its buffers from here. */
static int batch_out(struct batch *b)
{
	int ret = 0;

	if (b->n)
		ret = rw__transport_send(rw__shard_transport(b->sh, b->to), b->to, b->iov, b->n);
	b->n = 0;
	return ret;
}

/* A transport buffer for a datagram of up to need bytes, or NULL. */
static uint8_t *take(struct rw_shard *sh, size_t need)
{
	return rw__transport_buf_get(sh->tr, need);
}

/* The one exit of a taken buffer: len > 0 joins the batch, anything else goes back unsent. */
static void give(struct rw_shard *sh, struct batch *b, uint8_t *buf, int len)
{
	if (len <= 0) {
		rw__transport_buf_put(sh->tr, buf);
		return;
	}
	b->iov[b->n].iov_base = buf;
	b->iov[b->n].iov_len = (size_t)len;
	if (++b->n == RW_SEND_BATCH)
		batch_out(b);
}

static bool parked(const struct rw_shard *sh)
{
	return sh->park_head != NULL;
}

/* ---- parking ------------------------------------------------------------------ */

/* A heap packet laid out like a transport buffer (plaintext at +16), or NULL. */
static struct rw_parked *park_alloc(size_t plain_len)
{
	return malloc(sizeof(struct rw_parked) + RW_DATA_OFF_PAYLOAD + plain_len + RW_TAG_LEN);
}

static void park_push(struct rw_shard *sh, struct rw_parked *p, const struct rw_peer_addr *to, size_t len)
{
	p->next = NULL;
	p->to = *to;
	p->len = (uint32_t)len;
	*sh->park_tail = p;
	sh->park_tail = &p->next;
	sh->park_bytes += len;
	RW_STAT_INC(sh->sst.parked);
}

static void notify_writable(struct rw_session *s)
{
	for (int ch = 0; ch < RW_MAX_CHANNELS && s->state == RW_SS_ESTABLISHED; ch++) {
		const struct rw_handler *h;

		if (!(s->tx.blocked[ch >> 6] >> (ch & 63) & 1))
			continue;
		s->tx.blocked[ch >> 6] &= ~(UINT64_C(1) << (ch & 63));
		h = rw__engine_handler(s->e, (uint8_t)ch);
		if (h && h->on_writable)
			h->on_writable(s, (uint8_t)ch, h->user);
	}
}

static void unlink_waiting(struct rw_session *s)
{
	struct rw_session **pp = &s->sh->waiting;

	if (!s->tx.waiting)
		return;
	while (*pp && *pp != s)
		pp = &(*pp)->tx.waiting_next;
	if (*pp)
		*pp = s->tx.waiting_next;
	s->tx.waiting = false;
}

/* Send the parked FIFO while buffers last; consecutive packets to one peer go as one batch. */
static void resume(struct rw_shard *sh)
{
	struct rw_peer_addr to = { 0 };	/* set before the first packet joins the batch */
	struct batch b;

	batch_init(&b, sh, &to);
	while (sh->park_head) {
		struct rw_parked *p = sh->park_head;
		uint8_t *buf;

		if (b.n && !rw__peer_eq(&to, &p->to))
			batch_out(&b);
		buf = take(sh, p->len);
		if (!buf)
			break;
		to = p->to;	/* the batch is empty or already bound for this very peer */
		memcpy(buf, p->data, p->len);
		sh->park_head = p->next;
		if (!sh->park_head)
			sh->park_tail = &sh->park_head;
		sh->park_bytes -= p->len;
		RW_STAT_INC(sh->sst.resumed);
		give(sh, &b, buf, (int)p->len);
		free(p);
	}
	batch_out(&b);
	/* room again: the sessions told -EAGAIN hear so */
	if (sh->waiting && sh->park_bytes < RW_PARK_MAX_BYTES / 2) {
		while (sh->waiting) {
			struct rw_session *s = sh->waiting;

			sh->waiting = s->tx.waiting_next;
			s->tx.waiting = false;
			notify_writable(s);
		}
	}
}

/* ---- seal, pace, batch ---------------------------------------------------------- */

/* The largest datagram this session builds now: its path's, or the fixed padding size below it. */
static uint32_t pkt_size(const struct rw_session *s)
{
	return rw__pad_packet_size(&s->e->pad, s->pmtu.cfg.base, s->pmtu.size);
}

/*
 * Padding (docs/protocol.md §13.7): grow the plaintext at +16 with a padding
 * field to the size the policy wants, at most cap bytes of datagram (the
 * buffer's). A Data packet is always at least 8 bytes short of its packet
 * size (the fragmentation threshold of §9.1 counts a fragment header it does
 * not have), so the size it is padded to is always reachable, never 1 byte
 * away.
 */
static size_t pad(struct rw_session *s, uint8_t *buf, size_t plain_len, size_t cap)
{
	size_t size = pkt_size(s), dgram = RW_SIZE_DATA_MIN + plain_len, t, n;

	if (cap > size)
		cap = size;
	t = rw__pad_target(&s->e->pad, s, dgram, cap);
	if (t < dgram + RW_PAD_FIELD_MIN)
		return plain_len;
	n = t - dgram;
	rw__pad_write(buf + RW_DATA_OFF_PAYLOAD + plain_len, n);
	s->st.tx_padding_bytes += n;
	RW_STAT_ADD(s->sh->st.tx_padding_bytes, n);
	return plain_len + n;
}

static void flag(struct rw_session *s)
{
	if (!s->tx.attn) {
		s->tx.attn = true;
		s->tx.attn_next = s->sh->attn;
		s->sh->attn = s;
	}
}

/*
 * buf (a transport buffer, or a parked packet's data) holds plain_len bytes
 * of plaintext at +16. Pad (pad_cap: the datagram buf holds; 0: no padding),
 * pace, then seal in place under the current keys. Returns the datagram
 * length, 0 when the pacer took it, or -errno.
 */
static int seal(struct rw_session *s, uint8_t *buf, uint8_t type, size_t plain_len, size_t pad_cap)
{
	struct rw_keypair *kp = s->cur;
	struct rw_shard *sh = s->sh;
	int n;

	if (rw_unlikely(!kp || !kp->ready))
		return -ENOTCONN;
	if (rw_unlikely(kp->tx_counter >= UINT64_MAX - RW_COUNTER_LIMIT_MARGIN))
		return -EKEYEXPIRED;
	/* a paced packet was padded when it was first admitted */
	if (rw_unlikely(pad_cap) && type == RW_MSG_DATA && !s->tx.pacing)
		plain_len = pad(s, buf, plain_len, pad_cap);
	if (rw_unlikely(s->tx.pacer.rate) && !s->tx.pacing && (type == RW_MSG_DATA || type == RW_MSG_DATA_FRAGMENT) &&
	    !rw__pacer_admit(&s->tx.pacer, plain_len + RW_SIZE_DATA_MIN, rw__now_ms(sh))) {
		/* over the rate: wait as plaintext, sealed when it leaves (counters stay in order) */
		n = rw__pacer_enqueue(&s->tx.pacer, type, buf + RW_DATA_OFF_PAYLOAD, plain_len,
				      plain_len + RW_SIZE_DATA_MIN);
		if (n)
			return n;
		RW_STAT_INC(sh->sst.paced);
		if (!rw__timer_pending(&s->t_pace))
			rw__timer_add(sh->wheel, &s->t_pace,
				      rw__now_ms(sh) + rw__pacer_wait_ms(&s->tx.pacer, rw__now_ms(sh)));
		return 0;
	}
	if (rw_unlikely(s->e->pad.policy != RW_PAD_NONE) && rw__pad_tap && type != RW_MSG_KEEPALIVE &&
	    type != RW_MSG_DISCONNECT)
		rw__pad_tap(type, buf + RW_DATA_OFF_PAYLOAD, plain_len);
	n = rw__packet_seal(&kp->tx, buf, type, kp->remote_index, kp->tx_counter++, plain_len);
	if (n < 0)
		return n;
	rw__pmtu_sent(&s->pmtu, (size_t)n);
	s->last_tx_ms = rw__now_ms(sh);
	s->st.tx_packets++;
	s->st.tx_bytes += plain_len;
	if (rw_unlikely(kp->tx_counter >= s->e->t.rekey_after_messages) && s->initiator && !s->hs_kp) {
		s->tx.rekey_due = true;
		flag(s);
	}
	return n;
}

/* Seal a buffer we hold and put it in the batch (or give it back). */
static int seal_out(struct rw_session *s, struct batch *b, uint8_t *buf, uint8_t type, size_t plain_len,
		    size_t pad_cap)
{
	int n = seal(s, buf, type, plain_len, pad_cap);

	give(s->sh, b, buf, n);
	return n < 0 ? n : 0;
}

/*
 * One packet of a session whose plaintext write() puts at out (max_plain
 * bytes at most): into a transport buffer, or parked when none is free (or
 * others wait already).
 */
typedef int (*write_fn)(void *ctx, uint8_t *out, size_t cap);

static int packet_out(struct rw_session *s, struct batch *b, uint8_t type, size_t max_plain, write_fn write,
		      void *ctx)
{
	struct rw_shard *sh = s->sh;
	size_t need = RW_SIZE_DATA_MIN + max_plain, pad_cap = 0;
	uint8_t *buf;
	struct rw_parked *p;
	int n;

	if (rw_unlikely(rw__pad_on(&s->e->pad)) && type == RW_MSG_DATA && !s->tx.pacing) {
		/*
		 * Room for the padding. A Data packet's plaintext is written whole
		 * here (write_copy), so a built-in policy's size is known now: a
		 * small packet padded to a multiple takes a small buffer, not one of
		 * the few of the packet size. The callback is asked only once, in seal.
		 */
		size_t size = pkt_size(s);

		if (s->e->pad.policy != RW_PAD_CALLBACK)
			size = rw__pad_target(&s->e->pad, s, need, size);
		if (size > need)
			need = size;
		pad_cap = need;
	}
	buf = parked(sh) ? NULL : take(sh, need);
	if (rw_likely(buf)) {
		n = write(ctx, buf + RW_DATA_OFF_PAYLOAD, max_plain);
		if (n < 0) {
			give(sh, b, buf, 0);
			return n;
		}
		return seal_out(s, b, buf, type, (size_t)n, pad_cap);
	}
	/* every buffer in flight: seal into a heap copy and park it */
	p = park_alloc(need - RW_SIZE_DATA_MIN);
	if (!p)
		return -ENOMEM;
	n = write(ctx, p->data + RW_DATA_OFF_PAYLOAD, max_plain);
	if (n >= 0)
		n = seal(s, p->data, type, (size_t)n, pad_cap);
	if (n <= 0) {
		free(p);
		return n;
	}
	park_push(sh, p, &s->peer, (size_t)n);
	return 0;
}

struct copy_ctx {
	const uint8_t *src;
	size_t len;
};

static int write_copy(void *ctx, uint8_t *out, size_t cap)
{
	struct copy_ctx *c = ctx;

	if (c->len > cap)
		return -EMSGSIZE;
	if (c->len)
		memcpy(out, c->src, c->len);
	return (int)c->len;
}

struct frag_ctx {
	const struct rw_frag_plan *plan;
	const uint8_t *frame;
	size_t frame_len;	/* the frame's own bytes; the plan may count padding after them */
	size_t pad;		/* bytes of the padding field that follows the frame (0: none) */
	struct rw_session *s;
	uint32_t frame_id;
	unsigned index;
};

static int write_frag(void *ctx, uint8_t *out, size_t cap)
{
	struct frag_ctx *c = ctx;
	size_t n, off, own;

	if (rw_likely(!c->pad))
		return rw__frag_write(c->plan, c->frame, c->frame_id, c->index, out, cap);
	/* the frame, then its padding field, cut as if they were one frame */
	n = rw__frag_chunk_len(c->plan, c->index);
	if (!n)
		return -EINVAL;
	if (cap < RW_FRAG_OFF_DATA || cap - RW_FRAG_OFF_DATA < n)
		return -ENOSPC;
	rw__frag_put_header(out, c->frame_id, (uint16_t)c->index, (uint16_t)c->plan->count);
	off = (size_t)c->index * c->plan->chunk;
	own = off >= c->frame_len ? 0 : c->frame_len - off < n ? c->frame_len - off : n;
	memcpy(out + RW_FRAG_OFF_DATA, c->frame + off, own);
	if (own < n) {
		rw__pad_write_part(out + RW_FRAG_OFF_DATA + own, c->pad, off + own - c->frame_len, n - own);
		c->s->st.tx_padding_bytes += n - own;
		RW_STAT_ADD(c->s->sh->st.tx_padding_bytes, n - own);
	}
	return (int)(RW_FRAG_OFF_DATA + n);
}

/*
 * A fragmented frame is padded at its end, before it is cut: only the last
 * fragment is short (the others are exactly the packet size), and padding
 * appended to the frame is what lands in it (the receiver joins the chunks,
 * then skips the field like any padding). Returns the padding's length and
 * replans, or 0. One byte has no padding field: then the padding takes the
 * rest of this fragment and all of one more, both at the packet size.
 */
static size_t frag_pad(struct rw_session *s, struct rw_frag_plan *plan, size_t len, size_t size)
{
	size_t dgram = RW_SIZE_FRAGMENT_MIN + rw__frag_chunk_len(plan, plan->count - 1);
	size_t n = rw__pad_target(&s->e->pad, s, dgram, size) - dgram;
	struct rw_frag_plan np;

	if (n == 1)
		n = s->e->pad.policy == RW_PAD_CALLBACK ? 0 : plan->chunk + 1;
	/* the receiver's frame limit is assumed to be ours (the default is the same everywhere) */
	if (!n || len + n > s->e->max_frame_bytes || rw__frag_plan(&np, len + n, size))
		return 0;
	*plan = np;
	return n;
}

/* ---- fragment ------------------------------------------------------------------ */

int rw__send_frame(struct rw_session *s, const uint8_t *frame, size_t len)
{
	struct rw_frag_plan plan;
	struct batch b;
	size_t size = pkt_size(s);
	int ret;

	ret = rw__frag_plan(&plan, len, size);
	if (ret)
		return ret;
	batch_init(&b, s->sh, &s->peer);
	if (!plan.fragmented) {
		struct copy_ctx c = { frame, len };

		ret = packet_out(s, &b, RW_MSG_DATA, len, write_copy, &c);
	} else {
		struct frag_ctx c = { &plan, frame, len, 0, s, 0, 0 };

		if (rw_unlikely(rw__pad_on(&s->e->pad)))
			c.pad = frag_pad(s, &plan, len, size);
		c.frame_id = rw__frag_ids_next(&s->tx.frag_ids);

		for (; c.index < plan.count && !ret; c.index++)
			ret = packet_out(s, &b, RW_MSG_DATA_FRAGMENT, RW_SIZE_FRAGMENT_HEADER + plan.chunk, write_frag,
					 &c);
	}
	batch_out(&b);
	return ret;
}

int rw__send_control(struct rw_session *s, uint8_t type)
{
	struct copy_ctx c = { NULL, 0 };
	struct batch b;
	int ret;

	batch_init(&b, s->sh, &s->peer);
	ret = packet_out(s, &b, type, 0, write_copy, &c);
	batch_out(&b);
	return ret;
}

/*
 * An internal packet of exactly size bytes whose frame frame_len (n >= 0) or
 * an error (n < 0) says build() wrote: like a probe, never parked and never
 * ahead of parked data (one that cannot leave now is skipped).
 */
static int internal_out(struct rw_session *s, uint32_t size,
			int (*build)(struct rw_session *s, uint8_t *frame, uint32_t size, uint32_t arg), uint32_t arg)
{
	struct rw_shard *sh = s->sh;
	struct batch b;
	uint8_t *buf;
	int n;

	buf = parked(sh) ? NULL : take(sh, size);
	if (!buf)
		return -ENOBUFS;
	n = build(s, buf + RW_DATA_OFF_PAYLOAD, size, arg);
	if (n < 0) {
		give(sh, NULL, buf, 0);
		return n;
	}
	batch_init(&b, sh, &s->peer);
	n = seal_out(s, &b, buf, RW_MSG_DATA, (size_t)n, 0);	/* exactly its size: nothing to pad */
	batch_out(&b);
	return n;
}

static int probe_frame(struct rw_session *s, uint8_t *frame, uint32_t size, uint32_t id)
{
	return rw__pmtu_probe_frame(frame, size - RW_SIZE_DATA_MIN, id, size, s->e->pmtu_rx_max);
}

int rw__send_probe(struct rw_session *s, uint32_t size, uint32_t id)
{
	return internal_out(s, size, probe_frame, id);
}

static int cover_frame(struct rw_session *s, uint8_t *frame, uint32_t size, uint32_t arg)
{
	(void)s;
	(void)arg;
	return rw__pad_cover_frame(frame, size);
}

int rw__send_cover(struct rw_session *s)
{
	struct rw_shard *sh = s->sh;
	uint32_t size = pkt_size(s);
	int n = internal_out(s, size, cover_frame, 0);

	if (n == 0) {
		/* the whole frame but its channel byte is padding */
		s->st.cover_packets++;
		s->st.tx_padding_bytes += size - RW_SIZE_DATA_MIN - 1;
		RW_STAT_INC(sh->st.cover_packets);
		RW_STAT_ADD(sh->st.tx_padding_bytes, size - RW_SIZE_DATA_MIN - 1);
	}
	return n;
}

int rw__send_raw(struct rw_shard *sh, const uint8_t *data, size_t len, const struct rw_peer_addr *to)
{
	struct rw_parked *p;
	struct batch b;
	uint8_t *buf;

	if (len > sh->tr->max_datagram)
		return -EMSGSIZE;
	buf = parked(sh) ? NULL : take(sh, len);
	if (rw_likely(buf)) {
		batch_init(&b, sh, to);
		memcpy(buf, data, len);
		give(sh, &b, buf, (int)len);
		/* refused at once (a destination this socket cannot reach): the caller hears why */
		return batch_out(&b);
	}
	p = malloc(sizeof(*p) + len);
	if (!p)
		return -ENOMEM;
	memcpy(p->data, data, len);
	park_push(sh, p, to, len);
	return 0;
}

int rw__send_farewell(struct rw_shard *sh, const uint8_t key[RW_KEY_LEN], uint32_t remote_index, const uint8_t *frame,
		      size_t len, const struct rw_peer_addr *to)
{
	uint8_t pkt[128];
	struct rw_aead a = { 0 };
	int n, ret;

	if (len > sizeof(pkt) - RW_DATA_OFF_PAYLOAD - RW_TAG_LEN)
		return -EMSGSIZE;
	ret = rw__aead_init(&a, key, 1);
	if (ret) {
		rw__aead_free(&a);
		return ret;
	}
	memcpy(pkt + RW_DATA_OFF_PAYLOAD, frame, len);
	n = rw__packet_seal(&a, pkt, RW_MSG_DATA, remote_index, 0, len);
	if (n > 0)
		ret = rw__send_raw(sh, pkt, (size_t)n, to);
	n = rw__packet_seal(&a, pkt, RW_MSG_DISCONNECT, remote_index, 1, 0);
	if (n > 0)
		ret = rw__send_raw(sh, pkt, (size_t)n, to);
	rw__aead_free(&a);
	return n < 0 ? n : ret;
}

/* ---- coalesce ------------------------------------------------------------------- */

/* docs/protocol.md §9.1: a frame longer than this is fragmented (size: a datagram's) */
static size_t frame_cap(size_t size)
{
	return size - RW_SIZE_DATA_HEADER - RW_SIZE_FRAGMENT_HEADER - RW_TAG_LEN;
}

static void mark_dirty(struct rw_session *s)
{
	if (!s->tx.dirty) {
		s->tx.dirty = true;
		s->tx.dirty_next = s->sh->dirty;
		s->sh->dirty = s;
	}
}

static void doom(struct rw_session *s)
{
	s->tx.doomed = true;
	flag(s);
}

void rw__send_flush(struct rw_session *s)
{
	struct rw_frame_rel rel = { 0 };
	struct rw_reliable *r;
	struct batch b;
	uint8_t *buf = s->tx.buf;
	int n;

	if (!buf)
		return;
	r = s->rel[s->tx.channel];
	s->tx.buf = NULL;
	s->tx.channel = -1;
	if (r)
		rw__reliable_stamp(r, &rel);
	n = rw__frame_finish(&s->tx.fb, &rel);
	if (n > 0 && rel.seq && rw__reliable_sent(r, rel.seq, buf + RW_DATA_OFF_PAYLOAD, (size_t)n)) {
		doom(s);	/* a reliable frame we cannot keep: the channel is broken */
		n = -ENOMEM;
	}
	batch_init(&b, s->sh, &s->peer);
	if (n > 0)
		seal_out(s, &b, buf, RW_MSG_DATA, (size_t)n, rw__pad_on(&s->e->pad) ? s->tx.buf_size : 0);
	else
		give(s->sh, &b, buf, 0);
	batch_out(&b);
}

/* A frame too large for one packet (or no buffer to coalesce in): encode it whole, then send it. */
static int send_whole(struct rw_session *s, uint8_t channel, uint8_t type, const void *payload, size_t len)
{
	struct rw_shard *sh = s->sh;
	struct rw_reliable *r = s->rel[channel];
	struct rw_frame_builder b;
	struct rw_frame_rel rel = { 0 };
	size_t need = len + 32 + RW_FRAME_REL_MAX;
	uint8_t *frame;
	int n, ret;

	/* one scratch buffer per shard, grown to the largest frame sent: no allocation per event */
	if (need > sh->big_cap) {
		uint8_t *nb = realloc(sh->big, need);

		if (!nb)
			return -ENOMEM;
		sh->big = nb;
		sh->big_cap = need;
	}
	frame = sh->big;
	ret = rw__frame_begin(&b, frame, need, channel, r ? RW_FRAME_REL_MAX : 0);
	if (!ret)
		ret = rw__frame_add_event(&b, type, payload, len);
	if (ret)
		return ret;
	if (r)
		rw__reliable_stamp(r, &rel);
	n = rw__frame_finish(&b, &rel);
	if (n < 0)
		return n;
	if (rel.seq && rw__reliable_sent(r, rel.seq, frame, (size_t)n)) {
		doom(s);
		return -ENOMEM;
	}
	return rw__send_frame(s, frame, (size_t)n);
}

static int blocked(struct rw_session *s, uint8_t channel)
{
	s->tx.blocked[channel >> 6] |= UINT64_C(1) << (channel & 63);
	return -EAGAIN;
}

int rw__send_event(struct rw_session *s, uint8_t channel, uint8_t type, const void *payload, size_t len)
{
	struct rw_shard *sh = s->sh;
	size_t esz = rw__frame_event_size(len);
	struct rw_reliable *r = s->rel[channel];
	size_t need = 1 + esz + (r ? RW_FRAME_REL_MAX : 0), size = pkt_size(s);
	int ret;

	if (rw_unlikely(s->tx.pacer.rate) && rw__pacer_full(&s->tx.pacer))
		return blocked(s, channel);
	if (rw_unlikely(sh->park_bytes >= RW_PARK_MAX_BYTES)) {
		if (!s->tx.waiting) {
			s->tx.waiting = true;
			s->tx.waiting_next = sh->waiting;
			sh->waiting = s;
		}
		return blocked(s, channel);
	}
	/* 1. fits beside what is already queued on this channel (already admitted) */
	if (s->tx.buf && s->tx.channel == channel && rw__frame_add_event(&s->tx.fb, type, payload, len) == 0)
		goto counted;
	/* 2. a new frame: flush the open one first (order on the wire = order of calls) */
	if (s->tx.buf)
		rw__send_flush(s);
	if (s->tx.doomed)
		return -ENOTCONN;
	/*
	 * Admission after the flush: the frame just flushed took its window
	 * slot, and a frame sent beyond the window would carry a sequence
	 * number the sender cannot keep for retransmission.
	 */
	if (r && !rw__reliable_can_send(r, len))
		return -EAGAIN;
	s->st.events_out++;
	RW_STAT_INC(sh->st.events_out);
	/* too large to coalesce, or no buffer to coalesce in (or packets parked): send it now */
	if (need > frame_cap(size) || parked(sh))
		return send_whole(s, channel, type, payload, len);
	s->tx.buf = take(sh, size);
	if (!s->tx.buf && size > s->pmtu.cfg.base && need <= frame_cap(s->pmtu.cfg.base)) {
		/* no large buffer free: coalesce into a base-sized one */
		size = s->pmtu.cfg.base;
		s->tx.buf = take(sh, size);
	}
	if (!s->tx.buf)
		return send_whole(s, channel, type, payload, len);
	s->tx.buf_size = (uint32_t)size;
	ret = rw__frame_begin(&s->tx.fb, s->tx.buf + RW_DATA_OFF_PAYLOAD, frame_cap(size), channel,
			      r ? RW_FRAME_REL_MAX : 0);
	if (!ret)
		ret = rw__frame_add_event(&s->tx.fb, type, payload, len);
	if (ret) {
		give(sh, NULL, s->tx.buf, 0);
		s->tx.buf = NULL;
		return ret;
	}
	s->tx.channel = channel;
	mark_dirty(s);
	return 0;
counted:
	s->st.events_out++;
	RW_STAT_INC(sh->st.events_out);
	return 0;
}

/* ---- pace ------------------------------------------------------------------------ */

void rw__send_paced(struct rw_session *s, uint64_t now)
{
	struct rw_pacer_pkt *k;
	struct batch b;

	if (s->state != RW_SS_ESTABLISHED)
		return;
	batch_init(&b, s->sh, &s->peer);
	s->tx.pacing = true;
	while ((k = rw__pacer_pop(&s->tx.pacer, now))) {
		struct copy_ctx c = { k->plain, k->len };

		packet_out(s, &b, k->type, k->len, write_copy, &c);
		free(k);
	}
	batch_out(&b);
	s->tx.pacing = false;
	if (s->tx.pacer.head)
		rw__timer_add(s->sh->wheel, &s->t_pace, now + rw__pacer_wait_ms(&s->tx.pacer, now));
	/* room again: the channels that were told -EAGAIN hear so */
	if (!rw__pacer_full(&s->tx.pacer) && s->sh->park_bytes < RW_PARK_MAX_BYTES)
		notify_writable(s);
}

/* ---- per batch, per session, per shard ------------------------------------------------- */

void rw__send_batch_end(struct rw_shard *sh)
{
	/* parked packets first: they were sealed before anything still open */
	if (parked(sh))
		resume(sh);
	while (sh->dirty) {
		struct rw_session *s = sh->dirty;

		sh->dirty = s->tx.dirty_next;
		s->tx.dirty = false;
		rw__send_flush(s);
	}
	rw__transport_flush(sh->tr);
}

struct rw_session *rw__send_attn_pop(struct rw_shard *sh)
{
	struct rw_session *s = sh->attn;

	if (s) {
		sh->attn = s->tx.attn_next;
		s->tx.attn = false;
	}
	return s;
}

void rw__send_session_init(struct rw_session *s)
{
	s->tx.channel = -1;
	rw__frag_ids_init(&s->tx.frag_ids);
	rw__pacer_init(&s->tx.pacer, s->e->send_rate, rw__now_ms(s->sh));
}

static void unlink_from(struct rw_session **head, struct rw_session *s, size_t next_off)
{
	while (*head && *head != s)
		head = (struct rw_session **)(void *)((char *)*head + next_off);
	if (*head)
		*head = *(struct rw_session **)(void *)((char *)s + next_off);
}

void rw__send_session_stop(struct rw_session *s)
{
	struct rw_shard *sh = s->sh;

	if (s->tx.buf)
		give(sh, NULL, s->tx.buf, 0);
	s->tx.buf = NULL;
	s->tx.channel = -1;
	if (s->tx.dirty)
		unlink_from(&sh->dirty, s, offsetof(struct rw_session, tx.dirty_next));
	s->tx.dirty = false;
	if (s->tx.attn)
		unlink_from(&sh->attn, s, offsetof(struct rw_session, tx.attn_next));
	s->tx.attn = false;
	unlink_waiting(s);
	/* what is parked is sealed already: it still leaves (a close's Disconnect among it) */
}

void rw__send_session_free(struct rw_session *s)
{
	rw__pacer_destroy(&s->tx.pacer);
}

int rw__send_shard_init(struct rw_shard *sh)
{
	sh->park_head = NULL;
	sh->park_tail = &sh->park_head;
	sh->big_cap = 4096;
	sh->big = malloc(sh->big_cap);
	return sh->big ? 0 : -ENOMEM;
}

void rw__send_shard_free(struct rw_shard *sh)
{
	while (sh->park_head) {
		struct rw_parked *p = sh->park_head;

		sh->park_head = p->next;
		free(p);
	}
	sh->park_tail = &sh->park_head;
	sh->park_bytes = 0;
	free(sh->big);
	sh->big = NULL;
}

void rw__send_stats(const struct rw_shard *sh, struct rw_send_stats *st)
{
	st->parked = RW_STAT_GET(sh->sst.parked);
	st->resumed = RW_STAT_GET(sh->sst.resumed);
	st->paced = RW_STAT_GET(sh->sst.paced);
}
