/* SPDX-License-Identifier: MIT */
/*
 * ringwire-netem - a userspace UDP impairment proxy, for machines (and CI
 * containers) without the netem qdisc:
 *
 *	ringwire-netem --listen 127.0.0.1:9100 --upstream 127.0.0.1:9000 \
 *		--loss 5% --delay 40:10 --seed 42
 *
 * Clients send to --listen. Each client gets its own connected socket
 * towards --upstream, so the server sees one source per client as behind
 * a NAT, and replies go back to the client they belong to. Every packet
 * passes, per direction, through:
 *
 *	blackhole -> burst-loss -> loss -> corrupt -> duplicate ->
 *	delay+jitter (min-heap) -> reorder (hold FIFO) -> rate (token bucket)
 *
 * Single thread, epoll over the listen socket, one socket per flow, a
 * timerfd (absolute CLOCK_MONOTONIC, armed at the earliest deadline) and a
 * signalfd. Packets that must wait live in two size-classed pools that grow
 * lazily and never shrink, so the steady state makes no allocations; a
 * packet that goes straight through is sent from the receive buffer.
 *
 * With --tcp it is a stream proxy instead, for wiresocket over TCP: each
 * accepted connection gets its own connection to --upstream, and the bytes
 * pass both ways in order but re-cut: --segment (N or random bytes per
 * write), --coalesce (hold and merge), --delay. Each direction of a
 * connection has a byte ring of --buffer bytes; a full ring stops reading its
 * source (backpressure), so memory stays bounded whatever the peers do.
 *
 * Only libc. Exit status: 0 at --duration or SIGINT/SIGTERM, 1 runtime
 * error, 2 usage error (one line on stderr).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>	/* isfinite() only, a macro: no libm */
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define PROG "ringwire-netem"

#define NS_PER_MS 1000000ull
#define NS_PER_S 1000000000ull

enum {
	/* UDP carries at most 65535 bytes of payload (IPv6 less its headers). */
	DGRAM_MAX = 65536,
	/* Covers a wiresocket datagram at any sane MTU, header included. */
	SMALL_SLOT = 2048,
	SMALL_GROW = 256,
	/*
	 * Big slots hold anything larger; they are few, so this bound keeps
	 * worst-case memory near 32 MiB whatever --queue-limit says.
	 */
	BIG_MAX = 512,
	RX_BUDGET = 64,		/* datagrams per readiness, so no socket starves the rest */
	SOCK_BUF = 4 << 20,	/* clamped by net.core.[rw]mem_max; bursts must not die in the kernel */
	GAP_DEFAULT = 3,
	GAP_MAX = 100000,
	FLOWS_MAX = 1 << 20,
	QUEUE_MAX = 1 << 22,
	/* --tcp */
	TBUF_DEFAULT = 256 << 10,
	TBUF_MIN = 1024,
	TBUF_MAX = 64 << 20,
	SEG_MAX = 1 << 20,
	SEG_RANDOM_DEFAULT = 256,	/* splits inside and across wiresocket packets alike */
	MARKS = 1024,			/* delayed reads in flight per direction; full stops reading */
	WRITE_BUDGET = 4096,		/* writes per direction per wake-up, so --segment 1 starves no one */
};

/* A held packet leaves after GAP later packets, or after this if traffic stops. */
#define HOLD_NS (20 * NS_PER_MS)
/* The token bucket holds 50 ms of rate; the queue behind it 250 ms. */
#define BUCKET_NS (50 * NS_PER_MS)
#define RQUEUE_NS (250 * NS_PER_MS)

enum { UP, DOWN };
static const char *const dir_name[2] = { "up", "down" };

/* The UDP knobs first: their PRNG stream numbers (and so a --seed's replay) predate the TCP ones. */
enum { K_LOSS, K_BURST, K_REORDER, K_DUP, K_DELAY, K_CORRUPT, K_BLACKHOLE, K_RATE, NUDP,
       K_SEGMENT = NUDP, K_COALESCE, NKNOB };
static const char *const knob_name[NKNOB] = {
	"loss", "burst-loss", "reorder", "duplicate", "delay", "corrupt", "blackhole", "rate",
	"segment", "coalesce",
};

struct knobs {
	double loss;			/* probabilities are 0..1 */
	double burst_p, burst_len;	/* enter-bad probability, mean burst in packets */
	double reorder;
	unsigned gap;
	double dup;
	uint64_t delay, jitter;		/* ns */
	double corrupt;
	uint64_t bh_on, bh_period;	/* ns */
	uint64_t rate;			/* bytes per second, 0 = no cap */
	uint32_t seg;			/* --tcp: bytes per write (the maximum if random), 0 = any */
	bool seg_random;
	uint64_t coalesce;		/* --tcp: ns */
};

struct stats {
	uint64_t in, fwd;
	uint64_t loss, burst, blackhole, rate, queue, noflow, err;	/* drops */
	uint64_t dup, reorder, corrupt, delay;				/* packets affected */
	/* --tcp: bytes and syscalls; largest is the biggest single write */
	uint64_t bytes_in, bytes_fwd, reads, writes, largest;
};

/* xoshiro256**, seeded through splitmix64 as its authors recommend. */
struct rng {
	uint64_t s[4];
};

struct flow;

struct pkt {
	struct pkt *next;	/* freelist, hold FIFO or rate FIFO */
	struct flow *flow;
	uint64_t when;		/* heap: release time; held: give-up time */
	uint64_t seq;		/* heap tie-break, so equal times leave in arrival order */
	uint64_t gate;		/* held: leaves when its direction has passed this many */
	uint32_t len;
	uint8_t dir;
	uint8_t big;
	_Alignas(16) unsigned char data[];
};

struct chunk {
	struct chunk *next;
	_Alignas(16) unsigned char mem[];
};

struct pool {
	struct pkt *free;
	struct chunk *chunks;
	size_t slot;		/* bytes per slot, header included */
	size_t cap;		/* payload bytes a slot holds */
	size_t grow;		/* slots made at a time */
	size_t made, max;
};

struct flow {
	struct flow *hnext;		/* hash chain */
	struct flow *older, *newer;	/* idle order, oldest first */
	struct sockaddr_storage peer;	/* the client */
	socklen_t peerlen;
	int fd;				/* connected to --upstream */
	uint32_t refs;			/* queued packets that point here */
	uint64_t last;			/* last packet either way, ns */
};

struct dirst {
	struct knobs k;
	/* One stream per knob: turning a knob on does not shift another's draws. */
	struct rng rng[NKNOB];
	struct stats st;
	bool bad;			/* Gilbert-Elliott state */
	struct pkt *hold, *hold_tail;	/* FIFO: gates and give-up times only grow */
	uint64_t passed;		/* packets that went by the reorder stage unheld */
	struct pkt *rq, *rq_tail;	/* rate queue */
	uint64_t rq_bytes, rq_max;
	double tokens, depth;		/* bytes; negative is debt */
	uint64_t refill_at;
};

static struct {
	struct dirst dir[2];
	struct sockaddr_storage lsa, usa;
	socklen_t llen, ulen;
	int lfd, ep, tfd, sfd;
	struct flow **bucket;
	size_t nbucket, nflows, max_flows;
	struct flow *oldest, *newest;
	uint64_t flow_timeout, sweep_every, next_sweep;
	struct pkt **heap;
	size_t nheap;
	uint64_t seq;
	struct pool small, big;
	size_t live, qlimit;
	uint64_t t0, end, stats_every, next_stats, armed;
	uint64_t seed;
	bool seeded, quiet, quit;
	/* --tcp */
	bool tcp;
	size_t tbuf;
	struct conn *conns, *dead;
	uint64_t nconns, accepted, refused, resets, full;
	unsigned char rx[DGRAM_MAX];
} g = { .lfd = -1, .ep = -1, .tfd = -1, .sfd = -1 };

/* Tags for epoll data.ptr; flows are told apart by their own address. */
static char tag_listen, tag_timer, tag_signal;

/* ---- errors ------------------------------------------------------------- */

