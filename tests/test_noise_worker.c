/* SPDX-License-Identifier: MIT */
/*
 * test_noise_worker.c - a shard's Noise worker (framework/noise_worker.c):
 * jobs run off the submitting thread, come back in order and with the
 * same results as on the spot, no wake-up is lost, the pool is bounded,
 * a stop with jobs queued neither hangs nor leaks, and without a thread
 * the work runs inline.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "crypto.h"
#include "noise.h"
#include "noise_worker.h"
#include "tai64n.h"

/* What came back, in the order it came back (the deliver hook runs on the worker). */
static struct {
	pthread_mutex_t lock;
	struct rw_nw_job *got[RW_NW_JOBS];
	unsigned n;
	bool refuse;		/* as a stopping shard: rw__shard_post says -ESHUTDOWN */
} back = { .lock = PTHREAD_MUTEX_INITIALIZER };

static int deliver(void *target, struct rw_cmd *c)
{
	struct rw_nw_job *j = rw_container_of(c, struct rw_nw_job, c);

	(void)target;
	pthread_mutex_lock(&back.lock);
	if (back.refuse) {
		pthread_mutex_unlock(&back.lock);
		return -ESHUTDOWN;
	}
	back.got[back.n++] = j;
	pthread_mutex_unlock(&back.lock);
	return 0;
}

static unsigned back_count(void)
{
	unsigned n;

	pthread_mutex_lock(&back.lock);
	n = back.n;
	pthread_mutex_unlock(&back.lock);
	return n;
}

static void back_reset(void)
{
	pthread_mutex_lock(&back.lock);
	back.n = 0;
	back.refuse = false;
	pthread_mutex_unlock(&back.lock);
}

static void sleep_ms(long ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static bool wait_back(unsigned n, long ms)
{
	for (long i = 0; i < ms; i++) {
		if (back_count() >= n)
			return true;
		sleep_ms(1);
	}
	return back_count() >= n;
}

/* The job's work: an init made as a rekey makes it, and the thread that made it. */
static pthread_t workers[RW_NW_JOBS];

static void init_work(struct rw_nw_job *j)
{
	workers[j->session_id] = pthread_self();
	j->ret = rw__noise_init_create(&j->hs, j->out, &j->id, &j->remote, j->index, j->ts, j->in);
}

static void identity(struct rw_noise_identity *id, uint8_t fill)
{
	uint8_t priv[RW_KEY_LEN];

	memset(priv, fill, sizeof(priv));
	assert_int_equal(rw__noise_identity_init(id, priv), 0);
}

/* Job i: initiator key 0x10, responder 0x20, ephemeral i + 1 (injected), index 1000 + i. */
static void fill(struct rw_nw_job *j, unsigned i)
{
	struct rw_noise_identity resp;

	identity(&j->id, 0x10);
	identity(&resp, 0x20);
	assert_int_equal(rw__noise_remote_init(&j->remote, &j->id, resp.pub), 0);
	j->session_id = i;
	j->index = 1000 + i;
	rw__tai64n_encode(j->ts, 1767225600, i);
	memset(j->in, (int)(i + 1), RW_KEY_LEN);	/* the ephemeral private key */
	j->work = init_work;
}

/* Jobs 0..n-1 (ids modulo the pool) to the worker. */
static void submit_n(struct rw_noise_worker *w, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		struct rw_nw_job *j = rw__nw_get(w);

		assert_non_null(j);
		fill(j, i % RW_NW_JOBS);
		assert_int_equal(rw__nw_submit(w, j), 0);
	}
}

