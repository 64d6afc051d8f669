/* SPDX-License-Identifier: MIT */
/*
 * noise_worker.c - a shard's Noise work on a thread of its own (noise_worker.h).
 *
 * The ring from the reactor to the worker has a slot per job, so a submit
 * never finds it full. The wake-up is the usual pair of flags: the worker
 * says it is going to sleep, then looks at the ring once more; the reactor
 * publishes a job, then looks at the flag. With both orders sequentially
 * consistent one of them sees the other, so no job waits for a wake-up
 * that never comes.
 *
 * The worker runs below its process's priority, so on a machine where
 * every core is taken by other work it may get too little CPU to keep up
 * (ASan build, three CPU-bound processes on two cores, 250 rekeys/s: the
 * queue grew for seconds, every retried init added a job, the answers came
 * after the initiators had moved on; 948 rekeys of ~2,500 and 401,466
 * retransmits; beside four, the keys expired and all 500 sessions
 * stopped). So submit looks at the oldest job still queued: one that
 * waited more than max_lag_ns means the worker is starved, and the
 * reactor, at its process's priority, computes new handshakes itself until
 * the queue moves again. Not sooner: at 50 ms the reactors took over
 * whenever a rekey wave met a busy moment (two CPU-bound processes), and
 * their data waited again (retransmits 3-7x those at 500 ms). Beside one
 * CPU-bound process the worker keeps up and nothing runs inline. The job
 * at the head carries its submit time, which only the reactor writes; the
 * worker never touches that field, and only the reactor puts a job back.
 */
#include "noise_worker.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include <sys/resource.h>

#include "crypto.h"

void rw__nw_init(struct rw_noise_worker *w, rw_nw_deliver_fn deliver, void *target)
{
	memset(w, 0, sizeof(*w));
	w->deliver = deliver;
	w->target = target;
	w->efd = -1;
	w->max_lag_ns = (uint64_t)RW_NW_MAX_LAG_MS * 1000000;
	/* test hook: the path a machine that cannot start the thread takes */
	w->failed = getenv("RW_TEST_NOISE_INLINE") && !strcmp(getenv("RW_TEST_NOISE_INLINE"), "1");
}

static int deliver_to_shard(void *target, struct rw_cmd *c)
{
	return rw__shard_post(target, c);
}

struct rw_noise_worker *rw__nw_of(struct rw_shard *sh)
{
	if (!sh->nw) {
		struct rw_noise_worker *w = malloc(sizeof(*w));

		if (!w)
			return NULL;
		rw__nw_init(w, deliver_to_shard, sh);
		__atomic_store_n(&sh->nw, w, __ATOMIC_RELEASE);	/* rw_stats reads it from other threads */
	}
	return sh->nw;
}

void rw__nw_run(struct rw_shard *sh, struct rw_noise_worker *w, struct rw_nw_job *j)
{
	if (rw__nw_submit(w, j) == 0)
		return;
	j->work(j);
	j->c.run(sh, &j->c);
}

struct rw_nw_job *rw__nw_get(struct rw_noise_worker *w)
{
	struct rw_nw_job *j;

	if (!w->jobs) {
		/* zeroed pages, resident only once a job on them is used */
		w->jobs = calloc(RW_NW_JOBS, sizeof(*w->jobs));
		w->ring = calloc(RW_NW_JOBS, sizeof(*w->ring));
		if (!w->jobs || !w->ring) {
			free(w->jobs);
			free(w->ring);
			w->jobs = NULL;
			w->ring = NULL;
			return NULL;
		}
	}
	if (w->free) {
		j = w->free;
		w->free = j->next_free;
		j->next_free = NULL;
	} else if (w->fresh < RW_NW_JOBS) {
		j = &w->jobs[w->fresh++];
	} else {
		return NULL;
	}
	RW_STAT_INC(w->out);	/* read by rw_stats from other threads */
	return j;
}

void rw__nw_put(struct rw_noise_worker *w, struct rw_nw_job *j)
{
	rw__memzero(j, sizeof(*j));
	j->next_free = w->free;
	w->free = j;
	RW_STAT_ADD(w->out, (uint32_t)-1);
}

static struct rw_nw_job *pop(struct rw_noise_worker *w)
{
	uint32_t h = atomic_load_explicit(&w->head, memory_order_relaxed);
	struct rw_nw_job *j;

	if (h == atomic_load(&w->tail))
		return NULL;
	j = w->ring[h % RW_NW_JOBS];
	atomic_store_explicit(&w->head, h + 1, memory_order_release);
	return j;
}

