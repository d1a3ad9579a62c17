// glibc_bench runs the malloc workloads of bench/malloc against the C
// library's allocator, with the same size sequence as the Go side. The Go
// harness compiles it with the system compiler (gcc -O2) and parses its
// output: one line per measurement, "workload value". Run with LD_PRELOAD
// set to another allocator's library (mimalloc, jemalloc, tcmalloc), it
// measures that allocator instead; mallinfo2 then means nothing, and
// ringrss measures the footprint from the resident set instead.
#define _GNU_SOURCE
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NSIZES 4096
#define RING 1000
#define BATCH 512
#define MIDRING 64
#define MIDPAIR (32 << 10)

static int sizes[NSIZES];
static int midsizes[NSIZES]; // (g): [16 KiB, 128 KiB)
// keep stops the compiler from pairing malloc with free and eliding both.
#define keep(p) __asm__ volatile("" : : "r"(p) : "memory")

static void init_sizes(void) {
	uint32_t x = 2463534242u;
	for (int i = 0; i < NSIZES; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		sizes[i] = 16 + (int)(x % 1009);
	}
	for (int i = 0; i < NSIZES; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		midsizes[i] = (16 << 10) + (int)(x % (112 << 10));
	}
}

static double now(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

// rss is the resident set of the process in bytes.
static long rss(void) {
	long size = 0, res = 0;
	FILE *f = fopen("/proc/self/statm", "r");
	if (f) {
		if (fscanf(f, "%ld %ld", &size, &res) != 2) res = 0;
		fclose(f);
	}
	return res * 4096;
}

// midpairs: (f), malloc then free of 32 KiB.
static double midpairs(long n) {
	double t0 = now();
	for (long i = 0; i < n; i++) {
		unsigned char *p = malloc(MIDPAIR);
		p[0] = (unsigned char)i;
		keep(p);
		free(p);
	}
	return (now() - t0) / n;
}

// midring: (g), 64 live blocks of 16 to 128 KiB; free the oldest, allocate
// a new one.
static double midring(long n) {
	unsigned char *r[MIDRING];
	for (int i = 0; i < MIDRING; i++) r[i] = malloc(midsizes[i]);
	double t0 = now();
	int j = 0;
	for (long i = 0; i < n; i++) {
		free(r[j]);
		r[j] = malloc(midsizes[i & (NSIZES - 1)]);
		r[j][0] = (unsigned char)i;
		keep(r[j]);
		if (++j == MIDRING) j = 0;
	}
	double ns = (now() - t0) / n;
	for (int i = 0; i < MIDRING; i++) free(r[i]);
	return ns;
}


static double pairs(long n) {
	double t0 = now();
	for (long i = 0; i < n; i++) {
		unsigned char *p = malloc(sizes[i & (NSIZES - 1)]);
		p[0] = (unsigned char)i;
		keep(p);
		free(p);
	}
	return (now() - t0) / n;
}

static double ring(long n, double *ratio, double *rssratio) {
	long rss0 = rss();
	unsigned char *r[RING];
	for (int i = 0; i < RING; i++) r[i] = malloc(sizes[i]);
	double t0 = now();
	int j = 0;
	for (long i = 0; i < n; i++) {
		free(r[j]);
		r[j] = malloc(sizes[i & (NSIZES - 1)]);
		r[j][0] = (unsigned char)i;
		keep(r[j]);
		if (++j == RING) j = 0;
	}
	double ns = (now() - t0) / n;
	// The live bytes, counted outside the timing: slot k holds the block of
	// the last step i < n with i % RING == k, or its first block.
	long live = 0;
	for (int k = 0; k < RING; k++) {
		long last = n > k ? k + (n - 1 - k) / RING * RING : -1;
		live += last >= 0 ? sizes[last & (NSIZES - 1)] : sizes[k];
	}
	struct mallinfo2 mi = mallinfo2();
	*ratio = (double)(mi.arena + mi.hblkhd) / (double)live;
	*rssratio = (double)(rss() - rss0) / (double)live;
	for (int i = 0; i < RING; i++) free(r[i]);
	return ns;
}

static double reallocs(long n) {
	long ops = 0;
	double t0 = now();
	while (ops < n) {
		size_t size = 16;
		unsigned char *p = malloc(size);
		while (size < (1 << 20)) {
			size += size / 4 + 16;
			p = realloc(p, size);
			p[size - 1] = 1;
			keep(p);
			ops++;
		}
		free(p);
	}
	return (now() - t0) / ops;
}

// larson: each worker keeps a ring; every other evicted block goes into a
// batch that the other worker frees.
struct queue {
	pthread_mutex_t mu;
	void **batches[64];
	int head, tail;
};

struct worker {
	struct queue *in, *out;
	long n;
};

// qput queues a batch, or reports 0 when the queue is full (the consumer
// has finished): the producer then frees the batch itself.
static int qput(struct queue *q, void **b) {
	pthread_mutex_lock(&q->mu);
	int ok = (q->tail + 1) % 64 != q->head;
	if (ok) {
		q->batches[q->tail] = b;
		q->tail = (q->tail + 1) % 64;
	}
	pthread_mutex_unlock(&q->mu);
	return ok;
}

static void **qget(struct queue *q) {
	pthread_mutex_lock(&q->mu);
	void **b = 0;
	if (q->head != q->tail) {
		b = q->batches[q->head];
		q->head = (q->head + 1) % 64;
	}
	pthread_mutex_unlock(&q->mu);
	return b;
}

static void *larson_worker(void *arg) {
	struct worker *w = arg;
	unsigned char *r[RING];
	for (int i = 0; i < RING; i++) r[i] = malloc(sizes[i]);
	void **batch = malloc(BATCH * sizeof(void *));
	int nb = 0, j = 0;
	for (long i = 0; i < w->n; i++) {
		unsigned char *old = r[j];
		unsigned char *p = malloc(sizes[i & (NSIZES - 1)]);
		p[0] = (unsigned char)i;
		keep(p);
		r[j] = p;
		if (++j == RING) j = 0;
		if (i & 1) {
			free(old);
		} else {
			batch[nb++] = old;
			if (nb == BATCH) {
				if (!qput(w->out, batch)) {
					for (int k = 0; k < BATCH; k++) free(batch[k]);
					free(batch);
				}
				batch = malloc(BATCH * sizeof(void *));
				nb = 0;
			}
			void **in = qget(w->in);
			if (in) {
				for (int k = 0; k < BATCH; k++) free(in[k]);
				free(in);
			}
		}
	}
	for (int k = 0; k < nb; k++) free(batch[k]);
	free(batch);
	for (int i = 0; i < RING; i++) free(r[i]);
	return 0;
}

// larson returns operations (malloc+free pairs) per second with t threads.
static double larson(int t, long n) {
	struct queue q[2];
	for (int i = 0; i < 2; i++) {
		pthread_mutex_init(&q[i].mu, 0);
		q[i].head = q[i].tail = 0;
	}
	struct worker w[2];
	double t0 = now();
	if (t == 1) {
		w[0] = (struct worker){&q[0], &q[0], n};
		larson_worker(&w[0]);
	} else {
		pthread_t th[2];
		w[0] = (struct worker){&q[0], &q[1], n / 2};
		w[1] = (struct worker){&q[1], &q[0], n / 2};
		pthread_create(&th[0], 0, larson_worker, &w[0]);
		pthread_create(&th[1], 0, larson_worker, &w[1]);
		pthread_join(th[0], 0);
		pthread_join(th[1], 0);
	}
	double el = now() - t0;
	for (int i = 0; i < 2; i++) {
		void **b;
		while ((b = qget(&q[i]))) {
			for (int k = 0; k < BATCH; k++) free(b[k]);
			free(b);
		}
	}
	return n / (el / 1e9);
}

// usage: glibc_bench RUNS N WORKLOAD...; workloads: pairs ring ringpeak
// larson1 larson2 realloc midpairs midring. ringpeak should run alone in a
// fresh process: it reports mapped/live bytes at the end of a ring run by
// mallinfo2 (ringpeak) and by the growth of the resident set (ringrss).
int main(int argc, char **argv) {
	int runs = argc > 1 ? atoi(argv[1]) : 5;
	long n = argc > 2 ? atol(argv[2]) : 2000000;
	init_sizes();
	for (int r = 0; r < runs; r++) {
		for (int a = 3; a < argc; a++) {
			const char *w = argv[a];
			double ratio, rssratio;
			if (!strcmp(w, "pairs")) printf("pairs %.3f\n", pairs(n));
			else if (!strcmp(w, "ring")) printf("ring %.3f\n", ring(n, &ratio, &rssratio));
			else if (!strcmp(w, "ringpeak")) {
				ring(n, &ratio, &rssratio);
				printf("ringpeak %.4f\nringrss %.4f\n", ratio, rssratio);
			}
			else if (!strcmp(w, "midpairs")) printf("midpairs %.3f\n", midpairs(n / 4));
			else if (!strcmp(w, "midring")) printf("midring %.3f\n", midring(n / 4));
			else if (!strcmp(w, "larson1")) printf("larson1 %.0f\n", larson(1, n));
			else if (!strcmp(w, "larson2")) printf("larson2 %.0f\n", larson(2, n));
			else if (!strcmp(w, "realloc")) printf("realloc %.3f\n", reallocs(n / 20));
			else { fprintf(stderr, "unknown workload %s\n", w); return 2; }
			fflush(stdout);
		}
	}
	return 0;
}
