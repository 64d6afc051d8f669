/* SPDX-License-Identifier: MIT */
/*
 * ringwire-load - a load generator for any wiresocket v1 server.
 *
 *   ringwire-load wire://wpub1...@127.0.0.1:9000 [--mode echo|oneway|connect] [options]
 *
 * It is built on the engine itself, through the public header only: one
 * rw_client with several reactors, every session dialled with a fresh key.
 * Each session paces its own sends from on_tick (and, in echo mode, from
 * on_event as echoes come back) on its reactor thread, so the hot path is
 * rw_session_send with no lock, no allocation and no cross-thread command.
 *
 * Counters live in one struct per reactor thread, written by that thread
 * only (relaxed atomics, so the main thread may read them for the progress
 * line); latency histograms are per thread too and merged once the threads
 * have stopped.
 *
 * Event payload: bytes 0-7 the little-endian sequence number of the event in
 * its session (and class, below), with the top bit set when it was sent in
 * the measured interval; bytes 8-15 the send time, CLOCK_MONOTONIC ns; then
 * filler. The receiver of an echo therefore knows whether it counts, its
 * round-trip time, and whether it is new, a duplicate or late, without any
 * shared state.
 *
 * Short events (echo mode, --size under 16): only the sequence number goes,
 * its low bytes in what the payload has (all of it from 8 bytes, nothing at
 * size 0). The sender never lets more than 2^(8 size) numbers be open
 * between the oldest unanswered one and the next, so an echo names exactly
 * one of them: the latest number sent with those low bits. Whether it was
 * measured comes from the sender's own record (the measured numbers of a
 * class are one run, [m0, m1)), and there is no send time: such runs count
 * events, bytes, loss and duplicates, and report no latency.
 *
 * Classes: the soak test mixes a reliable channel (1) and an unreliable one
 * (2), each with its own sequence space and accounting (class 0 and 1);
 * otherwise every channel is class 0.
 *
 * One-way mode counts at the receiver: by the sink convention of
 * ringwire-echo, a type-252 query is answered with the count and bytes of
 * the type-253 events the session sent. Each session asks when the measured
 * interval begins, pausing until the answer comes (so it counts exactly
 * what was sent before), and again after the drain; the difference is what
 * the server received in the measured interval.
 *
 * Timeline: dialling starts at 0; warm-up until --warmup (nothing counted);
 * the measured interval for --duration; then sending stops and a drain
 * period of at most 3 s lets answers arrive; then the client stops
 * gracefully (Disconnect to every session).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <ringwire.h>

#include "hgrm.h"

enum {
	EV_DATA = 1,		/* echo mode: any type a server echoes */
	EV_REPORT = 252,	/* sink convention: answered with count and bytes of EV_SINK */
	EV_SINK = 253,		/* sink convention: counted, not echoed */
	HDR = 16,
	MAX_SIZE = 1 << 20,
	MAX_SESSIONS = 100000,
	MAX_WINDOW = 65536,
	EXPIRE_MS = 1000,	/* echo: an unreliable event unanswered this long leaves the window */
	QUERY_RETRY_MS = 100,	/* oneway: re-ask for the sink count (the query may be dropped) */
	MIN_DRAIN_MS = 50,	/* a reactor mid-send when sending stops has finished by then */
	QUERY_AFTER_MS = 200,
	PROBE_MS = 20,		/* oneway, unlimited: how often each session asks for the sink's count */
	PROBE_LOST_MS = 200,	/* a probe unanswered this long counts as loss */	/* oneway: let events in flight land before the final count */
	DRAIN_MAX_MS = 3000,	/* whatever is not back by then is lost */
	SOAK_SESSIONS = 2000,
	SOAK_DURATION = 60,
	SOAK_RATE = 20000,
	SOAK_REKEY_MS = 2000,
	RSS_TOL_PCT = 20,	/* soak fails if RSS grew by more than both of these */
	RSS_TOL_MIB = 50,
	/*
	 * A default server turns "under load" above 2000 handshakes/s per
	 * reactor (counted in one-second windows, retries included) and then
	 * lets one source address through at 20/s: every session here comes
	 * from one address, so the default dial rate stays well under it.
	 */
	DEFAULT_CONNECT_RATE = 1500,
	DIAL_GRACE_S = 30,	/* default --dial-timeout: the dials' own time at --connect-rate, twice, and this */
};

#define MEAS_BIT (UINT64_C(1) << 63)
#define NS 1000000000ull

enum mode { M_ECHO, M_ONEWAY, M_CONNECT };
static const char *const mode_name[] = { "echo", "oneway", "connect" };

static struct {
	const char *uri;
	enum mode mode;
	unsigned sessions, reactors, channels, window;
	size_t size;
	double rate, connect_rate, duration, warmup, dial_timeout;
	long server_pid;
	unsigned rekey_ms, timeout_ms;
	const char *bind;
	enum rw_transport_kind transport;	/* --transport: udp (default), tcp, auto */
	const char *metrics;		/* --metrics HOST:PORT */
	const char *histogram;		/* --histogram FILE (.hgrm) */
	unsigned max_packet_size;	/* path MTU discovery's cap, 0: the library's default */
	struct rw_padding padding;	/* --pad, --pad-fixed */
	bool reliable, json, quiet, soak, keep;
	uint64_t seed;
} o;

/* ---- derived settings, fixed before the client starts ------------------------ */

/* Sessions over TCP: --transport tcp, or a wire+tcp:// URI. */
static bool over_tcp(void)
{
	return o.transport == RW_TRANSPORT_TCP || !strncasecmp(o.uri, "wire+tcp://", 11);
}

static unsigned ncls;		/* 2 in the soak (reliable + unreliable), else 1 */
static uint32_t ring, ring_mask;	/* echo: sequence window per class (bits, send times) */
/*
 * Echo: at most this many sequence numbers from the oldest unanswered to the
 * next; ring, or fewer for short events, whose echo names a number by its
 * low bits alone (see the top of the file).
 */
static uint32_t span;
static bool short_ev;		/* echo mode with --size under HDR: no send time, no measured bit */
static uint32_t tick_ms;
static unsigned run_len;	/* events sent on one channel before the next */
/*
 * Pacing: a token bucket per session, filled by wall-clock time (a late
 * reactor runs several ticks back to back, each told its own due time).
 * --rate: rate / sessions events per second each; unlimited oneway: a byte
 * budget per tick; unlimited echo: none, the window is the limit.
 */
static bool paced;
/*
 * Driven: a paced echo run (not the soak). Sessions have no tick of their
 * own; one session per reactor ticks every millisecond and sends every
 * event due by then, each to the next session of the reactor in turn, on a
 * fixed schedule of intended send times (rate / sessions for each session
 * up). The cost per event does not depend on the number of sessions, and
 * an event that leaves late (a stalled reactor, full windows) keeps its
 * intended time: latency from it is free of coordinated omission.
 */
static bool driven;
/* driven: events per ns for each session up, set when dialling ends (the main thread writes it once) */
static _Atomic double drive_per_ns;
static double tok_per_ns, tok_cap;
/*
 * Unlimited one-way: no fixed budget can be right (a 64-byte event and a
 * 64 KiB one, GSO or not, a grown path MTU or not, a sink on a busy core),
 * and unreliable channels have no feedback of their own. So every session
 * finds its rate as TCP does: it asks the sink for its count every PROBE_MS
 * (a tagged type-252 query), grows its rate while nothing is lost (x1.5
 * until the first loss, then +3 % a probe) and cuts it by 30 % when more
 * than 0.1 % of what it sent in the last interval did not arrive (or a probe
 * goes unanswered). Reliable channels are paced by the engine's window
 * and congestion control alone. A sink that answers without the tag (an
 * older one) gets the fixed budget of 256 KiB per millisecond per reactor.
 */
static bool adaptive;
static atomic_bool untagged_sink;
static double rate_min, rate_max, burst_cap;
static uint64_t t_start;
static char dial_uri[512];
static char peer[RW_HOST_MAX + 16];	/* the server's host:port, for messages */

/* The first dial that failed, and why: the one line printed when none connected. */
static pthread_mutex_t first_fail_lock = PTHREAD_MUTEX_INITIALIZER;
static bool first_fail_set;
static struct {
	enum rw_close_reason reason;
	bool by_peer;
	char message[RW_ERRBUF_SIZE];
} first_fail;

static bool cls_reliable(unsigned c)
{
	return o.soak ? c == 0 : o.reliable;
}

/* ---- phases -------------------------------------------------------------------- */

/*
 * P_DIAL: sessions are dialled and nothing is sent, so handshakes never
 * compete with events; it ends once every dial is resolved (open or failed)
 * or at --dial-timeout, and only then does the warm-up begin.
 */
enum phase { P_DIAL, P_WARMUP, P_MEASURE, P_DRAIN, P_QUERY, P_STOP };
static _Atomic int phase;
static volatile sig_atomic_t interrupted;

static int cur_phase(void)
{
	return atomic_load_explicit(&phase, memory_order_relaxed);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NS + (uint64_t)ts.tv_nsec;
}

/* Milliseconds since start: 32 bits are plenty for a bounded run. */
static uint32_t ms_of(uint64_t ns)
{
	return (uint32_t)((ns - t_start) / 1000000);
}

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

/* ---- latency histogram ------------------------------------------------------------- */

/*
 * HDR-style log-linear buckets over microseconds: 1 us wide up to 1024 us,
 * then 128 sub-buckets per power of two (under 0.8% relative width) up to
 * 2^27 us (134 s); beyond that the last bucket. 3200 counters, 25 KiB.
 */
enum {
	H_LINEAR = 1024,
	H_SUB_BITS = 7,
	H_SUB = 1 << H_SUB_BITS,
	H_TOP_EXP = 27,
	H_BUCKETS = H_LINEAR + (H_TOP_EXP - 10) * H_SUB,
};

struct hist {
	uint64_t n, max_ns;
	uint64_t b[H_BUCKETS];
};

static unsigned h_index(uint64_t us)
{
	unsigned e;

	if (us < H_LINEAR)
		return (unsigned)us;
	e = 63u - (unsigned)__builtin_clzll(us);
	if (e >= H_TOP_EXP)
		return H_BUCKETS - 1;
	return H_LINEAR + (e - 10) * H_SUB + (unsigned)((us >> (e - H_SUB_BITS)) & (H_SUB - 1));
}

/* [lo, hi) of bucket i, in microseconds */
static void h_range(unsigned i, double *lo, double *hi)
{
	unsigned k, e;
	uint64_t w;

	if (i < H_LINEAR) {
		*lo = i;
		*hi = i + 1;
		return;
	}
	k = i - H_LINEAR;
	e = 10 + k / H_SUB;
	w = UINT64_C(1) << (e - H_SUB_BITS);
	*lo = (double)((H_SUB + k % H_SUB) * w);
	*hi = *lo + (double)w;
}

static void hist_add(struct hist *h, uint64_t ns)
{
	h->b[h_index(ns / 1000)]++;
	h->n++;
	if (ns > h->max_ns)
		h->max_ns = ns;
}

static void hist_merge(struct hist *into, const struct hist *h)
{
	for (unsigned i = 0; i < H_BUCKETS; i++)
		into->b[i] += h->b[i];
	into->n += h->n;
	if (h->max_ns > into->max_ns)
		into->max_ns = h->max_ns;
}

/* The value at percentile pct, in us: the middle of its bucket, never above the maximum. */
static double hist_pct(const struct hist *h, double pct)
{
	double x = (double)h->n * pct / 100.0, lo, hi, v, max = (double)h->max_ns / 1000.0;
	uint64_t want = (uint64_t)x, acc = 0;

	if (!h->n)
		return 0;
	if ((double)want < x)
		want++;
	if (want < 1)
		want = 1;
	for (unsigned i = 0; i < H_BUCKETS; i++) {
		acc += h->b[i];
		if (acc >= want) {
			h_range(i, &lo, &hi);
			v = (lo + hi) / 2;
			return v < max ? v : max;
		}
	}
	return max;
}

/*
 * --histogram: h as HdrHistogram's .hgrm table (tools/hgrm.c), each bucket
 * read as its highest value (HdrHistogram's "highest equivalent value"),
 * the last one as the maximum; in ms. A message and -1 if it cannot be written.
 */
static int write_hgrm(const char *path, const struct hist *h)
{
	double *v = malloc(H_BUCKETS * sizeof(*v)), lo, hi, max = (double)h->max_ns / 1e6;
	uint64_t *n = malloc(H_BUCKETS * sizeof(*n));
	size_t k = 0;
	int ret = -ENOMEM;

	if (v && n) {
		for (unsigned i = 0; i < H_BUCKETS; i++) {
			if (!h->b[i])
				continue;
			h_range(i, &lo, &hi);
			v[k] = (hi - 1) / 1000.0 < max ? (hi - 1) / 1000.0 : max;
			n[k++] = h->b[i];
		}
		ret = hgrm_write(path, v, n, k);
	}
	free(v);
	free(n);
	if (ret == -ENODATA)
		fprintf(stderr, "ringwire-load: --histogram %s: no latency was measured (no echo came back)\n", path);
	else if (ret)
		fprintf(stderr, "ringwire-load: --histogram %s: %s\n", path, strerror(-ret));
	return ret ? -1 : 0;
}

/* ---- per-thread state ----------------------------------------------------------------- */

