/* SPDX-License-Identifier: MIT */
/* common.c - the samples' shared front end (common.h): options, keys, run loop, counters. */
#include "common.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum {
	O_METRICS = 0x100,
	O_ALLOW,
	O_LOG_FORMAT,
	O_LOG_LEVEL,
	O_TIMEOUT,
	O_PAD,
	O_PAD_FIXED,
	O_LISTEN_TCP,
	O_TRANSPORT,
};

static const struct option server_opts[] = {
	{ "listen", required_argument, NULL, 'l' },	{ "key", required_argument, NULL, 'k' },
	{ "listen-tcp", required_argument, NULL, O_LISTEN_TCP },
	{ "reactors", required_argument, NULL, 'r' },	{ "quiet", no_argument, NULL, 'q' },
	{ "allow", required_argument, NULL, O_ALLOW },	{ "metrics", required_argument, NULL, O_METRICS },
	{ "log-format", required_argument, NULL, O_LOG_FORMAT },
	{ "log-level", required_argument, NULL, O_LOG_LEVEL },
	{ "pad", required_argument, NULL, O_PAD },	{ "pad-fixed", required_argument, NULL, O_PAD_FIXED },
	{ "help", no_argument, NULL, 'h' },		{ NULL, 0, NULL, 0 },
};

static const struct option client_opts[] = {
	{ "bind", required_argument, NULL, 'b' },	{ "timeout", required_argument, NULL, 't' },
	{ "transport", required_argument, NULL, O_TRANSPORT },
	{ "key", required_argument, NULL, 'k' },	{ "reactors", required_argument, NULL, 'r' },
	{ "quiet", no_argument, NULL, 'q' },		{ "metrics", required_argument, NULL, O_METRICS },
	{ "log-format", required_argument, NULL, O_LOG_FORMAT },
	{ "log-level", required_argument, NULL, O_LOG_LEVEL },
	{ "pad", required_argument, NULL, O_PAD },	{ "pad-fixed", required_argument, NULL, O_PAD_FIXED },
	{ "help", no_argument, NULL, 'h' },		{ NULL, 0, NULL, 0 },
};

void sample_init(struct sample *sm, const char *prog, enum sample_role role, void (*usage)(FILE *f))
{
	memset(sm, 0, sizeof(*sm));
	sm->prog = prog;
	sm->role = role;
	sm->usage = usage;
	sm->timeout_ms = 5000;
	sm->log_format = RW_LOG_LOGFMT;
	sm->log_level = RW_LOG_INFO;
}

