/*
 * A program the specs start to stand for an application that uses a file.
 *
 *   holder open PATH...     keeps every PATH open; a PATH written map:PATH
 *                           is mapped instead, its descriptor closed
 *   holder mmap PATH        maps PATH and closes its descriptor
 *   holder thread PATH      a thread with a file table of its own keeps
 *                           PATH open (the main thread holds nothing)
 *   holder idle             holds nothing (run from a registered executable)
 *   holder ignore-term ...  as above, and ignores SIGTERM
 *   holder stamp FILE ...   as above, and on SIGTERM writes the monotonic
 *                           clock (nanoseconds) to FILE before exiting
 *   holder block-term ...   as above, and blocks SIGTERM: a SIGTERM sent
 *                           stays pending, for the specs to see that it
 *                           came (/proc/PID/status)
 *
 * When it holds what it should it prints "ready <pid>" and waits for a
 * signal. With ignore-term as the first word, SIGTERM is ignored.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char *thread_path;
static int stamp_fd = -1;

/* SIGTERM with stamp: the time of the exit, then the exit. */
static void stamp_and_exit(int sig) {
  struct timespec ts;
  char buf[32];
  int n = 0;
  unsigned long long v;
  char tmp[32];
  (void)sig;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  v = (unsigned long long)ts.tv_sec * 1000000000ull + (unsigned long long)ts.tv_nsec;
  do {
    tmp[n++] = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  for (int k = 0; k < n; k++) buf[k] = tmp[n - 1 - k];
  buf[n++] = '\n';
  (void)!write(stamp_fd, buf, (size_t)n);
  _exit(0);
}
static volatile int thread_ready;

static void die(const char *what, const char *path) {
  fprintf(stderr, "holder: %s %s\n", what, path ? path : "");
  exit(2);
}

/* Maps path and closes its descriptor: only the mapping holds it. */
static void map_file(const char *path) {
  struct stat st;
  int fd = open(path, O_RDONLY);
  if (fd < 0 || fstat(fd, &st) != 0) die("open", path);
  if (mmap(NULL, st.st_size ? (size_t)st.st_size : 1, PROT_READ, MAP_PRIVATE,
           fd, 0) == MAP_FAILED)
    die("mmap", path);
  close(fd);
}

static void *thread_main(void *arg) {
  (void)arg;
  if (unshare(CLONE_FILES) != 0) die("unshare", NULL);
  if (open(thread_path, O_RDONLY) < 0) die("open", thread_path);
  thread_ready = 1;
  for (;;) pause();
  return NULL;
}

int main(int argc, char **argv) {
  int i = 1;
  if (argc > i && strcmp(argv[i], "ignore-term") == 0) {
    signal(SIGTERM, SIG_IGN);
    i++;
  } else if (argc > i && strcmp(argv[i], "block-term") == 0) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    if (sigprocmask(SIG_BLOCK, &set, NULL) != 0) die("sigprocmask", NULL);
    i++;
  } else if (argc > i + 1 && strcmp(argv[i], "stamp") == 0) {
    stamp_fd = open(argv[i + 1], O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (stamp_fd < 0) die("open", argv[i + 1]);
    signal(SIGTERM, stamp_and_exit);
    i += 2;
  }
  if (argc <= i) {
    die("usage: holder [ignore-term|block-term|stamp FILE] "
        "open|mmap|thread|idle ...", NULL);
  }
  if (strcmp(argv[i], "open") == 0) {
    int k;
    for (k = i + 1; k < argc; k++) {
      if (strncmp(argv[k], "map:", 4) == 0) {
        map_file(argv[k] + 4);
      } else if (open(argv[k], O_RDONLY) < 0) {
        die("open", argv[k]);
      }
    }
  } else if (strcmp(argv[i], "mmap") == 0) {
    if (argc <= i + 1) die("mmap needs a path", NULL);
    map_file(argv[i + 1]);
  } else if (strcmp(argv[i], "thread") == 0) {
    pthread_t t;
    if (argc <= i + 1) die("thread needs a path", NULL);
    thread_path = argv[i + 1];
    if (pthread_create(&t, NULL, thread_main, NULL) != 0) die("thread", NULL);
    while (!thread_ready) usleep(1000);
  } else if (strcmp(argv[i], "idle") != 0) {
    die("unknown mode", argv[i]);
  }
  printf("ready %ld\n", (long)getpid());
  fflush(stdout);
  for (;;) pause();
}