enum ctr {
	C_TX_EV, C_TX_BYTES,		/* events sent, any phase (progress line) */
	C_RX_EV, C_RX_BYTES,		/* echoes received, any phase (progress line) */
	C_SENT_M,			/* per class (+1 for class 1): sent in the measured interval */
	C_SENT_M1,
	C_RECV_M,			/* per class: first echo of a measured event */
	C_RECV_M1,
	C_DUP, C_DUP1,			/* per class: echo of a measured event seen before */
	C_REORDER, C_REORDER1,		/* per class: reliable echo older than one before it on its channel */
	C_ABANDON, C_ABANDON1,		/* per class: measured events in flight on sessions closed on purpose */
	C_UNANSWERED,			/* reliable: measured, past the last echo when the drain ended */
	C_RECV_BYTES_M,
	C_LATE,				/* echoes that came after they had left the window */
	C_EXPIRED,			/* unreliable events given up on after EXPIRE_MS */
	C_BADLEN,			/* echoes of the wrong size */
	C_UNKNOWN,			/* echoes of nothing we sent */
	C_INFLIGHT,
	C_OPENED, C_OPENED_INIT, C_FAILED, C_ABORTED, C_CLOSED, C_UNEXPECTED, C_DELIBERATE,
	C_NEED_REPORT,			/* oneway: open sessions whose final count is still to come */
	C_REPORTED, C_UNREPORTED, C_REP_EVENTS, C_REP_BYTES, C_REP_SENT, C_BAD_REPORT, C_PROBES, C_RATE_CUTS,
	C_SINK_ECHOED,			/* the server echoed a type-253 event: no sink convention */
	C_SEND_ERR,
	C__COUNT
};

struct worker {
	struct worker *next;
	_Atomic uint64_t c[C__COUNT];
	uint64_t why[RW_CLOSE__COUNT];	/* unexpected closes and failed dials, by reason */
	uint64_t last_open_ns;		/* the latest on_open of a first-round dial */
	struct hist lat, hs;
	struct hist lat_int;		/* driven: from each event's intended send time */
	uint8_t *buf;			/* the payload, header rewritten for each send */
	/*
	 * Driven pacing (see drive): the open sessions of this reactor, the
	 * one whose tick drives them all, the round-robin position and the
	 * intended send time of the next event (ns, 0 before the first).
	 */
	struct slot **own;
	unsigned nown, capown, rr;
	struct slot *driver;
	double next_due;
};

static pthread_mutex_t workers_lock = PTHREAD_MUTEX_INITIALIZER;
static struct worker *workers;
static _Thread_local struct worker *tw;

/* This thread's worker, made on its first callback (once per reactor thread). */
static struct worker *me(void)
{
	struct worker *w = tw;
	size_t n = o.size > HDR ? o.size : HDR;

	if (w)
		return w;
	w = calloc(1, sizeof(*w));
	if (!w || !(w->buf = malloc(n))) {
		fprintf(stderr, "ringwire-load: out of memory\n");
		abort();
	}
	for (size_t i = 0; i < n; i++)
		w->buf[i] = (uint8_t)(i * 7 + 1);
	pthread_mutex_lock(&workers_lock);
	w->next = workers;
	workers = w;
	pthread_mutex_unlock(&workers_lock);
	tw = w;
	return w;
}

/* Single writer: a plain load and store, no locked instruction on the hot path. */
static void add(struct worker *w, enum ctr c, uint64_t v)
{
	atomic_store_explicit(&w->c[c], atomic_load_explicit(&w->c[c], memory_order_relaxed) + v,
			      memory_order_relaxed);
}

static uint64_t total(enum ctr c)
{
	uint64_t v = 0;

	pthread_mutex_lock(&workers_lock);
	for (struct worker *w = workers; w; w = w->next)
		v += atomic_load_explicit(&w->c[c], memory_order_relaxed);
	pthread_mutex_unlock(&workers_lock);
	return v;
}

/* ---- sessions ------------------------------------------------------------------------ */

enum { S_IDLE, S_DIALING, S_OPEN, S_CLOSED };
enum { Q_NONE, Q_WARM, Q_WARM_DONE, Q_END, Q_END_DONE };

/*
 * One class's sequence space in a session. Echo mode keeps the sequence
 * numbers in [oldest, next) that are neither echoed nor given up on counted
 * in inflight, and never sends more than `ring` past oldest, so a ring of
 * send times and a ring bitmap of echoed numbers in [top - ring, top) are
 * enough to tell new from duplicate.
 */
struct track {
	uint64_t next, oldest, top;
	uint64_t sent_m, recv_m;
	uint64_t m0, m1;		/* the measured sequence numbers are [m0, m1) */
	uint32_t inflight;
	uint64_t *bits;
	uint32_t *sent_ms;
	uint32_t *late_us;		/* driven: how late each event left after its intended time */
};

/*
 * A session slot. The main thread fills it and dials (state S_DIALING);
 * from then on only the session's reactor touches it, until on_close sets
 * S_CLOSED (release), after which the main thread may reuse it.
 */
struct slot {
	_Atomic int state;
	atomic_bool close_req;		/* soak: asked by the main thread to close itself */
	bool initial, deliberate;
	uint8_t q;			/* oneway: where the sink-count queries stand */
	uint8_t cls_rr;
	uint16_t rr, run, nblocked;
	uint32_t q_ms;
	uint64_t dial_ns, last_ns;
	double tokens;
	uint64_t c_warm, b_warm;	/* oneway: the sink's count when the measured interval began */
	/* adaptive: events per ns, and the probe under way */
	double rate;
	uint64_t pr_tag, pr_sent, pr_prev_sent, pr_prev_n;
	uint32_t pr_ms;
	bool pr_out, pr_have, pr_grown;
	uint64_t blocked[4];		/* reliable channels waiting for on_writable */
	uint64_t *rx_last;		/* reliable: per channel, the last sequence number echoed + 1 */
	uint32_t own_idx;		/* driven: where it is in its worker's own[] */
	bool owned;
	struct rw_session *s;
	struct track t[2];
};

static struct slot *slots;

static bool bit_get(const uint64_t *b, uint64_t seq)
{
	seq &= ring_mask;
	return b[seq >> 6] >> (seq & 63) & 1;
}

static void bit_put(uint64_t *b, uint64_t seq, bool v)
{
	seq &= ring_mask;
	if (v)
		b[seq >> 6] |= UINT64_C(1) << (seq & 63);
	else
		b[seq >> 6] &= ~(UINT64_C(1) << (seq & 63));
}

enum { MK_NEW, MK_DUP, MK_OLD };

static int mark(struct track *t, uint64_t seq)
{
	if (seq >= t->top) {
		if (seq - t->top + 1 >= ring) {
			memset(t->bits, 0, ring / 8);
		} else {
			for (uint64_t x = t->top; x < seq; x++)
				bit_put(t->bits, x, false);
		}
		t->top = seq + 1;
		bit_put(t->bits, seq, true);
		return MK_NEW;
	}
	if (t->top - seq > ring)
		return MK_OLD;
	if (bit_get(t->bits, seq))
		return MK_DUP;
	bit_put(t->bits, seq, true);
	return MK_NEW;
}

static bool is_blocked(const struct slot *sl, uint8_t ch)
{
	return sl->blocked[ch >> 6] >> (ch & 63) & 1;
}

static void set_blocked(struct slot *sl, uint8_t ch, bool v)
{
	if (is_blocked(sl, ch) == v)
		return;
	sl->blocked[ch >> 6] ^= UINT64_C(1) << (ch & 63);
	sl->nblocked = (uint16_t)(v ? sl->nblocked + 1 : sl->nblocked - 1);
}

/*
 * The next channel of class c to send on; 0: none. Round robin in runs of
 * run_len events, about a packet's worth: the engine packs consecutive
 * events of one channel into a frame, and a channel switch per event would
 * cost a packet per event. Full reliable windows are skipped.
 */
static uint8_t pick(struct slot *sl, unsigned c)
{
	unsigned cur = sl->rr;

	if (o.soak)
		return is_blocked(sl, (uint8_t)(c + 1)) ? 0 : (uint8_t)(c + 1);
	if (sl->nblocked >= o.channels)
		return 0;
	if (sl->run < run_len && !is_blocked(sl, (uint8_t)(cur + 1))) {
		sl->run++;
		return (uint8_t)(cur + 1);
	}
	for (unsigned i = 1; i <= o.channels; i++) {
		unsigned k = (cur + i) % o.channels;

		if (!is_blocked(sl, (uint8_t)(k + 1))) {
			sl->rr = (uint16_t)k;
			sl->run = 1;
			return (uint8_t)(k + 1);
		}
	}
	return 0;
}

static unsigned cls_of(uint8_t ch)
{
	return o.soak && ch == 2 ? 1 : 0;
}

static int send_ev(struct slot *sl, struct worker *w, unsigned c, uint8_t ch, uint64_t now, bool meas)
{
	struct track *t = &sl->t[c];
	uint64_t seq = t->next;
	int ret;

	if (short_ev) {
		for (size_t i = 0; i < o.size && i < 8; i++)
			w->buf[i] = (uint8_t)(seq >> (8 * i));
	} else {
		put64(w->buf, seq | (meas ? MEAS_BIT : 0));
		put64(w->buf + 8, now);
	}
	ret = rw_session_send(sl->s, ch, o.mode == M_ONEWAY ? EV_SINK : EV_DATA, w->buf, o.size);
	if (ret)
		return ret;
	t->next++;
	add(w, C_TX_EV, 1);
	add(w, C_TX_BYTES, o.size);
	if (meas) {
		if (!t->m1)
			t->m0 = seq;
		t->m1 = seq + 1;
		t->sent_m++;
		add(w, C_SENT_M + c, 1);
	}
	if (o.mode == M_ECHO) {
		t->sent_ms[seq & ring_mask] = ms_of(now);
		t->inflight++;
		add(w, C_INFLIGHT, 1);
	}
	return 0;
}

/* Ask the server for its sink count; false if it must wait (a full reliable window). */
static bool query(struct slot *sl, uint64_t now)
{
	if (rw_session_send(sl->s, 1, EV_REPORT, NULL, 0))
		return false;
	sl->q_ms = ms_of(now);
	return true;
}

/* adaptive: a rate probe, tagged so its answer is told from the warm-up and end queries' */
static void probe(struct slot *sl, uint64_t now)
{
	uint8_t tag[8];

	put64(tag, sl->pr_tag + 1);
	if (rw_session_send(sl->s, 1, EV_REPORT, tag, sizeof(tag)))
		return;
	sl->pr_tag++;
	sl->pr_out = true;
	sl->pr_ms = ms_of(now);
	sl->pr_sent = sl->t[0].next;
}

static void rate_cut(struct slot *sl)
{
	add(me(), C_RATE_CUTS, 1);
	sl->rate *= 0.7;
	if (sl->rate < rate_min)
		sl->rate = rate_min;
	sl->pr_grown = true;
}

/* adaptive: the sink had n events when the probe sent after pr_sent of ours arrived */
static void probe_answer(struct slot *sl, uint64_t n)
{
	sl->pr_out = false;
	add(me(), C_PROBES, 1);
	if (sl->pr_have && sl->pr_sent > sl->pr_prev_sent) {
		uint64_t ds = sl->pr_sent - sl->pr_prev_sent;
		uint64_t dn = n > sl->pr_prev_n ? n - sl->pr_prev_n : 0;
		uint64_t lost = ds > dn ? ds - dn : 0;

		if (lost * 1000 > ds) {
			rate_cut(sl);
		} else {
			sl->rate *= sl->pr_grown ? 1.03 : 1.5;
			if (sl->rate > rate_max)
				sl->rate = rate_max;
		}
	}
	sl->pr_prev_sent = sl->pr_sent;
	sl->pr_prev_n = n;
	sl->pr_have = true;
}

/*
 * Send what this session may send now: up to the echo window, the token
 * bucket (--rate) or the per-tick budget (unlimited oneway), and until every
 * reliable channel says -EAGAIN (on_writable resumes it).
 */
static void pump(struct slot *sl, uint64_t now)
{
	struct worker *w = me();
	int ph = cur_phase();
	bool meas = ph == P_MEASURE;

	if (ph >= P_DRAIN || ph == P_DIAL || o.mode == M_CONNECT)
		return;
	if (o.mode == M_ONEWAY && meas && sl->q == Q_NONE) {
		if (sl->pr_out)
			return;	/* a rate probe's answer first: one query open at a time */
		/*
		 * The measured interval begins: ask for the sink's count and
		 * pause until it comes, so it covers exactly the events sent
		 * before (a flood may drop the query: it is asked again).
		 */
		if (sl->t[0].next == 0) {
			sl->q = Q_WARM_DONE;	/* nothing sent yet: the count is 0 */
		} else {
			if (query(sl, now))
				sl->q = Q_WARM;
			return;
		}
	}
	if (sl->q == Q_WARM)
		return;
	for (;;) {
		bool progress = false;

		if (paced && sl->tokens < 1.0)
			return;
		for (unsigned k = 0; k < ncls; k++) {
			unsigned c = (sl->cls_rr + k) % ncls;
			struct track *t = &sl->t[c];
			uint8_t ch;
			int ret;

			if (o.mode == M_ECHO && (t->inflight >= o.window || t->next - t->oldest >= span))
				continue;
			ch = pick(sl, c);
			if (!ch)
				continue;
			ret = send_ev(sl, w, c, ch, now, meas);
			if (ret == -EAGAIN) {
				set_blocked(sl, ch, true);
				progress = true;	/* another channel may still have room */
				break;
			}
			if (ret) {
				add(w, C_SEND_ERR, 1);
				return;
			}
			if (paced)
				sl->tokens -= 1.0;
			sl->cls_rr = (uint8_t)((c + 1) % ncls);
			progress = true;
			break;
		}
		if (!progress)
			return;
	}
}

/* Echo mode: unreliable events unanswered for EXPIRE_MS leave the window (they count as lost unless they turn up). */
static void expire(struct slot *sl, struct worker *w, uint64_t now)
{
	uint32_t ms = ms_of(now);

	for (unsigned c = 0; c < ncls; c++) {
		struct track *t = &sl->t[c];

		if (cls_reliable(c))
			continue;	/* the engine retransmits until it gives up and closes */
		while (t->oldest < t->next) {
			if (t->oldest < t->top && bit_get(t->bits, t->oldest)) {
				t->oldest++;
				continue;
			}
			if (ms - t->sent_ms[t->oldest & ring_mask] < EXPIRE_MS)
				break;
			t->oldest++;
			t->inflight--;
			add(w, C_INFLIGHT, (uint64_t)-1);
			add(w, C_EXPIRED, 1);
		}
	}
}

