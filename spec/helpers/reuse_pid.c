/*
 * A program the specs start to hand a process id to another process within
 * the same clock tick, so that the newcomer has the same pid and the same
 * start time (in clock ticks) as the process it replaces.
 *
 *   reuse_pid [-a] [-f FILE] TRIGGER PROGRAM [ARG...]
 *
 * forks a first process that only waits and prints "first <pid> <start
 * time>" (the start time as /proc/PID/stat gives it); once the file TRIGGER
 * exists (looked for every 50 microseconds), kills the first process, reaps
 * it and at once starts PROGRAM with the same pid (clone3 with set_tid:
 * needs CAP_SYS_ADMIN over the pid namespace), and prints "second <pid>
 * <start time>".
 * Then waits for PROGRAM. Exits 3 when the pid cannot be had. With -a the
 * first process is started at the beginning of a clock tick (of
 * CLOCK_BOOTTIME, which start times count), so that what follows has
 * nearly the whole tick. With -f FILE the first process holds FILE open
 * (read-only), which neither reuse_pid nor the newcomer does.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* The start time (field 22) of pid, or 0. */
static unsigned long long start_time(pid_t pid) {
  char path[64], buf[1024], *p;
  unsigned long long v = 0;
  FILE *f;
  int field;
  snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
  f = fopen(path, "r");
  if (!f) return 0;
  if (!fgets(buf, sizeof buf, f)) buf[0] = '\0';
  fclose(f);
  p = strrchr(buf, ')');
  if (!p) return 0;
  /* after ") ": field 3 onwards */
  for (field = 2; field < 22 && p; field++) p = strchr(p + 1, ' ');
  if (p) sscanf(p + 1, "%llu", &v);
  return v;
}

/* Waits until a clock tick (1/CLK_TCK s of CLOCK_BOOTTIME) has just begun. */
static void align_to_tick(void) {
  long tick_ns = 1000000000L / sysconf(_SC_CLK_TCK), at, prev = -1;
  struct timespec ts;
  for (;;) {
    clock_gettime(CLOCK_BOOTTIME, &ts);
    at = ts.tv_nsec % tick_ns;
    if (at < prev) return; /* wrapped: a new tick */
    prev = at;
  }
}

int main(int argc, char **argv) {
  struct clone_args args;
  struct timespec wait = {0, 50000};
  pid_t first, second;
  int status, align = 0;
  const char *hold = NULL;
  int ready[2];
  if (argc > 1 && strcmp(argv[1], "-a") == 0) {
    align = 1;
    argv++;
    argc--;
  }
  if (argc > 2 && strcmp(argv[1], "-f") == 0) {
    hold = argv[2];
    argv += 2;
    argc -= 2;
  }
  if (argc < 3) {
    fprintf(stderr, "usage: reuse_pid [-a] [-f FILE] TRIGGER PROGRAM [ARG...]\n");
    return 2;
  }
  if (align) align_to_tick();
  if (pipe(ready) != 0) return 1;
  first = fork();
  if (first < 0) return 1;
  if (first == 0) {
    /* the file held before the first line is printed */
    if (hold && open(hold, O_RDONLY) < 0) _exit(4);
    close(ready[0]);
    close(ready[1]);
    for (;;) pause();
  }
  close(ready[1]);
  {
    char c;
    while (read(ready[0], &c, 1) < 0 && errno == EINTR) {}
  }
  close(ready[0]);
  printf("first %ld %llu\n", (long)first, start_time(first));
  fflush(stdout);
  while (access(argv[1], F_OK) != 0) nanosleep(&wait, NULL);
  kill(first, SIGKILL);
  while (waitpid(first, NULL, 0) < 0 && errno == EINTR) {}
  memset(&args, 0, sizeof args);
  args.exit_signal = SIGCHLD;
  args.set_tid = (uint64_t)(uintptr_t)&first;
  args.set_tid_size = 1;
  second = (pid_t)syscall(SYS_clone3, &args, sizeof args);
  if (second < 0) {
    fprintf(stderr, "reuse_pid: pid %ld: %s\n", (long)first, strerror(errno));
    return 3;
  }
  if (second == 0) {
    execvp(argv[2], argv + 2);
    _exit(127);
  }
  printf("second %ld %llu\n", (long)second, start_time(second));
  fflush(stdout);
  while (waitpid(second, &status, 0) < 0)
    if (errno != EINTR) return 1;
  return 0;
}