static int fail(struct sample *sm, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int fail(struct sample *sm, int code, const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	fprintf(stderr, "%s: %s\n", sm->prog, line);
	sm->exit_code = code;
	return code;
}

/* One line for a flag getopt refused (opterr is 0: its own messages are off). */
static int flag_error(struct sample *sm, int c, char **argv)
{
	const char *arg = argv[optind - 1], *eq = strchr(arg, '=');

	if (c == ':')
		return fail(sm, 2, "%s needs a value; see --help", arg);
	if (strncmp(arg, "--", 2))
		return fail(sm, 2, "unknown flag -%c; see --help", optopt);
	if (optopt && eq)
		return fail(sm, 2, "%.*s takes no value; see --help", (int)(eq - arg), arg);
	return fail(sm, 2, "unknown flag %.*s; see --help", eq ? (int)(eq - arg) : (int)strlen(arg), arg);
}

static void merge(struct sample *sm, const char *own_short, const struct option *own_long)
{
	const struct option *common = sm->role == SAMPLE_SERVER ? server_opts : client_opts;
	size_t n = 0;

	snprintf(sm->shortopts, sizeof(sm->shortopts), ":%s%s",
		 sm->role == SAMPLE_SERVER ? "l:k:r:qh" : "b:t:k:r:qh", own_short ? own_short : "");
	for (size_t i = 0; own_long && own_long[i].name && n < SAMPLE_OPTS_MAX - 1; i++)
		sm->longopts[n++] = own_long[i];
	for (size_t i = 0; common[i].name && n < SAMPLE_OPTS_MAX - 1; i++)
		sm->longopts[n++] = common[i];
	memset(&sm->longopts[n], 0, sizeof(sm->longopts[n]));
	opterr = 0;
	sm->ready = true;
}

int sample_number(struct sample *sm, const char *opt, const char *s, unsigned long lo, unsigned long hi,
		  unsigned long *out)
{
	char *end;
	unsigned long n;

	errno = 0;
	n = strtoul(s, &end, 10);
	if (errno || end == s || *end || n < lo || n > hi || s[0] == '-') {
		/* a time says its unit */
		fail(sm, 2, "%s: \"%s\" is not a number %sfrom %lu to %lu", opt, s,
		     !strcmp(opt, "--timeout") ? "of milliseconds " : "", lo, hi);
		return -1;
	}
	*out = n;
	return 0;
}

int sample_addr_ok(struct sample *sm, const char *flag, const char *s)
{
	char host[RW_HOST_MAX + 1], err[RW_ERRBUF_SIZE];
	uint16_t port;
	const char *colon = strchr(s, ':');
	const char *eg = !strcmp(flag, "--metrics") ? "9100" : !strncmp(flag, "--listen", 8) ? "9000" : "0";

	if (!rw_hostport_parse(s, host, &port, err, sizeof(err)))
		return 1;
	if (s[0] == '[' ? !strstr(s, "]:") : !colon) {
		if (!strncmp(flag, "--listen", 8))
			fail(sm, 2, "%s %s: a listen address needs a port, e.g. %s %s:9000 (0: any free port)", flag,
			     s, flag, s);
		else
			fail(sm, 2, "%s %s: the address needs a port, e.g. %s %s:%s", flag, s, flag, s, eg);
	} else if (s[0] != '[' && strchr(colon + 1, ':')) {
		fail(sm, 2, "%s %s: write an IPv6 address in brackets, e.g. %s [::%s]:%s", flag, s, flag,
		     sm->role == SAMPLE_SERVER && strcmp(flag, "--metrics") ? "" : "1", eg);
	} else {
		fail(sm, 2, "%s %s: %s", flag, s, err);
	}
	return 0;
}

/* --pad-fixed SIZE[,COVER_MS]: 0, or -1 with the message (exit_code 2). */
static int pad_fixed(struct sample *sm, const char *arg)
{
	char size[16];
	const char *comma = strchr(arg, ',');
	size_t n = comma ? (size_t)(comma - arg) : strlen(arg);
	unsigned long v;

	if (n >= sizeof(size) || (comma && !comma[1])) {
		fail(sm, 2, "--pad-fixed: \"%s\" is not SIZE or SIZE,COVER_MS, e.g. --pad-fixed 1232,50", arg);
		return -1;
	}
	memcpy(size, arg, n);
	size[n] = 0;
	if (sample_number(sm, "--pad-fixed", size, 0, 65000, &v))
		return -1;
	if (v && v < 128) {
		fail(sm, 2, "--pad-fixed: %lu bytes is below 128; give 128..65000 (0: max_packet)", v);
		return -1;
	}
	sm->padding.policy = RW_PAD_FIXED;
	sm->padding.size = (unsigned)v;
	sm->padding.cover_interval_ms = 0;
	if (comma) {
		if (sample_number(sm, "--pad-fixed", comma + 1, 1, 3600000, &v))
			return -1;
		sm->padding.cover_interval_ms = (uint32_t)v;
	}
	return 0;
}

int sample_transport(struct sample *sm, const char *arg, enum rw_transport_kind *out)
{
	if (!strcmp(arg, "udp"))
		*out = RW_TRANSPORT_UDP;
	else if (!strcmp(arg, "tcp"))
		*out = RW_TRANSPORT_TCP;
	else if (!strcmp(arg, "auto"))
		*out = RW_TRANSPORT_AUTO;
	else
		return fail(sm, 2, "--transport: \"%s\" is not a transport; use udp, tcp or auto", arg);
	return 0;
}

/* 1: taken, 0: not a common option, SAMPLE_EXIT: stop. */
static int common_opt(struct sample *sm, int c, const char *arg)
{
	unsigned long v;

	switch (c) {
	case 'l':
		if (sm->role != SAMPLE_SERVER)
			return 0;
		if (!sample_addr_ok(sm, "--listen", arg))
			return SAMPLE_EXIT;
		sm->listen = arg;
		return 1;
	case O_LISTEN_TCP:
		if (sm->role != SAMPLE_SERVER)
			return 0;
		if (!sample_addr_ok(sm, "--listen-tcp", arg))
			return SAMPLE_EXIT;
		sm->listen_tcp = arg;
		return 1;
	case O_TRANSPORT:
		if (sm->role != SAMPLE_CLIENT)
			return 0;
		if (sample_transport(sm, arg, &sm->transport))
			return SAMPLE_EXIT;
		return 1;
	case 'b':
		if (sm->role != SAMPLE_CLIENT)
			return 0;
		if (!sample_addr_ok(sm, "--bind", arg))
			return SAMPLE_EXIT;
		sm->bind = arg;
		return 1;
	case 't':
		if (sm->role != SAMPLE_CLIENT)
			return 0;
		if (sample_number(sm, "--timeout", arg, 1, 3600000, &v))
			return SAMPLE_EXIT;
		sm->timeout_ms = (unsigned)v;
		return 1;
	case 'k':
		sm->key = arg;
		return 1;
	case 'r':
		if (sample_number(sm, "--reactors", arg, 1, 64, &v))
			return SAMPLE_EXIT;
		sm->reactors = (unsigned)v;
		return 1;
	case 'q':
		sm->quiet = 1;
		return 1;
	case O_ALLOW:
		sm->allow = arg;
		return 1;
	case O_PAD:
		if (sample_number(sm, "--pad", arg, 0, 65000, &v))
			return SAMPLE_EXIT;
		if (v && v < 16) {
			fail(sm, 2, "--pad: a multiple of %lu bytes hides nothing; give 16..65000 (0: full packets)", v);
			return SAMPLE_EXIT;
		}
		sm->padding = (struct rw_padding){ .policy = RW_PAD_MULTIPLE, .size = (unsigned)v };
		return 1;
	case O_PAD_FIXED:
		return pad_fixed(sm, arg) ? SAMPLE_EXIT : 1;
	case O_METRICS:
		if (!sample_addr_ok(sm, "--metrics", arg))
			return SAMPLE_EXIT;
		sm->metrics = arg;
		return 1;
	case O_LOG_FORMAT:
		if (rw_log_format_parse(arg, &sm->log_format)) {
			fail(sm, 2, "--log-format: \"%s\" is not a log format; use logfmt or json", arg);
			return SAMPLE_EXIT;
		}
		rw_set_log_format(sm->log_format);
		return 1;
	case O_LOG_LEVEL:
		if (rw_log_level_parse(arg, &sm->log_level)) {
			fail(sm, 2, "--log-level: \"%s\" is not a level; use debug, info, warn, error or off", arg);
			return SAMPLE_EXIT;
		}
		rw_set_log_level(sm->log_level);
		return 1;
	case 'h':
		if (sm->usage)
			sm->usage(stdout);
		sm->exit_code = 0;
		return SAMPLE_EXIT;
	default:
		return 0;
	}
}

int sample_getopt(struct sample *sm, int argc, char **argv, const char *own_short, const struct option *own_long)
{
	if (!sm->ready)
		merge(sm, own_short, own_long);
	for (;;) {
		int c = getopt_long(argc, argv, sm->shortopts, sm->longopts, NULL), r;

		if (c == -1)
			return -1;
		if (c == '?' || c == ':') {
			flag_error(sm, c, argv);
			return SAMPLE_EXIT;
		}
		r = common_opt(sm, c, optarg);
		if (r == SAMPLE_EXIT)
			return SAMPLE_EXIT;
		if (!r)
			return c;
	}
}

void sample_usage_common(const struct sample *sm, FILE *f)
{
	if (sm->role == SAMPLE_SERVER)
		fputs("  --listen HOST:PORT    address to serve on, e.g. 127.0.0.1:9000 or [::]:9000\n"
		      "  --listen-tcp HOST:PORT  also serve wiresocket over TCP there (same key and sessions)\n"
		      "  --key FILE            private key file (create one: ringwire-key genkey > server.key)\n"
		      "  --reactors N          reactor threads (default: one per CPU)\n"
		      "  --allow FILE          only these client keys (one wpub1... a line); SIGHUP reloads it\n",
		      f);
	else
		fputs("  --bind HOST:PORT      local address (default [::]:0, which reaches IPv4 and IPv6)\n"
		      "  --timeout MS          time limit of connecting (default 5000)\n"
		      "  --transport T         udp (default), tcp, or auto: UDP, then TCP after 1000 ms unanswered\n"
		      "  --key FILE            a fixed client key (default: a fresh key per session)\n"
		      "  --reactors N          reactor threads (default 1)\n",
		      f);
	fputs("  --pad N               pad every packet to a multiple of N bytes (0: to the full packet size)\n"
	      "  --pad-fixed SIZE[,MS] pad every packet to exactly SIZE bytes (0: 1232); with MS, a cover\n"
	      "                        packet after MS milliseconds without a send\n", f);
	fputs("  --metrics HOST:PORT   serve Prometheus metrics at http://HOST:PORT/metrics (port 0: any free)\n"
	      "  --log-format FORMAT   logfmt (default) or json\n"
	      "  --log-level LEVEL     debug, info (default), warn, error or off\n"
	      "  --quiet               no engine log lines on stderr\n",
	      f);
}

int sample_no_args(struct sample *sm, int argc, char **argv)
{
	if (optind < argc)
		return fail(sm, 2, "unexpected argument \"%s\"; see --help", argv[optind]);
	return 0;
}

/* Refuse a bad allow-list before anything binds: one line, exit 1. */
static int check_allow(struct sample *sm)
{
	struct rw_allowlist al;
	char err[RW_ERRBUF_SIZE];

	if (!sm->allow)
		return 0;
	if (rw_allowlist_load(sm->allow, &al, err, sizeof(err)))
		return fail(sm, 1, "--allow %s", err);
	rw_allowlist_free(&al);
	return 0;
}

/* The metrics endpoint is up: say where, as one of the sample's records on stderr. */
static void told_metrics(const struct sample *sm, int port)
{
	char host[RW_HOST_MAX + 1], addr[RW_HOST_MAX + 16];
	uint16_t given;

	if (rw_hostport_parse(sm->metrics, host, &given, NULL, 0))
		return;
	snprintf(addr, sizeof(addr), strchr(host, ':') ? "[%s]:%d" : "%s:%d", host, port);
	sample_log(sm, RW_LOG_INFO, "metrics listening", "addr", addr);
}

int sample_server_create(struct sample *sm, struct rw_server_config *cfg, struct rw_server **srv)
{
	char err[RW_ERRBUF_SIZE];
	int ret;

	if (!sm->listen)
		return fail(sm, 2, "missing --listen HOST:PORT, e.g. --listen 127.0.0.1:9000");
	if (!sm->key)
		return fail(sm, 2, "missing --key FILE; create one with: ringwire-key genkey > server.key");
	if (rw_key_load_private(sm->key, cfg->private_key, err, sizeof(err)))
		return fail(sm, 1, "%s", err);
	if (check_allow(sm)) {
		rw_memzero(cfg->private_key, sizeof(cfg->private_key));
		return 1;
	}
	cfg->listen = sm->listen;
	if (sm->padding.policy)
		cfg->padding = sm->padding;
	if (sm->listen_tcp)
		cfg->listen_tcp = sm->listen_tcp;
	if (sm->reactors)
		cfg->reactors = sm->reactors;
	if (sm->quiet)
		cfg->quiet = 1;
	ret = rw_server_create(srv, cfg, err, sizeof(err));
	rw_memzero(cfg->private_key, sizeof(cfg->private_key));
	if (ret)
		return fail(sm, 1, "%s", err);
	if (sm->allow && rw_server_allow_file(*srv, sm->allow, err, sizeof(err))) {
		rw_server_destroy(*srv);
		*srv = NULL;
		return fail(sm, 1, "--allow %s", err);
	}
	if (sm->metrics) {
		ret = rw_server_metrics_listen(*srv, sm->metrics, err, sizeof(err));
		if (ret < 0) {
			rw_server_destroy(*srv);
			*srv = NULL;
			return fail(sm, 1, "--metrics %s", err);
		}
		told_metrics(sm, ret);
	}
	return 0;
}

/*
 * The URIs to dial this server at, on stdout: first one a client on this
 * machine can dial (scripts read that first line), then, for a wildcard
 * listen address, one per address of the local interfaces.
 */
static void print_uris(const struct rw_server *server)
{
	size_t cap = 16 * RW_URI_MAX;
	char *buf = NULL;
	int n = -ENOSPC;

	while (n == -ENOSPC && cap <= 4096 * RW_URI_MAX) {
		char *nb = realloc(buf, cap);

		if (!nb)
			break;
		buf = nb;
		n = rw_server_uris(server, buf, cap);
		cap *= 4;
	}
	if (n > 0)
		fputs(buf, stdout);
	else if (buf && rw_server_uri(server, buf, RW_URI_MAX) > 0)
		printf("%s\n", buf);
	/* after the UDP lines (scripts read the first): the TCP listener's, when there is one */
	if (buf && rw_server_uri_tcp(server, buf, RW_URI_MAX) > 0)
		printf("%s\n", buf);
	fflush(stdout);
	free(buf);
}

int sample_server_run(struct sample *sm, struct rw_server *srv)
{
	int ret;

	print_uris(srv);
	ret = rw_server_run(srv);
	if (ret)
		fail(sm, 1, "%s", strerror(-ret));
	return ret;
}

int sample_client_create(struct sample *sm, struct rw_client_config *cfg, struct rw_client **cli)
{
	char err[RW_ERRBUF_SIZE];
	int ret;

	if (sm->key) {
		if (rw_key_load_private(sm->key, cfg->private_key, err, sizeof(err)))
			return fail(sm, 1, "%s", err);
		cfg->has_private_key = 1;
	}
	if (sm->bind)
		cfg->bind = sm->bind;
	if (sm->padding.policy)
		cfg->padding = sm->padding;
	if (sm->transport)
		cfg->transport = sm->transport;
	if (sm->reactors)
		cfg->reactors = sm->reactors;
	if (sm->quiet)
		cfg->quiet = 1;
	if (!cfg->handshake_timeout_ms)
		cfg->handshake_timeout_ms = sm->timeout_ms;
	ret = rw_client_create(cli, cfg, err, sizeof(err));
	rw_memzero(cfg->private_key, sizeof(cfg->private_key));
	if (ret) {
		*cli = NULL;
		/* for --bind, the usual causes in words */
		if (sm->bind && ret == -EADDRNOTAVAIL)
			return fail(sm, 1, "--bind %s: not an address of this machine; give one it has, or drop --bind",
				    sm->bind);
		if (sm->bind && ret == -EADDRINUSE)
			return fail(sm, 1, "--bind %s: that port is in use; give another, or port 0 for any free one",
				    sm->bind);
		return fail(sm, 1, "%s", err);
	}
	if (sm->metrics) {
		ret = rw_client_metrics_listen(*cli, sm->metrics, err, sizeof(err));
		if (ret < 0) {
			rw_client_destroy(*cli);
			*cli = NULL;
			return fail(sm, 1, "--metrics %s", err);
		}
		told_metrics(sm, ret);
	}
	return 0;
}

void sample_block_signals(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, set, NULL);
}