static void *worker_thread(void *arg)
{
	struct rw_noise_worker *w = arg;
	int nice_now;

	/*
	 * Below the reactors: a reactor that wakes for data takes the CPU
	 * from its worker at once, so on a core shared with other work a
	 * wave of handshakes waits rather than the data (busy machine, 250
	 * rekeys/s: p99 1.4 ms at the same priority, 0.7 ms at +10). Still
	 * a tenth of a core beside one CPU-bound neighbour: ~500 handshakes/s.
	 * Raising one's own nice value needs no privilege; on Linux it is
	 * the calling thread's (who = 0), not the process's.
	 */
	errno = 0;
	nice_now = getpriority(PRIO_PROCESS, 0);
	if (errno == 0)
		(void)setpriority(PRIO_PROCESS, 0, nice_now + RW_NW_NICE > 19 ? 19 : nice_now + RW_NW_NICE);

	while (!atomic_load(&w->stop)) {
		struct rw_nw_job *j = pop(w);

		if (!j) {
			uint64_t v;

			atomic_store(&w->sleeping, 1);
			j = pop(w);
			if (!j) {
				if (!atomic_load(&w->stop) && read(w->efd, &v, sizeof(v)) < 0 && errno != EINTR &&
				    errno != EAGAIN)
					break;
				w->wakes++;
				atomic_store(&w->sleeping, 0);
				continue;
			}
			atomic_store(&w->sleeping, 0);
		}
		j->work(j);
		w->jobs_run++;
		/* a shard that is stopping takes no more: the pool is wiped when it is freed */
		(void)w->deliver(w->target, &j->c);
	}
	rw__crypto_thread_release();
	return NULL;
}

static int start(struct rw_noise_worker *w)
{
	sigset_t all, old;
	int ret;

	w->efd = eventfd(0, EFD_CLOEXEC);
	if (w->efd < 0)
		return -errno;
	/* the thread must not take the process's signals (rw_*_run waits for them) */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	ret = pthread_create(&w->thread, NULL, worker_thread, w) ? -EAGAIN : 0;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (ret) {
		close(w->efd);
		w->efd = -1;
		return ret;
	}
	w->started = true;
	return 0;
}

/* The oldest job queued and not started waited too long: the worker is starved. */
static bool behind(const struct rw_noise_worker *w, uint32_t tail, uint64_t now)
{
	uint32_t h = atomic_load_explicit(&w->head, memory_order_acquire);

	return w->max_lag_ns && h != tail && now - w->ring[h % RW_NW_JOBS]->queued_ns > w->max_lag_ns;
}

int rw__nw_submit(struct rw_noise_worker *w, struct rw_nw_job *j)
{
	uint64_t now;
	uint32_t t;

	if (w->failed || atomic_load_explicit(&w->stop, memory_order_relaxed))
		return -EAGAIN;
	if (!w->started && start(w)) {
		w->failed = true;
		return -EAGAIN;
	}
	t = atomic_load_explicit(&w->tail, memory_order_relaxed);
	now = rw__now_ns();
	if (behind(w, t, now)) {
		RW_STAT_INC(w->behind);
		return -EAGAIN;
	}
	j->queued_ns = now;
	w->ring[t % RW_NW_JOBS] = j;
	atomic_store(&w->tail, t + 1);
	if (atomic_exchange(&w->sleeping, 0)) {
		uint64_t one = 1;

		/* cannot fail but for a counter at 2^64 - 2: then the worker is awake anyway */
		if (write(w->efd, &one, sizeof(one)) < 0) {
		}
	}
	return 0;
}

void rw__nw_stop(struct rw_noise_worker *w)
{
	uint64_t one = 1;

	if (!w->started)
		return;
	atomic_store(&w->stop, true);
	if (write(w->efd, &one, sizeof(one)) < 0) {
		/* saturated: the worker is not asleep in read */
	}
	pthread_join(w->thread, NULL);
	close(w->efd);
	w->efd = -1;
	w->started = false;
}

void rw__nw_free(struct rw_noise_worker *w)
{
	rw__nw_stop(w);
	if (w->jobs) {
		rw__memzero(w->jobs, (size_t)w->fresh * sizeof(*w->jobs));	/* the rest was never touched */
		free(w->jobs);
	}
	free(w->ring);
	w->jobs = NULL;
	w->ring = NULL;
	w->free = NULL;
	w->fresh = w->out = 0;
}