static void free_tracks(struct slot *sl)
{
	for (unsigned c = 0; c < 2; c++) {
		free(sl->t[c].bits);
		free(sl->t[c].sent_ms);
		free(sl->t[c].late_us);
		sl->t[c].bits = NULL;
		sl->t[c].sent_ms = NULL;
		sl->t[c].late_us = NULL;
	}
	free(sl->rx_last);
	sl->rx_last = NULL;
}

static int alloc_tracks(struct slot *sl)
{
	if (o.mode != M_ECHO)
		return 0;
	for (unsigned c = 0; c < ncls; c++) {
		sl->t[c].bits = calloc(ring / 64, sizeof(uint64_t));
		sl->t[c].sent_ms = calloc(ring, sizeof(uint32_t));
		if (!sl->t[c].bits || !sl->t[c].sent_ms)
			return -ENOMEM;
		if (driven && !(sl->t[c].late_us = calloc(ring, sizeof(uint32_t))))
			return -ENOMEM;
	}
	if (o.reliable || o.soak) {
		sl->rx_last = calloc((size_t)o.channels + 1, sizeof(uint64_t));
		if (!sl->rx_last)
			return -ENOMEM;
	}
	return 0;
}

/* ---- driven pacing (reactor threads) --------------------------------------------------- */

