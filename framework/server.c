/* SPDX-License-Identifier: MIT */
/* server.c - the public server API: an engine that listens and responds to handshakes. */
#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "allowlist.h"
#include "engine.h"
#include "metrics.h"
#include "padding.h"
#include "session.h"

#ifdef RW_HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#else
/* Without libsystemd there is no service manager to tell. */
static int sd_notify(int unset_environment, const char *state)
{
	return 0;
}
#endif

struct rw_server {
	struct rw_engine e;
	/*
	 * Who may connect. The engine asks check_key (its authenticate hook),
	 * which reads the allow-list and then the user's own authenticate.
	 */
	struct rw__allow_slot allow;
	int (*user_auth)(const uint8_t peer_key[RW_KEY_SIZE], void *user);
	void *user_auth_ctx;
	char *allow_path;		/* rw_server_allow_file: reloaded on SIGHUP */
	pthread_mutex_t file_lock;	/* one file load at a time; guards allow_path */
	struct rw__metrics *metrics;
};

static int check_key(const uint8_t key[RW_KEY_SIZE], void *user);

void rw_server_config_init(struct rw_server_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->listen = "0.0.0.0:0";
}

int rw_server_create(struct rw_server **out, const struct rw_server_config *cfg, char *err, size_t errlen)
{
	struct rw_server *srv;
	int ret;

	if (!out || !cfg)
		return -EINVAL;
	ret = rw__pad_check(&cfg->padding, err, errlen);
	if (ret)
		return ret;
	srv = calloc(1, sizeof(*srv));
	if (!srv)
		return -ENOMEM;
	ret = rw__engine_init(&srv->e,
			      &(struct rw_engine_config){
				      .server = true,
				      .listen = cfg->listen ? cfg->listen : "0.0.0.0:0",
				      .reactors = cfg->reactors,
				      .timers = &cfg->timers,
				      .max_packet = cfg->max_packet,
				      .max_packet_size = cfg->max_packet_size,
				      .max_sessions = cfg->max_sessions,
				      .max_incomplete = cfg->max_incomplete_frames,
				      .max_frame_bytes = cfg->max_frame_bytes,
				      .quiet = cfg->quiet,
				      .listen_tcp = cfg->listen_tcp,
				      .tcp_max_conns = cfg->tcp_max_connections,
				      .tcp_stall_ms = cfg->tcp_stall_timeout_ms,
			      },
			      err, errlen);
	if (ret) {
		free(srv);
		return ret;
	}
	ret = rw__noise_identity_init(&srv->e.id, cfg->private_key);
	if (ret || rw__is_zero(cfg->private_key, RW_KEY_SIZE)) {
		if (err && errlen)
			snprintf(err, errlen, "no valid private key; generate one with: ringwire-key genkey > server.key");
		rw__engine_destroy(&srv->e);
		free(srv);
		return -EINVAL;
	}
	srv->e.has_id = true;
	srv->e.load_hps = cfg->load_handshakes_per_s ? cfg->load_handshakes_per_s : RW_DEFAULT_LOAD_HPS;
	srv->e.force_cookies = cfg->force_cookies;
	srv->e.source_rate = cfg->source_rate ? cfg->source_rate : RW_DEFAULT_SOURCE_RATE;
	srv->e.source_burst = cfg->source_burst ? cfg->source_burst : RW_DEFAULT_SOURCE_BURST;
	{
		unsigned pool = cfg->max_half_open ? cfg->max_half_open : srv->e.max_sessions / 4;

		if (!cfg->max_half_open && pool < RW_DEFAULT_MIN_HALF_OPEN)
			pool = RW_DEFAULT_MIN_HALF_OPEN;
		srv->e.max_half_open = (pool + srv->e.nshards - 1) / srv->e.nshards;
	}
	srv->e.source_max_half_open =
		cfg->source_max_half_open ? cfg->source_max_half_open : RW_DEFAULT_SOURCE_MAX_HALF_OPEN;
	srv->e.half_open_timeout_ms =
		cfg->half_open_timeout_ms ? cfg->half_open_timeout_ms : 2 * srv->e.t.keepalive_ms + 5000;
	rw__allow_slot_init(&srv->allow);
	pthread_mutex_init(&srv->file_lock, NULL);
	srv->user_auth = cfg->authenticate;
	srv->user_auth_ctx = cfg->auth_user;
	srv->e.authenticate = check_key;
	srv->e.auth_user = srv;
	srv->e.reject_silently = cfg->reject_silently;
	srv->e.send_rate = cfg->send_rate_bps;
	srv->e.pad = cfg->padding;
	if (cfg->allowed_count) {
		struct rw__allowset *set = rw__allowset_new(cfg->allowed_keys, NULL, cfg->allowed_count);

		if (!set) {
			rw__allow_slot_destroy(&srv->allow);
			pthread_mutex_destroy(&srv->file_lock);
			rw__engine_destroy(&srv->e);
			free(srv);
			return -ENOMEM;
		}
		rw__allow_swap(&srv->allow, set);
	}
	ret = rw__engine_set_limits(&srv->e);
	if (ret) {
		rw__allow_slot_destroy(&srv->allow);
		pthread_mutex_destroy(&srv->file_lock);
		rw__engine_destroy(&srv->e);
		free(srv);
		return ret;
	}
	*out = srv;
	return 0;
}

