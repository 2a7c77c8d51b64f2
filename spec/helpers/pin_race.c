/*
 * A library the specs preload (LD_PRELOAD) into an installer to time a pid
 * race exactly: it hands the pid of a process the installer has listed to
 * a newcomer at the last moment the installer could still confuse them.
 * It changes no result: it only waits, at one point, for a real reuse of
 * the pid (spec/helpers/reuse_pid.c) to finish.
 *
 * It wraps libc's syscall(). RM_RACE_DIR names a directory; once the file
 * pid exists there (it holds the pid), the second pidfd_open of that pid,
 * or else the first pidfd_send_signal through a pidfd opened on it, first
 * creates the file go there (reuse_pid, started with it as its TRIGGER,
 * then kills the process and starts another at its pid) and waits until
 * reuse_pid's output, the file out there, says "second"; then writes
 * "fired open" or "fired signal" to the file fired there and lets the
 * call go on. With RM_RACE_AT=open it does so at the first pidfd_open of
 * that pid already: the moment a scan that found the process opens its
 * pidfd on it.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

typedef long (*syscall_fn)(long, ...);

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int opened, fired, at_first_open;
static int fds[64];
static int nfds;

static char dir[1024];
static long target = -1;

/* Under the lock. */
static int armed(long *pid) {
  if (target < 0) {
    const char *d = getenv("RM_RACE_DIR");
    char path[1100], buf[32];
    ssize_t n;
    int fd;
    if (!d || strlen(d) >= sizeof dir) return 0;
    snprintf(path, sizeof path, "%s/pid", d);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) return 0;
    buf[n] = '\0';
    strcpy(dir, d);
    target = atol(buf);
    d = getenv("RM_RACE_AT");
    at_first_open = d && strcmp(d, "open") == 0;
  }
  *pid = target;
  return 1;
}

static int said_second(const char *out) {
  char buf[4096];
  ssize_t n;
  int fd = open(out, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return 0;
  buf[n] = '\0';
  return strstr(buf, "second ") != NULL;
}

/* Under the lock. */
static void fire(const char *what) {
  char trigger[1100], out[1100], done[1100], line[64];
  struct timespec pause = {0, 20000};
  int fd, i, n;
  fired = 1;
  snprintf(trigger, sizeof trigger, "%s/go", dir);
  snprintf(out, sizeof out, "%s/out", dir);
  snprintf(done, sizeof done, "%s/fired", dir);
  fd = open(trigger, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  if (fd >= 0) close(fd);
  /* 10 s at most */
  for (i = 0; i < 500000 && !said_second(out); i++) nanosleep(&pause, NULL);
  fd = open(done, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return;
  n = snprintf(line, sizeof line, "fired %s\n", what);
  if (write(fd, line, (size_t)n) < 0) {
  }
  close(fd);
}

long syscall(long nr, ...) {
  static syscall_fn real;
  long a[6], pid, r;
  va_list ap;
  int i;
  va_start(ap, nr);
  for (i = 0; i < 6; i++) a[i] = va_arg(ap, long);
  va_end(ap);
  if (!real) {
    void *sym = dlsym(RTLD_NEXT, "syscall");
    memcpy(&real, &sym, sizeof real);
  }
  if (nr == SYS_pidfd_open || nr == SYS_pidfd_send_signal) {
    pthread_mutex_lock(&lock);
    if (!armed(&pid)) {
      pthread_mutex_unlock(&lock);
      return real(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
    }
    if (nr == SYS_pidfd_open && a[0] == pid) {
      if ((opened || at_first_open) && !fired) fire("open");
      opened = 1;
      pthread_mutex_unlock(&lock);
      r = real(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
      pthread_mutex_lock(&lock);
      if (r >= 0 && nfds < 64) fds[nfds++] = (int)r;
      pthread_mutex_unlock(&lock);
      return r;
    }
    if (nr == SYS_pidfd_send_signal && !fired)
      for (i = 0; i < nfds; i++)
        if (fds[i] == (int)a[0]) {
          fire("signal");
          break;
        }
    pthread_mutex_unlock(&lock);
  }
  return real(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
}