/* on_open: the session joins its reactor's rotation; the first one drives. */
static int own_add(struct worker *w, struct slot *sl)
{
	if (w->nown == w->capown) {
		unsigned cap = w->capown ? w->capown * 2 : 256;
		struct slot **n = realloc(w->own, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		w->own = n;
		w->capown = cap;
	}
	sl->own_idx = w->nown;
	w->own[w->nown++] = sl;
	sl->owned = true;
	if (!w->driver) {
		w->driver = sl;
		rw_session_set_tick(sl->s, 1);
	}
	return 0;
}

/* on_close: out of the rotation; if it was driving, another open one takes over. */
static void own_del(struct worker *w, struct slot *sl)
{
	struct slot *last;

	if (!sl->owned)
		return;
	last = w->own[--w->nown];
	w->own[sl->own_idx] = last;
	last->own_idx = sl->own_idx;
	sl->owned = false;
	if (w->rr >= w->nown)
		w->rr = 0;
	if (w->driver == sl) {
		w->driver = NULL;
		if (w->nown) {
			w->driver = w->own[0];
			rw_session_set_tick(w->driver->s, 1);
		}
	}
}

/* One event on this session if its window has room; its lateness is kept for the echo. */
static int send_one(struct slot *sl, struct worker *w, uint64_t now, double due, bool meas)
{
	struct track *t = &sl->t[0];
	uint64_t seq = t->next, late;
	uint8_t ch;
	int ret;

	expire(sl, w, now);
	if (t->inflight >= o.window || t->next - t->oldest >= span)
		return -EAGAIN;
	ch = pick(sl, 0);
	if (!ch)
		return -EAGAIN;
	ret = send_ev(sl, w, 0, ch, now, meas);
	if (ret == -EAGAIN) {
		set_blocked(sl, ch, true);
		return ret;
	}
	if (ret) {
		add(w, C_SEND_ERR, 1);
		return ret;
	}
	late = (double)now > due ? (uint64_t)((double)now - due) / 1000 : 0;
	t->late_us[seq & ring_mask] = late > UINT32_MAX ? UINT32_MAX : (uint32_t)late;
	return 0;
}

/*
 * The driver's tick: every event whose intended time has come, in turn over
 * the reactor's sessions. Sessions whose window is full are passed over; if
 * a run of them is, the schedule waits for the next tick (and the wait shows
 * in the latency from the intended time).
 */
static void drive(struct worker *w, uint64_t now)
{
	int ph = cur_phase();
	bool meas = ph == P_MEASURE;
	double period;

	if (ph < P_WARMUP || ph >= P_DRAIN || !w->nown) {
		w->next_due = 0;
		return;
	}
	period = 1.0 / (atomic_load_explicit(&drive_per_ns, memory_order_relaxed) * w->nown);
	if (w->next_due == 0)
		w->next_due = (double)now;
	while (w->next_due <= (double)now) {
		unsigned tries, max = w->nown < 64 ? w->nown : 64;

		for (tries = 0; tries < max; tries++) {
			struct slot *sl = w->own[w->rr];

			w->rr = w->rr + 1 < w->nown ? w->rr + 1 : 0;
			if (!send_one(sl, w, now, w->next_due, meas))
				break;
		}
		if (tries == max)
			return;
		w->next_due += period;
	}
}

/* ---- callbacks (reactor threads) ------------------------------------------------------ */

static void on_open(struct rw_session *s, void *user)
{
	struct slot *sl = rw_session_user(s);
	struct worker *w = me();
	uint64_t now = now_ns();
	int ph = cur_phase();

	(void)user;
	if (!sl)
		return;
	hist_add(&w->hs, now - sl->dial_ns);
	add(w, C_OPENED, 1);
	if (sl->initial) {
		add(w, C_OPENED_INIT, 1);
		if (now > w->last_open_ns)
			w->last_open_ns = now;
	}
	sl->s = s;
	atomic_store_explicit(&sl->state, S_OPEN, memory_order_release);
	if (o.mode == M_CONNECT) {
		if (!o.keep) {
			sl->deliberate = true;
			rw_session_close(s, RW_CLOSE_LOCAL, "ringwire-load: connect test done");
		}
		return;
	}
	if (alloc_tracks(sl)) {
		add(w, C_SEND_ERR, 1);
		sl->deliberate = true;
		rw_session_close(s, RW_CLOSE_LOCAL, "ringwire-load: out of memory");
		return;
	}
	if (o.mode == M_ONEWAY) {
		if (ph >= P_DRAIN) {
			sl->q = Q_END_DONE;	/* too late to count */
		} else {
			sl->q = ph == P_MEASURE ? Q_WARM_DONE : Q_NONE;
			add(w, C_NEED_REPORT, 1);
		}
	}
	if (driven) {
		if (own_add(w, sl)) {
			add(w, C_SEND_ERR, 1);
			sl->deliberate = true;
			rw_session_close(s, RW_CLOSE_LOCAL, "ringwire-load: out of memory");
		}
		return;
	}
	sl->last_ns = now;
	sl->tokens = tok_cap < 1.0 ? tok_cap : 1.0;	/* start at once rather than a tick later */
	sl->rate = tok_per_ns;
	rw_session_set_tick(s, tick_ms);
	pump(sl, now);
}

static void on_close(struct rw_session *s, const struct rw_close_info *why, void *user)
{
	struct slot *sl = rw_session_user(s);
	struct worker *w = me();
	int ph = cur_phase();

	(void)user;
	if (!sl)
		return;
	if (atomic_load_explicit(&sl->state, memory_order_relaxed) != S_OPEN) {
		/* a dial that never opened */
		if (ph >= P_STOP) {
			add(w, C_ABORTED, 1);
		} else {
			add(w, C_FAILED, 1);
			w->why[why->reason < RW_CLOSE__COUNT ? why->reason : RW_CLOSE_NONE]++;
			pthread_mutex_lock(&first_fail_lock);
			if (!first_fail_set) {
				first_fail_set = true;
				first_fail.reason = why->reason;
				first_fail.by_peer = why->by_peer;
				snprintf(first_fail.message, sizeof(first_fail.message), "%s", why->message);
			}
			pthread_mutex_unlock(&first_fail_lock);
		}
	} else {
		add(w, C_CLOSED, 1);
		for (unsigned c = 0; c < ncls; c++) {
			struct track *t = &sl->t[c];

			add(w, C_INFLIGHT, (uint64_t)0 - t->inflight);
			t->inflight = 0;
			/* in flight when we closed it on purpose: not lost, abandoned */
			if (sl->deliberate && t->sent_m > t->recv_m)
				add(w, C_ABANDON + c, t->sent_m - t->recv_m);
			/*
			 * A reliable channel echoes in order, so a measured event
			 * with no echo below the last one echoed is a hole: lost.
			 * Those past it were still in flight when the bounded
			 * drain ended: slow or lost, nobody can tell; counted
			 * apart so an overloaded run is told from a lossy one.
			 */
			if (!sl->deliberate && ph >= P_STOP && cls_reliable(c) && t->m1) {
				uint64_t from = t->top > t->m0 ? t->top : t->m0;

				if (t->m1 > from)
					add(w, C_UNANSWERED, t->m1 - from);
			}
		}
		if (sl->deliberate) {
			add(w, C_DELIBERATE, 1);
		} else if (ph < P_STOP) {
			add(w, C_UNEXPECTED, 1);
			w->why[why->reason < RW_CLOSE__COUNT ? why->reason : RW_CLOSE_NONE]++;
		}
		if (o.mode == M_ONEWAY && sl->q != Q_END_DONE) {
			add(w, C_NEED_REPORT, (uint64_t)-1);
			add(w, C_UNREPORTED, 1);
			sl->q = Q_END_DONE;
		}
		own_del(w, sl);
		free_tracks(sl);
	}
	sl->s = NULL;
	atomic_store_explicit(&sl->state, S_CLOSED, memory_order_release);
}

/* oneway: the answer to a type-252 query, LE u64 events and u64 bytes of type 253 */
static void on_report(struct slot *sl, struct worker *w, const uint8_t *p, size_t len)
{
	uint64_t n, b;

	if (len < 16) {
		add(w, C_BAD_REPORT, 1);
		return;
	}
	n = get64(p);
	b = get64(p + 8);
	if (len >= 24 && get64(p + 16)) {
		/* a rate probe's answer: the sink echoes the query's tag */
		if (sl->pr_out && get64(p + 16) == sl->pr_tag)
			probe_answer(sl, n);
		return;
	}
	if (sl->pr_out && sl->q == Q_NONE) {
		/* only a probe is open, and its answer has no tag: a sink that predates tags */
		sl->pr_out = false;
		atomic_store_explicit(&untagged_sink, true, memory_order_relaxed);
		return;
	}
	if (sl->q == Q_WARM) {
		sl->c_warm = n;
		sl->b_warm = b;
		sl->q = Q_WARM_DONE;
	} else if (sl->q == Q_END) {
		add(w, C_REP_EVENTS, n > sl->c_warm ? n - sl->c_warm : 0);
		add(w, C_REP_BYTES, b > sl->b_warm ? b - sl->b_warm : 0);
		add(w, C_REP_SENT, sl->t[0].sent_m);
		add(w, C_REPORTED, 1);
		add(w, C_NEED_REPORT, (uint64_t)-1);
		sl->q = Q_END_DONE;
	}
}

/*
 * A short echo's sequence number: the latest one sent whose low bytes are
 * those of the payload. Unique while at most 2^(8 size) numbers are open
 * (span); t->next > 0.
 */
static uint64_t short_seq(const struct track *t, const uint8_t *p)
{
	size_t n = o.size < 8 ? o.size : 8;
	uint64_t low = 0, mask, last = t->next - 1;

	for (size_t i = n; i-- > 0;)
		low = low << 8 | p[i];
	if (n == 8)
		return low;
	mask = (UINT64_C(1) << (8 * n)) - 1;
	return last - ((last - low) & mask);
}

static void on_event(struct rw_session *s, uint8_t ch, uint8_t type, const uint8_t *p, size_t len, void *user)
{
	struct slot *sl = rw_session_user(s);
	struct worker *w = me();
	struct track *t;
	uint64_t now, raw, seq;
	unsigned c;
	bool meas;
	int r;

	(void)user;
	if (!sl || !sl->s)
		return;
	if (type == EV_REPORT && o.mode == M_ONEWAY) {
		on_report(sl, w, p, len);
		return;
	}
	if (o.mode != M_ECHO) {
		if (type == EV_SINK)
			add(w, C_SINK_ECHOED, 1);
		return;
	}
	add(w, C_RX_EV, 1);
	add(w, C_RX_BYTES, len);
	c = cls_of(ch);
	if (short_ev) {
		/* the size is all there is to check a short echo by: another is not ours */
		if (type != EV_DATA || (o.soak && ch > 2)) {
			add(w, C_UNKNOWN, 1);
			return;
		}
		if (len != o.size) {
			add(w, C_BADLEN, 1);
			return;
		}
	} else {
		if (len < HDR || type != EV_DATA || (o.soak && ch > 2)) {
			add(w, C_UNKNOWN, 1);
			return;
		}
		if (len != o.size)
			add(w, C_BADLEN, 1);
	}
	now = now_ns();
	t = &sl->t[c];
	if (short_ev) {
		if (!t->next) {
			add(w, C_UNKNOWN, 1);
			return;
		}
		seq = short_seq(t, p);
		meas = t->m1 && seq >= t->m0 && seq < t->m1;
	} else {
		raw = get64(p);
		seq = raw & ~MEAS_BIT;
		meas = raw & MEAS_BIT;
	}
	if (seq >= t->next) {
		add(w, C_UNKNOWN, 1);
		return;
	}
	r = mark(t, seq);
	if (r == MK_OLD && cls_reliable(c))
		r = MK_DUP;	/* reliable events never leave the window unanswered: seen before */
	if (r == MK_DUP) {
		if (meas)
			add(w, C_DUP + c, 1);
	} else {
		if (seq >= t->oldest) {
			t->inflight--;
			add(w, C_INFLIGHT, (uint64_t)-1);
			while (t->oldest < t->top && bit_get(t->bits, t->oldest))
				t->oldest++;
		} else {
			add(w, C_LATE, 1);
		}
		if (cls_reliable(c) && sl->rx_last) {
			if (seq + 1 <= sl->rx_last[ch])
				add(w, C_REORDER + c, 1);
			else
				sl->rx_last[ch] = seq + 1;
		}
		if (meas) {
			t->recv_m++;
			add(w, C_RECV_M + c, 1);
			add(w, C_RECV_BYTES_M, len);
		}
		if (meas && !short_ev) {	/* a short event has no send time: no latency */
			uint64_t ts = get64(p + 8);

			hist_add(&w->lat, now > ts ? now - ts : 0);
			if (t->late_us)
				hist_add(&w->lat_int, (now > ts ? now - ts : 0) +
							      (uint64_t)t->late_us[seq & ring_mask] * 1000);
		}
	}
	if (!driven)
		pump(sl, now);
	else if (w->next_due != 0 && w->next_due <= (double)now && (w->nown > 1 || w->next_due + 2e6 <= (double)now))
		/*
		 * Events are due: send them now rather than at the next tick, so
		 * that a millisecond's events do not leave in one burst (each
		 * to its own session, a packet each, and the last of the burst
		 * waits for all the others on both ends). One session keeps
		 * to its tick unless it is ticks behind: its events share
		 * packets, and a burst is what packs them.
		 */
		drive(w, now);
}

static void on_writable(struct rw_session *s, uint8_t ch, void *user)
{
	struct slot *sl = rw_session_user(s);

	(void)user;
	if (!sl || !sl->s)
		return;
	set_blocked(sl, ch, false);
	pump(sl, now_ns());
}

static void on_tick(struct rw_session *s, void *user)
{
	struct slot *sl = rw_session_user(s);
	uint64_t now = now_ns();
	int ph = cur_phase();

	(void)user;
	if (!sl || !sl->s)
		return;
	if (driven) {
		drive(me(), now);
		return;
	}
	if (atomic_load_explicit(&sl->close_req, memory_order_relaxed)) {
		sl->deliberate = true;
		rw_session_close(s, RW_CLOSE_LOCAL, "ringwire-load: soak reconnect");
		return;
	}
	if (paced && adaptive && !atomic_load_explicit(&untagged_sink, memory_order_relaxed)) {
		double cap = sl->rate * 1e6 * tick_ms;

		if (cap > burst_cap)
			cap = burst_cap;	/* a tick's burst stays within the engine's send buffers */

		sl->tokens += sl->rate * (double)(now - sl->last_ns);
		if (sl->tokens > (cap > 1.0 ? cap : 1.0))
			sl->tokens = cap > 1.0 ? cap : 1.0;
	} else if (paced) {
		sl->tokens += tok_per_ns * (double)(now - sl->last_ns);
		if (sl->tokens > tok_cap)
			sl->tokens = tok_cap;
	}
	sl->last_ns = now;
	if (o.mode == M_ECHO)
		expire(sl, me(), now);
	if (o.mode == M_ONEWAY) {
		uint32_t ms = ms_of(now);

		if (sl->q == Q_WARM && ph == P_MEASURE && ms - sl->q_ms >= QUERY_RETRY_MS)
			query(sl, now);	/* lost in the flood; the sender is paused now */
		if (adaptive && sl->pr_out && ms - sl->pr_ms >= PROBE_LOST_MS) {
			/* lost in the flood: as good a sign of too much as any (once the sink has answered at all) */
			sl->pr_out = false;
			if (sl->pr_have)
				rate_cut(sl);
		}
		if (adaptive && !sl->pr_out && (sl->q == Q_NONE || sl->q == Q_WARM_DONE) &&
		    (ph == P_WARMUP || ph == P_MEASURE) && ms - sl->pr_ms >= PROBE_MS &&
		    !atomic_load_explicit(&untagged_sink, memory_order_relaxed))
			probe(sl, now);
		if (ph == P_QUERY) {
			if (sl->q == Q_NONE || sl->q == Q_WARM) {
				/* nothing measured, or the start count never came: nothing to report */
				if (sl->q == Q_WARM)
					add(me(), C_UNREPORTED, 1);
				sl->q = Q_END_DONE;
				add(me(), C_NEED_REPORT, (uint64_t)-1);
			} else if (sl->q == Q_WARM_DONE) {
				if (query(sl, now))
					sl->q = Q_END;
			} else if (sl->q == Q_END && ms - sl->q_ms >= QUERY_RETRY_MS) {
				query(sl, now);
			}
		}
	}
	pump(sl, now);
}

/* The report's line on how an unlimited one-way run paced itself. */
static const char *rate_control(const uint64_t *c)
{
	static char line[160];

	if (atomic_load(&untagged_sink) || !c[C_PROBES])
		snprintf(line, sizeof(line), "fixed, 256 KiB per millisecond per reactor (the sink answered no rate probe)");
	else
		snprintf(line, sizeof(line), "found by probing the sink's count every %d ms: %" PRIu64 " probes, %" PRIu64
			 " cuts", PROBE_MS, c[C_PROBES], c[C_RATE_CUTS]);
	return line;
}

/* ---- flags -------------------------------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: ringwire-load wire://wpub1...@HOST:PORT [options]\n"
		"\n"
		"Load generator for any wiresocket v1 server, built on the ringwire engine.\n"
		"Sessions are dialled with a fresh key each and send from their own reactor\n"
		"thread. Nothing is sent until every dial is resolved (or --dial-timeout);\n"
		"then, after a warm-up (not counted), it measures for --duration, stops\n"
		"sending, drains for at most 3 s, and prints a table (and --json a JSON line).\n"
		"With --rate in echo mode, events follow a fixed schedule and latency is\n"
		"given twice: from the send to the echo, and from the event's intended send\n"
		"time to the echo (so a stalled sender cannot hide latency).\n"
		"\n"
		"modes (--mode):\n"
		"  echo      events go out, the server echoes them (ringwire-echo does);\n"
		"            measures events/s, round-trip latency, loss and duplicates.\n"
		"            At most --window events are in flight per session.\n"
		"            Events under 16 bytes (--size 0 to 15) carry only the low bytes\n"
		"            of their sequence number and no send time: they are counted\n"
		"            (events/s, loss, duplicates) but latency is not measured (\"-\";\n"
		"            JSON latency_measured false). An echo is matched by those bytes,\n"
		"            so at most 2^(8 x size) events may be in flight: --window is at\n"
		"            most 1 at --size 0 and 256 at --size 1 (the default is lowered).\n"
		"  oneway    type-253 events the server counts without answering (the sink\n"
		"            convention of ringwire-echo); a type-252 query at the start of\n"
		"            the measured interval and one after it return the server's count,\n"
		"            and their difference is \"received\": the warm-up is excluded.\n"
		"  connect   dial --sessions sessions at --connect-rate and close each once\n"
		"            open (keep them with --keep); measures handshakes/s and handshake\n"
		"            latency (dial to on_open). --duration bounds it; no warm-up.\n"
		"\n"
		"options (suffixes: k = x1000 and m = x1000000 for rates, k = KiB and m = MiB for\n"
		"sizes, ms for times):\n"
		"  --mode echo|oneway|connect  what to measure (default echo)\n"
		"  --sessions N          sessions, 1 to 100000 (default 1; soak 2000)\n"
		"  --connect-rate R      dials per second, 0 = as fast as possible (default %d: a\n"
		"                        default server demands cookies above 4000/s per reactor);\n"
		"                        dialling pauses while more than R/20 + 16 dials are\n"
		"                        unanswered (a slow server gets no more than it answers)\n"
		"  --dial-timeout S      measure with what is up after S seconds of dialling even\n"
		"                        if some dials are unresolved (default: twice the time the\n"
		"                        dials take at --connect-rate, plus %d s)\n"
		"  --server-pid PID      also report the server's resident memory per session\n"
		"                        (VmRSS of PID before dialling and with every session up)\n"
		"  --reactors N          reactor threads, 1 to 64 (default: online CPUs)\n"
		"  --channels N          spread events over channels 1..N, 1 to 254 (default 1)\n"
		"  --size BYTES          event payload size, 0 to 1m; large events are fragmented\n"
		"                        (default 64); in echo mode, under 16 bytes: no latency\n"
		"  --rate EVENTS_PER_S   target rate over all sessions, 0 = unlimited (default 0;\n"
		"                        soak 20000)\n"
		"  --duration S          measured interval in seconds, e.g. 10, 2.5, 500ms\n"
		"                        (default 10; soak 60)\n"
		"  --warmup S            warm-up before it, not counted (default 2)\n"
		"  --reliable            register the channels RW_CHANNEL_RELIABLE (sequenced,\n"
		"                        acknowledged, retransmitted by the engine)\n"
		"  --window N            echo mode: events in flight per session, 1 to 65536\n"
		"                        (default 32; at most 1 at --size 0, 256 at --size 1)\n"
		"  --keep                connect mode: keep sessions open until --duration ends\n"
		"  --soak                hardening run: echo mode, channel 1 reliable and channel\n"
		"                        2 unreliable, client rekey every 2 s (--rekey), 1%% of the\n"
		"                        sessions closed and re-dialled every second; fails\n"
		"                        (exit 1) if a reliable event was lost, duplicated or\n"
		"                        reordered on a session not closed on purpose (or still\n"
		"                        unanswered when the drain ends: an overloaded run), or\n"
		"                        the resident memory (after warm-up to the end) grew by\n"
		"                        more than %d%% and more than %d MiB\n"
		"  --rekey MS            client rekey interval in ms, 100 to 3600000 (default:\n"
		"                        the engine's 180 s; soak 2000); every rekey is a\n"
		"                        handshake, so sessions / MS * 1000 handshakes per second\n"
		"                        (the soak's 2000 / 2 s is 1000/s: a small machine may\n"
		"                        need a longer --rekey)\n"
		"  --seed N              seed for the soak's random choices (default: the time)\n"
		"  --timeout MS          give up a dial without an answer after MS ms, 1 to\n"
		"                        3600000 (default: the engine's retries, about a minute)\n"
		"  --bind HOST:PORT      local address (default [::]:0, which reaches IPv4 and IPv6)\n"
		"  --transport T         udp (default), tcp (wiresocket over TCP to the URI's host and\n"
		"                        port; a wire+tcp:// URI is TCP anyway), or auto (UDP, then TCP)\n"
		"  --max-packet-size N   largest datagram path MTU discovery may grow to, 1232 to 65000\n"
		"                        (1232: off; default: the library's, 65000 or what its buffers hold)\n"
		"  --pad N               pad every packet to a multiple of N bytes, 16 to 65000\n"
		"                        (0: to the full packet size)\n"
		"  --pad-fixed SIZE[,MS] pad every packet to exactly SIZE bytes, 128 to 65000 (0:\n"
		"                        1232); with MS, a cover packet after MS ms without a send\n"
		"  --json                also print one JSON line at the end (the last line)\n"
		"  --histogram FILE      echo mode: write the send-to-echo latency distribution to FILE\n"
		"                        in HdrHistogram's .hgrm text (values in ms, as wrk2's), and\n"
		"                        with --rate the intended-send-time one to FILE.intended\n"
		"  --metrics HOST:PORT   serve the client's Prometheus metrics at http://HOST:PORT/metrics\n"
		"                        during the run (port 0: any free one; the address is logged)\n"
		"  --quiet               no progress line each second on stderr\n"
		"  --help                this text\n"
		"\n"
		"Rates: events/s and payload Gbit/s count delivered payload only (echo: echoes\n"
		"received; oneway: what the server counted); packets/s counts the client's\n"
		"datagrams sent and received. Latency is in microseconds.\n"
		"\n"
		"exit status: 0 ok; 1 soak criteria failed, no session could connect, or the\n"
		"--histogram file could not be written; 2 bad flags.\n"
		"\n"
		"examples:\n"
		"  ringwire-load wire://wpub1...@127.0.0.1:9000 --sessions 10 --duration 5\n"
		"  ringwire-load wire://wpub1...@127.0.0.1:9000 --mode oneway --size 1k --rate 100k\n"
		"  ringwire-load wire://wpub1...@127.0.0.1:9000 --mode connect --sessions 10000 \\\n"
		"      --connect-rate 0 --json\n"
		"  ringwire-load wire://wpub1...@127.0.0.1:9000 --reliable --window 64 --channels 4\n"
		"  ringwire-load wire://wpub1...@127.0.0.1:9000 --soak --duration 300\n",
		DEFAULT_CONNECT_RATE, DIAL_GRACE_S, RSS_TOL_PCT, RSS_TOL_MIB);
}

static _Noreturn void bad_flag(const char *flag, const char *val, const char *what)
{
	fprintf(stderr, "ringwire-load: %s: \"%s\" is not %s\n", flag, val, what);
	exit(2);
}

static unsigned long long parse_num(const char *s, bool *ok)
{
	char *end;
	unsigned long long v;

	*ok = false;
	if (*s < '0' || *s > '9')
		return 0;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end)
		return 0;
	*ok = true;
	return v;
}

static unsigned parse_uint(const char *flag, const char *s, unsigned lo, unsigned hi)
{
	char what[64];
	bool ok;
	unsigned long long v = parse_num(s, &ok);

	if (!ok || v < lo || v > hi) {
		snprintf(what, sizeof(what), "a number from %u to %u", lo, hi);
		bad_flag(flag, s, what);
	}
	return (unsigned)v;
}

/* A decimal with an optional suffix: its multiplier, or 0 if the suffix is unknown. */
static bool parse_scaled(const char *s, double *out, const char *const sfx[], const double mul[], size_t n)
{
	char *end;
	double v;

	if ((*s < '0' || *s > '9') && *s != '.')
		return false;
	v = strtod(s, &end);
	if (end == s || v < 0)
		return false;
	if (*end) {
		size_t i;

		for (i = 0; i < n; i++)
			if (!strcmp(end, sfx[i]))
				break;
		if (i == n)
			return false;
		v *= mul[i];
	}
	*out = v;
	return true;
}

static size_t parse_size(const char *s)
{
	static const char *const sfx[] = { "b", "k", "K", "kb", "KB", "KiB", "m", "M", "mb", "MB", "MiB" };
	static const double mul[] = { 1, 1024, 1024, 1024, 1024, 1024, 1 << 20, 1 << 20, 1 << 20, 1 << 20, 1 << 20 };
	double v;

	if (!parse_scaled(s, &v, sfx, mul, sizeof(mul) / sizeof(mul[0])) || v != (double)(size_t)v)
		bad_flag("--size", s, "a size in bytes (e.g. 64, 1k, 1m)");
	if (v > MAX_SIZE) {
		fprintf(stderr, "ringwire-load: --size: \"%s\" is too large; at most 1m (1048576 bytes)\n", s);
		exit(2);
	}
	return (size_t)v;
}

static double parse_rate(const char *flag, const char *s)
{
	static const char *const sfx[] = { "k", "K", "m", "M" };
	static const double mul[] = { 1e3, 1e3, 1e6, 1e6 };
	double v;

	if (!parse_scaled(s, &v, sfx, mul, 4) || v > 1e12)
		bad_flag(flag, s, "a rate per second (e.g. 0 for unlimited, 5000, 100k, 1m)");
	return v;
}

static double parse_secs(const char *flag, const char *s, bool zero_ok)
{
	static const char *const sfx[] = { "s", "ms" };
	static const double mul[] = { 1, 1e-3 };
	double v;

	if (!parse_scaled(s, &v, sfx, mul, 2) || v > 86400 * 7 || (!zero_ok && v <= 0))
		bad_flag(flag, s, zero_ok ? "a time in seconds (e.g. 0, 2, 0.5, 500ms)"
					  : "a time in seconds above 0 (e.g. 10, 2.5, 500ms)");
	return v;
}

enum {
	O_MODE = 256, O_SESSIONS, O_CRATE, O_REACTORS, O_CHANNELS, O_SIZE, O_RATE, O_DURATION, O_WARMUP,
	O_RELIABLE, O_WINDOW, O_JSON, O_QUIET, O_HELP, O_SOAK, O_SEED, O_KEEP, O_REKEY, O_TIMEOUT, O_BIND, O_TRANSPORT,
	O_DIAL_TIMEOUT, O_SERVER_PID, O_MAX_PACKET_SIZE, O_METRICS, O_HISTOGRAM, O_PAD, O_PAD_FIXED,
};

/*
 * A --bind or --metrics address, "host:port" or "[v6]:port" (port 0: any
 * free one); a message and exit 2 if it is not one.
 */
static void check_addr(const char *flag, const char *s)
{
	char host[RW_HOST_MAX + 1], err[RW_ERRBUF_SIZE];
	uint16_t port;
	const char *colon = strchr(s, ':');

	if (!rw_hostport_parse(s, host, &port, err, sizeof(err)))
		return;
	if (s[0] == '[' ? !strstr(s, "]:") : !colon) {
		fprintf(stderr, "ringwire-load: %s %s: the address needs a port, e.g. %s %s:%s\n", flag, s, flag, s,
			strcmp(flag, "--bind") ? "9100" : "0");
	} else if (s[0] != '[' && strchr(colon + 1, ':')) {
		fprintf(stderr, "ringwire-load: %s %s: write an IPv6 address in brackets, e.g. %s [::1]:%s\n", flag, s,
			flag, strcmp(flag, "--bind") ? "9100" : "0");
	} else {
		fprintf(stderr, "ringwire-load: %s %s: %s\n", flag, s, err);
	}
	exit(2);
}

static void parse_args(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "mode", required_argument, NULL, O_MODE },
		{ "sessions", required_argument, NULL, O_SESSIONS },
		{ "connect-rate", required_argument, NULL, O_CRATE },
		{ "reactors", required_argument, NULL, O_REACTORS },
		{ "channels", required_argument, NULL, O_CHANNELS },
		{ "size", required_argument, NULL, O_SIZE },
		{ "rate", required_argument, NULL, O_RATE },
		{ "duration", required_argument, NULL, O_DURATION },
		{ "warmup", required_argument, NULL, O_WARMUP },
		{ "reliable", no_argument, NULL, O_RELIABLE },
		{ "window", required_argument, NULL, O_WINDOW },
		{ "json", no_argument, NULL, O_JSON },
		{ "quiet", no_argument, NULL, O_QUIET },
		{ "help", no_argument, NULL, O_HELP },
		{ "soak", no_argument, NULL, O_SOAK },
		{ "seed", required_argument, NULL, O_SEED },
		{ "keep", no_argument, NULL, O_KEEP },
		{ "rekey", required_argument, NULL, O_REKEY },
		{ "timeout", required_argument, NULL, O_TIMEOUT },
		{ "bind", required_argument, NULL, O_BIND },
		{ "transport", required_argument, NULL, O_TRANSPORT },
		{ "max-packet-size", required_argument, NULL, O_MAX_PACKET_SIZE },
		{ "dial-timeout", required_argument, NULL, O_DIAL_TIMEOUT },
		{ "server-pid", required_argument, NULL, O_SERVER_PID },
		{ "metrics", required_argument, NULL, O_METRICS },
		{ "histogram", required_argument, NULL, O_HISTOGRAM },
		{ "pad", required_argument, NULL, O_PAD },
		{ "pad-fixed", required_argument, NULL, O_PAD_FIXED },
		{ NULL, 0, NULL, 0 },
	};
	bool set_sessions = false, set_duration = false, set_rate = false, set_channels = false, set_mode = false;
	bool set_seed = false, set_window = false;
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	int c;

	o.mode = M_ECHO;
	o.sessions = 1;
	o.connect_rate = DEFAULT_CONNECT_RATE;
	o.reactors = cpus < 1 ? 1 : cpus > 64 ? 64 : (unsigned)cpus;
	o.channels = 1;
	o.size = 64;
	o.duration = 10;
	o.warmup = 2;
	o.window = 32;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (c) {
		case O_MODE:
			if (!strcmp(optarg, "echo"))
				o.mode = M_ECHO;
			else if (!strcmp(optarg, "oneway"))
				o.mode = M_ONEWAY;
			else if (!strcmp(optarg, "connect"))
				o.mode = M_CONNECT;
			else
				bad_flag("--mode", optarg, "a mode; use echo, oneway or connect");
			set_mode = true;
			break;
		case O_SESSIONS:
			o.sessions = parse_uint("--sessions", optarg, 1, MAX_SESSIONS);
			set_sessions = true;
			break;
		case O_CRATE:
			o.connect_rate = parse_rate("--connect-rate", optarg);
			break;
		case O_REACTORS:
			o.reactors = parse_uint("--reactors", optarg, 1, 64);
			break;
		case O_CHANNELS:
			o.channels = parse_uint("--channels", optarg, 1, 254);
			set_channels = true;
			break;
		case O_SIZE:
			o.size = parse_size(optarg);
			break;
		case O_RATE:
			o.rate = parse_rate("--rate", optarg);
			set_rate = true;
			break;
		case O_DURATION:
			o.duration = parse_secs("--duration", optarg, false);
			set_duration = true;
			break;
		case O_WARMUP:
			o.warmup = parse_secs("--warmup", optarg, true);
			break;
		case O_RELIABLE:
			o.reliable = true;
			break;
		case O_WINDOW:
			o.window = parse_uint("--window", optarg, 1, MAX_WINDOW);
			set_window = true;
			break;
		case O_JSON:
			o.json = true;
			break;
		case O_QUIET:
			o.quiet = true;
			break;
		case O_SOAK:
			o.soak = true;
			break;
		case O_SEED: {
			bool ok;

			o.seed = parse_num(optarg, &ok);
			if (!ok)
				bad_flag("--seed", optarg, "a number (e.g. 42)");
			set_seed = true;
			break;
		}
		case O_KEEP:
			o.keep = true;
			break;
		case O_REKEY:
			o.rekey_ms = parse_uint("--rekey", optarg, 100, 3600000);
			break;
		case O_TIMEOUT:
			o.timeout_ms = parse_uint("--timeout", optarg, 1, 3600000);
			break;
		case O_BIND:
			check_addr("--bind", optarg);
			o.bind = optarg;
			break;
		case O_TRANSPORT:
			if (!strcmp(optarg, "udp"))
				o.transport = RW_TRANSPORT_UDP;
			else if (!strcmp(optarg, "tcp"))
				o.transport = RW_TRANSPORT_TCP;
			else if (!strcmp(optarg, "auto"))
				o.transport = RW_TRANSPORT_AUTO;
			else
				bad_flag("--transport", optarg, "a transport; use udp, tcp or auto");
			break;
		case O_METRICS:
			check_addr("--metrics", optarg);
			o.metrics = optarg;
			break;
		case O_HISTOGRAM:
			if (!optarg[0])
				bad_flag("--histogram", optarg, "a file name (e.g. latency.hgrm)");
			o.histogram = optarg;
			break;
		case O_MAX_PACKET_SIZE:
			o.max_packet_size = parse_uint("--max-packet-size", optarg, 1232, 65000);
			break;
		case O_PAD:
			o.padding = (struct rw_padding){ .policy = RW_PAD_MULTIPLE,
							 .size = parse_uint("--pad", optarg, 0, 65000) };
			if (o.padding.size && o.padding.size < 16)
				bad_flag("--pad", optarg, "a multiple from 16 to 65000 bytes (0: full packets)");
			break;
		case O_PAD_FIXED: {
			char size[16];
			const char *comma = strchr(optarg, ',');
			size_t n = comma ? (size_t)(comma - optarg) : strlen(optarg);

			if (n >= sizeof(size))
				bad_flag("--pad-fixed", optarg, "SIZE or SIZE,COVER_MS (e.g. 1232,50)");
			memcpy(size, optarg, n);
			size[n] = 0;
			o.padding = (struct rw_padding){ .policy = RW_PAD_FIXED,
							 .size = parse_uint("--pad-fixed", size, 0, 65000) };
			if (o.padding.size && o.padding.size < 128)
				bad_flag("--pad-fixed", optarg, "a size from 128 to 65000 bytes (0: 1232)");
			if (comma)
				o.padding.cover_interval_ms = parse_uint("--pad-fixed", comma + 1, 1, 3600000);
			break;
		}
		case O_DIAL_TIMEOUT:
			o.dial_timeout = parse_secs("--dial-timeout", optarg, false);
			break;
		case O_SERVER_PID:
			o.server_pid = (long)parse_uint("--server-pid", optarg, 1, 1u << 30);
			if (kill((pid_t)o.server_pid, 0) && errno == ESRCH) {
				fprintf(stderr, "ringwire-load: --server-pid %s: no such process; give the server's pid "
						"(e.g. from pidof ringwire-echo)\n", optarg);
				exit(2);
			}
			break;
		case 'h':
		case O_HELP:
			usage(stdout);
			exit(0);
		case ':':
			fprintf(stderr, "ringwire-load: %s needs a value; see --help\n", argv[optind - 1]);
			exit(2);
		default: {
			const char *arg = argv[optind - 1], *eq = strchr(arg, '=');

			if (strncmp(arg, "--", 2))
				fprintf(stderr, "ringwire-load: unknown flag -%c; see --help\n", optopt ? optopt : '?');
			else if (optopt && eq)
				fprintf(stderr, "ringwire-load: %.*s takes no value; see --help\n", (int)(eq - arg), arg);
			else
				fprintf(stderr, "ringwire-load: unknown flag %.*s; see --help\n",
					eq ? (int)(eq - arg) : (int)strlen(arg), arg);
			exit(2);
		}
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "ringwire-load: missing the server URI, e.g. ringwire-load "
				"wire://wpub1...@127.0.0.1:9000; see --help\n");
		exit(2);
	}
	if (optind + 1 < argc) {
		fprintf(stderr, "ringwire-load: unexpected argument \"%s\" after the URI; see --help\n", argv[optind + 1]);
		exit(2);
	}
	o.uri = argv[optind];
	if (o.soak) {
		if (set_mode && o.mode != M_ECHO) {
			fprintf(stderr, "ringwire-load: --soak: runs in echo mode; drop --mode %s\n", mode_name[o.mode]);
			exit(2);
		}
		if (set_channels && o.channels != 2) {
			fprintf(stderr, "ringwire-load: --channels: --soak uses channel 1 (reliable) and 2 "
					"(unreliable); drop --channels\n");
			exit(2);
		}
		o.channels = 2;
		if (!set_sessions)
			o.sessions = SOAK_SESSIONS;
		if (!set_duration)
			o.duration = SOAK_DURATION;
		if (!set_rate)
			o.rate = SOAK_RATE;
		if (!o.rekey_ms)
			o.rekey_ms = SOAK_REKEY_MS;
	}
	if (o.mode == M_ECHO && o.size < 2) {
		/* a short echo is told apart by the low 8 size bits of its sequence number alone */
		unsigned most = 1u << (8 * o.size);

		if (!set_window && o.window > most) {
			o.window = most;
		} else if (o.window > most) {
			fprintf(stderr, "ringwire-load: --window: %u is too large for --size %zu: %s, so at most %u "
					"may be in flight; use --window %u or less, or a larger --size\n",
				o.window, o.size,
				o.size ? "a 1-byte event carries only the low 8 bits of its sequence number"
				       : "an empty event carries no sequence number",
				most, most);
			exit(2);
		}
	}
	if (!set_seed)
		o.seed = now_ns() ^ (uint64_t)getpid() << 32;
}

