/*
 * Small guest-side helpers for the VM tests, compiled with gcc at test time (run-in-vm brings
 * its libc along). Each prints "key=value" lines the test parses.
 *
 *   vmhelper watch OUT SECONDS      PSI "some 70ms/1s" trigger on /proc/pressure/memory (Lmkd's
 *                                   medium level) plus MemAvailable sampled every 5 ms; writes
 *                                   timestamped events to OUT until SECONDS pass
 *   vmhelper sharevm MB ADJ READY   touch MB MiB, clone a CLONE_VM sibling (its own thread group,
 *                                   same mm), write "PID SIBLING" to READY, sleep
 *   vmhelper burn SECONDS           spin on one CPU (to starve a SCHED_IDLE victim)
 *   vmhelper idle PID               move PID to SCHED_IDLE (busybox has no chrt)
 *   vmhelper asuser UID CMD...      run CMD as UID (busybox's setpriv cannot change uids)
 *   vmhelper state PID              the state letter of PID ("gone" when it no longer exists)
 *   vmhelper avail                  MemAvailable in kB
 *   vmhelper now                    the wall clock in ms (the clock of every "t=" here)
 *
 * The side-by-side with earlyoom (scripts/vm/guest-side-by-side.sh):
 *   vmhelper hog ADJ MB RATE READY [HOLD_PCT HOLD_S [MAX_MB]]
 *                                   anonymous memory that compresses about 3:1: MB MiB at once, then
 *                                   RATE MiB/s more (steps every 100 ms) until killed; writes
 *                                   "PID T0" to READY (T0: when growth began), "t=MS hog_mb=N" to
 *                                   READY.size after each step. With HOLD_PCT, stops
 *                                   growing once MemAvailable is below HOLD_PCT % of MemTotal, holds
 *                                   HOLD_S seconds, then exits 0. RATE 0: a steady background process
 *                                   With MAX_MB (after HOLD_PCT HOLD_S; HOLD_PCT 0 for none), stops
 *                                   growing at MAX_MB MiB instead, holds HOLD_S seconds, then exits 0
 *   vmhelper pageout MB READY       MB MiB of anonymous memory, written once and pushed to swap at
 *                                   once (madvise MADV_PAGEOUT): the idle pages an old swap holds;
 *                                   writes "PID swapped_kb=N" to READY (VmSwap), then sleeps
 *   vmhelper batch MB PERIOD_MS READY
 *                                   a batch job: allocates and fills MB MiB, frees it after
 *                                   PERIOD_MS, and again after another PERIOD_MS, until killed
 *   vmhelper protected FILE ANON_MB FILE_MB READY OUT
 *                                   oom_score_adj -900; ANON_MB of anonymous memory and FILE_MB of
 *                                   FILE mapped (its page cache), both touched every wake-up, every
 *                                   100 ms; the longest gap between two wake-ups (the stall it
 *                                   suffered) goes to OUT, every gap over 150 ms to OUT.gaps as
 *                                   "t=MS gap_ms=N work_ms=N". SIGUSR2 resets the figures, SIGTERM ends
 *   vmhelper filemap FILE ANON_MB ADJ READY
 *                                   oom_score_adj ADJ; FILE mapped MAP_PRIVATE and every page of it
 *                                   read (page cache, mapped by this process alone), ANON_MB of
 *                                   anonymous memory touched; writes "PID" to READY, sleeps. The
 *                                   victim of scripts/vm/guest-gave-back.sh (issue 11)
 *   vmhelper trace OUT INTERVAL_MS  every INTERVAL_MS: MemAvailable, MemFree, file LRU, anon, the
 *                                   workingset and reclaim counters and PSI some's total, one line
 *                                   each in OUT, until SIGTERM (scripts/vm/guest-side-by-side.sh
 *                                   with TRACE: where in time a gap fell, and what memory did)
 *   vmhelper deaths OUT LABEL=PID...
 *                                   "t=MS died LABEL PID" in OUT when each exits (pidfd), until all
 *                                   have, or SIGTERM
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <grp.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Wall clock in ms: the daemon's JSON log stamps events with the same clock. */
static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

static long meminfo_kb(const char *key)
{
	char buf[4096];
	int fd = open("/proc/meminfo", O_RDONLY);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	char *p = strstr(buf, key);
	return p ? strtol(p + strlen(key), NULL, 10) : -1;
}