static _Noreturn __attribute__((format(printf, 1, 2))) void usage_err(const char *fmt, ...)
{
	va_list ap;

	fputs(PROG ": ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(2);
}

static _Noreturn void die(const char *what)
{
	fprintf(stderr, PROG ": %s: %s\n", what, strerror(errno));
	exit(1);
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: " PROG " --listen ADDR --upstream ADDR [options]\n"
		"\n"
		"A userspace UDP impairment proxy (a TCP one with --tcp). Clients send to\n"
		"--listen; each client gets its own socket towards --upstream (the server\n"
		"sees one source port per client, as behind a NAT) and replies go back to\n"
		"that client.\n"
		"Impairments apply to each direction on its own: \"up\" is client->server,\n"
		"\"down\" is server->client.\n"
		"\n"
		"Addresses (a.b.c.d:port or [v6addr]:port):\n"
		"  --listen ADDR          where clients send; port 0 picks a free port,\n"
		"                         printed at startup\n"
		"  --upstream ADDR        the server\n"
		"\n"
		"Impairments. Each also exists as --KNOB-up and --KNOB-down; the plain\n"
		"form sets both directions, a directional form overrides it in any order.\n"
		"P is a percentage, the %% optional: 5%%, 5 and 0.5 (half a percent).\n"
		"  --loss P               drop each packet with probability P\n"
		"  --burst-loss P:LEN     bursty (Gilbert-Elliott) loss: a packet enters the\n"
		"                         bad state with probability P; every packet is\n"
		"                         dropped while bad; bursts last LEN packets on\n"
		"                         average (e.g. 1%%:8)\n"
		"  --reorder P[:GAP]      hold a packet back with probability P; it leaves\n"
		"                         after GAP later packets (default %d) or 20 ms,\n"
		"                         whichever comes first (e.g. 5%%:3)\n"
		"  --duplicate P          send an extra copy with probability P; each copy\n"
		"                         gets its own jitter\n"
		"  --delay MS[:JITTER]    hold every packet MS milliseconds plus a uniform\n"
		"                         random 0..JITTER ms (e.g. 40:10); jitter reorders\n"
		"  --corrupt P            flip one random bit of one random byte with\n"
		"                         probability P\n"
		"  --blackhole ON:PERIOD  drop everything during the first ON ms of every\n"
		"                         PERIOD ms, counted from startup (2000:5000 = 2 s\n"
		"                         out of every 5 s)\n"
		"  --rate BYTES           cap at BYTES per second (suffix k = 1000,\n"
		"                         M = 1000000; e.g. 125k); a 50 ms token bucket, the\n"
		"                         excess waits in a queue of 250 ms worth of bytes,\n"
		"                         beyond which it is tail-dropped\n"
		"Order: blackhole, burst-loss, loss, corrupt, duplicate, delay, reorder,\n"
		"rate. Burst and rate state is per direction, shared by all clients.\n"
		"\n"
		"TCP (a stream proxy, e.g. for wire+tcp:// clients):\n"
		"  --tcp                  accept TCP connections on --listen; each gets its\n"
		"                         own connection to --upstream, and the bytes pass\n"
		"                         both ways in order but re-cut by the knobs below\n"
		"                         (also as -up and -down forms). Of the knobs\n"
		"                         above only --delay applies: TCP loses nothing\n"
		"  --segment N|random[:MAX]\n"
		"                         write at most N bytes per write (1: one byte per\n"
		"                         write), or a size drawn for each write from 1 to\n"
		"                         MAX (default %d) with --seed\n"
		"  --coalesce MS          hold what arrives and write it out together, MS ms\n"
		"                         after the first byte held (at once if the buffer\n"
		"                         fills)\n"
		"  --delay MS[:JITTER]    each read is written MS ms plus 0..JITTER ms after\n"
		"                         it arrived, never before an earlier one\n"
		"  --buffer BYTES         bytes held per direction of a connection (default\n"
		"                         256k, suffix k = 1024, M = 1048576); a full buffer\n"
		"                         stops reading that side until the other drains\n"
		"\n"
		"Run:\n"
		"  --seed N               PRNG seed (default: from the clock); always\n"
		"                         printed, so a run can be replayed exactly\n"
		"  --duration S           exit after S seconds (e.g. 2.5)\n"
		"  --stats-interval S     print the counters to stderr every S seconds\n"
		"  --flow-timeout S       forget a client idle for S seconds (default 60)\n"
		"  --max-flows N          clients at once (default 4096); a new client\n"
		"                         beyond is dropped (counted as noflow; with --tcp,\n"
		"                         closed at once and counted as full)\n"
		"  --queue-limit N        packets waiting at once in delay, reorder and\n"
		"                         rate queues (default 65536); tail drop beyond\n"
		"  --quiet                print nothing but errors\n"
		"  -h, --help             this text\n"
		"\n"
		"Counters, per direction, on stderr at exit and every --stats-interval:\n"
		"  in fwd (sent, copies included); drops: loss burst blackhole rate queue\n"
		"  noflow err (send failed); packets affected: dup reorder corrupt delay\n"
		"With --tcp: bytes-in bytes-fwd reads writes largest-write, then for the\n"
		"connections: conns (accepted) open refused (upstream did not answer)\n"
		"resets (a side failed) full (beyond --max-flows)\n"
		"\n"
		"Examples:\n"
		"  " PROG " --listen 127.0.0.1:9100 --upstream 127.0.0.1:9000 \\\n"
		"      --loss 5%% --seed 42\n"
		"  " PROG " --listen [::1]:9100 --upstream [::1]:9000 \\\n"
		"      --delay 40:10 --reorder 2%%\n"
		"  " PROG " --listen 127.0.0.1:9100 --upstream 127.0.0.1:9000 \\\n"
		"      --burst-loss 1%%:8 --loss 5%% --loss-down 0 --duration 30\n"
		"  " PROG " --listen 0.0.0.0:9100 --upstream 192.0.2.7:9000 \\\n"
		"      --blackhole 2000:5000 --rate-up 125k\n"
		"  " PROG " --tcp --listen 127.0.0.1:9101 --upstream 127.0.0.1:9001 \\\n"
		"      --segment random:64 --coalesce 2 --seed 7\n"
		"\n"
		"Exit status: 0 at --duration or on SIGINT/SIGTERM, 1 runtime error,\n"
		"2 usage error.\n",
		GAP_DEFAULT, SEG_RANDOM_DEFAULT);
}

/* ---- PRNG ----------------------------------------------------------------- */

static uint64_t splitmix(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

static uint64_t rnd(struct rng *r)
{
	uint64_t *s = r->s;
	uint64_t res = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return res;
}

/* Uniform in [0, 1), 53 bits. */
static double unif(struct rng *r)
{
	return (double)(rnd(r) >> 11) * 0x1.0p-53;
}

/* A knob at 0 draws nothing, a knob at 100% always hits (unif < 1). */
static bool chance(struct rng *r, double p)
{
	return p > 0 && unif(r) < p;
}

static void rng_seed(struct rng *r, uint64_t seed, unsigned stream)
{
	uint64_t x = seed ^ (0xd1b54a32d192ed03ull * (stream + 1));

	for (int i = 0; i < 4; i++)
		r->s[i] = splitmix(&x);
}

/* ---- time ------------------------------------------------------------------ */

static uint64_t mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NS_PER_S + (uint64_t)ts.tv_nsec;
}

/* ---- argument parsing ----------------------------------------------------- */

/* A non-negative decimal; NULL unless s starts with one. */
static const char *num(const char *s, double *v)
{
	char *end;

	/* strtod would take leading blanks, signs, "inf" and "nan": none is a knob value. */
	if (!((*s >= '0' && *s <= '9') || *s == '.'))
		return NULL;
	errno = 0;
	*v = strtod(s, &end);
	if (end == s || errno == ERANGE || !isfinite(*v))
		return NULL;
	return end;
}

/* Length of the next ':'-separated field. */
static size_t field(const char *s)
{
	return strcspn(s, ":");
}

static double pct_n(const char *opt, const char *s, size_t n)
{
	double v;
	const char *e = num(s, &v);

	if (e && e < s + n && *e == '%')
		e++;
	if (!e || e != s + n || v > 100)
		usage_err("%s: \"%.*s\" is not a percentage between 0 and 100", opt, (int)n, s);
	return v / 100;
}

static double pct(const char *opt, const char *s)
{
	return pct_n(opt, s, strlen(s));
}

/* Milliseconds, decimals allowed, up to an hour; returned in ns. */
static uint64_t ms_n(const char *opt, const char *s, size_t n)
{
	double v;
	const char *e = num(s, &v);

	if (!e || e != s + n || v > 3600000)
		usage_err("%s: \"%.*s\" is not a time in milliseconds (0 to 3600000)", opt, (int)n, s);
	return (uint64_t)(v * NS_PER_MS + 0.5);
}

/* Seconds, decimals allowed, more than 0; returned in ns. */
static uint64_t secs(const char *opt, const char *s)
{
	double v;
	const char *e = num(s, &v);

	if (!e || *e || v <= 0 || v > 1e8)
		usage_err("%s: \"%s\" is not a time in seconds (more than 0, e.g. 2.5)", opt, s);
	return v * NS_PER_S < 1 ? 1 : (uint64_t)(v * NS_PER_S + 0.5);
}

