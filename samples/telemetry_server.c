/* SPDX-License-Identifier: MIT */
/*
 * ringwire-telemetry-server - collects sensor readings from many devices and
 * keeps, per device and per kind of reading, count, last, min, max and mean.
 *
 *   ringwire-telemetry-server --listen HOST:PORT --key FILE [--reactors N]
 *                             [--interval S] [--top N] [the standard server options]
 *
 * A device is a peer public key: it keeps its figures across reconnects.
 * Readings are event type 1, one channel per kind, all little-endian:
 *
 *   channel 1  temperature  float32, degrees Celsius
 *   channel 2  humidity     float32, percent relative humidity
 *   channel 3  GPS          float64 latitude, float64 longitude, degrees
 *   channel 4  battery      float32, percent charge
 *
 * Readings are sent unreliably: a lost one is replaced by the next. Queries
 * use the reliable channel 10:
 *
 *   request type 1: u32 correlation id, then a wpub prefix of a device
 *                   (nothing: totals over every device)
 *   reply   type 2: u32 correlation id, u8 status (0 ok, 1 no such device,
 *                   2 more than one device matches, 3 bad request), text
 *
 * The first line on stdout is a wire:// URI a client on this machine can
 * dial (for a wildcard --listen, 0.0.0.0 or [::], the loopback address);
 * for a wildcard, one line per local interface address follows it.
 * A summary table follows every --interval seconds. SIGINT or SIGTERM
 * stops it gracefully.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <ringwire.h>

#include "common.h"

#define PROG "ringwire-telemetry-server"

enum {
	KIND_TEMP, KIND_HUM, KIND_GPS, KIND_BATT, NKINDS,
	CH_QUERY = 10,
	EV_READING = 1, EV_QUERY = 1, EV_REPLY = 2,
	ST_OK = 0, ST_NOT_FOUND = 1, ST_AMBIGUOUS = 2, ST_BAD = 3,
	SHORT_WPUB = 13,	/* "wpub1" and 8 characters: enough to tell devices apart */
	NBUCKETS = 4096,
	REPLY_MAX = 4096,
};

static const char *const kind_name[NKINDS] = { "temperature", "humidity", "gps", "battery" };

/* One component of a kind (GPS has two: latitude and longitude). */
struct agg {
	double last, min, max, sum;
};

struct kind {
	uint64_t n;
	struct agg v[2];
};

/*
 * Devices are never freed while the server runs: a reconnecting device finds
 * its figures again, and the summary thread can walk the table without
 * racing a free. Each device has its own lock, taken per reading; only the
 * summary and queries contend for it, a few times per interval.
 */
struct device {
	uint8_t key[RW_KEY_SIZE];
	char wpub[RW_WPUB_LEN + 1];
	pthread_mutex_t lock;
	struct kind k[NKINDS];
	uint64_t malformed;
	unsigned online;	/* sessions of this key now open */
	struct device *hnext;
};

/* The device table: taken when a session opens or closes, and to walk it. */
static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static struct device *buckets[NBUCKETS];
static struct device **devs;
static size_t ndevs, devs_cap;

static _Atomic uint64_t replies_dropped;

/* ---- little-endian helpers ----------------------------------------------- */

static uint32_t get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get_le64(const uint8_t *p)
{
	return (uint64_t)get_le32(p) | (uint64_t)get_le32(p + 4) << 32;
}

static void put_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static double get_f32(const uint8_t *p)
{
	uint32_t u = get_le32(p);
	float f;

	memcpy(&f, &u, sizeof(f));
	return f;
}

static double get_f64(const uint8_t *p)
{
	uint64_t u = get_le64(p);
	double d;

	memcpy(&d, &u, sizeof(d));
	return d;
}

/* ---- the device table ---------------------------------------------------- */

static unsigned bucket_of(const uint8_t key[RW_KEY_SIZE])
{
	/* public keys are uniformly random already */
	return get_le32(key) % NBUCKETS;
}