static long mem_available_kb(void)
{
	return meminfo_kb("MemAvailable:");
}

static void set_adj(int adj)
{
	FILE *f = fopen("/proc/self/oom_score_adj", "w");
	if (f) {
		fprintf(f, "%d", adj);
		fclose(f);
	}
}

static int watch(const char *out, int seconds)
{
	FILE *o = fopen(out, "w");
	if (!o)
		return 1;
	setvbuf(o, NULL, _IOLBF, 0);
	set_adj(-1000); /* an observer, never a victim */
	int fd = open("/proc/pressure/memory", O_RDWR | O_NONBLOCK);
	const char trig[] = "some 70000 1000000";
	/* With the trailing NUL: the kernel overwrites the last byte written. */
	if (fd < 0 || write(fd, trig, sizeof trig) < 0) {
		fprintf(o, "error=trigger errno %d\n", errno);
		return 1;
	}
	long last = mem_available_kb();
	fprintf(o, "t=%lld avail_kb=%ld\n", now_ms(), last);
	long long end = now_ms() + seconds * 1000LL;
	while (now_ms() < end) {
		struct pollfd p = { .fd = fd, .events = POLLPRI };
		int r = poll(&p, 1, 5);
		long long t = now_ms();
		if (r > 0 && (p.revents & POLLPRI))
			fprintf(o, "t=%lld psi=some\n", t);
		long a = mem_available_kb();
		/* Only moves of 4 MiB or more: the timeline stays short. */
		if (a >= 0 && (a - last >= 4096 || last - a >= 4096)) {
			fprintf(o, "t=%lld avail_kb=%ld\n", t, a);
			last = a;
		}
	}
	return 0;
}

static int sibling(void *arg)
{
	(void)arg;
	for (;;)
		pause();
	return 0;
}

static int sharevm(long mb, int adj, const char *ready)
{
	set_adj(adj);
	size_t bytes = (size_t)mb << 20;
	char *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return 1;
	for (size_t off = 0; off < bytes; off += 4096)
		p[off] = 1;
	size_t stack = 64 * 1024;
	char *st = malloc(stack);
	/* CLONE_VM without CLONE_THREAD: a second process on the same mm, as vfork or some runtimes make. */
	int sib = clone(sibling, st + stack, CLONE_VM | SIGCHLD, NULL);
	if (sib < 0)
		return 1;
	char tmp[256];
	snprintf(tmp, sizeof tmp, "%s.tmp", ready);
	FILE *f = fopen(tmp, "w");
	fprintf(f, "%d %d\n", getpid(), sib);
	fclose(f);
	rename(tmp, ready);
	for (;;)
		pause();
}

static int burn(int seconds)
{
	long long end = now_ms() + seconds * 1000LL;
	volatile unsigned long x = 0;
	while (now_ms() < end)
		for (int i = 0; i < 100000; i++)
			x++;
	return 0;
}

static int state(int pid)
{
	char path[64], buf[512];
	snprintf(path, sizeof path, "/proc/%d/stat", pid);
	int fd = open(path, O_RDONLY);
	ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof buf - 1);
	if (fd >= 0)
		close(fd);
	if (n <= 0) {
		puts("gone");
		return 0;
	}
	buf[n] = 0;
	char *c = strrchr(buf, ')');
	printf("%c\n", c && c[1] ? c[2] : '?');
	return 0;
}

/* Writes "text" to path through a temporary file and a rename: a reader never sees half of it. */
static void write_atomic(const char *path, const char *text)
{
	char tmp[512];
	snprintf(tmp, sizeof tmp, "%s.tmp", path);
	FILE *f = fopen(tmp, "w");
	if (!f)
		return;
	fputs(text, f);
	fclose(f);
	rename(tmp, path);
}

/*
 * Makes [p, p + bytes) resident with content that compresses about 3:1 in zram: pages of zeros
 * cost zram nothing and random pages do not compress at all, and no real program's memory looks
 * like either. A third of each page gets pseudo-random words, the rest stays zero (but is written,
 * so the page is private and resident).
 */
static void fill(char *p, size_t bytes, unsigned long long *seed)
{
	unsigned long long x = *seed;
	for (size_t off = 0; off < bytes; off += 4096) {
		unsigned long long *w = (unsigned long long *)(p + off);
		for (int i = 0; i < 4096 / 8 / 3; i++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			w[i] = x;
		}
		p[off + 4095] = 0;
	}
	*seed = x;
}