int rw_server_on(struct rw_server *srv, int channel, const struct rw_handler *h)
{
	return rw__engine_on(&srv->e, channel, h);
}

int rw_server_start(struct rw_server *srv)
{
	return rw__engine_start(&srv->e);
}

int rw_server_stop(struct rw_server *srv)
{
	return rw__engine_stop(&srv->e);
}

int rw_server_wait(struct rw_server *srv)
{
	return rw__engine_wait(&srv->e);
}

static int load_allow_file(struct rw_server *srv, const char *path, char *err, size_t errlen);

static void reload_allow_file(struct rw_server *srv)
{
	char err[RW_ERRBUF_SIZE];

	pthread_mutex_lock(&srv->file_lock);
	if (!srv->allow_path) {
		pthread_mutex_unlock(&srv->file_lock);
		rw__log(&srv->e, RW_LOG_WARN, "SIGHUP: nothing to reload (no allow-list file)", 0);
		return;
	}
	sd_notify(0, "RELOADING=1");
	if (load_allow_file(srv, srv->allow_path, err, sizeof(err)))
		rw__log(&srv->e, RW_LOG_ERROR, "allow-list not reloaded, the old one stays", 2, "file", srv->allow_path,
			"error", err);
	else
		rw__log(&srv->e, RW_LOG_INFO, "allow-list reloaded", 1, "file", srv->allow_path);
	pthread_mutex_unlock(&srv->file_lock);
	sd_notify(0, "READY=1");
}

/*
 * Run until SIGINT/SIGTERM or rw_server_stop. The signals are blocked in
 * this thread (and so in the reactor threads it starts) and read from a
 * signalfd, so no handler runs in an arbitrary context. SIGHUP reloads the
 * allow-list file when there is one, and never ends the server (a service
 * manager's reload must not become a stop). The service manager hears from
 * this thread only.
 */
static int serve(struct rw_server *srv)
{
	struct rw_engine *e = &srv->e;
	sigset_t set, old;
	int sfd, ret;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, &old);
	sfd = signalfd(-1, &set, SFD_CLOEXEC);
	ret = rw__engine_start(e);
	if (!ret) {
		struct pollfd p[2] = { { .fd = sfd, .events = POLLIN }, { .fd = e->stop_fd, .events = POLLIN } };

		/* bound, self-tested (rw_server_create), reactors running: ready */
		sd_notify(0, "READY=1");
		while (!atomic_load(&e->stopping)) {
			struct signalfd_siginfo si;

			if (poll(p, 2, -1) < 0 && errno != EINTR)
				break;
			if (!(p[0].revents & POLLIN))
				continue;
			if (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si) && si.ssi_signo == SIGHUP) {
				reload_allow_file(srv);
				continue;
			}
			break;
		}
		sd_notify(0, "STOPPING=1");
		rw__engine_stop(e);
		ret = rw__engine_wait(e);
	}
	/*
	 * Consume what was delivered (and a second signal sent during the
	 * shutdown): restoring the mask with one still pending would let its
	 * default action kill the process before the counters are printed.
	 */
	{
		const struct timespec zero = { 0, 0 };

		while (sigtimedwait(&set, NULL, &zero) > 0)
			;
	}
	if (sfd >= 0)
		close(sfd);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return ret;
}