static uint64_t count(const char *opt, const char *s, uint64_t lo, uint64_t hi)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = (*s >= '0' && *s <= '9') ? strtoull(s, &end, 10) : 0;
	if (!(*s >= '0' && *s <= '9') || *end || errno || v < lo || v > hi)
		usage_err("%s: \"%s\" is not a whole number from %" PRIu64 " to %" PRIu64, opt, s, lo, hi);
	return v;
}

static void parse_knob(int id, const char *opt, const char *s, struct knobs *k)
{
	size_t n = field(s);
	const char *t = s[n] ? s + n + 1 : NULL;
	double v;
	const char *e;

	switch (id) {
	case K_LOSS:
		k->loss = pct(opt, s);
		break;
	case K_DUP:
		k->dup = pct(opt, s);
		break;
	case K_CORRUPT:
		k->corrupt = pct(opt, s);
		break;
	case K_BURST:
		if (!t)
			usage_err("%s: \"%s\" is not P:LEN (e.g. 1%%:8)", opt, s);
		k->burst_p = pct_n(opt, s, n);
		e = num(t, &v);
		if (!e || *e || v < 1 || v > 1e9)
			usage_err("%s: \"%s\" is not a mean burst length in packets (1 or more)", opt, t);
		k->burst_len = v;
		break;
	case K_REORDER:
		k->reorder = pct_n(opt, s, n);
		k->gap = t ? (unsigned)count(opt, t, 1, GAP_MAX) : GAP_DEFAULT;
		break;
	case K_DELAY:
		k->delay = ms_n(opt, s, n);
		k->jitter = t ? ms_n(opt, t, strlen(t)) : 0;
		break;
	case K_BLACKHOLE:
		if (!t)
			usage_err("%s: \"%s\" is not ON_MS:PERIOD_MS (e.g. 2000:5000)", opt, s);
		k->bh_on = ms_n(opt, s, n);
		k->bh_period = ms_n(opt, t, strlen(t));
		if (!k->bh_period || k->bh_on > k->bh_period)
			usage_err("%s: \"%s\": PERIOD must be more than 0 and at least ON", opt, s);
		break;
	case K_RATE:
		e = num(s, &v);
		if (e && (*e == 'k' || *e == 'K'))
			v *= 1e3, e++;
		else if (e && *e == 'M')
			v *= 1e6, e++;
		if (!e || *e || v > 1e12)
			usage_err("%s: \"%s\" is not a rate in bytes per second (e.g. 125000 or 125k)", opt, s);
		k->rate = (uint64_t)(v + 0.5);
		break;
	case K_SEGMENT:
		k->seg_random = !strncmp(s, "random", n) && n == 6;
		if (k->seg_random)
			k->seg = t ? (uint32_t)count(opt, t, 1, SEG_MAX) : SEG_RANDOM_DEFAULT;
		else if (!(*s >= '0' && *s <= '9'))
			usage_err("%s: \"%s\" is not N or random[:MAX] (e.g. 1, 512 or random:64)", opt, s);
		else
			k->seg = (uint32_t)count(opt, s, 1, SEG_MAX);
		break;
	case K_COALESCE:
		k->coalesce = ms_n(opt, s, strlen(s));
		break;
	}
}

/* A byte count with an optional k (1024) or M (1048576). */
static size_t bytes(const char *opt, const char *s, size_t lo, size_t hi)
{
	double v;
	const char *e = num(s, &v);

	if (e && (*e == 'k' || *e == 'K'))
		v *= 1024, e++;
	else if (e && *e == 'M')
		v *= 1024 * 1024, e++;
	if (!e || *e || v < (double)lo || v > (double)hi)
		usage_err("%s: \"%s\" is not a size from %zu to %zuM bytes (e.g. 65536 or 64k)", opt, s, lo,
			  hi >> 20);
	return (size_t)v;
}

static void parse_addr(const char *opt, const char *s, struct sockaddr_storage *ss, socklen_t *len,
		       bool any_port)
{
	char host[INET6_ADDRSTRLEN];
	bool v6 = *s == '[';
	const char *h = s + v6, *end = v6 ? strchr(s, ']') : strrchr(s, ':');
	const char *p;
	unsigned long port;
	size_t n;

	memset(ss, 0, sizeof(*ss));
	if (!end || (v6 && end[1] != ':')) {
		if (v6 ? end && !end[1] : !strchr(s, ':'))
			usage_err("%s %s: the address needs a port, e.g. %s %s:9000", opt, s, opt, s);
		goto bad;
	}
	n = (size_t)(end - h);
	p = end + 1 + v6;
	if (n >= sizeof(host))
		goto bad;
	memcpy(host, h, n);
	host[n] = '\0';
	if (!*p || strspn(p, "0123456789") != strlen(p) || strlen(p) > 5)
		goto bad;
	port = strtoul(p, NULL, 10);
	if (v6) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;

		if (inet_pton(AF_INET6, host, &a->sin6_addr) != 1)
			goto bad;
		a->sin6_family = AF_INET6;
		a->sin6_port = htons((uint16_t)port);
		*len = sizeof(*a);
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)ss;

		if (inet_pton(AF_INET, host, &a->sin_addr) != 1)
			goto bad;
		a->sin_family = AF_INET;
		a->sin_port = htons((uint16_t)port);
		*len = sizeof(*a);
	}
	if (port > 65535 || (!port && !any_port))
		usage_err("%s: \"%s\" needs a port from %d to 65535", opt, s, any_port ? 0 : 1);
	return;
bad:
	usage_err("%s: \"%s\" is not an address (a.b.c.d:port or [v6addr]:port)", opt, s);
}

struct kopt {
	int id, dir;		/* dir -1: both */
	const char *val;
};

