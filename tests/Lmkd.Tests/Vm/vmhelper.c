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

static long mem_available_kb(void)
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
	char *p = strstr(buf, "MemAvailable:");
	return p ? strtol(p + 13, NULL, 10) : -1;
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
	fprintf(stderr, "usage: vmhelper watch OUT S | sharevm MB ADJ READY | burn S | idle PID | asuser UID CMD... | state PID | avail\n");
	return 2;
}