/* Find or create the device of key; called with reg_lock held. */
static struct device *device_get(const uint8_t key[RW_KEY_SIZE])
{
	unsigned b = bucket_of(key);
	struct device *d;

	for (d = buckets[b]; d; d = d->hnext)
		if (!memcmp(d->key, key, RW_KEY_SIZE))
			return d;
	if (ndevs == devs_cap) {
		size_t cap = devs_cap ? devs_cap * 2 : 64;
		struct device **nd = realloc(devs, cap * sizeof(*nd));

		if (!nd)
			return NULL;
		devs = nd;
		devs_cap = cap;
	}
	d = calloc(1, sizeof(*d));
	if (!d)
		return NULL;
	memcpy(d->key, key, RW_KEY_SIZE);
	rw_pubkey_to_wpub(d->wpub, key);
	pthread_mutex_init(&d->lock, NULL);
	d->hnext = buckets[b];
	buckets[b] = d;
	devs[ndevs++] = d;
	return d;
}

static void free_devices(void)
{
	for (size_t i = 0; i < ndevs; i++) {
		pthread_mutex_destroy(&devs[i]->lock);
		free(devs[i]);
	}
	free(devs);
	devs = NULL;
	ndevs = devs_cap = 0;
}

/* ---- aggregation --------------------------------------------------------- */

static void agg_add(struct agg *a, uint64_t n, double v)
{
	a->last = v;
	if (n == 0 || v < a->min)
		a->min = v;
	if (n == 0 || v > a->max)
		a->max = v;
	a->sum += v;
}

/* Fold one device's kind into a total (last is meaningless over devices). */
static void kind_merge(struct kind *t, const struct kind *k, int ncomp)
{
	if (!k->n)
		return;
	for (int c = 0; c < ncomp; c++) {
		struct agg *a = &t->v[c];
		const struct agg *b = &k->v[c];

		if (!t->n || b->min < a->min)
			a->min = b->min;
		if (!t->n || b->max > a->max)
			a->max = b->max;
		a->sum += b->sum;
		a->last = b->last;
	}
	t->n += k->n;
}

static int ncomp(int kind)
{
	return kind == KIND_GPS ? 2 : 1;
}

/* Decode one reading; -1 if it is malformed (wrong size, not finite, out of range). */
static int decode(int kind, const uint8_t *p, size_t len, double v[2])
{
	switch (kind) {
	case KIND_GPS:
		if (len != 16)
			return -1;
		v[0] = get_f64(p);
		v[1] = get_f64(p + 8);
		return isfinite(v[0]) && isfinite(v[1]) && v[0] >= -90 && v[0] <= 90 && v[1] >= -180 && v[1] <= 180 ? 0 : -1;
	case KIND_TEMP:
		if (len != 4)
			return -1;
		v[0] = get_f32(p);
		return isfinite(v[0]) && v[0] > -273.15 && v[0] < 1000 ? 0 : -1;
	default:	/* humidity and battery are percentages */
		if (len != 4)
			return -1;
		v[0] = get_f32(p);
		return isfinite(v[0]) && v[0] >= 0 && v[0] <= 100 ? 0 : -1;
	}
}

/* ---- snapshots, for the table and for queries ---------------------------------- */

struct snap {
	const struct device *d;	/* for its wpub only: devices are never freed */
	struct kind k[NKINDS];
	uint64_t n, malformed;
	unsigned online;
};

/* Copy every device's figures (or only those whose wpub starts with prefix). */
static struct snap *snapshot(const char *prefix, size_t plen, size_t *count)
{
	struct snap *v;
	size_t n = 0;