static void parse_args(int argc, char **argv)
{
	enum { G_LISTEN, G_UPSTREAM, G_SEED, G_DURATION, G_STATS, G_TIMEOUT, G_FLOWS, G_QUEUE,
	       G_QUIET, G_HELP, G_TCP, G_BUFFER, NGEN };
	static const char *const general[NGEN] = {
		"listen", "upstream", "seed", "duration", "stats-interval",
		"flow-timeout", "max-flows", "queue-limit", "quiet", "help", "tcp", "buffer",
	};
	static const char *const dir_suffix[2] = { "-up", "-down" };
	struct kopt kv[256];
	size_t nk = 0;
	bool have_listen = false, have_up = false, given[NGEN] = { false };

	g.flow_timeout = 60 * NS_PER_S;
	g.max_flows = 4096;
	g.qlimit = 65536;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *val = NULL, *eq;
		char name[64];
		size_t n;
		int gen = -1, id = -1, dir = -1;

		if (!strcmp(a, "-h"))
			a = "--help";
		if (strncmp(a, "--", 2) || !a[2])
			usage_err("unexpected argument \"%s\"; flags start with -- (see --help)", a);
		eq = strchr(a, '=');
		n = eq ? (size_t)(eq - a) : strlen(a);
		if (n >= sizeof(name))
			usage_err("unknown flag %.*s; see --help", (int)n, a);
		memcpy(name, a, n);
		name[n] = '\0';
		for (int j = 0; j < NGEN; j++)
			if (!strcmp(name + 2, general[j]))
				gen = j;
		for (int j = 0; gen < 0 && id < 0 && j < NKNOB; j++) {
			size_t kl = strlen(knob_name[j]);

			if (strncmp(name + 2, knob_name[j], kl))
				continue;
			if (!name[2 + kl])
				id = j;
			else if (!strcmp(name + 2 + kl, "-up"))
				id = j, dir = UP;
			else if (!strcmp(name + 2 + kl, "-down"))
				id = j, dir = DOWN;
		}
		if (gen < 0 && id < 0)
			usage_err("unknown flag %s; see --help", name);
		if (gen >= 0)
			given[gen] = true;
		if (gen == G_QUIET || gen == G_HELP || gen == G_TCP) {
			if (eq)
				usage_err("%s takes no value; see --help", name);
			if (gen == G_HELP) {
				usage(stdout);
				exit(fflush(stdout) || ferror(stdout) ? 1 : 0);
			}
			if (gen == G_TCP)
				g.tcp = true;
			else
				g.quiet = true;
			continue;
		}
		if (eq)
			val = eq + 1;
		else if (i + 1 < argc)
			val = argv[++i];
		else
			usage_err("%s needs a value; see --help", name);
		switch (gen) {
		case G_LISTEN:
			parse_addr(name, val, &g.lsa, &g.llen, true);
			have_listen = true;
			break;
		case G_UPSTREAM:
			parse_addr(name, val, &g.usa, &g.ulen, false);
			have_up = true;
			break;
		case G_SEED:
			g.seed = count(name, val, 0, UINT64_MAX);
			g.seeded = true;
			break;
		case G_DURATION:
			g.end = secs(name, val);
			break;
		case G_STATS:
			g.stats_every = secs(name, val);
			break;
		case G_TIMEOUT:
			g.flow_timeout = secs(name, val);
			break;
		case G_FLOWS:
			g.max_flows = count(name, val, 1, FLOWS_MAX);
			break;
		case G_QUEUE:
			g.qlimit = count(name, val, 1, QUEUE_MAX);
			break;
		case G_BUFFER:
			g.tbuf = bytes(name, val, TBUF_MIN, TBUF_MAX);
			break;
		default:
			if (nk == sizeof(kv) / sizeof(kv[0]))
				usage_err("too many options");
			/* Checked now, so errors come in command-line order. */
			parse_knob(id, name, val, &g.dir[UP].k);
			kv[nk++] = (struct kopt){ id, dir, val };
		}
	}
	if (!have_listen)
		usage_err("missing --listen HOST:PORT, e.g. --listen 127.0.0.1:9100; see --help");
	if (!have_up)
		usage_err("missing --upstream HOST:PORT (the server's address), e.g. --upstream 127.0.0.1:9000; "
			  "see --help");

	/* Checked after the loop, so --tcp may come anywhere on the line. */
	for (size_t j = 0; j < nk; j++) {
		int id = kv[j].id;
		bool tcp_knob = id == K_SEGMENT || id == K_COALESCE;

		if (g.tcp && !tcp_knob && id != K_DELAY)
			usage_err("--%s%s has no meaning with --tcp (a TCP stream loses, duplicates and "
				  "reorders nothing); of the UDP impairments only --delay applies, see --help",
				  knob_name[id], kv[j].dir < 0 ? "" : dir_suffix[kv[j].dir]);
		if (!g.tcp && tcp_knob)
			usage_err("--%s%s cuts a byte stream: it needs --tcp; see --help", knob_name[id],
				  kv[j].dir < 0 ? "" : dir_suffix[kv[j].dir]);
	}
	if (g.tcp && (given[G_TIMEOUT] || given[G_QUEUE]))
		usage_err("--%s is for UDP flows: leave it out with --tcp; see --help",
			  general[given[G_TIMEOUT] ? G_TIMEOUT : G_QUEUE]);
	if (!g.tcp && given[G_BUFFER])
		usage_err("--buffer sizes the --tcp byte buffers: it needs --tcp; see --help");
	if (!g.tbuf)
		g.tbuf = TBUF_DEFAULT;

	/* Plain forms first, then directional ones, so the latter win in any order. */
	memset(&g.dir[UP].k, 0, sizeof(g.dir[UP].k));
	for (int d = 0; d < 2; d++)
		g.dir[d].k.gap = GAP_DEFAULT;
	for (int pass = 0; pass < 2; pass++) {
		for (size_t j = 0; j < nk; j++) {
			for (int d = 0; d < 2; d++) {
				if (pass ? kv[j].dir == d : kv[j].dir < 0)
					parse_knob(kv[j].id, "", kv[j].val, &g.dir[d].k);
			}
		}
	}
}

/* ---- packet pools and queues ---------------------------------------------- */

static void pool_init(struct pool *p, size_t cap, size_t grow, size_t max)
{
	p->slot = (offsetof(struct pkt, data) + cap + 15) & ~(size_t)15;
	p->cap = p->slot - offsetof(struct pkt, data);
	p->grow = grow;
	p->max = max;
}

static void pool_fini(struct pool *p)
{
	while (p->chunks) {
		struct chunk *c = p->chunks;

		p->chunks = c->next;
		free(c);
	}
}

/* NULL when --queue-limit or the pool's bound is reached: the caller counts a queue drop. */
static struct pkt *pkt_copy(int d, struct flow *f, const unsigned char *buf, size_t len)
{
	struct pool *pl = len <= g.small.cap ? &g.small : &g.big;
	struct pkt *p;

	if (g.live >= g.qlimit)
		return NULL;
	if (!pl->free) {
		size_t n = pl->grow;
		struct chunk *c;

		if (n > pl->max - pl->made)
			n = pl->max - pl->made;
		if (!n || !(c = malloc(sizeof(*c) + n * pl->slot)))
			return NULL;
		c->next = pl->chunks;
		pl->chunks = c;
		for (size_t i = 0; i < n; i++) {
			p = (struct pkt *)(c->mem + i * pl->slot);
			p->next = pl->free;
			pl->free = p;
		}
		pl->made += n;
	}
	p = pl->free;
	pl->free = p->next;
	p->next = NULL;
	p->flow = f;
	p->len = (uint32_t)len;
	p->dir = (uint8_t)d;
	p->big = pl == &g.big;
	memcpy(p->data, buf, len);
	f->refs++;
	g.live++;
	return p;
}

static void pkt_put(struct pkt *p)
{
	struct pool *pl;

	if (!p)
		return;
	pl = p->big ? &g.big : &g.small;
	p->flow->refs--;
	g.live--;
	p->next = pl->free;
	pl->free = p;
}

static bool before(const struct pkt *a, const struct pkt *b)
{
	return a->when < b->when || (a->when == b->when && a->seq < b->seq);
}

static void heap_push(struct pkt *p)
{
	size_t i = g.nheap++;

	/* Cannot overflow: the heap holds live packets, at most qlimit. */
	while (i) {
		size_t up = (i - 1) / 2;

		if (!before(p, g.heap[up]))
			break;
		g.heap[i] = g.heap[up];
		i = up;
	}
	g.heap[i] = p;
}

static struct pkt *heap_pop(void)
{
	struct pkt *top = g.heap[0], *last = g.heap[--g.nheap];
	size_t i = 0, n = g.nheap;

	for (;;) {
		size_t c = 2 * i + 1;

		if (c >= n)
			break;
		if (c + 1 < n && before(g.heap[c + 1], g.heap[c]))
			c++;
		if (!before(g.heap[c], last))
			break;
		g.heap[i] = g.heap[c];
		i = c;
	}
	if (n)
		g.heap[i] = last;
	return top;
}

static void fifo_push(struct pkt **head, struct pkt **tail, struct pkt *p)
{
	p->next = NULL;
	if (*head)
		(*tail)->next = p;
	else
		*head = p;
	*tail = p;
}

static struct pkt *fifo_pop(struct pkt **head)
{
	struct pkt *p = *head;

	*head = p->next;
	return p;
}

/* ---- the pipeline ------------------------------------------------------------ */

static void xmit(int d, struct flow *f, const unsigned char *buf, size_t len)
{
	ssize_t r;

	if (d == UP)
		r = send(f->fd, buf, len, MSG_DONTWAIT);
	else
		r = sendto(g.lfd, buf, len, MSG_DONTWAIT, (const struct sockaddr *)&f->peer, f->peerlen);
	if (r < 0)
		g.dir[d].st.err++;
	else
		g.dir[d].st.fwd++;
}

static void refill(struct dirst *ds, uint64_t now)
{
	if (now <= ds->refill_at)
		return;
	ds->tokens += (double)(now - ds->refill_at) * (double)ds->k.rate / 1e9;
	if (ds->tokens > ds->depth)
		ds->tokens = ds->depth;
	ds->refill_at = now;
}

/* Takes ownership of p (NULL: buf is the receive buffer, copied if it must wait). */
static void rate_stage(int d, struct flow *f, const unsigned char *buf, size_t len, struct pkt *p,
		       uint64_t now)
{
	struct dirst *ds = &g.dir[d];

	if (ds->k.rate) {
		refill(ds, now);
		/* Debt model: a packet may go while tokens >= 0, so any size passes eventually. */
		if (ds->rq || ds->tokens < 0) {
			if (ds->rq && ds->rq_bytes + len > ds->rq_max) {
				ds->st.rate++;
				pkt_put(p);
				return;
			}
			if (!p && !(p = pkt_copy(d, f, buf, len))) {
				ds->st.queue++;
				return;
			}
			fifo_push(&ds->rq, &ds->rq_tail, p);
			ds->rq_bytes += len;
			return;
		}
		ds->tokens -= (double)len;
	}
	xmit(d, f, buf, len);
	pkt_put(p);
}

