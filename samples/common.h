/* SPDX-License-Identifier: MIT */
/*
 * common.h - the front end every sample shares, on the public header only:
 * the standard options, key loading, the allow-list and metrics endpoint,
 * logs, the run loop and its signals, the counters at exit, and the one-line
 * error style (PROG: what is wrong; how to fix it).
 *
 * Servers take  -l/--listen HOST:PORT  --listen-tcp HOST:PORT  -k/--key FILE  -r/--reactors N  -q/--quiet
 *               --allow FILE  --metrics HOST:PORT  --log-format logfmt|json  --log-level LEVEL
 *               --pad N  --pad-fixed SIZE[,COVER_MS]  (padding, both roles)
 * Clients take  -b/--bind HOST:PORT  -t/--timeout MS  --transport udp|tcp|auto  -k/--key FILE (a fixed client key)
 *               -r/--reactors N  -q/--quiet  --metrics HOST:PORT  --log-format  --log-level
 * and both -h/--help (the sample's usage function, then exit 0).
 *
 * A server's main then reads:
 *
 *	struct sample sm;
 *	sample_init(&sm, PROG, SAMPLE_SERVER, usage);
 *	while ((c = sample_getopt(&sm, argc, argv, "m:", own_opts)) != -1) {
 *		if (c == SAMPLE_EXIT)
 *			return sm.exit_code;
 *		... the sample's own options ...
 *	}
 *	if (sample_no_args(&sm, argc, argv) || sample_server_create(&sm, &cfg, &srv))
 *		return sm.exit_code;
 *	rw_server_on(srv, ...);
 *	ret = sample_server_run(&sm, srv);	// URIs on stdout, run until SIGINT/SIGTERM, SIGHUP reloads --allow
 *	sample_print_stats(...); rw_server_destroy(srv);
 *
 * and a client's: sample_client_create(&sm, &cfg, &cli) after its options
 * (cfg from rw_client_config_init, plus whatever the sample sets itself).
 */
#ifndef RW_SAMPLES_COMMON_H
#define RW_SAMPLES_COMMON_H

#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>

#include <ringwire.h>

enum sample_role { SAMPLE_SERVER, SAMPLE_CLIENT };

enum {
	/* sample_getopt: stop and return sm.exit_code (0 after --help, 2 after a bad flag) */
	SAMPLE_EXIT = -2,
	/* long-only options of the samples' own start here (below them: the common ones) */
	SAMPLE_OPT_OWN = 0x200,
	SAMPLE_OPTS_MAX = 48,
};

struct sample {
	const char *prog;		/* "ringwire-echo": every message starts with it */
	enum sample_role role;
	void (*usage)(FILE *f);		/* the sample's --help (it calls sample_usage_common) */
	int exit_code;			/* when a call says stop: 0 ok, 1 runtime error, 2 usage */

	/* the standard options, as given (NULL / 0: not given) */
	const char *listen;		/* server */
	const char *listen_tcp;		/* server: --listen-tcp, wiresocket over TCP beside UDP */
	const char *bind;		/* client */
	enum rw_transport_kind transport;	/* client: --transport udp|tcp|auto (default udp) */
	const char *key;		/* server: required; client: a fixed key instead of a fresh one */
	const char *allow;		/* server */
	const char *metrics;
	unsigned reactors;
	unsigned timeout_ms;		/* client; default 5000 */
	int quiet;
	enum rw_log_format log_format;
	enum rw_log_level log_level;
	struct rw_padding padding;	/* --pad, --pad-fixed */

	/* getopt's merged tables */
	char shortopts[96];
	struct option longopts[SAMPLE_OPTS_MAX];
	bool ready;
};

void sample_init(struct sample *sm, const char *prog, enum sample_role role, void (*usage)(FILE *f));

/*
 * Next option: the common ones are handled here; one of the sample's own
 * (own_short in getopt's syntax, own_long may be NULL) is returned as its
 * code with optarg set; -1 at the end; SAMPLE_EXIT to return sm->exit_code
 * (after --help, or a bad flag or value, with its one line on stderr).
 */
int sample_getopt(struct sample *sm, int argc, char **argv, const char *own_short, const struct option *own_long);

/* The standard options' lines of --help, for the sample's usage function. */
void sample_usage_common(const struct sample *sm, FILE *f);

/* A program that takes no operands: a message and 1 if one is left (exit_code 2). */
int sample_no_args(struct sample *sm, int argc, char **argv);

/* A number from lo to hi for option opt; a message and -1 (exit_code 2) if not. */
int sample_number(struct sample *sm, const char *opt, const char *s, unsigned long lo, unsigned long hi,
		  unsigned long *out);

/* --transport's value (udp, tcp, auto); a message and exit_code 2 if it is none of them. */
int sample_transport(struct sample *sm, const char *arg, enum rw_transport_kind *out);
/* A "host:port" address for flag (--listen, --bind, --metrics); a message and 0 (exit_code 2) if not. */
int sample_addr_ok(struct sample *sm, const char *flag, const char *s);

/*
 * Server: check that --listen and --key were given, load the key, check the
 * allow-list file, create the server from cfg (its listen, private_key,
 * reactors and quiet are filled from the options; the rest is the caller's),
 * install the allow-list and the metrics endpoint. 0, or nonzero with the
 * message printed and exit_code set.
 */
int sample_server_create(struct sample *sm, struct rw_server_config *cfg, struct rw_server **srv);

/* Print the URIs (stdout, the first one dialable here), then rw_server_run. Its result. */
int sample_server_run(struct sample *sm, struct rw_server *srv);

/* Client: cfg gets bind, key, reactors, quiet, the handshake timeout; create; the metrics endpoint. */
int sample_client_create(struct sample *sm, struct rw_client_config *cfg, struct rw_client **cli);

/*
 * Block SIGINT, SIGTERM and SIGHUP in this thread and the threads it starts
 * from now on: a client then takes them with sigtimedwait on set (a hangup
 * stops it like Ctrl-C); a server that starts threads of its own calls this
 * before them, since rw_server_run reads the three from a signalfd and any
 * thread without them blocked could take one (SIGHUP's default ends the
 * process).
 */
void sample_block_signals(sigset_t *set);

/* The engine's counters, as the samples print them at exit. */
void sample_print_stats(const struct rw_stats *st);
/* "host:port" as a user writes it: an IPv6 host in brackets. */
void sample_host_port(char *out, size_t n, const char *host, unsigned port);
/*
 * Failing over: the endpoint's URI with its addresses rotated so that
 * addrs[first] is tried first, into uri; peer gets that address as
 * host:port (for messages).
 */
void sample_failover_uri(char *uri, size_t n, const struct rw_endpoint *ep, unsigned first, char *peer,
			 size_t peern);
/*
 * Why a dial to peer came to nothing, in one line: no answer (a wrong key in
 * the URI looks exactly like no server: the server drops what it cannot
 * decrypt), refused by the `what` ("server", "broker": its reason), or a
 * local error (the engine's message names the errno and what to do).
 */
void sample_dial_failure(char *out, size_t n, const char *peer, const char *what, unsigned timeout_ms,
			 const struct rw_close_info *why);

/* One record of the sample's own on stderr, in the chosen format (nothing with --quiet). */
void sample_log(const struct sample *sm, enum rw_log_level level, const char *msg, const char *key,
		const char *value);

#endif