void sample_print_stats(const struct rw_stats *st)
{
	printf("packets in %" PRIu64 " out %" PRIu64 ", bytes in %" PRIu64 " out %" PRIu64 "\n", st->rx_packets,
	       st->tx_packets, st->rx_bytes, st->tx_bytes);
	printf("events in %" PRIu64 " out %" PRIu64 ", handshakes %" PRIu64 ", cookies %" PRIu64
	       ", sessions opened %" PRIu64 " closed %" PRIu64 ", retransmits %" PRIu64 "\n",
	       st->events_in, st->events_out, st->handshakes_completed, st->cookies_sent, st->sessions_opened,
	       st->sessions_closed, st->retransmits);
	/* datagrams the kernel dropped for a full receive buffer (SO_RXQ_OVFL): the engine never saw them */
	printf("kernel drops %" PRIu64 "\n", st->kernel_drops);
	/* the Noise workers fell behind (other processes took the CPU): the reactors did their work */
	if (st->handshakes_inline)
		printf("handshakes computed on the reactors %" PRIu64 "\n", st->handshakes_inline);
	for (int r = 1; r < RW_DROP__COUNT; r++)
		if (st->drops[r])
			printf("dropped %s: %" PRIu64 "\n", rw_drop_reason_name((enum rw_drop_reason)r), st->drops[r]);
}