static void reorder_stage(int d, struct flow *f, const unsigned char *buf, size_t len, struct pkt *p,
			  uint64_t now)
{
	struct dirst *ds = &g.dir[d];

	if (chance(&ds->rng[K_REORDER], ds->k.reorder)) {
		if (!p && !(p = pkt_copy(d, f, buf, len))) {
			ds->st.queue++;
			return;
		}
		p->gate = ds->passed + ds->k.gap;
		p->when = now + HOLD_NS;
		fifo_push(&ds->hold, &ds->hold_tail, p);
		ds->st.reorder++;
		return;
	}
	rate_stage(d, f, buf, len, p, now);
	ds->passed++;
	while (ds->hold && ds->hold->gate <= ds->passed) {
		p = fifo_pop(&ds->hold);
		rate_stage(d, p->flow, p->data, p->len, p, now);
	}
}

/* A datagram in g.rx, just received. */
static void ingress(int d, struct flow *f, size_t len, uint64_t now)
{
	struct dirst *ds = &g.dir[d];
	const struct knobs *k = &ds->k;
	unsigned char *buf = g.rx;
	int copies = 1;

	ds->st.in++;
	if (k->bh_on && (now - g.t0) % k->bh_period < k->bh_on) {
		ds->st.blackhole++;
		return;
	}
	if (k->burst_p > 0) {
		struct rng *r = &ds->rng[K_BURST];

		if (!ds->bad && chance(r, k->burst_p))
			ds->bad = true;
		if (ds->bad) {
			/* Leaving with probability 1/LEN after each drop: bursts average LEN. */
			if (unif(r) * k->burst_len < 1)
				ds->bad = false;
			ds->st.burst++;
			return;
		}
	}
	if (chance(&ds->rng[K_LOSS], k->loss)) {
		ds->st.loss++;
		return;
	}
	if (len && chance(&ds->rng[K_CORRUPT], k->corrupt)) {
		uint64_t r = rnd(&ds->rng[K_CORRUPT]);

		buf[((r >> 32) * len) >> 32] ^= (unsigned char)(1u << (r & 7));
		ds->st.corrupt++;
	}
	if (chance(&ds->rng[K_DUP], k->dup)) {
		copies = 2;
		ds->st.dup++;
	}
	for (int i = 0; i < copies; i++) {
		uint64_t delay = k->delay;
		struct pkt *p;

		if (k->jitter)
			delay += (uint64_t)(unif(&ds->rng[K_DELAY]) * (double)k->jitter);
		if (!delay) {
			reorder_stage(d, f, buf, len, NULL, now);
			continue;
		}
		if (!(p = pkt_copy(d, f, buf, len))) {
			ds->st.queue++;
			continue;
		}
		p->when = now + delay;
		p->seq = g.seq++;
		heap_push(p);
		ds->st.delay++;
	}
}

/* ---- flows ------------------------------------------------------------------- */

static size_t addr_hash(const struct sockaddr_storage *sa)
{
	const unsigned char *b;
	size_t n;
	uint64_t h = 0xcbf29ce484222325ull;	/* FNV-1a */

	if (sa->ss_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)sa;

		b = (const unsigned char *)&a->sin6_addr;
		n = sizeof(a->sin6_addr);
		h = (h ^ a->sin6_port) * 0x100000001b3ull;
	} else {
		const struct sockaddr_in *a = (const struct sockaddr_in *)sa;

		b = (const unsigned char *)&a->sin_addr;
		n = sizeof(a->sin_addr);
		h = (h ^ a->sin_port) * 0x100000001b3ull;
	}
	while (n--)
		h = (h ^ *b++) * 0x100000001b3ull;
	return (size_t)(h ^ (h >> 32)) & (g.nbucket - 1);
}

static bool addr_eq(const struct sockaddr_storage *x, const struct sockaddr_storage *y)
{
	if (x->ss_family != y->ss_family)
		return false;
	if (x->ss_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const void *)x, *b = (const void *)y;

		return a->sin6_port == b->sin6_port && a->sin6_scope_id == b->sin6_scope_id &&
		       !memcmp(&a->sin6_addr, &b->sin6_addr, sizeof(a->sin6_addr));
	}
	const struct sockaddr_in *a = (const void *)x, *b = (const void *)y;

	return a->sin_port == b->sin_port && a->sin_addr.s_addr == b->sin_addr.s_addr;
}

static void lru_unlink(struct flow *f)
{
	if (f->older)
		f->older->newer = f->newer;
	else
		g.oldest = f->newer;
	if (f->newer)
		f->newer->older = f->older;
	else
		g.newest = f->older;
}

static void lru_append(struct flow *f)
{
	f->newer = NULL;
	f->older = g.newest;
	if (g.newest)
		g.newest->newer = f;
	else
		g.oldest = f;
	g.newest = f;
}

static void touch(struct flow *f, uint64_t now)
{
	f->last = now;
	if (f != g.newest) {
		lru_unlink(f);
		lru_append(f);
	}
}

static void flow_free(struct flow *f)
{
	struct flow **pp = &g.bucket[addr_hash(&f->peer)];

	while (*pp != f)
		pp = &(*pp)->hnext;
	*pp = f->hnext;
	lru_unlink(f);
	close(f->fd);	/* also leaves the epoll set: nobody else holds this fd */
	free(f);
	g.nflows--;
}

static void sock_bufs(int fd)
{
	int v = SOCK_BUF;

	/* Best effort: the kernel clamps, and a small buffer only means more drops. */
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &v, sizeof(v));
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &v, sizeof(v));
}

/* NULL: the table is full or no socket could be had; the packet is a noflow drop. */
static struct flow *flow_get(const struct sockaddr_storage *sa, socklen_t len, uint64_t now)
{
	size_t h = addr_hash(sa);
	struct flow *f;
	struct epoll_event ev = { .events = EPOLLIN };

