/*
 * A program the specs start whose main thread has exited while another
 * thread keeps a file open and the process runs on.
 *
 *   thread_exit PATH
 *
 * ignores SIGTERM, opens PATH, starts a thread that waits forever, prints
 * "ready <pid>" and ends its main thread (pthread_exit). Only SIGKILL ends
 * it.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

static void *wait_forever(void *arg) {
  (void)arg;
  for (;;) pause();
  return NULL;
}

int main(int argc, char **argv) {
  pthread_t t;
  if (argc != 2) {
    fprintf(stderr, "usage: thread_exit PATH\n");
    return 2;
  }
  signal(SIGTERM, SIG_IGN);
  if (open(argv[1], O_RDONLY) < 0) {
    perror("thread_exit: open");
    return 2;
  }
  if (pthread_create(&t, NULL, wait_forever, NULL) != 0) return 2;
  printf("ready %ld\n", (long)getpid());
  fflush(stdout);
  pthread_exit(NULL);
}
