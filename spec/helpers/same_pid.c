/*
 * A program the specs start to reuse a process id on purpose.
 *
 *   same_pid PID PROGRAM [ARG...]
 *
 * runs PROGRAM as a new process whose id is exactly PID (clone3 with
 * set_tid: the pid must be free, and the caller needs CAP_SYS_ADMIN over
 * its pid namespace, which root has). The program's output goes where this
 * one's goes; this one waits for it and exits with its status. Exits 3 when
 * the pid cannot be had (in use, or no privilege), with the reason on
 * stderr.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv) {
  struct clone_args args;
  pid_t want, child;
  int status;
  char *end;
  if (argc < 3) {
    fprintf(stderr, "usage: same_pid PID PROGRAM [ARG...]\n");
    return 2;
  }
  want = (pid_t)strtol(argv[1], &end, 10);
  if (*end || want <= 1) {
    fprintf(stderr, "same_pid: bad pid %s\n", argv[1]);
    return 2;
  }
  memset(&args, 0, sizeof args);
  args.exit_signal = SIGCHLD;
  args.set_tid = (uint64_t)(uintptr_t)&want;
  args.set_tid_size = 1;
  child = (pid_t)syscall(SYS_clone3, &args, sizeof args);
  if (child < 0) {
    fprintf(stderr, "same_pid: pid %ld: %s\n", (long)want, strerror(errno));
    return 3;
  }
  if (child == 0) {
    execvp(argv[2], argv + 2);
    fprintf(stderr, "same_pid: %s: %s\n", argv[2], strerror(errno));
    _exit(127);
  }
  while (waitpid(child, &status, 0) < 0)
    if (errno != EINTR) return 1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