	for (f = g.bucket[h]; f; f = f->hnext) {
		if (addr_eq(&f->peer, sa)) {
			touch(f, now);
			return f;
		}
	}
	if (g.nflows >= g.max_flows || !(f = calloc(1, sizeof(*f))))
		return NULL;
	/* connect() binds an ephemeral port on the route's source (loopback for a local server). */
	f->fd = socket(g.usa.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (f->fd < 0) {
		free(f);
		return NULL;
	}
	sock_bufs(f->fd);
	ev.data.ptr = f;
	if (connect(f->fd, (const struct sockaddr *)&g.usa, g.ulen) < 0 ||
	    epoll_ctl(g.ep, EPOLL_CTL_ADD, f->fd, &ev) < 0) {
		close(f->fd);
		free(f);
		return NULL;
	}
	memcpy(&f->peer, sa, len);
	f->peerlen = len;
	f->hnext = g.bucket[h];
	g.bucket[h] = f;
	f->last = now;
	lru_append(f);
	g.nflows++;
	return f;
}

static void sweep(uint64_t now)
{
	struct flow *f, *nx;

	for (f = g.oldest; f && f->last + g.flow_timeout <= now; f = nx) {
		nx = f->newer;
		/* A flow with packets still queued waits for them. */
		if (!f->refs)
			flow_free(f);
	}
}

/* ---- I/O ------------------------------------------------------------------------ */

static void rx_listen(void)
{
	for (int i = 0; i < RX_BUDGET; i++) {
		struct sockaddr_storage sa;
		socklen_t sl = sizeof(sa);
		ssize_t n = recvfrom(g.lfd, g.rx, sizeof(g.rx), 0, (struct sockaddr *)&sa, &sl);
		uint64_t now;
		struct flow *f;

		if (n < 0)
			return;
		now = mono();
		f = flow_get(&sa, sl, now);
		if (!f) {
			g.dir[UP].st.in++;
			g.dir[UP].st.noflow++;
			continue;
		}
		ingress(UP, f, (size_t)n, now);
	}
}

static void rx_flow(struct flow *f)
{
	for (int i = 0; i < RX_BUDGET; i++) {
		ssize_t n = recv(f->fd, g.rx, sizeof(g.rx), 0);
		uint64_t now;

		if (n < 0) {
			/* An ICMP unreachable from the server is reported once, then gone. */
			if (errno == ECONNREFUSED)
				continue;
			return;
		}
		now = mono();
		touch(f, now);
		ingress(DOWN, f, (size_t)n, now);
	}
}

/* ---- --tcp: the stream proxy ------------------------------------------------- */

/*
 * A connection is two sockets, side[0] the client's and side[1] the one to
 * --upstream, and two directions: dir[UP] reads side[0] and writes side[1],
 * dir[DOWN] the other way round. Each direction is a ring of --buffer bytes
 * addressed by stream offsets: head (written) <= ready (due, past --delay)
 * <= tail (read in). A delayed read leaves a mark (its end offset and due
 * time); marks are released in order, so a stream is never reordered.
 */
struct mark {
	uint64_t end, due;
};

struct tdir {
	unsigned char *buf;
	struct mark *mark;		/* MARKS of them, only with --delay */
	uint64_t head, ready, tail;
	uint64_t mhead, mtail;
	uint64_t last_due;		/* the latest mark's due time: later reads wait at least as long */
	uint64_t flush_at;		/* --coalesce: when what is ready goes out */
	bool eof;			/* the source said EOF */
	bool shut;			/* ... and it was passed on (shutdown SHUT_WR) */
	bool blocked;			/* the destination was full: wait for EPOLLOUT */
};

struct conn;

struct tside {
	struct conn *c;
	int fd;
	uint32_t ev;			/* events registered with epoll; GONE: left the set */
};

/* A side nothing more will be read from or written to leaves epoll, or its HUP would spin the loop. */
#define GONE UINT32_MAX

struct conn {
	struct conn *prev, *next;	/* g.conns; next alone on g.dead */
	struct tside side[2];
	struct tdir dir[2];
	bool connecting, dead;
};

static void conn_kill(struct conn *c, bool reset)
{
	if (c->dead)
		return;
	c->dead = true;
	if (reset)
		g.resets++;
	if (c->prev)
		c->prev->next = c->next;
	else
		g.conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	g.nconns--;
	for (int s = 0; s < 2; s++) {
		if (c->side[s].fd < 0)
			continue;
		if (reset) {
			/* Close with a RST, so the peer sees the failure rather than a clean end. */
			struct linger l = { 1, 0 };

			(void)setsockopt(c->side[s].fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
		}
		close(c->side[s].fd);
		c->side[s].fd = -1;
	}
	/* Freed after the current batch of events, some of which may still point here. */
	c->next = g.dead;
	g.dead = c;
}

static void conn_free(struct conn *c)
{
	for (int d = 0; d < 2; d++) {
		free(c->dir[d].buf);
		free(c->dir[d].mark);
	}
	free(c);
}

static bool delayed(int d)
{
	return g.dir[d].k.delay || g.dir[d].k.jitter;
}

/* Bytes up to upto became due at time at. */
static void tcp_due(int d, struct tdir *t, uint64_t upto, uint64_t at)
{
	/* The first byte held starts the --coalesce clock; later ones join it. */
	if (t->head == t->ready)
		t->flush_at = at + g.dir[d].k.coalesce;
	t->ready = upto;
}

static void tcp_arrived(int d, struct tdir *t, size_t n, uint64_t now)
{
	const struct knobs *k = &g.dir[d].k;
	uint64_t due = now + k->delay;

	t->tail += n;
	g.dir[d].st.bytes_in += n;
	g.dir[d].st.reads++;
	if (!delayed(d)) {
		tcp_due(d, t, t->tail, now);
		return;
	}
	if (k->jitter)
		due += (uint64_t)(unif(&g.dir[d].rng[K_DELAY]) * (double)k->jitter);
	if (due < t->last_due)
		due = t->last_due;
	t->last_due = due;
	t->mark[t->mtail++ % MARKS] = (struct mark){ t->tail, due };
	g.dir[d].st.delay++;
}

static void tcp_release(int d, struct tdir *t, uint64_t now)
{
	while (t->mhead != t->mtail && t->mark[t->mhead % MARKS].due <= now) {
		const struct mark *m = &t->mark[t->mhead++ % MARKS];

		tcp_due(d, t, m->end, m->due);
	}
}

/* The size of the next write; the caller caps it at what is ready. */
static size_t tcp_seg(int d)
{
	struct dirst *ds = &g.dir[d];

	if (ds->k.seg_random)
		return 1 + (size_t)(((rnd(&ds->rng[K_SEGMENT]) >> 32) * ds->k.seg) >> 32);
	return ds->k.seg ? ds->k.seg : SIZE_MAX;
}

/* Read what the source has, as far as the ring and the marks allow. */
static void tcp_read(struct conn *c, int d, uint64_t now)
{
	struct tdir *t = &c->dir[d];
	int fd = c->side[d].fd;

	while (!t->eof && t->tail - t->head < g.tbuf && t->mtail - t->mhead < MARKS) {
		size_t off = t->tail % g.tbuf, room = g.tbuf - (t->tail - t->head);
		ssize_t n;

		if (room > g.tbuf - off)
			room = g.tbuf - off;
		n = recv(fd, t->buf + off, room, 0);
		if (n > 0) {
			tcp_arrived(d, t, (size_t)n, now);
		} else if (n == 0) {
			t->eof = true;
		} else {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
				conn_kill(c, true);
			return;
		}
	}
}

/* Write what is due, cut by --segment, once --coalesce's time has come. */
static void tcp_write(struct conn *c, int d, uint64_t now)
{
	struct dirst *ds = &g.dir[d];
	struct tdir *t = &c->dir[d];
	int fd = c->side[!d].fd;
	bool full = t->tail - t->head == g.tbuf;

	tcp_release(d, t, now);
	if (t->blocked || t->head == t->ready || (now < t->flush_at && !full))
		goto eof;
	for (int i = 0; i < WRITE_BUDGET && t->head < t->ready; i++) {
		size_t want = tcp_seg(d), off = t->head % g.tbuf, n1, n2;
		struct iovec iov[2];
		struct msghdr mh = { .msg_iov = iov };
		ssize_t n;

		if (want > t->ready - t->head)
			want = (size_t)(t->ready - t->head);
		/* Two pieces where the ring wraps: one write, so --segment decides every cut. */
		n1 = g.tbuf - off < want ? g.tbuf - off : want;
		n2 = want - n1;
		iov[0] = (struct iovec){ t->buf + off, n1 };
		iov[1] = (struct iovec){ t->buf, n2 };
		mh.msg_iovlen = n2 ? 2 : 1;
		n = sendmsg(fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				t->blocked = true;
				return;
			}
			if (errno == EINTR)
				continue;
			ds->st.err++;
			conn_kill(c, true);
			return;
		}
		t->head += (uint64_t)n;
		ds->st.bytes_fwd += (uint64_t)n;
		ds->st.writes++;
		if ((uint64_t)n > ds->st.largest)
			ds->st.largest = (uint64_t)n;
	}
	if (t->head < t->ready) {
		/* Out of budget: the socket is writable, so EPOLLOUT brings us back at once. */
		t->blocked = true;
		return;
	}
eof:
	if (t->eof && !t->shut && t->head == t->tail) {
		t->shut = true;
		if (shutdown(fd, SHUT_WR) < 0 && errno != ENOTCONN) {
			conn_kill(c, true);
			return;
		}
	}
}

static void tcp_interest(struct conn *c)
{
	for (int s = 0; s < 2 && !c->dead; s++) {
		struct tside *sd = &c->side[s];
		const struct tdir *in = &c->dir[s], *out = &c->dir[!s];
		uint32_t ev = 0;
		struct epoll_event e;

		if (sd->ev == GONE)
			continue;
		if (s == 1 && c->connecting) {
			ev = EPOLLOUT;
		} else if (in->eof && out->shut) {
			if (epoll_ctl(g.ep, EPOLL_CTL_DEL, sd->fd, NULL) < 0)
				die("epoll_ctl");
			sd->ev = GONE;
			continue;
		} else {
			if (!in->eof && in->tail - in->head < g.tbuf && in->mtail - in->mhead < MARKS)
				ev |= EPOLLIN;
			if (out->blocked)
				ev |= EPOLLOUT;
		}
		if (ev == sd->ev)
			continue;
		e.events = ev;
		e.data.ptr = sd;
		if (epoll_ctl(g.ep, EPOLL_CTL_MOD, sd->fd, &e) < 0)
			die("epoll_ctl");
		sd->ev = ev;
	}
}

static void tcp_pump(struct conn *c, uint64_t now)
{
	for (int d = 0; d < 2 && !c->dead; d++) {
		if (d == DOWN && c->connecting)
			break;
		tcp_read(c, d, now);
		if (!c->dead && !c->connecting)
			tcp_write(c, d, now);
	}
	if (!c->dead && c->dir[UP].shut && c->dir[DOWN].shut) {
		conn_kill(c, false);
		return;
	}
	tcp_interest(c);
}

static void tcp_event(struct tside *sd, uint32_t ev)
{
	struct conn *c = sd->c;
	int s = (int)(sd - c->side);

	if (c->dead)
		return;
	if (s == 1 && c->connecting) {
		int err = 0;
		socklen_t l = sizeof(err);

		if (getsockopt(sd->fd, SOL_SOCKET, SO_ERROR, &err, &l) < 0 || err) {
			g.refused++;
			conn_kill(c, true);
			return;
		}
		c->connecting = false;
	} else {
		if (ev & EPOLLERR) {
			int err = 0;
			socklen_t l = sizeof(err);

			if (getsockopt(sd->fd, SOL_SOCKET, SO_ERROR, &err, &l) < 0 || err) {
				conn_kill(c, true);
				return;
			}
		}
		/* The write (or the error it will meet) can go ahead. */
		if (ev & (EPOLLOUT | EPOLLHUP))
			c->dir[!s].blocked = false;
	}
	tcp_pump(c, mono());
}

static int tcp_socket(int family)
{
	int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), one = 1;