/* ---- main thread -------------------------------------------------------------------- */

static struct rw_client *cli;

static uint64_t rng_state;

static uint64_t rng(void)
{
	/* xorshift64*: reproducible from --seed */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dull;
}

/* VmRSS of a process (0: this one), KiB; -1 if unknown. */
static long rss_kib(long pid)
{
	char path[64], line[256];
	FILE *f;
	long v = -1;

	if (pid)
		snprintf(path, sizeof(path), "/proc/%ld/status", pid);
	else
		snprintf(path, sizeof(path), "/proc/self/status");
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld kB", &v) == 1)
			break;
	fclose(f);
	return v;
}

/* utime + stime of another process, seconds (/proc/PID/stat fields 14 and 15); -1 if unknown. */
static double proc_cpu_s(long pid)
{
	char path[64], buf[1024], *p;
	unsigned long ut, st;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	p = strrchr(buf, ')');	/* the command name may hold spaces */
	if (!p || sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
		return -1;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static double cpu_s(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
	       (double)ru.ru_stime.tv_usec / 1e6;
}

static uint64_t drops_of(const struct rw_stats *st)
{
	uint64_t d = 0;

	for (int i = 1; i < RW_DROP__COUNT; i++)
		d += st->drops[i];
	return d;
}

/*
 * Resolve the host once and dial a literal address: every rw_client_dial
 * resolves its host, and a name lookup per session would slow the dialling.
 */
static int resolve_uri(char *err, size_t errlen)
{
	struct rw_endpoint ep;
	struct addrinfo hints = { .ai_socktype = SOCK_DGRAM }, *res = NULL;
	char host[RW_HOST_MAX + 1];
	int ret;

	ret = rw_uri_parse(o.uri, &ep, err, errlen);
	if (ret)
		return 2;
	if (strchr(ep.host, ':'))
		snprintf(peer, sizeof(peer), "[%s]:%u", ep.host, ep.port);
	else
		snprintf(peer, sizeof(peer), "%s:%u", ep.host, ep.port);
	ret = getaddrinfo(ep.host, NULL, &hints, &res);
	if (ret || !res) {
		snprintf(err, errlen, "cannot resolve host \"%.100s\": %s", ep.host, gai_strerror(ret));
		return 1;
	}
	ret = getnameinfo(res->ai_addr, res->ai_addrlen, host, sizeof(host), NULL, 0, NI_NUMERICHOST);
	freeaddrinfo(res);
	if (ret || rw_uri_format(dial_uri, sizeof(dial_uri), ep.pubkey, host, ep.port) < 0) {
		snprintf(err, errlen, "cannot use the address of \"%.100s\"", ep.host);
		return 1;
	}
	return 0;
}

static int dial(unsigned i, bool initial)
{
	static bool told;
	struct slot *sl = &slots[i];
	char err[RW_ERRBUF_SIZE];
	int ret;

	/* the slot is ours: never dialled, or closed (acquire in the caller) */
	free_tracks(sl);
	memset((char *)sl + offsetof(struct slot, initial), 0, sizeof(*sl) - offsetof(struct slot, initial));
	atomic_store_explicit(&sl->close_req, false, memory_order_relaxed);
	sl->initial = initial;
	sl->dial_ns = now_ns();
	atomic_store_explicit(&sl->state, S_DIALING, memory_order_release);
	ret = rw_client_dial(cli, dial_uri, sl, NULL, err, sizeof(err));
	if (ret) {
		atomic_store_explicit(&sl->state, S_CLOSED, memory_order_relaxed);
		if (!told)
			fprintf(stderr, "ringwire-load: dial: %s\n", err);
		told = true;
	}
	return ret;
}

static void on_signal(int sig)
{
	(void)sig;
	interrupted = 1;
}

static void fmt_rate(char *out, size_t n, double v)
{
	if (v >= 1e6)
		snprintf(out, n, "%.2fM", v / 1e6);
	else if (v >= 1e3)
		snprintf(out, n, "%.1fk", v / 1e3);
	else
		snprintf(out, n, "%.0f", v);
}

struct snap {
	uint64_t ns, tx_ev, tx_bytes, rx_ev, rx_bytes, opened;
};

static void take_snap(struct snap *s)
{
	s->ns = now_ns();
	s->tx_ev = total(C_TX_EV);
	s->tx_bytes = total(C_TX_BYTES);
	s->rx_ev = total(C_RX_EV);
	s->rx_bytes = total(C_RX_BYTES);
	s->opened = total(C_OPENED);
}

static void progress(struct snap *prev)
{
	static const char *const tag[] = { "dial", "warm-up", "", "drain", "drain", "stop" };
	struct snap cur;
	struct rw_stats st;
	double dt, ev, bytes;
	char r[32];
	int ph = cur_phase();

	take_snap(&cur);
	dt = (double)(cur.ns - prev->ns) / 1e9;
	if (dt <= 0)
		return;
	rw_client_stats(cli, &st);
	if (o.mode == M_CONNECT) {
		fmt_rate(r, sizeof(r), (double)(cur.opened - prev->opened) / dt);
		fprintf(stderr, "ringwire-load: %6.1fs  %s handshakes/s  sessions up %" PRIu64 "  opened %" PRIu64
				"  drops %" PRIu64 "\n",
			(double)(cur.ns - t_start) / 1e9, r, st.sessions_open, cur.opened, drops_of(&st));
	} else {
		bool echo = o.mode == M_ECHO;

		ev = (double)(echo ? cur.rx_ev - prev->rx_ev : cur.tx_ev - prev->tx_ev) / dt;
		bytes = (double)(echo ? cur.rx_bytes - prev->rx_bytes : cur.tx_bytes - prev->tx_bytes) / dt;
		fmt_rate(r, sizeof(r), ev);
		fprintf(stderr, "ringwire-load: %6.1fs  %s %s ev/s  %.3f Gbit/s  sessions up %" PRIu64
				"  retransmits %" PRIu64 "  drops %" PRIu64 "%s%s\n",
			(double)(cur.ns - t_start) / 1e9, echo ? "echoed" : "sent", r, bytes * 8 / 1e9,
			st.sessions_open, st.retransmits, drops_of(&st), tag[ph][0] ? "  " : "", tag[ph]);
	}
	*prev = cur;
}

/* Soak: ask 1% of the open sessions (at least one) to close themselves. */
static void soak_close_some(void)
{
	unsigned want = o.sessions / 100 ? o.sessions / 100 : 1, done = 0;

	for (unsigned tries = 0; done < want && tries < want * 8; tries++) {
		struct slot *sl = &slots[rng() % o.sessions];

		if (atomic_load_explicit(&sl->state, memory_order_acquire) == S_OPEN &&
		    !atomic_load_explicit(&sl->close_req, memory_order_relaxed)) {
			atomic_store_explicit(&sl->close_req, true, memory_order_relaxed);
			done++;
		}
	}
}

struct result {
	double interval_s, cpu_total, cpu_meas, hs_per_s;
	uint64_t c[C__COUNT];
	uint64_t why[RW_CLOSE__COUNT];
	uint64_t last_open_ns, first_dial_ns;
	struct hist lat, lat_int, hs;
	struct rw_stats st0, st1, st_end;
	long rss0, rss1;
	uint64_t dials;
	/* the dial phase: how long, how many up at its end and when measuring began, memory before and after */
	double dial_s;
	bool dial_deadline;
	uint64_t up_dialled, up_meas;
	long rss_before, rss_up, srv_rss_before, srv_rss_up;
	double srv_cpu0, srv_cpu1;	/* --server-pid: its CPU seconds when measuring began and ended */
};

static void collect(struct result *r)
{
	for (struct worker *w = workers; w; w = w->next) {
		for (int i = 0; i < C__COUNT; i++)
			r->c[i] += atomic_load(&w->c[i]);
		for (int i = 0; i < RW_CLOSE__COUNT; i++)
			r->why[i] += w->why[i];
		if (w->last_open_ns > r->last_open_ns)
			r->last_open_ns = w->last_open_ns;
		hist_merge(&r->lat, &w->lat);
		hist_merge(&r->lat_int, &w->lat_int);
		hist_merge(&r->hs, &w->hs);
	}
}

static void print_reasons(const char *what, const struct result *r, uint64_t n)
{
	if (!n)
		return;
	printf("  %-18s%" PRIu64 " (", what, n);
	for (int i = 0, first = 1; i < RW_CLOSE__COUNT; i++)
		if (r->why[i]) {
			printf("%s%s %" PRIu64, first ? "" : ", ", rw_close_reason_name((enum rw_close_reason)i), r->why[i]);
			first = 0;
		}
	printf(")\n");
}

/*
 * Why no session connected, in one line, from the first dial that failed:
 * no answer (a wrong key looks exactly like no server: the server drops
 * what it cannot decrypt), refused by the server, or a local error, which
 * is ours to fix and not the server's.
 */
static void dial_failure(char *out, size_t n)
{
	const char *msg = first_fail.message[0] ? first_fail.message : rw_close_reason_name(first_fail.reason);
	char within[48] = "";

	if (o.timeout_ms)
		snprintf(within, sizeof(within), " within %u ms", o.timeout_ms);
	if (first_fail_set && (first_fail.by_peer || first_fail.reason == RW_CLOSE_REJECTED))
		snprintf(out, n, "no session could connect to %s: refused by the server (%s%s%s)", peer,
			 rw_close_reason_name(first_fail.reason), first_fail.message[0] ? ": " : "", first_fail.message);
	else if (first_fail_set && first_fail.reason == RW_CLOSE_NETWORK)
		snprintf(out, n, "no session could connect to %s: local error: %s", peer, msg);
	else
		snprintf(out, n, "no session could connect to %s: no answer%s; check the key in the URI and the address "
			 "(is the server running?)", peer, within);
}

/* "s" for a count other than one: "1 retransmit", "2 retransmits" */
static const char *plural(uint64_t n)
{
	return n == 1 ? "" : "s";
}

static void json_num(const char *key, double v, bool valid, bool comma)
{
	if (valid)
		printf("\"%s\":%.3f%s", key, v, comma ? "," : "");
	else
		printf("\"%s\":null%s", key, comma ? "," : "");
}

/* The client could not be made: for --bind, the usual causes in words. */
static void create_failed(int ret, const char *bind, const char *err)
{
	if (bind && ret == -EADDRNOTAVAIL)
		fprintf(stderr, "ringwire-load: --bind %s: not an address of this machine; give one it has, or drop "
			"--bind\n", bind);
	else if (bind && ret == -EADDRINUSE)
		fprintf(stderr, "ringwire-load: --bind %s: that port is in use; give another, or port 0 for any free "
			"one\n", bind);
	else
		fprintf(stderr, "ringwire-load: %s\n", err);
}

int main(int argc, char **argv)
{
	struct rw_client_config cfg;
	struct rw_handler any = { .on_open = on_open, .on_event = on_event, .on_close = on_close,
				  .on_writable = on_writable, .on_tick = on_tick };
	struct rw_handler rel = { .on_event = on_event, .on_writable = on_writable, .flags = RW_CHANNEL_RELIABLE };
	static struct result res;
	struct result *r = &res;
	struct snap prev;
	struct sigaction sa = { .sa_handler = on_signal };
	char err[RW_ERRBUF_SIZE];
	uint64_t warm_ns, end_ns, t_meas0 = 0, t_meas1 = 0, next_progress, next_soak, next_scan, dial_end_ns;
	unsigned dialled = 0, spr;
	double dial_tokens = 0, cpu0 = 0, cpu1 = 0;
	uint64_t last_dial_ns;
	bool failed = false;
	int ret, ph;

	parse_args(argc, argv);
	ret = resolve_uri(err, sizeof(err));
	if (ret) {
		fprintf(stderr, "ringwire-load: %s\n", err);
		return ret;
	}
	rng_state = o.seed ? o.seed : 0x9e3779b97f4a7c15ull;

	/* derived settings */
	ncls = o.soak ? 2 : 1;
	ring = 64;
	while (ring < 2 * o.window)
		ring <<= 1;
	ring_mask = ring - 1;
	short_ev = o.mode == M_ECHO && o.size < HDR;
	span = ring;
	if (short_ev && o.size < 4 && span > UINT32_C(1) << (8 * o.size))
		span = UINT32_C(1) << (8 * o.size);
	run_len = (unsigned)(1100 / (o.size + 8));
	if (run_len < 1)
		run_len = 1;
	/* ticks per second per reactor stay around 16k/tick_ms-sessions: cheap, yet fine-grained when few */
	spr = (o.sessions + o.reactors - 1) / o.reactors;
	tick_ms = spr / 16;
	tick_ms = tick_ms < 1 ? 1 : tick_ms > 250 ? 250 : tick_ms;
	if (o.rate > 0) {
		paced = true;
		driven = o.mode == M_ECHO && !o.soak;
		tok_per_ns = o.rate / o.sessions / 1e9;
		atomic_store(&drive_per_ns, tok_per_ns);
		/* absorb a few late ticks, no more: a stalled session must not burst later */
		tok_cap = tok_per_ns * 1e6 * tick_ms * 4;
		if (tok_cap < 2)
			tok_cap = 2;
	} else if (o.mode == M_ONEWAY) {
		/*
		 * Unlimited one-way: each session starts at 256 KiB per reactor
		 * per millisecond and finds its rate from there (adaptive, at
		 * the top of the file); against a sink that cannot tell it, it
		 * stays there, at most one tick's worth at a time, which the
		 * engine's 2048 send buffers hold.
		 */
		uint64_t bytes = (uint64_t)256 * 1024 * tick_ms;

		if (bytes > 1536 * 1024)
			bytes = 1536 * 1024;
		bytes /= (uint64_t)spr * (o.size + 32);
		paced = true;
		tok_cap = bytes ? (double)bytes : 1.0;
		tok_per_ns = tok_cap / (tick_ms * 1e6);
		rate_min = 1.0 / (tick_ms * 1e6);
		/* 4 GB/s per reactor: more than a core seals */
		rate_max = (double)(4ull << 30) / ((double)spr * (o.size + 32)) / 1e9;
		/*
		 * A tick's burst: what the engine's send buffers hold. Small
		 * events share the 2048 packet-size buffers (1.5 MiB); events
		 * that fill large UDP datagrams take the 256 large ones, of
		 * which a burst takes at most 48 (3 MiB; 64 KiB one-way: 1.5 MiB
		 * 10.1 Gbit/s, 3 MiB 14.3, 6 MiB 13.3: the rest waits parked).
		 * Over TCP a connection's bounded send queue takes 1.5 MiB
		 * (3 MiB: 10.2 -> 6.9 Gbit/s).
		 */
		burst_cap = (double)(o.size >= 8192 && !over_tcp() ? 3072 * 1024 : 1536 * 1024) /
			    ((double)spr * (o.size + 32));
		if (burst_cap < 1.0)
			burst_cap = 1.0;
		if (rate_max < rate_min)
			rate_max = rate_min;
		if (o.reliable) {
			/*
			 * Reliable channels pace themselves: the engine's window
			 * and congestion control say -EAGAIN and on_writable.
			 * Probes would take events in flight or being repaired
			 * for lost ones and cut the rate for nothing.
			 */
			tok_per_ns = rate_max;
			tok_cap = burst_cap;
		} else {
			adaptive = true;
		}
	}

	slots = calloc(o.sessions, sizeof(*slots));
	if (!slots) {
		fprintf(stderr, "ringwire-load: out of memory for %u sessions\n", o.sessions);
		return 1;
	}
	rw_client_config_init(&cfg);
	cfg.has_private_key = 0;
	cfg.reactors = o.reactors;
	cfg.quiet = o.quiet;
	cfg.max_packet_size = o.max_packet_size;
	cfg.padding = o.padding;
	/* room for every session, and the soak's replacements while the old ones close */
	cfg.max_sessions = o.sessions + o.sessions / 4 + 1024;
	/* the server's timers are its own: this only makes our side rekey sooner */
	cfg.timers.rekey_after_ms = o.rekey_ms;
	cfg.handshake_timeout_ms = o.timeout_ms;
	cfg.bind = o.bind;
	cfg.transport = o.transport;
	ret = rw_client_create(&cli, &cfg, err, sizeof(err));
	if (ret) {
		create_failed(ret, cfg.bind, err);
		return 1;
	}
	if (o.metrics) {
		ret = rw_client_metrics_listen(cli, o.metrics, err, sizeof(err));
		if (ret < 0) {
			fprintf(stderr, "ringwire-load: --metrics %s\n", err);
			rw_client_destroy(cli);
			return 1;
		}
		{
			char host[RW_HOST_MAX + 1];
			uint16_t given;

			rw_hostport_parse(o.metrics, host, &given, NULL, 0);
			fprintf(stderr, strchr(host, ':') ? "ringwire-load: metrics at http://[%s]:%d/metrics\n"
							  : "ringwire-load: metrics at http://%s:%d/metrics\n", host, ret);
		}
	}
	rw_client_on(cli, RW_CHANNEL_ANY, &any);
	if (o.soak)
		rw_client_on(cli, 1, &rel);
	else if (o.reliable)
		for (unsigned ch = 1; ch <= o.channels; ch++)
			rw_client_on(cli, (int)ch, &rel);
	ret = rw_client_start(cli);
	if (ret) {
		fprintf(stderr, "ringwire-load: cannot start the client: %s\n", strerror(-ret));
		rw_client_destroy(cli);
		return 1;
	}
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	r->rss_before = rss_kib(0);
	r->srv_rss_before = o.server_pid ? rss_kib(o.server_pid) : -1;
	if (o.dial_timeout > 0)
		dial_end_ns = (uint64_t)(o.dial_timeout * 1e9);
	else
		dial_end_ns = (uint64_t)((DIAL_GRACE_S + 2.0 * o.sessions / (o.connect_rate > 0 ? o.connect_rate : 10000)) *
					 1e9);
	atomic_store(&phase, o.mode == M_CONNECT ? P_WARMUP : P_DIAL);
	t_start = now_ns();
	r->first_dial_ns = t_start;
	last_dial_ns = t_start;
	warm_ns = o.mode == M_CONNECT ? 0 : (uint64_t)(o.warmup * 1e9);
	end_ns = warm_ns + (uint64_t)(o.duration * 1e9);
	next_progress = t_start + NS;
	next_soak = t_start + NS;
	next_scan = t_start;
	take_snap(&prev);
	if (!o.quiet)
		fprintf(stderr, "ringwire-load: %s%s, sessions %u, reactors %u, event size %zu, to %s\n",
			mode_name[o.mode], o.soak ? " (soak)" : "", o.sessions, o.reactors, o.size, o.uri);
	for (;;) {
		uint64_t now = now_ns(), el = now - t_start;

		ph = cur_phase();
		if (interrupted && ph < P_DRAIN) {
			/* ^C: end the measured interval now, report what we have */
			if (warm_ns > el)
				warm_ns = el;
			end_ns = el;
		}
		if (ph == P_DIAL && (interrupted || el >= dial_end_ns ||
				     total(C_OPENED_INIT) + total(C_FAILED) >= o.sessions)) {
			/* every dial resolved, or the deadline: the warm-up begins, with what is up */
			struct rw_stats st;

			rw_client_stats(cli, &st);
			r->dial_s = (double)el / 1e9;
			r->dial_deadline = total(C_OPENED_INIT) + total(C_FAILED) < o.sessions;
			r->up_dialled = st.sessions_open;
			r->rss_up = rss_kib(0);
			r->srv_rss_up = o.server_pid ? rss_kib(o.server_pid) : -1;
			/* --rate is for the sessions up: those the deadline left out do not lower it */
			if (driven && st.sessions_open)
				atomic_store(&drive_per_ns, o.rate / (double)st.sessions_open / 1e9);
			if (!interrupted) {
				warm_ns = el + warm_ns;
				end_ns = warm_ns + (uint64_t)(o.duration * 1e9);
			}
			atomic_store(&phase, P_WARMUP);
			ph = P_WARMUP;
		}
		if (ph == P_WARMUP && el >= warm_ns) {
			rw_client_stats(cli, &r->st0);
			r->up_meas = r->st0.sessions_open;
			cpu0 = cpu_s();
			if (o.server_pid)
				r->srv_cpu0 = proc_cpu_s(o.server_pid);
			r->rss0 = rss_kib(0);
			t_meas0 = now_ns();
			atomic_store(&phase, P_MEASURE);
			ph = P_MEASURE;
		}
		if (ph == P_MEASURE && el >= end_ns) {
			t_meas1 = now_ns();
			rw_client_stats(cli, &r->st1);
			cpu1 = cpu_s();
			if (o.server_pid)
				r->srv_cpu1 = proc_cpu_s(o.server_pid);
			atomic_store(&phase, P_DRAIN);
			ph = P_DRAIN;
			if (o.mode == M_CONNECT)
				break;
		}
		if (ph == P_MEASURE && o.mode == M_CONNECT && !o.keep &&
		    total(C_OPENED) + total(C_FAILED) >= o.sessions) {
			/* every dial is resolved: the connect test is over */
			end_ns = el;
			continue;
		}
		if (ph <= P_MEASURE && !o.soak && dialled == o.sessions && total(C_FAILED) >= o.sessions) {
			/* every dial failed: nothing to wait for */
			end_ns = el;
			interrupted = 1;
		}
		if (ph == P_DRAIN) {
			uint64_t d = now > t_meas1 ? (now - t_meas1) / 1000000 : 0;

			if (o.mode == M_ECHO && ((d >= MIN_DRAIN_MS && total(C_INFLIGHT) == 0) || d >= DRAIN_MAX_MS))
				break;
			if (o.mode == M_ONEWAY && d >= QUERY_AFTER_MS) {
				atomic_store(&phase, P_QUERY);
				ph = P_QUERY;
			}
		}
		if (ph == P_QUERY) {
			uint64_t d = now > t_meas1 ? (now - t_meas1) / 1000000 : 0;

			if ((d >= QUERY_AFTER_MS + MIN_DRAIN_MS && total(C_NEED_REPORT) == 0) || d >= DRAIN_MAX_MS)
				break;
		}
		/* dialling, paced by a token bucket (replacements in the soak too) */
		if (ph <= P_MEASURE) {
			if (o.connect_rate > 0) {
				dial_tokens += o.connect_rate * (double)(now - last_dial_ns) / 1e9;
				if (dial_tokens > o.connect_rate / 100 + 1)
					dial_tokens = o.connect_rate / 100 + 1;	/* at most 10 ms of burst */
			} else {
				dial_tokens = 1e18;
			}
			last_dial_ns = now;
			/*
			 * Back off while more than 50 ms of dials are unanswered: a
			 * slow server (or one under load, answering with cookies)
			 * gets no more than it answers, and no dial waits long
			 * enough for the engine's retry a second later, which would
			 * be one more handshake for the server to do.
			 */
			if (o.connect_rate > 0 && o.mode != M_CONNECT) {
				uint64_t open = dialled - (total(C_OPENED_INIT) + total(C_FAILED));

				if (open > (uint64_t)(o.connect_rate / 20) + 16)
					dial_tokens = 0;
			}
			while (dialled < o.sessions && dial_tokens >= 1 && (ph == P_DIAL || o.mode == M_CONNECT)) {
				if (dial(dialled, true) && dialled == 0) {
					failed = true;
					break;
				}
				dialled++;
				r->dials++;
				dial_tokens -= 1;
			}
			if (failed)
				break;
			if (o.soak && now >= next_scan) {
				/* re-dial every slot whose session closed */
				for (unsigned i = 0; i < dialled && dial_tokens >= 1; i++) {
					if (atomic_load_explicit(&slots[i].state, memory_order_acquire) == S_CLOSED) {
						dial(i, false);
						r->dials++;
						dial_tokens -= 1;
					}
				}
				next_scan = now + 50 * 1000000ull;
			}
			if (o.soak && ph == P_MEASURE && now >= next_soak) {
				soak_close_some();
				next_soak = now + NS;
			}
		}
		if (!o.quiet && now >= next_progress) {
			progress(&prev);
			next_progress += NS;
		}
		nanosleep(&(struct timespec){ .tv_nsec = 1000000 }, NULL);
	}
	if (!t_meas1) {
		t_meas1 = now_ns();
		rw_client_stats(cli, &r->st1);
		cpu1 = cpu_s();
	}
	if (!t_meas0)
		t_meas0 = t_meas1;
	r->rss1 = rss_kib(0);
	atomic_store(&phase, P_STOP);
	rw_client_stop(cli);
	rw_client_wait(cli);
	rw_client_stats(cli, &r->st_end);
	r->cpu_total = cpu_s();
	r->cpu_meas = cpu1 - cpu0;
	r->interval_s = (double)(t_meas1 - t_meas0) / 1e9;
	collect(r);
	rw_client_destroy(cli);

	/* ---- results ---- */
	uint64_t *c = r->c;
	double iv = r->interval_s > 0 ? r->interval_s : 1e-9;
	uint64_t sent, recv, lost, dups = 0, reorder = 0, bytes, rel_sent = 0, rel_recv = 0, rel_lost = 0,
						    rel_dups = 0, rel_abandon = 0, abandon = 0, rel_holes = 0;
	bool lat_valid = o.mode == M_ECHO && r->lat.n > 0, hs_valid = r->hs.n > 0;
	bool int_valid = driven && r->lat_int.n > 0;
	bool srv_cpu_valid = o.server_pid && r->srv_cpu0 >= 0 && r->srv_cpu1 >= r->srv_cpu0 && o.mode != M_CONNECT;
	uint64_t up = r->up_dialled;
	bool rss_valid = r->rss_before > 0 && r->rss_up > 0 && up > 0 && o.mode != M_CONNECT;
	bool srss_valid = r->srv_rss_before > 0 && r->srv_rss_up > 0 && up > 0 && o.mode != M_CONNECT;
	double rss_per = rss_valid ? (double)(r->rss_up - r->rss_before) / (double)up : 0;
	double srss_per = srss_valid ? (double)(r->srv_rss_up - r->srv_rss_before) / (double)up : 0;
	double hs_span = r->last_open_ns > r->first_dial_ns ? (double)(r->last_open_ns - r->first_dial_ns) / 1e9 : 0;
	double pkts = (double)((r->st1.tx_packets + r->st1.rx_packets) - (r->st0.tx_packets + r->st0.rx_packets)) / iv;
	const char *exit_reason = NULL;
	char why_buf[RW_ERRBUF_SIZE + 2 * RW_HOST_MAX];

	if (o.mode == M_ONEWAY) {
		sent = c[C_REP_SENT];
		recv = c[C_REP_EVENTS];
		bytes = c[C_REP_BYTES];
	} else {
		sent = c[C_SENT_M] + c[C_SENT_M1];
		recv = c[C_RECV_M] + c[C_RECV_M1];
		dups = c[C_DUP] + c[C_DUP1];
		reorder = c[C_REORDER] + c[C_REORDER1];
		abandon = c[C_ABANDON] + c[C_ABANDON1];
		bytes = c[C_RECV_BYTES_M];
		for (unsigned k = 0; k < ncls; k++) {
			if (!cls_reliable(k))
				continue;
			rel_sent += c[C_SENT_M + k];
			rel_recv += c[C_RECV_M + k];
			rel_dups += c[C_DUP + k];
			rel_abandon += c[C_ABANDON + k];
		}
		rel_lost = rel_sent > rel_recv + rel_abandon ? rel_sent - rel_recv - rel_abandon : 0;
		rel_holes = rel_lost > c[C_UNANSWERED] ? rel_lost - c[C_UNANSWERED] : 0;
	}
	lost = sent > recv + abandon ? sent - recv - abandon : 0;
	r->hs_per_s = hs_span > 0 ? (double)c[C_OPENED_INIT] / hs_span : 0;
	if (c[C_OPENED] == 0) {
		dial_failure(why_buf, sizeof(why_buf));
		exit_reason = why_buf;
		failed = true;
	}
	if (o.soak) {
		long grow = r->rss1 - r->rss0;

		if (rel_holes || rel_dups || c[C_REORDER]) {
			snprintf(why_buf, sizeof(why_buf),
				 "soak failed: reliable events lost %" PRIu64 ", duplicated %" PRIu64
				 ", out of order %" PRIu64 " (all must be 0)",
				 rel_holes, rel_dups, c[C_REORDER]);
			exit_reason = why_buf;
			failed = true;
		} else if (rel_lost) {
			snprintf(why_buf, sizeof(why_buf),
				 "soak failed: %" PRIu64 " reliable event%s still unanswered when the drain ended: "
				 "overloaded (see the latencies); try fewer --sessions or a longer --rekey",
				 rel_lost, plural(rel_lost));
			exit_reason = why_buf;
			failed = true;
		} else if (r->rss0 > 0 && grow > r->rss0 * RSS_TOL_PCT / 100 && grow > (long)RSS_TOL_MIB * 1024) {
			snprintf(why_buf, sizeof(why_buf),
				 "soak failed: resident memory grew from %ld to %ld KiB (tolerance +%d%% and +%d MiB)",
				 r->rss0, r->rss1, RSS_TOL_PCT, RSS_TOL_MIB);
			exit_reason = why_buf;
			failed = true;
		}
	}

	printf("ringwire-load: %s%s against %s\n", mode_name[o.mode], o.soak ? " (soak)" : "", o.uri);
	printf("  %-18s%u requested, %" PRIu64 " connected; reactors %u\n", "sessions", o.sessions,
	       c[C_OPENED_INIT], o.reactors);
	if (o.mode != M_CONNECT) {
		printf("  %-18s%" PRIu64 " after %.2f s of dialling (%s), %" PRIu64 " when measuring began\n",
		       "sessions up", up, r->dial_s, r->dial_deadline ? "stopped at the --dial-timeout" : "every dial resolved",
		       r->up_meas);
		if (rss_valid)
			printf("  %-18sclient %.2f KiB per session (%ld KiB before dialling, %ld KiB with all up)\n",
			       "memory", rss_per, r->rss_before, r->rss_up);
		if (srss_valid)
			printf("  %-18sserver %.2f KiB per session (%ld KiB before dialling, %ld KiB with all up)\n",
			       "memory", srss_per, r->srv_rss_before, r->srv_rss_up);
	}
	if (o.mode != M_CONNECT) {
		printf("  %-18s%zu bytes, %u channel%s, %s", "events", o.size, o.channels, o.channels > 1 ? "s" : "",
		       o.soak ? "channel 1 reliable, 2 unreliable" : o.reliable ? "reliable" : "unreliable");
		if (o.mode == M_ECHO)
			printf(", window %u", o.window);
		if (o.rate > 0)
			printf(", target %.0f/s", o.rate);
		printf("\n");
		if (adaptive)
			printf("  %-18s%s\n", "rate", rate_control(c));
		else if (o.mode == M_ONEWAY && o.rate <= 0)
			printf("  %-18s%s\n", "rate", "the reliable channel's window and congestion control");
		printf("  %-18s%.2f s (after %.2f s warm-up)\n", "measured", r->interval_s, o.warmup);
		printf("  %-18s%.0f\n", "events/s", (double)recv / iv);
		printf("  %-18s%.3f Gbit/s\n", "payload", (double)bytes * 8 / iv / 1e9);
		printf("  %-18s%.0f\n", "packets/s", pkts);
		printf("  %-18s%" PRIu64 "\n", "sent", sent);
		printf("  %-18s%" PRIu64 "%s\n", "received", recv,
		       o.mode == M_ONEWAY ? " (counted by the server)" : "");
		printf("  %-18s%" PRIu64 " (%.4f%%)\n", "lost", lost, sent ? 100.0 * (double)lost / (double)sent : 0.0);
		if (o.mode == M_ECHO) {
			printf("  %-18s%" PRIu64 "\n", "duplicates", dups);
			if (o.reliable || o.soak)
				printf("  %-18s%" PRIu64 "\n", "out of order", reorder);
			if (rel_lost)
				printf("  %-18s%" PRIu64 " of the reliable events lost were still in flight when the "
				       "drain ended\n", "unanswered", rel_lost - rel_holes);
			if (c[C_LATE] || c[C_EXPIRED])
				printf("  %-18s%" PRIu64 " given up after %d ms, %" PRIu64 " of them came later\n",
				       "expired", c[C_EXPIRED], EXPIRE_MS, c[C_LATE]);
		}
		if (lat_valid)
			printf("  %-18sp50 %.1f  p90 %.1f  p99 %.1f  p99.9 %.1f  max %.1f  (send to echo)\n",
			       "latency (us)", hist_pct(&r->lat, 50), hist_pct(&r->lat, 90), hist_pct(&r->lat, 99),
			       hist_pct(&r->lat, 99.9), (double)r->lat.max_ns / 1000);
		if (short_ev)
			printf("  %-18s- (not measured: events under %d bytes carry no send time)\n", "latency (us)", HDR);
		if (int_valid)
			printf("  %-18sp50 %.1f  p90 %.1f  p99 %.1f  p99.9 %.1f  max %.1f  (intended send time to echo: "
			       "coordinated omission corrected)\n",
			       "latency (us)", hist_pct(&r->lat_int, 50), hist_pct(&r->lat_int, 90),
			       hist_pct(&r->lat_int, 99), hist_pct(&r->lat_int, 99.9), (double)r->lat_int.max_ns / 1000);
	}
	if (hs_valid)
		printf("  %-18s%" PRIu64 " in %.3f s: %.0f/s; latency (us) p50 %.1f  p99 %.1f  max %.1f\n", "handshakes",
		       c[C_OPENED_INIT], hs_span, r->hs_per_s, hist_pct(&r->hs, 50), hist_pct(&r->hs, 99),
		       (double)r->hs.max_ns / 1000);
	print_reasons("dials failed", r, c[C_FAILED]);
	if (!c[C_FAILED])
		print_reasons("closed unexpectedly", r, c[C_UNEXPECTED]);
	else if (c[C_UNEXPECTED])
		printf("  %-18s%" PRIu64 "\n", "closed unexpectedly", c[C_UNEXPECTED]);
	printf("  %-18s%" PRIu64 " retransmit%s, %" PRIu64 " drop%s, %" PRIu64 " rekey%s\n", "engine",
	       r->st_end.retransmits, plural(r->st_end.retransmits), drops_of(&r->st_end),
	       plural(drops_of(&r->st_end)), r->st_end.rekeys, plural(r->st_end.rekeys));
	printf("  %-18s%.2f s user+sys in all, %.2f s in the measured interval", "cpu", r->cpu_total, r->cpu_meas);
	if (o.mode != M_CONNECT && recv)
		printf(" (%.2f us per event)", r->cpu_meas * 1e6 / (double)recv);
	printf("\n");
	if (srv_cpu_valid)
		printf("  %-18s%.2f s user+sys in the measured interval (%.2f us per event)\n", "server cpu",
		       r->srv_cpu1 - r->srv_cpu0, recv ? (r->srv_cpu1 - r->srv_cpu0) * 1e6 / (double)recv : 0.0);
	if (o.mode == M_ONEWAY && (c[C_UNREPORTED] || c[C_BAD_REPORT] || c[C_SINK_ECHOED]))
		printf("  %-18s%" PRIu64 " session%s without a count%s\n", "warning", c[C_UNREPORTED] + c[C_BAD_REPORT],
		       plural(c[C_UNREPORTED] + c[C_BAD_REPORT]),
		       c[C_SINK_ECHOED] || c[C_BAD_REPORT]
			       ? "; the server echoes type 253/252: it does not follow the sink convention" : "");
	if (c[C_BADLEN] || c[C_UNKNOWN] || c[C_SEND_ERR])
		printf("  %-18s%" PRIu64 " echo%s of the wrong size, %" PRIu64 " unknown, %" PRIu64 " send error%s\n",
		       "warning", c[C_BADLEN], c[C_BADLEN] == 1 ? "" : "es", c[C_UNKNOWN], c[C_SEND_ERR],
		       plural(c[C_SEND_ERR]));
	if (o.soak) {
		printf("  %-18s%" PRIu64 " sent, %" PRIu64 " received, %" PRIu64 " lost (%" PRIu64
		       " still in flight when the drain ended), %" PRIu64 " duplicated, %" PRIu64 " out of order, %" PRIu64
		       " in flight on sessions closed on purpose\n",
		       "reliable (ch 1)", rel_sent, rel_recv, rel_lost, rel_lost - rel_holes, rel_dups, c[C_REORDER],
		       rel_abandon);
		printf("  %-18s%" PRIu64 " sent, %" PRIu64 " received, %" PRIu64 " duplicated\n", "unreliable (ch 2)",
		       c[C_SENT_M1], c[C_RECV_M1], c[C_DUP1]);
		printf("  %-18s%" PRIu64 " closed on purpose and re-dialled, %" PRIu64 " dial%s in all\n", "reconnects",
		       c[C_DELIBERATE], r->dials, plural(r->dials));
		printf("  %-18s%ld KiB after warm-up, %ld KiB at the end (tolerance +%d%% and +%d MiB)\n", "resident memory",
		       r->rss0, r->rss1, RSS_TOL_PCT, RSS_TOL_MIB);
		printf("  %-18s%s\n", "soak", failed ? "FAILED" : "passed");
	}
	if (o.json) {
		printf("{\"mode\":\"%s\",\"transport\":\"%s\",\"sessions\":%u,\"sessions_connected\":%" PRIu64
		       ",\"reactors\":%u,\"size\":%zu,\"channels\":%u,\"reliable\":%s,\"soak\":%s,\"duration_s\":%.3f,\"warmup_s\":%.3f,"
		       "\"rate_target\":%.0f,",
		       mode_name[o.mode],
		       over_tcp() ? "tcp"
		       : o.transport == RW_TRANSPORT_AUTO					  ? "auto"
											  : "udp",
		       o.sessions, c[C_OPENED_INIT], o.reactors, o.size, o.channels,
		       o.reliable || o.soak ? "true" : "false", o.soak ? "true" : "false", r->interval_s, o.warmup,
		       o.rate);
		if (adaptive)
			printf("\"rate_control\":\"%s\",\"rate_probes\":%" PRIu64 ",\"rate_cuts\":%" PRIu64 ",",
			       atomic_load(&untagged_sink) || !c[C_PROBES] ? "fixed" : "probe", c[C_PROBES], c[C_RATE_CUTS]);
		else if (o.mode == M_ONEWAY && o.rate <= 0)
			printf("\"rate_control\":\"window\",\"rate_probes\":0,\"rate_cuts\":0,");
		json_num("events_per_s", (double)recv / iv, o.mode != M_CONNECT, true);
		json_num("payload_gbit_s", (double)bytes * 8 / iv / 1e9, o.mode != M_CONNECT, true);
		json_num("packets_per_s", pkts, true, true);
		printf("\"sent\":%" PRIu64 ",\"received\":%" PRIu64 ",\"lost\":%" PRIu64 ",", sent, recv, lost);
		if (o.mode == M_ECHO)
			printf("\"duplicates\":%" PRIu64 ",\"reordered\":%" PRIu64 ",\"expired\":%" PRIu64
			       ",\"unanswered\":%" PRIu64 ",", dups, reorder, c[C_EXPIRED], rel_lost - rel_holes);
		else
			printf("\"duplicates\":null,\"reordered\":null,\"expired\":null,");
		printf("\"latency_measured\":%s,\"latency_us\":{", o.mode == M_ECHO && !short_ev ? "true" : "false");
		json_num("p50", hist_pct(&r->lat, 50), lat_valid, true);
		json_num("p90", hist_pct(&r->lat, 90), lat_valid, true);
		json_num("p99", hist_pct(&r->lat, 99), lat_valid, true);
		json_num("p999", hist_pct(&r->lat, 99.9), lat_valid, true);
		json_num("max", (double)r->lat.max_ns / 1000, lat_valid, false);
		printf("},\"latency_intended_us\":{");
		json_num("p50", hist_pct(&r->lat_int, 50), int_valid, true);
		json_num("p90", hist_pct(&r->lat_int, 90), int_valid, true);
		json_num("p99", hist_pct(&r->lat_int, 99), int_valid, true);
		json_num("p999", hist_pct(&r->lat_int, 99.9), int_valid, true);
		json_num("max", (double)r->lat_int.max_ns / 1000, int_valid, false);
		printf("},\"latency_kinds\":{\"latency_us\":\"send to echo\",\"latency_intended_us\":"
		       "\"intended send time to echo (paced echo runs; coordinated omission corrected)\"},");
		if (o.mode != M_CONNECT)
			printf("\"sessions_up\":%" PRIu64 ",\"sessions_up_measured\":%" PRIu64 ",\"dial_s\":%.3f,"
			       "\"dial_deadline_hit\":%s,",
			       up, r->up_meas, r->dial_s, r->dial_deadline ? "true" : "false");
		else
			printf("\"sessions_up\":null,\"sessions_up_measured\":null,\"dial_s\":null,\"dial_deadline_hit\":null,");
		json_num("rss_kib_per_session", rss_per, rss_valid, true);
		json_num("server_rss_kib_per_session", srss_per, srss_valid, true);
		json_num("handshakes_per_s", r->hs_per_s, hs_valid, true);
		printf("\"handshake_latency_us\":{");
		json_num("p50", hist_pct(&r->hs, 50), hs_valid, true);
		json_num("p99", hist_pct(&r->hs, 99), hs_valid, true);
		json_num("max", (double)r->hs.max_ns / 1000, hs_valid, false);
		printf("},\"dials_failed\":%" PRIu64 ",\"closed_unexpectedly\":%" PRIu64 ",\"retransmits\":%" PRIu64
		       ",\"drops\":%" PRIu64 ",\"rekeys\":%" PRIu64 ",\"padding_bytes\":%" PRIu64
		       ",\"cover_packets\":%" PRIu64 ",",
		       c[C_FAILED], c[C_UNEXPECTED], r->st_end.retransmits, drops_of(&r->st_end), r->st_end.rekeys,
		       r->st_end.tx_padding_bytes, r->st_end.cover_packets);
		json_num("cpu_s", r->cpu_total, true, true);
		json_num("server_cpu_measured_s", r->srv_cpu1 - r->srv_cpu0, srv_cpu_valid, true);
		json_num("cpu_measured_s", r->cpu_meas, true, o.soak);
		if (o.soak)
			printf("\"soak_reliable\":{\"sent\":%" PRIu64 ",\"received\":%" PRIu64 ",\"lost\":%" PRIu64
			       ",\"unanswered\":%" PRIu64 ",\"duplicates\":%" PRIu64 ",\"reordered\":%" PRIu64
			       ",\"abandoned\":%" PRIu64
			       "},\"reconnects\":%" PRIu64 ",\"rss_start_kib\":%ld,\"rss_end_kib\":%ld,\"passed\":%s",
			       rel_sent, rel_recv, rel_lost, rel_lost - rel_holes, rel_dups, c[C_REORDER], rel_abandon,
			       c[C_DELIBERATE],
			       r->rss0, r->rss1, failed ? "false" : "true");
		printf("}\n");
	}
	fflush(stdout);
	if (o.histogram && o.mode == M_ECHO) {
		char path[4096];

		if (write_hgrm(o.histogram, &r->lat))
			failed = true;
		snprintf(path, sizeof(path), "%s.intended", o.histogram);
		if (int_valid && write_hgrm(path, &r->lat_int))
			failed = true;
	}
	if (exit_reason)
		fprintf(stderr, "ringwire-load: %s\n", exit_reason);

	while (workers) {
		struct worker *w = workers;

		workers = w->next;
		free(w->own);
		free(w->buf);
		free(w);
	}
	for (unsigned i = 0; i < o.sessions; i++)
		free_tracks(&slots[i]);
	free(slots);
	return failed ? 1 : 0;
}