/* Only servers run this way. */
int rw__engine_run(struct rw_engine *e)
{
	return serve(rw_container_of(e, struct rw_server, e));
}

int rw_server_run(struct rw_server *srv)
{
	return serve(srv);
}

void rw_server_destroy(struct rw_server *srv)
{
	if (!srv)
		return;
	/* the endpoint reads the engine's counters: it goes first */
	rw__metrics_stop(srv->metrics);
	rw__engine_destroy(&srv->e);
	rw__allow_slot_destroy(&srv->allow);
	free(srv->allow_path);
	pthread_mutex_destroy(&srv->file_lock);
	free(srv);
}

/* The bound address when it is a wildcard (0.0.0.0 or [::]): its family, else 0. */
static int wildcard_family(const struct rw_server *srv)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (!srv->e.group || rw__reactor_local_addr(srv->e.group, &ss, &len))
		return 0;
	if (ss.ss_family == AF_INET)
		return ((struct sockaddr_in *)&ss)->sin_addr.s_addr == htonl(INADDR_ANY) ? AF_INET : 0;
	if (ss.ss_family == AF_INET6)
		return IN6_IS_ADDR_UNSPECIFIED(&((struct sockaddr_in6 *)&ss)->sin6_addr) ? AF_INET6 : 0;
	return 0;
}

int rw_server_uri(const struct rw_server *srv, char *out, size_t outlen)
{
	const char *host;

	if (!srv || !out)
		return -EINVAL;
	host = srv->e.host;
	/* a wildcard is where the server listens, not an address to send to */
	switch (wildcard_family(srv)) {
	case AF_INET:
		host = "127.0.0.1";
		break;
	case AF_INET6:
		host = "::1";
		break;
	}
	return rw_uri_format(out, outlen, srv->e.id.pub, host, srv->e.port);
}

int rw_server_uri_tcp(const struct rw_server *srv, char *out, size_t outlen)
{
	const char *host;

	if (!srv || !out)
		return -EINVAL;
	if (!srv->e.tcp_port)
		return -ENOTCONN;
	host = srv->e.tcp_host;
	/* a wildcard is where the server listens, not an address to send to */
	if (!strcmp(host, "0.0.0.0"))
		host = "127.0.0.1";
	else if (!strcmp(host, "::"))
		host = "::1";
	return rw_uri_format_tcp(out, outlen, srv->e.id.pub, host, srv->e.tcp_port);
}

uint16_t rw_server_tcp_port(const struct rw_server *srv)
{
	return srv ? srv->e.tcp_port : 0;
}

/* Append one URI line unless out already holds it. 1: added, 0: a duplicate. */
static int add_line(const struct rw_server *srv, char *out, size_t outlen, size_t *used, const char *host)
{
	char uri[RW_URI_MAX];
	int n = rw_uri_format(uri, sizeof(uri), srv->e.id.pub, host, srv->e.port);

	if (n < 0)
		return n;
	for (const char *p = out; p < out + *used;) {
		const char *nl = strchr(p, '\n');

		if ((size_t)(nl - p) == (size_t)n && memcmp(p, uri, (size_t)n) == 0)
			return 0;
		p = nl + 1;
	}
	if (*used + (size_t)n + 2 > outlen)
		return -ENOSPC;
	memcpy(out + *used, uri, (size_t)n);
	out[*used + (size_t)n] = '\n';
	*used += (size_t)n + 1;
	out[*used] = '\0';
	return 1;
}