	pthread_mutex_lock(&reg_lock);
	v = calloc(ndevs ? ndevs : 1, sizeof(*v));
	for (size_t i = 0; v && i < ndevs; i++) {
		struct device *d = devs[i];
		struct snap *s = &v[n];

		if (plen && strncmp(d->wpub, prefix, plen))
			continue;
		s->d = d;
		s->online = d->online;
		pthread_mutex_lock(&d->lock);
		memcpy(s->k, d->k, sizeof(s->k));
		s->malformed = d->malformed;
		pthread_mutex_unlock(&d->lock);
		for (int k = 0; k < NKINDS; k++)
			s->n += s->k[k].n;
		n++;
	}
	pthread_mutex_unlock(&reg_lock);
	*count = n;
	return v;
}

static void totals(const struct snap *v, size_t n, struct snap *t)
{
	memset(t, 0, sizeof(*t));
	for (size_t i = 0; i < n; i++) {
		for (int k = 0; k < NKINDS; k++)
			kind_merge(&t->k[k], &v[i].k[k], ncomp(k));
		t->n += v[i].n;
		t->malformed += v[i].malformed;
		t->online += v[i].online ? 1 : 0;
	}
}

/* Text of one kind: "temperature n=12 last=21.30 min=.. max=.. mean=..". */
static int kind_text(char *out, size_t cap, int k, const struct kind *x, int with_last)
{
	const struct agg *a = &x->v[0], *b = &x->v[1];
	double nn = (double)x->n;

	if (!x->n)
		return snprintf(out, cap, "%-11s n=0\n", kind_name[k]);
	if (k == KIND_GPS) {
		int len = snprintf(out, cap, "%-11s n=%" PRIu64, kind_name[k], x->n);

		if (with_last)
			len += snprintf(out + len, cap > (size_t)len ? cap - len : 0, " last=%.6f,%.6f", a->last,
					b->last);
		return len + snprintf(out + len, cap > (size_t)len ? cap - len : 0,
				      " lat=%.6f..%.6f lon=%.6f..%.6f mean=%.6f,%.6f\n", a->min, a->max, b->min,
				      b->max, a->sum / nn, b->sum / nn);
	}
	if (with_last)
		return snprintf(out, cap, "%-11s n=%" PRIu64 " last=%.2f min=%.2f max=%.2f mean=%.2f\n", kind_name[k],
				x->n, a->last, a->min, a->max, a->sum / nn);
	return snprintf(out, cap, "%-11s n=%" PRIu64 " min=%.2f max=%.2f mean=%.2f\n", kind_name[k], x->n, a->min,
			a->max, a->sum / nn);
}

/* The text of a summary: totals, or one device (with last values). */
static size_t summary_text(char *out, size_t cap, const struct snap *s, size_t ndevices, int device)
{
	size_t len;
	int n;

	if (device)
		n = snprintf(out, cap, "device %s (%s): readings %" PRIu64 ", malformed %" PRIu64 "\n", s->d->wpub,
			     s->online ? "online" : "offline", s->n, s->malformed);
	else
		n = snprintf(out, cap, "totals: devices %zu (online %u), readings %" PRIu64 ", malformed %" PRIu64 "\n",
			     ndevices, s->online, s->n, s->malformed);
	len = n > 0 ? (size_t)n : 0;
	for (int k = 0; k < NKINDS && len < cap; k++) {
		n = kind_text(out + len, cap - len, k, &s->k[k], device);
		len += n > 0 ? (size_t)n : 0;
	}
	return len < cap ? len : cap - 1;
}

/* ---- callbacks ------------------------------------------------------------------ */

static void on_open(struct rw_session *s, void *user)
{
	uint8_t key[RW_KEY_SIZE];
	struct device *d;

	(void)user;
	rw_session_peer_key(s, key);
	pthread_mutex_lock(&reg_lock);
	d = device_get(key);
	if (d)
		d->online++;
	pthread_mutex_unlock(&reg_lock);
	if (!d) {
		rw_session_close(s, RW_CLOSE_LOCAL, "server out of memory");
		return;
	}
	rw_session_set_user(s, d);
}

static void on_close(struct rw_session *s, const struct rw_close_info *why, void *user)
{
	struct device *d = rw_session_user(s);

	(void)why;
	(void)user;
	if (!d)
		return;
	pthread_mutex_lock(&reg_lock);
	d->online--;
	pthread_mutex_unlock(&reg_lock);
	rw_session_set_user(s, NULL);
}

