/* SPDX-License-Identifier: MIT */
/*
 * ringwire-key - make and show wiresocket keys, in the manner of wg(8):
 *
 *	ringwire-key genkey > server.key
 *	ringwire-key pubkey < server.key
 *	ringwire-key uri server.key 203.0.113.42:9000
 *
 * Uses only the public API (ringwire.h). Exit status: 0 success, 1 error
 * (one line on stderr), 2 usage.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ringwire.h>

#define PROG "ringwire-key"

/* A private key on stdin is a line; more than this is not a key. */
enum { STDIN_MAX = 4096 };

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: " PROG " <command> [arguments]\n"
		"\n"
		"Commands:\n"
		"  genkey                  print a new private key (base64); with stdout\n"
		"                          redirected to a file, that file is made mode 600\n"
		"  pubkey                  read a private key on stdin, print its public key (wpub1...)\n"
		"  uri <keyfile> <host:port>\n"
		"                          print the wire:// URI of the server with that key;\n"
		"                          an IPv6 host is written [addr]:port\n"
		"\n"
		"Examples:\n"
		"  " PROG " genkey > server.key\n"
		"  " PROG " pubkey < server.key\n"
		"  " PROG " uri server.key 203.0.113.42:9000\n");
}

static int fail(const char *msg)
{
	fprintf(stderr, PROG ": %s\n", msg);
	return 1;
}

static void wipe(void *p, size_t n)
{
	rw_memzero(p, n);
}

/*
 * write(2), not stdio, for key text: a stdio buffer would keep a copy of
 * the key that nobody wipes.
 */