int rw_server_uris(const struct rw_server *srv, char *out, size_t outlen)
{
	char first[RW_URI_MAX];
	struct ifaddrs *ifs, *i;
	size_t used = 0;
	int fam, v6only = 0, lines = 1, n;
	socklen_t optlen = sizeof(v6only);

	if (!srv || !out || !outlen)
		return -EINVAL;
	out[0] = '\0';
	n = rw_server_uri(srv, first, sizeof(first));
	if (n < 0)
		return n;
	if ((size_t)n + 2 > outlen)
		return -ENOSPC;
	memcpy(out, first, (size_t)n);
	memcpy(out + n, "\n", 2);
	used = (size_t)n + 1;
	fam = wildcard_family(srv);
	if (!fam)
		return lines;
	/* a [::] socket serves IPv4 too unless it was made IPv6-only */
	if (fam == AF_INET6 &&
	    getsockopt(rw__reactor_fd(rw__reactor_get(srv->e.group, 0)), IPPROTO_IPV6, IPV6_V6ONLY, &v6only, &optlen))
		v6only = 1;
	if (getifaddrs(&ifs))
		return -errno;
	for (i = ifs; i; i = i->ifa_next) {
		char host[INET6_ADDRSTRLEN];
		const void *a;

		if (!i->ifa_addr || !(i->ifa_flags & IFF_UP))
			continue;
		if (i->ifa_addr->sa_family == AF_INET && (fam == AF_INET || !v6only)) {
			a = &((struct sockaddr_in *)i->ifa_addr)->sin_addr;
		} else if (i->ifa_addr->sa_family == AF_INET6 && fam == AF_INET6) {
			const struct in6_addr *a6 = &((struct sockaddr_in6 *)i->ifa_addr)->sin6_addr;

			/* a link-local address needs its zone (%eth0) to be dialled: not worth printing */
			if (IN6_IS_ADDR_LINKLOCAL(a6) || IN6_IS_ADDR_V4MAPPED(a6))
				continue;
			a = a6;
		} else {
			continue;
		}
		if (!inet_ntop(i->ifa_addr->sa_family, a, host, sizeof(host)))
			continue;
		n = add_line(srv, out, outlen, &used, host);
		if (n < 0) {
			freeifaddrs(ifs);
			return n;
		}
		lines += n;
	}
	freeifaddrs(ifs);
	return lines;
}

uint16_t rw_server_port(const struct rw_server *srv)
{
	return srv->e.port;
}

void rw_server_stats(const struct rw_server *srv, struct rw_stats *st)
{
	rw__engine_stats(&srv->e, st);
}

int rw_server_send(struct rw_server *srv, uint64_t id, uint8_t channel, uint8_t type, const void *payload,
		   size_t len)
{
	if (channel == RW_CHANNEL_INTERNAL || type == RW_EVENT_CHANNEL_CLOSE)
		return -EINVAL;
	return rw__engine_send(&srv->e, id, channel, type, payload, len);
}

int rw_server_broadcast(struct rw_server *srv, uint8_t channel, uint8_t type, const void *payload, size_t len)
{
	if (channel == RW_CHANNEL_INTERNAL || type == RW_EVENT_CHANNEL_CLOSE)
		return -EINVAL;
	return rw__engine_broadcast(&srv->e, channel, type, payload, len);
}

/* ---- allow-list ------------------------------------------------------------------ */

/* The engine's authenticate hook: the allow-list first, then the user's own. */
static int check_key(const uint8_t key[RW_KEY_SIZE], void *user)
{
	struct rw_server *srv = user;
	int on_list = rw__allow_check(&srv->allow, key);

	if (on_list == 1)
		return 0;
	if (srv->user_auth)
		return srv->user_auth(key, srv->user_auth_ctx);
	return on_list == -1 ? 0 : -1;	/* no list, no hook: everyone */
}

struct bound_key {
	uint8_t key[RW_KEY_SIZE];
	uint64_t id;
};

/*
 * The sessions (half-open ones too) of every key the peer table holds: a
 * snapshot under its lock, so the closing below runs without it.
 */