/* Readings on channels 1-4; anything else on other channels counts as malformed. */
static void on_reading(struct rw_session *s, uint8_t channel, uint8_t type, const uint8_t *p, size_t len,
		       void *user)
{
	struct device *d = rw_session_user(s);
	int kind = channel - 1;
	double v[2];
	int bad;

	(void)user;
	if (!d)
		return;
	bad = channel < 1 || channel > NKINDS || type != EV_READING || decode(kind, p, len, v);
	pthread_mutex_lock(&d->lock);
	if (bad) {
		d->malformed++;
	} else {
		struct kind *k = &d->k[kind];

		for (int c = 0; c < ncomp(kind); c++)
			agg_add(&k->v[c], k->n, v[c]);
		k->n++;
	}
	pthread_mutex_unlock(&d->lock);
}

static void reply(struct rw_session *s, uint32_t corr, uint8_t status, const char *text, size_t len)
{
	uint8_t buf[5 + REPLY_MAX];

	if (len > REPLY_MAX)
		len = REPLY_MAX;
	put_le32(buf, corr);
	buf[4] = status;
	memcpy(buf + 5, text, len);
	/* a full window means the client stopped reading its replies: it times out */
	if (rw_session_send(s, CH_QUERY, EV_REPLY, buf, 5 + len) < 0)
		replies_dropped++;
}

static void on_query(struct rw_session *s, uint8_t channel, uint8_t type, const uint8_t *p, size_t len, void *user)
{
	char prefix[RW_WPUB_LEN + 1], text[REPLY_MAX];
	struct snap *v, t;
	uint32_t corr;
	size_t n, plen;

	(void)channel;
	(void)user;
	if (type != EV_QUERY || len < 4) {
		reply(s, len >= 4 ? get_le32(p) : 0, ST_BAD, "bad request: type 1, u32 id, wpub prefix", 41);
		return;
	}
	corr = get_le32(p);
	plen = len - 4;
	if (plen > RW_WPUB_LEN) {
		reply(s, corr, ST_BAD, "bad request: prefix longer than a wpub", 38);
		return;
	}
	memcpy(prefix, p + 4, plen);
	prefix[plen] = 0;
	v = snapshot(prefix, plen, &n);
	if (!v) {
		reply(s, corr, ST_BAD, "server out of memory", 20);
		return;
	}
	if (!plen) {
		totals(v, n, &t);
		reply(s, corr, ST_OK, text, summary_text(text, sizeof(text), &t, n, 0));
	} else if (n == 1) {
		reply(s, corr, ST_OK, text, summary_text(text, sizeof(text), &v[0], 1, 1));
	} else if (n == 0) {
		int l = snprintf(text, sizeof(text), "no device matches \"%s\"", prefix);

		reply(s, corr, ST_NOT_FOUND, text, (size_t)l);
	} else {
		int l = snprintf(text, sizeof(text), "%zu devices match \"%s\"; give more characters:", n, prefix);

		for (size_t i = 0; i < n && i < 16; i++)
			l += snprintf(text + l, sizeof(text) - (size_t)l, " %.*s", (int)SHORT_WPUB + 4, v[i].d->wpub);
		reply(s, corr, ST_AMBIGUOUS, text, (size_t)l);
	}
	free(v);
}

/* ---- the summary table ------------------------------------------------------------- */

static int by_readings(const void *a, const void *b)
{
	const struct snap *x = a, *y = b;

	return x->n < y->n ? 1 : x->n > y->n ? -1 : 0;
}

/*
 * One cell of the table: the last reading of a kind (or the mean of its
 * readings), or "-" while the device has sent none of that kind.
 */