static void test_jobs_run_off_thread_in_order(void **state)
{
	enum { N = 300 };
	struct rw_noise_worker w;

	(void)state;
	back_reset();
	rw__nw_init(&w, deliver, NULL);
	w.max_lag_ns = 0;	/* filling 300 jobs takes longer than the lag the worker is allowed */
	submit_n(&w, N);
	assert_true(wait_back(N, 10000));
	for (unsigned i = 0; i < N; i++) {
		struct rw_nw_job *j = back.got[i], want;

		assert_int_equal(j->session_id, i);
		assert_int_equal(j->ret, 0);
		assert_false(pthread_equal(workers[i], pthread_self()));
		/* the same init on the spot, byte for byte */
		memset(&want, 0, sizeof(want));
		fill(&want, i);
		assert_int_equal(rw__noise_init_create(&want.hs, want.out, &want.id, &want.remote, want.index, want.ts,
						       want.in), 0);
		assert_memory_equal(j->out, want.out, RW_SIZE_HANDSHAKE_INIT);
		assert_memory_equal(j->hs.ck, want.hs.ck, RW_HASH_LEN);
		rw__noise_handshake_clear(&want.hs);
		rw__nw_put(&w, j);
	}
	assert_int_equal(w.out, 0);
	rw__nw_free(&w);
}

/* One job at a time, the worker asleep in between: none waits for the next to wake it. */
static void test_no_lost_wakeup(void **state)
{
	struct rw_noise_worker w;

	(void)state;
	back_reset();
	rw__nw_init(&w, deliver, NULL);
	for (unsigned i = 0; i < 400; i++) {
		struct rw_nw_job *j = rw__nw_get(&w);

		assert_non_null(j);
		fill(j, i);
		assert_int_equal(rw__nw_submit(&w, j), 0);
		/* a second is a lost wake-up: the job ran only because nothing else came */
		assert_true(wait_back(i + 1, 1000));
		if (i % 4 == 0)
			sleep_ms(i % 3);	/* sometimes asleep when the next comes, sometimes not yet */
	}
	for (unsigned i = 0; i < 400; i++)
		rw__nw_put(&w, back.got[i]);
	rw__nw_free(&w);
}

static void test_pool_bounds(void **state)
{
	static struct rw_nw_job *all[RW_NW_JOBS];
	struct rw_noise_worker w;
	struct rw_nw_job *j;

	(void)state;
	rw__nw_init(&w, deliver, NULL);
	for (unsigned i = 0; i < RW_NW_JOBS; i++) {
		all[i] = rw__nw_get(&w);
		assert_non_null(all[i]);
	}
	assert_int_equal(w.out, RW_NW_JOBS);
	assert_null(rw__nw_get(&w));
	/* one back, one out again: the same memory, wiped */
	memset(all[7]->tx, 0xAA, sizeof(all[7]->tx));
	rw__nw_put(&w, all[7]);
	j = rw__nw_get(&w);
	assert_ptr_equal(j, all[7]);
	assert_true(rw__is_zero(j->tx, sizeof(j->tx)));
	assert_null(rw__nw_get(&w));
	for (unsigned i = 0; i < RW_NW_JOBS; i++)
		rw__nw_put(&w, all[i]);
	assert_int_equal(w.out, 0);
	rw__nw_free(&w);
}

/* A stop with jobs queued: the thread ends after the job at hand, no hang, no leak (ASan). */
static void test_stop_with_jobs_queued(void **state)
{
	enum { N = 2000 };
	struct rw_noise_worker w;
	unsigned got;

	(void)state;
	back_reset();
	rw__nw_init(&w, deliver, NULL);
	w.max_lag_ns = 0;
	submit_n(&w, N);
	rw__nw_stop(&w);
	got = back_count();
	assert_true(got < N);	/* 2000 inits take ~0.1 s: the stop came first */
	/* no thread any more: a submit now says so, and nothing more comes back */
	assert_int_equal(rw__nw_submit(&w, rw__nw_get(&w)), -EAGAIN);
	sleep_ms(20);
	assert_int_equal(back_count(), got);
	rw__nw_free(&w);	/* wipes and frees the pool, jobs out or not */
	assert_null(w.jobs);
}

/* A shard that stops refuses what comes back: the worker goes on and stops cleanly. */
static void test_delivery_refused(void **state)
{
	struct rw_noise_worker w;

	(void)state;
	back_reset();
	back.refuse = true;
	rw__nw_init(&w, deliver, NULL);
	w.max_lag_ns = 0;
	submit_n(&w, 10);
	sleep_ms(50);
	assert_int_equal(back_count(), 0);
	rw__nw_free(&w);
}

