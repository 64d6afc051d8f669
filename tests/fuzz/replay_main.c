/* SPDX-License-Identifier: MIT */
/*
 * replay_main.c - runs a fuzz harness without libFuzzer, over saved inputs.
 *
 *   fuzz-replay-<name> PATH...
 *
 * Each PATH is a file or a directory (whose files are taken recursively, in
 * name order, skipping dot-files such as .gitkeep). Every input runs in a
 * child process of its own, so one that crashes, trips a FUZZ_CHECK, or
 * leaks (LeakSanitizer checks at the child's exit) is reported by name and
 * the rest still run. Set RW_FUZZ_NOFORK=1 to run in-process (for gdb).
 *
 * Prints "N passed, N failed" (one per input) and exits non-zero when any
 * failed, a PATH does not exist, or there was no input at all.
 */
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fuzz.h"

static unsigned passed, failed;
static bool nofork;

static int read_file(const char *path, uint8_t **buf, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *b = NULL;
	size_t n = 0, cap = 0;

	if (!f)
		return -errno;
	for (;;) {
		if (n == cap) {
			uint8_t *nb;

			cap = cap ? cap * 2 : 4096;
			nb = realloc(b, cap);
			if (!nb) {
				free(b);
				fclose(f);
				return -ENOMEM;
			}
			b = nb;
		}
		size_t r = fread(b + n, 1, cap - n, f);
		n += r;
		if (r == 0)
			break;
	}
	if (ferror(f)) {
		free(b);
		fclose(f);
		return -EIO;
	}
	fclose(f);
	/* exactly the input's size, so the harness cannot read past it unnoticed */
	uint8_t *exact = malloc(n ? n : 1);
	if (!exact) {
		free(b);
		return -ENOMEM;
	}
	if (n)
		memcpy(exact, b, n);
	free(b);
	*buf = exact;
	*len = n;
	return 0;
}

static void run_one(const char *path)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	int ret = read_file(path, &buf, &len);

	if (ret) {
		fprintf(stderr, "FAIL %s: cannot read: %s\n", path, strerror(-ret));
		failed++;
		return;
	}
	if (nofork) {
		LLVMFuzzerTestOneInput(buf, len);
		free(buf);
		passed++;
		return;
	}
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0) {
		fprintf(stderr, "FAIL %s: fork: %s\n", path, strerror(errno));
		free(buf);
		failed++;
		return;
	}
	if (pid == 0) {
		LLVMFuzzerTestOneInput(buf, len);
		free(buf);
		/* exit(), not _exit(): LeakSanitizer checks at exit */
		exit(0);
	}
	free(buf);
	int status;
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR) {
			fprintf(stderr, "FAIL %s: waitpid: %s\n", path, strerror(errno));
			failed++;
			return;
		}
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		passed++;
		return;
	}
	if (WIFSIGNALED(status))
		fprintf(stderr, "FAIL %s: killed by signal %d\n", path, WTERMSIG(status));
	else
		fprintf(stderr, "FAIL %s: exit status %d\n", path, WEXITSTATUS(status));
	failed++;
}

static int skip_dots(const struct dirent *d)
{
	return d->d_name[0] != '.';
}

static int run_path(const char *path)
{
	struct stat st;

	if (stat(path, &st) < 0) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		run_one(path);
		return 0;
	}
	struct dirent **names;
	int n = scandir(path, &names, skip_dots, alphasort), ret = 0;
	if (n < 0) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return -1;
	}
	for (int i = 0; i < n; i++) {
		size_t len = strlen(path) + 1 + strlen(names[i]->d_name) + 1;
		char *child = malloc(len);

		if (!child) {
			ret = -1;
		} else {
			snprintf(child, len, "%s/%s", path, names[i]->d_name);
			if (run_path(child))
				ret = -1;
			free(child);
		}
		free(names[i]);
	}
	free(names);
	return ret;
}

int main(int argc, char **argv)
{
	int status = 0;
	const char *nf = getenv("RW_FUZZ_NOFORK");

	nofork = nf && *nf && strcmp(nf, "0") != 0;
	if (argc < 2) {
		fprintf(stderr, "usage: %s FILE-OR-DIR...\n", argv[0]);
		return 2;
	}
	for (int i = 1; i < argc; i++)
		if (run_path(argv[i]))
			status = 1;
	if (passed + failed == 0) {
		fprintf(stderr, "no inputs found\n");
		status = 1;
	}
	printf("%u passed, %u failed\n", passed, failed);
	return status || failed ? 1 : 0;
}