	/* Every write its own segment: Nagle would merge the cuts this proxy makes. */
	if (fd >= 0)
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

static void tcp_accept(void)
{
	for (;;) {
		int fd = accept4(g.lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC), one = 1;
		struct conn *c;
		bool ok = true;

		if (fd < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
				return;
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
				g.full++;
				return;
			}
			continue;	/* ECONNABORTED and the like: that client gave up */
		}
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		g.accepted++;
		if (g.nconns >= g.max_flows || !(c = calloc(1, sizeof(*c)))) {
			g.full++;
			close(fd);
			continue;
		}
		c->side[0] = (struct tside){ c, fd, 0 };
		c->side[1] = (struct tside){ c, tcp_socket(g.usa.ss_family), 0 };
		for (int d = 0; d < 2; d++) {
			c->dir[d].buf = malloc(g.tbuf);
			if (delayed(d))
				c->dir[d].mark = malloc(MARKS * sizeof(struct mark));
			if (!c->dir[d].buf || (delayed(d) && !c->dir[d].mark))
				ok = false;
		}
		c->next = g.conns;
		if (g.conns)
			g.conns->prev = c;
		g.conns = c;
		g.nconns++;
		if (!ok || c->side[1].fd < 0) {
			g.full++;
			conn_kill(c, true);
			continue;
		}
		c->connecting = true;
		if (connect(c->side[1].fd, (const struct sockaddr *)&g.usa, g.ulen) < 0 && errno != EINPROGRESS) {
			g.refused++;
			conn_kill(c, true);
			continue;
		}
		for (int s = 0; s < 2; s++) {
			struct epoll_event e = { .events = 0, .data.ptr = &c->side[s] };

			if (epoll_ctl(g.ep, EPOLL_CTL_ADD, c->side[s].fd, &e) < 0)
				die("epoll_ctl");
		}
		tcp_interest(c);
	}
}

/* The earliest time a connection has something to do without an event. */
static uint64_t tcp_deadline(uint64_t t)
{
	for (const struct conn *c = g.conns; c; c = c->next) {
		/* Its upstream's answer comes as an event; until then nothing is written. */
		if (c->connecting)
			continue;
		for (int d = 0; d < 2; d++) {
			const struct tdir *x = &c->dir[d];

			if (x->mhead != x->mtail && x->mark[x->mhead % MARKS].due < t)
				t = x->mark[x->mhead % MARKS].due;
			if (x->head < x->ready && !x->blocked && x->flush_at < t)
				t = x->flush_at;
		}
	}
	return t;
}

static void tcp_service(uint64_t now)
{
	struct conn *c, *nx;

	for (c = g.conns; c; c = nx) {
		bool due = false;

		nx = c->next;
		for (int d = 0; d < 2; d++) {
			const struct tdir *x = &c->dir[d];

			if ((x->mhead != x->mtail && x->mark[x->mhead % MARKS].due <= now) ||
			    (x->head < x->ready && !x->blocked && x->flush_at <= now))
				due = true;
		}
		if (due && !c->connecting)
			tcp_pump(c, now);
	}
	while (g.dead) {
		c = g.dead;
		g.dead = c->next;
		conn_free(c);
	}
}

/* ---- reporting ----------------------------------------------------------------- */

static void fmt_addr(const struct sockaddr_storage *sa, char *out, size_t n)
{
	char h[INET6_ADDRSTRLEN];

	if (sa->ss_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const void *)sa;

		inet_ntop(AF_INET6, &a->sin6_addr, h, sizeof(h));
		snprintf(out, n, "[%s]:%u", h, ntohs(a->sin6_port));
	} else {
		const struct sockaddr_in *a = (const void *)sa;

		inet_ntop(AF_INET, &a->sin_addr, h, sizeof(h));
		snprintf(out, n, "%s:%u", h, ntohs(a->sin_port));
	}
}

static void print_stats(const char *tag)
{
	for (int d = 0; d < 2; d++) {
		const struct stats *s = &g.dir[d].st;

		if (g.tcp) {
			fprintf(stderr,
				PROG ": %s %-4s bytes-in=%" PRIu64 " bytes-fwd=%" PRIu64 " reads=%" PRIu64
				" writes=%" PRIu64 " largest-write=%" PRIu64 " err=%" PRIu64 " conns=%" PRIu64
				" open=%" PRIu64 " refused=%" PRIu64 " resets=%" PRIu64 " full=%" PRIu64 "\n",
				tag, dir_name[d], s->bytes_in, s->bytes_fwd, s->reads, s->writes, s->largest,
				s->err, g.accepted, g.nconns, g.refused, g.resets, g.full);
			continue;
		}

		fprintf(stderr,
			PROG ": %s %-4s in=%" PRIu64 " fwd=%" PRIu64 " loss=%" PRIu64 " burst=%" PRIu64
			" blackhole=%" PRIu64 " rate=%" PRIu64 " queue=%" PRIu64 " noflow=%" PRIu64
			" err=%" PRIu64 " dup=%" PRIu64 " reorder=%" PRIu64 " corrupt=%" PRIu64
			" delay=%" PRIu64 "\n",
			tag, dir_name[d], s->in, s->fwd, s->loss, s->burst, s->blackhole, s->rate,
			s->queue, s->noflow, s->err, s->dup, s->reorder, s->corrupt, s->delay);
	}
}

static void print_knobs(int d)
{
	const struct knobs *k = &g.dir[d].k;
	char b[512];
	size_t n = 0;

#define ADD(...) (n += (size_t)snprintf(b + n, sizeof(b) - n, __VA_ARGS__))
	if (k->bh_on)
		ADD(" blackhole %g:%g ms", (double)k->bh_on / NS_PER_MS, (double)k->bh_period / NS_PER_MS);
	if (k->burst_p > 0)
		ADD(" burst-loss %g%%:%g", k->burst_p * 100, k->burst_len);
	if (k->loss > 0)
		ADD(" loss %g%%", k->loss * 100);
	if (k->corrupt > 0)
		ADD(" corrupt %g%%", k->corrupt * 100);
	if (k->dup > 0)
		ADD(" duplicate %g%%", k->dup * 100);
	if (k->delay || k->jitter)
		ADD(" delay %g:%g ms", (double)k->delay / NS_PER_MS, (double)k->jitter / NS_PER_MS);
	if (k->reorder > 0)
		ADD(" reorder %g%%:%u", k->reorder * 100, k->gap);
	if (k->rate)
		ADD(" rate %" PRIu64 " B/s", k->rate);
	if (k->seg_random)
		ADD(" segment random:%" PRIu32, k->seg);
	else if (k->seg)
		ADD(" segment %" PRIu32, k->seg);
	if (k->coalesce)
		ADD(" coalesce %g ms", (double)k->coalesce / NS_PER_MS);
#undef ADD
	fprintf(stderr, PROG ": %-4s%s\n", dir_name[d], n ? b : " clean");
}

/* ---- main loop ------------------------------------------------------------------ */

static uint64_t next_deadline(void)
{
	uint64_t t = g.next_sweep;

#define MIN(x) do { if ((x) < t) t = (x); } while (0)
	if (g.nheap)
		MIN(g.heap[0]->when);
	for (int d = 0; d < 2; d++) {
		const struct dirst *ds = &g.dir[d];

		if (ds->hold)
			MIN(ds->hold->when);
		/* Truncation +1 ns rounds up: the refill must not land a hair short and spin. */
		if (ds->rq)
			MIN(ds->refill_at + (uint64_t)(-ds->tokens * 1e9 / (double)ds->k.rate) + 1);
	}
	if (g.stats_every)
		MIN(g.next_stats);
	if (g.end)
		MIN(g.end);
#undef MIN
	if (g.tcp)
		t = tcp_deadline(t);
	return t;
}

static void arm(void)
{
	uint64_t t = next_deadline();
	struct itimerspec its;

	if (!t)
		t = 1;	/* 0 would disarm */
	/* Most loops leave the earliest deadline where it was: skip the syscall. */
	if (t == g.armed)
		return;
	memset(&its, 0, sizeof(its));
	its.it_value.tv_sec = (time_t)(t / NS_PER_S);
	its.it_value.tv_nsec = (long)(t % NS_PER_S);
	if (timerfd_settime(g.tfd, TFD_TIMER_ABSTIME, &its, NULL) < 0)
		die("timerfd_settime");
	g.armed = t;
}