void sample_log(const struct sample *sm, enum rw_log_level level, const char *msg, const char *key,
		const char *value)
{
	struct rw_log_field f = { key, value };
	struct rw_log_record rec = { level, 0, msg, &f, key ? 1 : 0 };
	struct timespec now;
	char line[1024];

	if (sm->quiet || level < sm->log_level || level >= RW_LOG_OFF)
		return;
	clock_gettime(CLOCK_REALTIME, &now);
	rec.unix_ms = (uint64_t)now.tv_sec * 1000 + (uint64_t)now.tv_nsec / 1000000;
	if (rw_log_format_record(&rec, sm->log_format, line, sizeof(line)) > 0) {
		fputs(line, stderr);
		fflush(stderr);
	}
}

void sample_host_port(char *out, size_t n, const char *host, unsigned port)
{
	if (strchr(host, ':'))
		snprintf(out, n, "[%s]:%u", host, port);
	else
		snprintf(out, n, "%s:%u", host, port);
}

void sample_failover_uri(char *uri, size_t n, const struct rw_endpoint *ep, unsigned first, char *peer,
			 size_t peern)
{
	char wpub[RW_WPUB_LEN + 1];
	size_t len;

	rw_pubkey_to_wpub(wpub, ep->pubkey);
	len = (size_t)snprintf(uri, n, "wire://%s@", wpub);
	for (unsigned i = 0; i < ep->naddrs && len < n; i++) {
		const struct rw_endpoint_addr *a = &ep->addrs[(first + i) % ep->naddrs];

		len += (size_t)snprintf(uri + len, n - len, strchr(a->host, ':') ? "%s[%s]:%u" : "%s%s:%u",
					i ? "," : "", a->host, (unsigned)a->port);
	}
	sample_host_port(peer, peern, ep->addrs[first].host, ep->addrs[first].port);
}

void sample_dial_failure(char *out, size_t n, const char *peer, const char *what, unsigned timeout_ms,
			 const struct rw_close_info *why)
{
	const char *msg = why->message[0] ? why->message : rw_close_reason_name(why->reason);

	if (why->by_peer || why->reason == RW_CLOSE_REJECTED)
		snprintf(out, n, "cannot connect to %s: refused by the %s (%s%s%s)", peer, what,
			 rw_close_reason_name(why->reason), why->message[0] ? ": " : "", why->message);
	else if (why->reason == RW_CLOSE_NETWORK)
		snprintf(out, n, "cannot connect to %s: local error: %s", peer, msg);
	else
		snprintf(out, n, "cannot connect to %s: no answer within %u ms; check the key in the URI and the "
			 "address (is the %s running?)", peer, timeout_ms, what);
}