static int write_all(int fd, const char *p, size_t n)
{
	ssize_t r;

	while (n) {
		r = write(fd, p, n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

static int cmd_genkey(void)
{
	uint8_t priv[RW_KEY_SIZE];
	char line[RW_KEY_B64_LEN + 2], msg[RW_ERRBUF_SIZE];
	struct stat st;
	int ret, rc = 1;

	/* As wg genkey: nothing this process creates is for anyone else. */
	umask(077);
	/*
	 * "genkey > server.key": the shell made the file with its own umask,
	 * typically 0644. Close that before the key is in it.
	 */
	if (fstat(STDOUT_FILENO, &st) == 0 && S_ISREG(st.st_mode) && fchmod(STDOUT_FILENO, 0600) < 0) {
		snprintf(msg, sizeof(msg), "cannot make the output file private (%s); not writing a key to it",
			 strerror(errno));
		return fail(msg);
	}
	ret = rw_key_generate(priv);
	if (!ret)
		ret = rw_key_to_base64(line, priv);
	if (ret) {
		snprintf(msg, sizeof(msg), "cannot generate a key: %s", strerror(-ret));
		fail(msg);
		goto out;
	}
	line[RW_KEY_B64_LEN] = '\n';
	ret = write_all(STDOUT_FILENO, line, RW_KEY_B64_LEN + 1);
	if (ret) {
		snprintf(msg, sizeof(msg), "cannot write the key: %s", strerror(-ret));
		fail(msg);
		goto out;
	}
	rc = 0;
out:
	wipe(priv, sizeof(priv));
	wipe(line, sizeof(line));
	return rc;
}

static int cmd_pubkey(void)
{
	uint8_t priv[RW_KEY_SIZE], pub[RW_KEY_SIZE];
	char buf[STDIN_MAX + 1], msg[RW_ERRBUF_SIZE + 32], err[RW_ERRBUF_SIZE], wpub[RW_WPUB_LEN + 1];
	size_t n = 0;
	ssize_t r;
	int ret, rc = 1;

	while (n < sizeof(buf)) {
		r = read(STDIN_FILENO, buf + n, sizeof(buf) - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			snprintf(msg, sizeof(msg), "cannot read standard input: %s", strerror(errno));
			fail(msg);
			goto out;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	if (n > STDIN_MAX) {
		fail("standard input is too long for a private key; expected one line, as written by: "
		     PROG " genkey");
		goto out;
	}
	ret = rw_key_parse_private(buf, n, priv, err, sizeof(err));
	if (ret) {
		snprintf(msg, sizeof(msg), "standard input: %s", err);
		fail(msg);
		goto out;
	}
	ret = rw_key_public(pub, priv);
	if (!ret)
		ret = rw_pubkey_to_wpub(wpub, pub);
	if (ret) {
		snprintf(msg, sizeof(msg), "cannot derive the public key: %s", strerror(-ret));
		fail(msg);
		goto out;
	}
	printf("%s\n", wpub);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fail("cannot write to standard output");
		goto out;
	}
	rc = 0;
out:
	wipe(buf, sizeof(buf));
	wipe(priv, sizeof(priv));
	return rc;
}

static int cmd_uri(const char *keyfile, const char *hostport)
{
	uint8_t priv[RW_KEY_SIZE], pub[RW_KEY_SIZE];
	char err[RW_ERRBUF_SIZE], wpub[RW_WPUB_LEN + 1], msg[RW_ERRBUF_SIZE + 64];
	char uri[sizeof("wire://") + RW_WPUB_LEN + RW_HOST_MAX + 16], in[sizeof(uri) + 64];
	struct rw_endpoint ep;
	int ret, rc = 1;

	ret = rw_key_load_private(keyfile, priv, err, sizeof(err));
	if (ret) {
		fail(err);
		goto out;
	}
	ret = rw_key_public(pub, priv);
	if (!ret)
		ret = rw_pubkey_to_wpub(wpub, pub);
	if (ret) {
		snprintf(msg, sizeof(msg), "cannot derive the public key: %s", strerror(-ret));
		fail(msg);
		goto out;
	}
	/* Let the URI parser judge host:port, so the tool and the library agree. */
	if (strlen(hostport) > RW_HOST_MAX + 8) {
		fail("host:port is too long (a host has at most 255 characters)");
		goto out;
	}
	snprintf(in, sizeof(in), "wire://%s@%s", wpub, hostport);
	ret = rw_uri_parse(in, &ep, err, sizeof(err));
	if (ret && (hostport[0] == '[' ? !strstr(hostport, "]:") : !strchr(hostport, ':'))) {
		snprintf(msg, sizeof(msg), "%s: a server address needs a port, e.g. %s:9000", hostport, hostport);
		fail(msg);
		goto out;
	}
	if (ret) {
		snprintf(msg, sizeof(msg), "%s: %s", hostport, err);
		fail(msg);
		goto out;
	}
	ret = rw_uri_format(uri, sizeof(uri), ep.pubkey, ep.host, ep.port);
	if (ret < 0) {
		snprintf(msg, sizeof(msg), "cannot format the URI: %s", strerror(-ret));
		fail(msg);
		goto out;
	}
	printf("%s\n", uri);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fail("cannot write to standard output");
		goto out;
	}
	rc = 0;
out:
	wipe(priv, sizeof(priv));
	return rc;
}

int main(int argc, char **argv)
{
	char err[RW_ERRBUF_SIZE], msg[RW_ERRBUF_SIZE + 64];
	const char *cmd = argc > 1 ? argv[1] : NULL;

	/* A miscomputing CPU must not mint keys: refuse before anything else. */
	err[0] = '\0';
	if (rw_selftest(err, sizeof(err)) != 0) {
		snprintf(msg, sizeof(msg), "self-test failed, refusing to run: %s", err);
		return fail(msg);
	}
	if (!cmd) {
		fprintf(stderr, PROG ": missing a command: genkey, pubkey or uri; see --help\n");
		return 2;
	}
	if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(cmd, "genkey") && argc == 2)
		return cmd_genkey();
	if (!strcmp(cmd, "pubkey") && argc == 2)
		return cmd_pubkey();
	if (!strcmp(cmd, "uri") && argc == 4)
		return cmd_uri(argv[2], argv[3]);
	if (!strcmp(cmd, "genkey") || !strcmp(cmd, "pubkey"))
		fprintf(stderr, PROG ": %s takes no arguments (%s); see --help\n", cmd,
			!strcmp(cmd, "genkey") ? "it writes to stdout: " PROG " genkey > server.key"
					       : "it reads stdin: " PROG " pubkey < server.key");
	else if (!strcmp(cmd, "uri"))
		fprintf(stderr, PROG ": uri takes a key file and host:port, e.g. " PROG " uri server.key "
			"203.0.113.42:9000\n");
	else if (cmd[0] == '-')
		fprintf(stderr, PROG ": unknown flag %s; see --help\n", cmd);
	else
		fprintf(stderr, PROG ": unknown command %s; use genkey, pubkey or uri (see --help)\n", cmd);
	return 2;
}
