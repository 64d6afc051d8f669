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
 * Only libc. Exit status: 0 at --duration or SIGINT/SIGTERM, 1 runtime
 * error, 2 usage error (one line on stderr).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>	/* isfinite() only, a macro: no libm */
#include <netinet/in.h>
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
};

/* A held packet leaves after GAP later packets, or after this if traffic stops. */
#define HOLD_NS (20 * NS_PER_MS)
/* The token bucket holds 50 ms of rate; the queue behind it 250 ms. */
#define BUCKET_NS (50 * NS_PER_MS)
#define RQUEUE_NS (250 * NS_PER_MS)

enum { UP, DOWN };
static const char *const dir_name[2] = { "up", "down" };

enum { K_LOSS, K_BURST, K_REORDER, K_DUP, K_DELAY, K_CORRUPT, K_BLACKHOLE, K_RATE, NKNOB };
static const char *const knob_name[NKNOB] = {
	"loss", "burst-loss", "reorder", "duplicate", "delay", "corrupt", "blackhole", "rate",
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
};

struct stats {
	uint64_t in, fwd;
	uint64_t loss, burst, blackhole, rate, queue, noflow, err;	/* drops */
	uint64_t dup, reorder, corrupt, delay;				/* packets affected */
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
		"A userspace UDP impairment proxy. Clients send to --listen; each client\n"
		"gets its own socket towards --upstream (the server sees one source port\n"
		"per client, as behind a NAT) and replies go back to that client.\n"
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
		"Run:\n"
		"  --seed N               PRNG seed (default: from the clock); always\n"
		"                         printed, so a run can be replayed exactly\n"
		"  --duration S           exit after S seconds (e.g. 2.5)\n"
		"  --stats-interval S     print the counters to stderr every S seconds\n"
		"  --flow-timeout S       forget a client idle for S seconds (default 60)\n"
		"  --max-flows N          clients at once (default 4096); a new client\n"
		"                         beyond is dropped (counted as noflow)\n"
		"  --queue-limit N        packets waiting at once in delay, reorder and\n"
		"                         rate queues (default 65536); tail drop beyond\n"
		"  --quiet                print nothing but errors\n"
		"  -h, --help             this text\n"
		"\n"
		"Counters, per direction, on stderr at exit and every --stats-interval:\n"
		"  in fwd (sent, copies included); drops: loss burst blackhole rate queue\n"
		"  noflow err (send failed); packets affected: dup reorder corrupt delay\n"
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
		"\n"
		"Exit status: 0 at --duration or on SIGINT/SIGTERM, 1 runtime error,\n"
		"2 usage error.\n",
		GAP_DEFAULT);
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
	}
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
	       G_QUIET, G_HELP, NGEN };
	static const char *const general[NGEN] = {
		"listen", "upstream", "seed", "duration", "stats-interval",
		"flow-timeout", "max-flows", "queue-limit", "quiet", "help",
	};
	struct kopt kv[256];
	size_t nk = 0;
	bool have_listen = false, have_up = false;

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
		if (gen == G_QUIET || gen == G_HELP) {
			if (eq)
				usage_err("%s takes no value; see --help", name);
			if (gen == G_HELP) {
				usage(stdout);
				exit(fflush(stdout) || ferror(stdout) ? 1 : 0);
			}
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

	/* One fd per client: lift the soft limit as far as the table may need. */
	if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur < g.max_flows + 64 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = g.max_flows + 64 < rl.rlim_max ? g.max_flows + 64 : rl.rlim_max;
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

	g.lfd = socket(g.lsa.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (g.lfd < 0)
		die("socket");
	sock_bufs(g.lfd);
	fmt_addr(&g.lsa, la, sizeof(la));
	if (bind(g.lfd, (const struct sockaddr *)&g.lsa, g.llen) < 0) {
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
			rng_seed(&ds->rng[k], g.seed, (unsigned)d * NKNOB + k);
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
		fprintf(stderr, PROG ": listening on %s, upstream %s\n", la, ua);
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
				rx_listen();
			} else if (t == &tag_timer) {
				uint64_t x;

				/* Only clears readiness; what is due is worked out from the clock. */
				(void)!read(g.tfd, &x, sizeof(x));
			} else if (t == &tag_signal) {
				struct signalfd_siginfo si;

				if (read(g.sfd, &si, sizeof(si)) == sizeof(si))
					g.quit = true;
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
