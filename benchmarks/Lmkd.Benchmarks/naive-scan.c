/*
 * The naive baseline of `Lmkd.Benchmarks scan`: what a /proc scan costs when written in C the obvious way.
 * For every pid in /proc: open /proc/<pid>, read stat, status and oom_score_adj (one read(2) each), close.
 * Nothing is parsed: this is the kernel's cost of producing those three files, the floor of any scan that
 * reads them. The benchmark compiles this file with gcc at run time (no binary is committed).
 * Usage: naive-scan RUNS   -> one line per run: "<processes read> <wall ns> <thread CPU ns> <of which user ns>"
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static char buf[65536];

static long long ns(clockid_t clock)
{
    struct timespec t;
    clock_gettime(clock, &t);
    return t.tv_sec * 1000000000LL + t.tv_nsec;
}

static long long user_ns(void)
{
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return u.ru_utime.tv_sec * 1000000000LL + u.ru_utime.tv_usec * 1000LL;
}

static void read_file(int dir, const char *name)
{
    int fd = openat(dir, name, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        if (read(fd, buf, sizeof buf) < 0) { /* gone meanwhile: as a scanner would, move on */ }
        close(fd);
    }
}

int main(int argc, char **argv)
{
    int runs = argc > 1 ? atoi(argv[1]) : 1;
    for (int r = 0; r < runs; r++) {
        long long wall0 = ns(CLOCK_MONOTONIC), cpu0 = ns(CLOCK_THREAD_CPUTIME_ID), user0 = user_ns();
        DIR *proc = opendir("/proc");
        if (!proc)
            return 1;
        int n = 0;
        struct dirent *e;
        while ((e = readdir(proc)) != NULL) {
            if (e->d_name[0] < '1' || e->d_name[0] > '9')
                continue;
            int dir = openat(dirfd(proc), e->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
            if (dir < 0)
                continue;
            read_file(dir, "stat");
            read_file(dir, "status");
            read_file(dir, "oom_score_adj");
            close(dir);
            n++;
        }
        closedir(proc);
        printf("%d %lld %lld %lld\n", n, ns(CLOCK_MONOTONIC) - wall0, ns(CLOCK_THREAD_CPUTIME_ID) - cpu0, user_ns() - user0);
    }
    return 0;
}