static const char *cell(char *out, size_t n, int width, int prec, const struct kind *k, int c, int want_mean)
{
	if (!k->n)
		snprintf(out, n, "%*s", width, "-");
	else
		snprintf(out, n, "%*.*f", width, prec, want_mean ? k->v[c].sum / (double)k->n : k->v[c].last);
	return out;
}

static void print_table(unsigned top, double elapsed_s, uint64_t *prev_total)
{
	struct snap *v, t;
	size_t n;
	char when[32], c[7][32];
	time_t now = time(NULL);
	struct tm tm;

	v = snapshot(NULL, 0, &n);
	if (!v)
		return;
	totals(v, n, &t);
	qsort(v, n, sizeof(*v), by_readings);
	localtime_r(&now, &tm);
	strftime(when, sizeof(when), "%H:%M:%S", &tm);
	printf("-- %s  devices %zu (online %u)  readings %" PRIu64 " (%.1f/s)  malformed %" PRIu64 "\n", when, n,
	       t.online, t.n, elapsed_s > 0 ? (double)(t.n - *prev_total) / elapsed_s : 0.0, t.malformed);
	*prev_total = t.n;
	if (n) {
		printf("%-*s %-3s %9s %8s %8s %8s %8s %7s  %s\n", SHORT_WPUB, "device", "on", "readings", "temp",
		       "mean", "hum%", "mean", "batt%", "gps");
		for (size_t i = 0; i < n && i < top; i++) {
			const struct kind *k = v[i].k;

			printf("%.*s %-3s %9" PRIu64 " %s %s %s %s %s  ", SHORT_WPUB, v[i].d->wpub,
			       v[i].online ? "yes" : "no", v[i].n, cell(c[0], 32, 8, 2, &k[KIND_TEMP], 0, 0),
			       cell(c[1], 32, 8, 2, &k[KIND_TEMP], 0, 1), cell(c[2], 32, 8, 2, &k[KIND_HUM], 0, 0),
			       cell(c[3], 32, 8, 2, &k[KIND_HUM], 0, 1), cell(c[4], 32, 7, 1, &k[KIND_BATT], 0, 0));
			if (k[KIND_GPS].n)
				printf("%.5f,%.5f\n", k[KIND_GPS].v[0].last, k[KIND_GPS].v[1].last);
			else
				printf("-\n");
		}
		if (n > top)
			printf("(%zu more device%s)\n", n - top, n - top == 1 ? "" : "s");
		printf("%-*s %-3s %9" PRIu64 " %8s %s %8s %s", SHORT_WPUB, "total", "", t.n, "",
		       cell(c[5], 32, 8, 2, &t.k[KIND_TEMP], 0, 1), "", cell(c[6], 32, 8, 2, &t.k[KIND_HUM], 0, 1));
		if (t.k[KIND_TEMP].n)
			printf(" %7s  (min..max temp %.2f..%.2f)", "", t.k[KIND_TEMP].v[0].min, t.k[KIND_TEMP].v[0].max);
		printf("\n");
		printf("on: a session is open now; temp, hum%%, batt%%, gps: the last reading; mean: of all; "
		       "-: none of that kind yet\n");
	}
	fflush(stdout);
	free(v);
}

struct printer {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int stop;
	unsigned interval_s, top;
};