static void service(uint64_t now)
{
	if (g.tcp)
		tcp_service(now);
	while (g.nheap && g.heap[0]->when <= now) {
		struct pkt *p = heap_pop();

		reorder_stage(p->dir, p->flow, p->data, p->len, p, now);
	}
	for (int d = 0; d < 2; d++) {
		struct dirst *ds = &g.dir[d];

		while (ds->hold && ds->hold->when <= now) {
			struct pkt *p = fifo_pop(&ds->hold);

			rate_stage(d, p->flow, p->data, p->len, p, now);
		}
		if (ds->rq) {
			refill(ds, now);
			while (ds->rq && ds->tokens >= 0) {
				struct pkt *p = fifo_pop(&ds->rq);

				ds->rq_bytes -= p->len;
				ds->tokens -= p->len;
				xmit(d, p->flow, p->data, p->len);
				pkt_put(p);
			}
		}
	}
	if (now >= g.next_sweep) {
		sweep(now);
		g.next_sweep = now + g.sweep_every;
	}
	if (g.stats_every && now >= g.next_stats) {
		char tag[32];

		if (!g.quiet) {
			snprintf(tag, sizeof(tag), "t=%.1fs", (double)(now - g.t0) / NS_PER_S);
			print_stats(tag);
		}
		g.next_stats += g.stats_every;
		if (g.next_stats <= now)
			g.next_stats = now + g.stats_every;
	}
	if (g.end && now >= g.end)
		g.quit = true;
}

static void setup(void)
{
	struct epoll_event ev = { .events = EPOLLIN };
	struct rlimit rl;
	sigset_t ss;
	char la[80], ua[80];

	/* One fd per client (two with --tcp): lift the soft limit as far as the table may need. */
	size_t fds = g.max_flows * (g.tcp ? 2 : 1) + 64;

	if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur < fds && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = fds < rl.rlim_max ? fds : rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
	pool_init(&g.small, SMALL_SLOT - offsetof(struct pkt, data), SMALL_GROW, g.qlimit);
	pool_init(&g.big, DGRAM_MAX, 1, BIG_MAX);
	for (g.nbucket = 16; g.nbucket < g.max_flows; g.nbucket *= 2)
		;
	g.bucket = calloc(g.nbucket, sizeof(*g.bucket));
	g.heap = malloc(g.qlimit * sizeof(*g.heap));
	if (!g.bucket || !g.heap)
		die("malloc");

	g.lfd = socket(g.lsa.ss_family, (g.tcp ? SOCK_STREAM : SOCK_DGRAM) | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (g.lfd < 0)
		die("socket");
	if (g.tcp) {
		int one = 1;

		/* A test restarting on the same port must not wait out TIME_WAIT. */
		(void)setsockopt(g.lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	} else {
		sock_bufs(g.lfd);
	}
	fmt_addr(&g.lsa, la, sizeof(la));
	if (bind(g.lfd, (const struct sockaddr *)&g.lsa, g.llen) < 0 || (g.tcp && listen(g.lfd, 512) < 0)) {
		char m[128];

		snprintf(m, sizeof(m), "cannot listen on %s", la);
		die(m);
	}
	g.llen = sizeof(g.lsa);
	if (getsockname(g.lfd, (struct sockaddr *)&g.lsa, &g.llen) < 0)
		die("getsockname");

	sigemptyset(&ss);
	sigaddset(&ss, SIGINT);
	sigaddset(&ss, SIGTERM);
	if (sigprocmask(SIG_BLOCK, &ss, NULL) < 0)
		die("sigprocmask");
	g.ep = epoll_create1(EPOLL_CLOEXEC);
	g.tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	g.sfd = signalfd(-1, &ss, SFD_NONBLOCK | SFD_CLOEXEC);
	if (g.ep < 0 || g.tfd < 0 || g.sfd < 0)
		die("epoll/timerfd/signalfd");
	ev.data.ptr = &tag_listen;
	if (epoll_ctl(g.ep, EPOLL_CTL_ADD, g.lfd, &ev) < 0)
		die("epoll_ctl");
	ev.data.ptr = &tag_timer;
	if (epoll_ctl(g.ep, EPOLL_CTL_ADD, g.tfd, &ev) < 0)
		die("epoll_ctl");
	ev.data.ptr = &tag_signal;
	if (epoll_ctl(g.ep, EPOLL_CTL_ADD, g.sfd, &ev) < 0)
		die("epoll_ctl");

	if (!g.seeded) {
		struct timespec ts;
		uint64_t x;

		clock_gettime(CLOCK_REALTIME, &ts);
		x = (uint64_t)ts.tv_sec * NS_PER_S + (uint64_t)ts.tv_nsec + ((uint64_t)getpid() << 32);
		g.seed = splitmix(&x);
	}
	for (int d = 0; d < 2; d++) {
		struct dirst *ds = &g.dir[d];

		for (unsigned k = 0; k < NKNOB; k++)
			rng_seed(&ds->rng[k], g.seed,
				 k < NUDP ? (unsigned)d * NUDP + k : 2 * NUDP + (unsigned)d * (NKNOB - NUDP) + (k - NUDP));
		if (ds->k.rate) {
			ds->depth = (double)ds->k.rate * BUCKET_NS / NS_PER_S;
			ds->tokens = ds->depth;
			ds->rq_max = ds->k.rate * RQUEUE_NS / NS_PER_S;
		}
	}

	/* Sweep often enough that a flow outlives its timeout by at most a quarter of it. */
	g.sweep_every = g.flow_timeout / 4 < NS_PER_S ? g.flow_timeout / 4 : NS_PER_S;
	if (g.sweep_every < 10 * NS_PER_MS)
		g.sweep_every = 10 * NS_PER_MS;

	/* The blackhole clock starts here, just before the line that says we are ready. */
	g.t0 = mono();
	for (int d = 0; d < 2; d++)
		g.dir[d].refill_at = g.t0;
	g.next_sweep = g.t0 + g.sweep_every;
	if (g.stats_every)
		g.next_stats = g.t0 + g.stats_every;
	if (g.end)
		g.end += g.t0;
	if (!g.quiet) {
		fmt_addr(&g.lsa, la, sizeof(la));
		fmt_addr(&g.usa, ua, sizeof(ua));
		fprintf(stderr, PROG ": seed %" PRIu64 " (replay with --seed %" PRIu64 ")\n", g.seed, g.seed);
		print_knobs(UP);
		print_knobs(DOWN);
		fprintf(stderr, PROG ": listening on %s, upstream %s%s\n", la, ua, g.tcp ? " (tcp)" : "");
	}
}

static void teardown(void)
{
	while (g.nheap)
		pkt_put(heap_pop());
	for (int d = 0; d < 2; d++) {
		while (g.dir[d].hold)
			pkt_put(fifo_pop(&g.dir[d].hold));
		while (g.dir[d].rq)
			pkt_put(fifo_pop(&g.dir[d].rq));
	}
	while (g.oldest)
		flow_free(g.oldest);
	while (g.conns)
		conn_kill(g.conns, false);
	while (g.dead) {
		struct conn *c = g.dead;

		g.dead = c->next;
		conn_free(c);
	}
	pool_fini(&g.small);
	pool_fini(&g.big);
	free(g.bucket);
	free(g.heap);
	close(g.sfd);
	close(g.tfd);
	close(g.ep);
	close(g.lfd);
}

int main(int argc, char **argv)
{
	struct epoll_event ev[64];

	parse_args(argc, argv);
	setup();
	while (!g.quit) {
		int n;

		arm();
		n = epoll_wait(g.ep, ev, 64, -1);
		if (n < 0 && errno != EINTR)
			die("epoll_wait");
		for (int i = 0; i < n; i++) {
			void *t = ev[i].data.ptr;

			if (t == &tag_listen) {
				if (g.tcp)
					tcp_accept();
				else
					rx_listen();
			} else if (t == &tag_timer) {
				uint64_t x;

				/* Only clears readiness; what is due is worked out from the clock. */
				(void)!read(g.tfd, &x, sizeof(x));
			} else if (t == &tag_signal) {
				struct signalfd_siginfo si;

				if (read(g.sfd, &si, sizeof(si)) == sizeof(si))
					g.quit = true;
			} else if (g.tcp) {
				tcp_event(t, ev[i].events);
			} else {
				rx_flow(t);
			}
		}
		service(mono());
	}
	if (!g.quiet)
		print_stats("final");
	teardown();
	return 0;
}