static int bound_keys(struct rw_peers *p, struct bound_key **out, size_t *n)
{
	struct bound_key *v;
	size_t k = 0;

	pthread_mutex_lock(&p->lock);
	v = malloc(((size_t)p->count + 1) * sizeof(*v));
	if (v)
		for (uint32_t i = 0; i <= p->mask && k < p->count; i++)
			if (p->slots[i].used) {
				memcpy(v[k].key, p->slots[i].key, RW_KEY_SIZE);
				v[k++].id = p->slots[i].session_id;
			}
	pthread_mutex_unlock(&p->lock);
	if (!v)
		return -ENOMEM;
	*out = v;
	*n = k;
	return 0;
}

int rw_server_set_allowed_keys(struct rw_server *srv, const uint8_t (*keys)[RW_KEY_SIZE], const char *const *names,
			       size_t n)
{
	struct rw__allowset *set = NULL;
	struct bound_key *bound;
	size_t nbound;

	if (!srv || (!keys && n))
		return -EINVAL;
	if (rw__current_shard)
		return -EDEADLK;	/* a reactor would wait for itself */
	if (keys && !(set = rw__allowset_new(keys, names, n)))
		return -ENOMEM;
	rw__allow_swap(&srv->allow, set);
	if (!keys || bound_keys(&srv->e.peers, &bound, &nbound))
		return 0;	/* no list: nobody to turn away (out of memory: the next rekey is refused) */
	for (size_t i = 0; i < nbound; i++) {
		if (check_key(bound[i].key, srv) == 0)
			continue;
		/* its reactor closes it: RW_CLOSE_REJECTED, then Disconnect */
		if (rw__session_close_id(&srv->e, bound[i].id, RW_CLOSE_REJECTED, "key removed from the allow-list") == 0 &&
		    rw__log_on(&srv->e, RW_LOG_INFO)) {
			char wpub[RW_WPUB_LEN + 1];

			rw_pubkey_to_wpub(wpub, bound[i].key);
			rw__log(&srv->e, RW_LOG_INFO, "session closing", 2, "peer", wpub, "reason", "removed_from_allow_list");
		}
	}
	free(bound);
	return 0;
}

/* Load path and apply it (file_lock held). */
static int load_allow_file(struct rw_server *srv, const char *path, char *err, size_t errlen)
{
	struct rw_allowlist al;
	int ret;

	ret = rw_allowlist_load(path, &al, err, errlen);
	if (!ret)
		ret = rw_server_set_allowed_keys(srv, (const uint8_t(*)[RW_KEY_SIZE])al.keys,
						 (const char *const *)al.names, al.n);
	rw_allowlist_free(&al);
	return ret;
}

int rw_server_allow_file(struct rw_server *srv, const char *path, char *err, size_t errlen)
{
	char *copy;
	int ret;

	if (!srv || !path)
		return -EINVAL;
	copy = strdup(path);
	if (!copy)
		return -ENOMEM;
	pthread_mutex_lock(&srv->file_lock);
	ret = load_allow_file(srv, copy, err, errlen);
	if (!ret) {
		free(srv->allow_path);
		srv->allow_path = copy;
		copy = NULL;
	}
	pthread_mutex_unlock(&srv->file_lock);
	free(copy);
	return ret;
}

/* ---- metrics ----------------------------------------------------------------------- */

int rw_server_metrics_write(const struct rw_server *srv, char *buf, size_t cap)
{
	struct rw__metrics_info info = { .server = true };

	if (!srv)
		return -EINVAL;
	/* the slot is only read: its reader count is the one thing that moves */
	info.has_allowlist = rw__allow_size((struct rw__allow_slot *)&srv->allow, &info.allowed_keys);
	return rw__metrics_write_engine(&srv->e, &info, buf, cap);
}

static int fill_server(void *obj, char *buf, size_t cap)
{
	return rw_server_metrics_write(obj, buf, cap);
}

int rw_server_metrics_listen(struct rw_server *srv, const char *hostport, char *err, size_t errlen)
{
	if (!srv || !hostport)
		return -EINVAL;
	if (srv->metrics)
		return -EALREADY;
	return rw__metrics_listen(&srv->metrics, hostport, fill_server, srv, err, errlen);
}

struct rw_engine *rw__server_engine(struct rw_server *srv)
{
	return &srv->e;
}