static double mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A thread of our own: the reactors must not block on printing. */
static void *printer_main(void *arg)
{
	struct printer *p = arg;
	uint64_t prev = 0;
	double t0 = mono_s();

	pthread_mutex_lock(&p->lock);
	while (!p->stop) {
		struct timespec ts;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_sec += p->interval_s;
		while (!p->stop && pthread_cond_timedwait(&p->cond, &p->lock, &ts) != ETIMEDOUT)
			;
		if (p->stop)
			break;
		pthread_mutex_unlock(&p->lock);
		double t1 = mono_s();

		print_table(p->top, t1 - t0, &prev);
		t0 = t1;
		pthread_mutex_lock(&p->lock);
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

/* ---- main ---------------------------------------------------------------------------- */

static struct sample sm;

static void usage(FILE *f)
{
	fprintf(f, "usage: " PROG " --listen HOST:PORT --key FILE [--reactors N] [--interval S] [--top N] [--allow FILE]\n"
		   "       [--metrics HOST:PORT] [--log-format logfmt|json] [--log-level LEVEL] [--quiet]\n");
	sample_usage_common(&sm, f);
	fprintf(f, "  --interval S          print a summary table every S seconds (default 5, 0: never)\n"
		   "  --top N               devices in the table, most readings first (default 10)\n"
		   "Readings: event type 1 on channel 1 temperature (f32 C), 2 humidity (f32 %%),\n"
		   "3 GPS (f64 lat, f64 lon), 4 battery (f32 %%). Queries: channel 10 (reliable),\n"
		   "type 1 = u32 id + wpub prefix (empty: totals) -> type 2 = u32 id + u8 status + text.\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "interval", required_argument, NULL, 'i' }, { "top", required_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 },
	};
	struct printer pr = { .lock = PTHREAD_MUTEX_INITIALIZER, .interval_s = 5, .top = 10 };
	struct rw_handler any = { .on_open = on_open, .on_close = on_close, .on_event = on_reading };
	struct rw_handler query = { .on_event = on_query, .flags = RW_CHANNEL_RELIABLE };
	struct rw_server_config cfg;
	struct rw_server *srv;
	struct rw_stats st;
	pthread_condattr_t ca;
	pthread_t printer;
	sigset_t sigs;
	unsigned long v;
	int c, ret, have_printer = 0;
	uint64_t prev = 0;

	rw_server_config_init(&cfg);
	sample_init(&sm, PROG, SAMPLE_SERVER, usage);
	while ((c = sample_getopt(&sm, argc, argv, "i:t:", opts)) != -1) {
		switch (c) {
		case SAMPLE_EXIT:
			return sm.exit_code;
		case 'i':
			if (sample_number(&sm, "--interval", optarg, 0, 86400, &v))
				return sm.exit_code;
			pr.interval_s = (unsigned)v;
			break;
		case 't':
			if (sample_number(&sm, "--top", optarg, 1, 100000, &v))
				return sm.exit_code;
			pr.top = (unsigned)v;
			break;
		}
	}
	if (sample_no_args(&sm, argc, argv) || sample_server_create(&sm, &cfg, &srv))
		return sm.exit_code;
	rw_server_on(srv, RW_CHANNEL_ANY, &any);
	rw_server_on(srv, CH_QUERY, &query);
	/*
	 * rw_server_run takes SIGINT, SIGTERM and SIGHUP through a signalfd:
	 * every thread must have them blocked (a SIGHUP the printer thread
	 * took would end the process), so block them before it inherits our mask.
	 */
	sample_block_signals(&sigs);
	if (pr.interval_s) {
		pthread_condattr_init(&ca);
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		pthread_cond_init(&pr.cond, &ca);
		pthread_condattr_destroy(&ca);
		have_printer = pthread_create(&printer, NULL, printer_main, &pr) == 0;
		if (!have_printer)
			fprintf(stderr, PROG ": cannot start the summary thread; running without a table\n");
	}
	ret = sample_server_run(&sm, srv);
	if (have_printer) {
		pthread_mutex_lock(&pr.lock);
		pr.stop = 1;
		pthread_cond_signal(&pr.cond);
		pthread_mutex_unlock(&pr.lock);
		pthread_join(printer, NULL);
	}
	print_table(pr.top, 0, &prev);
	rw_server_stats(srv, &st);
	printf("packets in %" PRIu64 " out %" PRIu64 ", events in %" PRIu64 " out %" PRIu64 ", sessions opened %" PRIu64
	       ", replies dropped %" PRIu64 "\n",
	       st.rx_packets, st.tx_packets, st.events_in, st.events_out, st.sessions_opened,
	       (uint64_t)replies_dropped);
	rw_server_destroy(srv);
	free_devices();
	return ret ? 1 : 0;
}