static char *map_anon(size_t bytes)
{
	char *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

static void sleep_until_ms(long long t)
{
	struct timespec ts = { .tv_sec = t / 1000, .tv_nsec = (t % 1000) * 1000000 };
	while (clock_nanosleep(CLOCK_REALTIME, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

static void hold_then_exit(size_t grown, int hold_s)
{
	printf("t=%lld hold avail_kb=%ld swaptotal_kb=%ld swapfree_kb=%ld hog_mb=%zu\n", now_ms(), mem_available_kb(),
	       meminfo_kb("SwapTotal:"), meminfo_kb("SwapFree:"), grown >> 20);
	fflush(stdout);
	sleep_until_ms(now_ms() + hold_s * 1000LL);
	printf("t=%lld held avail_kb=%ld\n", now_ms(), mem_available_kb());
	fflush(stdout);
}

static int hog(int adj, long mb, long rate, const char *ready, int hold_pct, int hold_s, long max_mb)
{
	set_adj(adj);
	unsigned long long seed = 0x9E3779B97F4A7C15ULL ^ (unsigned long long)getpid();
	if (mb > 0) {
		char *p = map_anon((size_t)mb << 20);
		if (!p)
			return 1;
		fill(p, (size_t)mb << 20, &seed);
	}
	long long t0 = now_ms();
	char line[64];
	snprintf(line, sizeof line, "%d %lld\n", getpid(), t0);
	write_atomic(ready, line);
	long total = meminfo_kb("MemTotal:");
	char progress[512];
	snprintf(progress, sizeof progress, "%s.size", ready);
	if (rate <= 0) {
		for (;;)
			pause();
	}
	/* Steps of RATE/10 MiB every 100 ms on an absolute schedule: a step that stalled is not made up
	 * for by a burst, so the rate is at most RATE, less when the kernel makes the hog wait. */
	size_t step = ((size_t)rate << 20) / 10, grown = (size_t)mb << 20;
	for (long long k = 1;; k++) {
		if (max_mb > 0 && (long)(grown >> 20) >= max_mb) {
			hold_then_exit(grown, hold_s);
			return 0;
		}
		if (hold_pct > 0) {
			long a = mem_available_kb();
			if (a >= 0 && total > 0 && a * 100 < (long)hold_pct * total) {
				printf("t=%lld hold avail_kb=%ld total_kb=%ld hog_mb=%zu\n", now_ms(), a, total, grown >> 20);
				fflush(stdout);
				sleep_until_ms(now_ms() + hold_s * 1000LL);
				printf("t=%lld held avail_kb=%ld\n", now_ms(), mem_available_kb());
				fflush(stdout);
				return 0;
			}
		}
		char *p = map_anon(step);
		if (!p)
			return 1;
		fill(p, step, &seed);
		grown += step;
		/* How far it got, for the rate it reached (under emulation, filling pages costs CPU). */
		snprintf(line, sizeof line, "t=%lld hog_mb=%zu\n", now_ms(), grown >> 20);
		write_atomic(progress, line);
		/* Late (the kernel made it wait): the missed slots are skipped, not made up for. */
		long long slot = (now_ms() - t0) / 100;
		if (slot >= k)
			k = slot + 1;
		sleep_until_ms(t0 + k * 100);
	}
}

static int pageout(long mb, const char *ready)
{
	size_t bytes = (size_t)mb << 20;
	unsigned long long seed = 0x51ED270B27A5F00DULL ^ (unsigned long long)getpid();
	char *p = map_anon(bytes);
	if (!p)
		return 1;
	fill(p, bytes, &seed);
	if (madvise(p, bytes, MADV_PAGEOUT) != 0) {
		perror("madvise(MADV_PAGEOUT)");
		return 1;
	}
	char path[64], buf[4096], line[96];
	snprintf(path, sizeof path, "/proc/%d/status", getpid());
	int fd = open(path, O_RDONLY);
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof buf - 1) : -1;
	if (fd >= 0)
		close(fd);
	long swapped = -1;
	if (n > 0) {
		buf[n] = 0;
		char *v = strstr(buf, "VmSwap:");
		if (v)
			swapped = strtol(v + 7, NULL, 10);
	}
	snprintf(line, sizeof line, "%d swapped_kb=%ld\n", getpid(), swapped);
	write_atomic(ready, line);
	for (;;)
		pause();
}

static int batch(long mb, int period_ms, const char *ready)
{
	size_t bytes = (size_t)mb << 20;
	unsigned long long seed = 0xB47C4B47C4B47C4BULL ^ (unsigned long long)getpid();
	char line[32];
	snprintf(line, sizeof line, "%d\n", getpid());
	write_atomic(ready, line);
	for (;;) {
		char *p = map_anon(bytes);
		if (!p)
			return 1;
		fill(p, bytes, &seed);
		sleep_until_ms(now_ms() + period_ms);
		munmap(p, bytes);
		sleep_until_ms(now_ms() + period_ms);
	}
}

static volatile sig_atomic_t protected_reset, stop_requested;
static void on_usr2(int s) { (void)s; protected_reset = 1; }
static void on_term(int s) { (void)s; stop_requested = 1; }

static void protected_report(const char *out, long long gap_max, long long gap_max_at, long long work_max,
			     long wakes, long over200, long over500, long long since, int final)
{
	char text[512];
	snprintf(text, sizeof text,
		 "protected gap_max_ms=%lld gap_max_at=%lld work_max_ms=%lld wakes=%ld gaps_over_200ms=%ld gaps_over_500ms=%ld since=%lld final=%d\n",
		 gap_max, gap_max_at, work_max, wakes, over200, over500, since, final);
	write_atomic(out, text);
}

static int protected(const char *path, long anon_mb, long file_mb, const char *ready, const char *out)
{
	set_adj(-900);
	struct sigaction sa = { .sa_handler = on_usr2 };
	sigaction(SIGUSR2, &sa, NULL);
	sa.sa_handler = on_term;
	sigaction(SIGTERM, &sa, NULL);
	size_t anon_bytes = (size_t)anon_mb << 20, file_bytes = (size_t)file_mb << 20;
	unsigned long long seed = 0x2545F4914F6CDD1DULL;
	char *anon = map_anon(anon_bytes);
	int fd = open(path, O_RDONLY);
	char *file = fd < 0 ? MAP_FAILED : mmap(NULL, file_bytes, PROT_READ, MAP_SHARED, fd, 0);
	if (!anon || file == MAP_FAILED) {
		fprintf(stderr, "protected: %s: %s\n", path, strerror(errno));
		return 1;
	}
	fill(anon, anon_bytes, &seed);
	volatile unsigned long sink = 0;
	/* Warm up: the file from the disk into the page cache, twice, so the kernel sees it in use. */
	for (int pass = 0; pass < 2; pass++)
		for (size_t off = 0; off < file_bytes; off += 4096)
			sink += (unsigned char)file[off];
	char line[64];
	snprintf(line, sizeof line, "%d\n", getpid());
	write_atomic(ready, line);
	long long since = now_ms(), prev = since, gap_max = 0, gap_max_at = 0, work_max = 0;
	long wakes = 0, over200 = 0, over500 = 0;
	char gaps_path[256];
	snprintf(gaps_path, sizeof gaps_path, "%s.gaps", out);
	FILE *gaps = NULL;
	while (!stop_requested) {
		struct timespec d = { 0, 100 * 1000000L };
		nanosleep(&d, NULL); /* interrupted by a signal: the loop goes on, the gap still counts */
		long long w0 = now_ms();
		/* A read of one byte per page: a page that was reclaimed (file) or swapped out (anon)
		 * must come back before the wake-up ends. */
		for (size_t off = 0; off < anon_bytes; off += 4096)
			sink += (unsigned char)anon[off];
		for (size_t off = 0; off < file_bytes; off += 4096)
			sink += (unsigned char)file[off];
		long long t = now_ms();
		if (protected_reset) {
			protected_reset = 0;
			since = prev = t;
			gap_max = gap_max_at = work_max = 0;
			wakes = over200 = over500 = 0;
			protected_report(out, 0, 0, 0, 0, 0, 0, since, 0);
			if (!gaps && (gaps = fopen(gaps_path, "w")))
				setvbuf(gaps, NULL, _IOLBF, 0);
			continue;
		}
		long long gap = t - prev;
		prev = t;
		wakes++;
		if (gap > 150 && gaps)
			fprintf(gaps, "t=%lld gap_ms=%lld work_ms=%lld\n", t, gap, t - w0);
		if (gap > 200)
			over200++;
		if (gap > 500)
			over500++;
		if (t - w0 > work_max)
			work_max = t - w0;
		if (gap > gap_max) {
			gap_max = gap;
			gap_max_at = t;
			/* Kept on tmpfs as it changes: a protected process killed after all leaves its figures. */
			protected_report(out, gap_max, gap_max_at, work_max, wakes, over200, over500, since, 0);
		}
	}
	protected_report(out, gap_max, gap_max_at, work_max, wakes, over200, over500, since, 1);
	return 0;
}

static int filemap(const char *path, long anon_mb, int adj, const char *ready)
{
	set_adj(adj);
	int fd = open(path, O_RDONLY);
	off_t size = fd < 0 ? -1 : lseek(fd, 0, SEEK_END);
	if (size <= 0) {
		fprintf(stderr, "filemap: %s: %s\n", path, strerror(errno));
		return 1;
	}
	/* Private and read-only: reading faults the page cache's own pages in (no copy), clean,
	 * so the kernel may drop them the moment nobody maps them. */
	char *file = mmap(NULL, (size_t)size, PROT_READ, MAP_PRIVATE, fd, 0);
	size_t anon_bytes = (size_t)anon_mb << 20;
	char *anon = anon_bytes ? map_anon(anon_bytes) : NULL;
	if (file == MAP_FAILED || (anon_bytes && !anon)) {
		fprintf(stderr, "filemap: mmap: %s\n", strerror(errno));
		return 1;
	}
	close(fd);
	volatile unsigned long sink = 0;
	for (off_t off = 0; off < size; off += 4096)
		sink += (unsigned char)file[off];
	unsigned long long seed = 0x9E3779B97F4A7C15ULL ^ (unsigned long long)getpid();
	if (anon_bytes)
		fill(anon, anon_bytes, &seed);
	char line[32];
	snprintf(line, sizeof line, "%d\n", getpid());
	write_atomic(ready, line);
	for (;;)
		pause();
}

/* The figures of one line of /proc/vmstat or /proc/meminfo: the number after KEY at a line start. */
static long field(const char *buf, const char *key)
{
	size_t n = strlen(key);
	for (const char *p = buf; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
		if (!strncmp(p, key, n) && (p[n] == ' ' || p[n] == ':'))
			return strtol(p + n + 1 + (p[n] == ':'), NULL, 10);
	return -1;
}

static ssize_t read_all(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, size - 1);
	close(fd);
	buf[n > 0 ? n : 0] = 0;
	return n;
}

static int trace(const char *out, int interval_ms)
{
	FILE *o = fopen(out, "w");
	if (!o)
		return 1;
	set_adj(-1000); /* an observer, never a victim */
	struct sigaction sa = { .sa_handler = on_term };
	sigaction(SIGTERM, &sa, NULL);
	static char mem[8192], vm[16384], psi[256];
	while (!stop_requested) {
		long long t = now_ms();
		if (read_all("/proc/meminfo", mem, sizeof mem) <= 0 || read_all("/proc/vmstat", vm, sizeof vm) <= 0)
			break;
		read_all("/proc/pressure/memory", psi, sizeof psi);
		char *total = strstr(psi, "total=");
		fprintf(o, "t=%lld avail=%ld free=%ld afile=%ld ifile=%ld anon=%ld refault=%ld activate=%ld "
			   "scan_k=%ld scan_d=%ld steal_k=%ld steal_d=%ld some_us=%s\n",
			t, field(mem, "MemAvailable"), field(mem, "MemFree"), field(mem, "Active(file)"),
			field(mem, "Inactive(file)"), field(mem, "AnonPages"), field(vm, "workingset_refault_file"),
			field(vm, "workingset_activate_file"), field(vm, "pgscan_kswapd"), field(vm, "pgscan_direct"),
			field(vm, "pgsteal_kswapd"), field(vm, "pgsteal_direct"), total ? strtok(total + 6, "\n") : "-");
		struct timespec d = { interval_ms / 1000, (interval_ms % 1000) * 1000000L };
		nanosleep(&d, NULL);
	}
	fclose(o);
	return 0;
}

static int deaths(const char *out, int n, char **args)
{
	FILE *o = fopen(out, "w");
	if (!o)
		return 1;
	setvbuf(o, NULL, _IOLBF, 0);
	set_adj(-1000); /* an observer, never a victim */
	struct sigaction sa = { .sa_handler = on_term };
	sigaction(SIGTERM, &sa, NULL);
	struct pollfd fds[16];
	char *labels[16];
	int pids[16], left = 0;
	for (int i = 0; i < n && i < 16; i++) {
		char *eq = strchr(args[i], '=');
		if (!eq)
			return 2;
		*eq = 0;
		labels[i] = args[i];
		pids[i] = atoi(eq + 1);
		fds[i].fd = (int)syscall(SYS_pidfd_open, pids[i], 0);
		fds[i].events = POLLIN;
		if (fds[i].fd < 0)
			fprintf(o, "t=%lld died %s %d already\n", now_ms(), labels[i], pids[i]);
		else
			left++;
	}
	while (left > 0 && !stop_requested) {
		if (poll(fds, (nfds_t)n, -1) < 0)
			continue;
		long long t = now_ms();
		for (int i = 0; i < n; i++)
			if (fds[i].fd >= 0 && (fds[i].revents & POLLIN)) {
				fprintf(o, "t=%lld died %s %d\n", t, labels[i], pids[i]);
				close(fds[i].fd);
				fds[i].fd = -1;
				left--;
			}
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 4 && !strcmp(argv[1], "watch"))
		return watch(argv[2], atoi(argv[3]));
	if (argc >= 5 && !strcmp(argv[1], "sharevm"))
		return sharevm(atol(argv[2]), atoi(argv[3]), argv[4]);
	if (argc >= 3 && !strcmp(argv[1], "burn"))
		return burn(atoi(argv[2]));
	if (argc >= 3 && !strcmp(argv[1], "idle")) {
		struct sched_param sp = { 0 };
		return sched_setscheduler(atoi(argv[2]), SCHED_IDLE, &sp) ? 1 : 0;
	}
	if (argc >= 4 && !strcmp(argv[1], "asuser")) {
		uid_t uid = (uid_t)atoi(argv[2]);
		if (setgroups(0, NULL) || setgid(uid) || setuid(uid))
			return 1;
		execv(argv[3], argv + 3);
		return 127;
	}
	if (argc >= 3 && !strcmp(argv[1], "state"))
		return state(atoi(argv[2]));
	if (argc >= 2 && !strcmp(argv[1], "avail")) {
		printf("%ld\n", mem_available_kb());
		return 0;
	}
	if (argc >= 2 && !strcmp(argv[1], "now")) {
		printf("%lld\n", now_ms());
		return 0;
	}
	if (argc >= 6 && !strcmp(argv[1], "hog"))
		return hog(atoi(argv[2]), atol(argv[3]), atol(argv[4]), argv[5], argc >= 8 ? atoi(argv[6]) : 0,
			   argc >= 8 ? atoi(argv[7]) : 0, argc >= 9 ? atol(argv[8]) : 0);
	if (argc >= 4 && !strcmp(argv[1], "pageout"))
		return pageout(atol(argv[2]), argv[3]);
	if (argc >= 5 && !strcmp(argv[1], "batch"))
		return batch(atol(argv[2]), atoi(argv[3]), argv[4]);
	if (argc >= 7 && !strcmp(argv[1], "protected"))
		return protected(argv[2], atol(argv[3]), atol(argv[4]), argv[5], argv[6]);
	if (argc >= 6 && !strcmp(argv[1], "filemap"))
		return filemap(argv[2], atol(argv[3]), atoi(argv[4]), argv[5]);
	if (argc >= 4 && !strcmp(argv[1], "trace"))
		return trace(argv[2], atoi(argv[3]));
	if (argc >= 4 && !strcmp(argv[1], "deaths"))
		return deaths(argv[2], argc - 3, argv + 3);
	fprintf(stderr, "usage: vmhelper watch OUT S | sharevm MB ADJ READY | burn S | idle PID | asuser UID CMD... | state PID | avail | now\n"
			"       | hog ADJ MB RATE READY [HOLD_PCT HOLD_S [MAX_MB]] | pageout MB READY | batch MB PERIOD_MS READY | protected FILE ANON_MB FILE_MB READY OUT | deaths OUT LABEL=PID...\n"
			"       | filemap FILE ANON_MB ADJ READY | trace OUT INTERVAL_MS\n");
	return 2;
}
