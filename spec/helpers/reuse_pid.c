/*
 * A program the specs start to hand a process id to another process within
 * the same clock tick, so that the newcomer has the same pid and the same
 * start time (in clock ticks) as the process it replaces.
 *
 *   reuse_pid TRIGGER FIRST [ARG...] -- SECOND [ARG...]
 *
 * starts FIRST and prints "first <pid>"; once the file TRIGGER exists, kills
 * FIRST, reaps it and at once starts SECOND with the same pid (clone3 with
 * set_tid: needs CAP_SYS_ADMIN over the pid namespace), and prints "second
 * <pid>". Then waits for SECOND. Exits 3 when the pid cannot be had.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
  struct clone_args args;
  struct timespec ms = {0, 1000000};
  pid_t first, second;
  int i, sep = 0, status;
  for (i = 1; i < argc; i++)
    if (strcmp(argv[i], "--") == 0) sep = i;
  if (argc < 5 || sep < 3 || sep == argc - 1) {
    fprintf(stderr, "usage: reuse_pid TRIGGER FIRST [ARG...] -- SECOND [ARG...]\n");
    return 2;
  }
  argv[sep] = NULL;
  first = fork();
  if (first < 0) return 1;
  if (first == 0) {
    execvp(argv[2], argv + 2);
    _exit(127);
  }
  printf("first %ld\n", (long)first);
  fflush(stdout);
  while (access(argv[1], F_OK) != 0) nanosleep(&ms, NULL);
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
    execvp(argv[sep + 1], argv + sep + 1);
    _exit(127);
  }
  printf("second %ld\n", (long)second);
  fflush(stdout);
  while (waitpid(second, &status, 0) < 0)
    if (errno != EINTR) return 1;
  return 0;
}