/* A job that holds the worker until the test lets it go: a worker that gets no CPU. */
static atomic_bool gate_open, gate_entered;

static void held_work(struct rw_nw_job *j)
{
	atomic_store(&gate_entered, true);
	while (!atomic_load(&gate_open))
		sleep_ms(1);
	j->ret = 0;
}

/*
 * A starved worker: once the oldest job queued waited more than
 * max_lag_ns, submit refuses (the reactor computes the handshake itself,
 * counted in behind); once the queue moves, jobs go to the worker again.
 */
static void test_behind_refuses(void **state)
{
	struct rw_noise_worker w;
	struct rw_nw_job *held, *queued, *j;

	(void)state;
	back_reset();
	atomic_store(&gate_open, false);
	atomic_store(&gate_entered, false);
	rw__nw_init(&w, deliver, NULL);
	w.max_lag_ns = 200 * 1000000ULL;
	held = rw__nw_get(&w);
	held->work = held_work;
	assert_int_equal(rw__nw_submit(&w, held), 0);
	for (int i = 0; i < 5000 && !atomic_load(&gate_entered); i++)
		sleep_ms(1);
	assert_true(atomic_load(&gate_entered));
	/* a job running, however long, is not a lag: nothing waits behind it yet */
	sleep_ms(40);
	queued = rw__nw_get(&w);
	fill(queued, 1);
	j = rw__nw_get(&w);
	fill(j, 2);
	assert_int_equal(rw__nw_submit(&w, queued), 0);
	/* the oldest queued is younger than the bound: queued too */
	assert_int_equal(rw__nw_submit(&w, j), 0);
	assert_int_equal(w.behind, 0);
	sleep_ms(250);
	/* the oldest queued waited 250 ms > 200: refused, the caller runs it */
	j = rw__nw_get(&w);
	fill(j, 3);
	assert_int_equal(rw__nw_submit(&w, j), -EAGAIN);
	assert_int_equal(rw__nw_submit(&w, j), -EAGAIN);
	assert_int_equal(w.behind, 2);
	atomic_store(&gate_open, true);
	assert_true(wait_back(3, 10000));
	/* the queue moved: the worker takes jobs again */
	assert_int_equal(rw__nw_submit(&w, j), 0);
	assert_true(wait_back(4, 10000));
	assert_int_equal(w.behind, 2);
	for (unsigned i = 0; i < 4; i++)
		rw__nw_put(&w, back.got[i]);
	assert_int_equal(w.out, 0);
	rw__nw_free(&w);
}

static struct rw_shard *ran_on;
static void done_inline(struct rw_shard *sh, struct rw_cmd *c)
{
	ran_on = sh;
	(void)c;
}

/* No thread (RW_TEST_NOISE_INLINE=1, as where pthread_create fails): rw__nw_run does it all at once. */
static void test_inline_without_thread(void **state)
{
	struct rw_noise_worker w;
	struct rw_shard *fake = (struct rw_shard *)&w;	/* only passed through */
	struct rw_nw_job *j;

	(void)state;
	back_reset();
	setenv("RW_TEST_NOISE_INLINE", "1", 1);
	rw__nw_init(&w, deliver, NULL);
	unsetenv("RW_TEST_NOISE_INLINE");
	j = rw__nw_get(&w);
	fill(j, 3);
	j->c.run = done_inline;
	assert_int_equal(rw__nw_submit(&w, j), -EAGAIN);
	rw__nw_run(fake, &w, j);
	assert_ptr_equal(ran_on, fake);
	assert_true(pthread_equal(workers[3], pthread_self()));
	assert_int_equal(j->ret, 0);
	assert_false(w.started);
	assert_int_equal(back_count(), 0);
	rw__nw_put(&w, j);
	rw__nw_free(&w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_jobs_run_off_thread_in_order),
		cmocka_unit_test(test_no_lost_wakeup),
		cmocka_unit_test(test_pool_bounds),
		cmocka_unit_test(test_stop_with_jobs_queued),
		cmocka_unit_test(test_delivery_refused),
		cmocka_unit_test(test_behind_refuses),
		cmocka_unit_test(test_inline_without_thread),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
