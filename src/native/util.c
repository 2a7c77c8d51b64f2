/*
 * The native backend's bottom layer (util.h): the errno map, the growable
 * buffer, the " (deleted)" stripper, the lock with a timeout, threads
 * started where they can run at once.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <unistd.h>
#include <stdio.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

/* The one map. resource: the entry holds whatever the caller meant by the
 * call (running out of descriptors or memory is never anything else). */
static const struct {
  int err;
  unsigned code;
  int resource;
} errno_map[] = {
  {EMFILE, RM_E_TOO_MANY_OPEN_FILES, 1},
  {ENFILE, RM_E_TOO_MANY_OPEN_FILES, 1},
  {ENOMEM, RM_E_OUTOFMEMORY, 1},
  {ENOENT, RM_E_FILE_NOT_FOUND, 0},
  {ENOTDIR, RM_E_FILE_NOT_FOUND, 0},
  {ESRCH, RM_E_FILE_NOT_FOUND, 0},
  {EACCES, RM_E_ACCESS_DENIED, 0},
  {EPERM, RM_E_ACCESS_DENIED, 0},
  {ENOEXEC, RM_E_ACCESS_DENIED, 0},
  {ECHILD, RM_E_INVALID_HANDLE, 0},
  {EAGAIN, RM_E_OUTOFMEMORY, 0},
  {E2BIG, RM_E_BAD_ARGUMENTS, 0},
};

#define NMAP (sizeof errno_map / sizeof errno_map[0])

unsigned rm_native_errno_code(int err, unsigned otherwise) {
  size_t i;
  for (i = 0; i < NMAP && errno_map[i].resource; i++)
    if (errno_map[i].err == err) return errno_map[i].code;
  return otherwise;
}

unsigned rm_native_errno_win32(int err) {
  size_t i;
  for (i = 0; i < NMAP; i++)
    if (errno_map[i].err == err) return errno_map[i].code;
  return RM_E_INVALID_PARAMETER;
}

int rm_native_gb_reserve(rm_native_buf *b, size_t n) {
  size_t cap;
  char *np;
  if (b->failed) return -1;
  if (b->cap - b->len >= n) return 0;
  cap = b->cap ? b->cap : 4096;
  while (cap - b->len < n) {
    if (cap > (size_t)-1 / 2) {
      b->failed = 1;
      return -1;
    }
    cap *= 2;
  }
  np = (char *)realloc(b->p, cap);
  if (!np) {
    b->failed = 1;
    return -1;
  }
  b->p = np;
  b->cap = cap;
  return 0;
}

void rm_native_gb_add(rm_native_buf *b, const char *s, size_t n) {
  if (rm_native_gb_reserve(b, n) != 0) return;
  if (n) memcpy(b->p + b->len, s, n);
  b->len += n;
}

void rm_native_gb_str(rm_native_buf *b, const char *s) {
  rm_native_gb_add(b, s, strlen(s) + 1);
}

#define DELETED " (deleted)"
#define DELETED_LEN (sizeof DELETED - 1)

size_t rm_native_strip_deleted(char *path, size_t len) {
  if (len > DELETED_LEN &&
      memcmp(path + len - DELETED_LEN, DELETED, DELETED_LEN) == 0) {
    len -= DELETED_LEN;
    path[len] = '\0';
  }
  return len;
}

static void sleep_ms(long ms) {
  struct timespec ts;
  ts.tv_sec = ms / 1000;
  ts.tv_nsec = (ms % 1000) * 1000000L;
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

unsigned rm_native_lock_within(int fd, long timeout_ms) {
  long waited = 0, step = 1;
  for (;;) {
    if (flock(fd, LOCK_EX | LOCK_NB) == 0) return RM_OK;
    if (errno != EWOULDBLOCK && errno != EINTR) return RM_E_WRITE_FAULT;
    if (waited >= timeout_ms) return RM_E_SEM_TIMEOUT;
    sleep_ms(step);
    waited += step;
    if (step < 16) step *= 2;
  }
}

int rm_native_regular(int fd) {
  struct stat st;
  return fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
}

#define PIDFS_MAGIC 0x50494446

/* The start time (field 22) of /proc/PID/stat, read here: util knows no
 * other layer. 0 on failure. */
static uint64_t start_of(uint32_t pid) {
  char path[64], buf[1024];
  const char *p;
  unsigned long long v = 0;
  ssize_t n;
  int fd, field;
  snprintf(path, sizeof path, "/proc/%lu/stat", (unsigned long)pid);
  fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return 0;
  buf[n] = '\0';
  p = strrchr(buf, ')');
  for (field = 2; p && field < 22; field++) p = strchr(p + 1, ' ');
  if (!p || sscanf(p + 1, "%llu", &v) != 1) return 0;
  return (uint64_t)v;
}

uint64_t rm_native_pidfd_ino(int pidfd) {
  struct statfs fs;
  struct stat st;
  if (fstatfs(pidfd, &fs) == 0 && (unsigned long)fs.f_type == PIDFS_MAGIC &&
      fstat(pidfd, &st) == 0)
    return (uint64_t)st.st_ino;
  return 0;
}

int rm_native_pidfd_open(uint32_t pid) {
  /* pidfds are close-on-exec whatever the flags */
  return (int)syscall(SYS_pidfd_open, (pid_t)pid, 0);
}

int rm_native_pidfd_exited(int pidfd) {
  struct pollfd p;
  int r;
  p.fd = pidfd;
  p.events = POLLIN;
  p.revents = 0;
  do {
    r = poll(&p, 1, 0);
  } while (r < 0 && errno == EINTR);
  return r > 0 && (p.revents & (POLLIN | POLLHUP | POLLERR)) != 0;
}

uint64_t rm_native_pidfs_ino(uint32_t pid, uint64_t start) {
  struct statfs fs;
  struct stat st;
  uint64_t ino = 0;
  int fd = (int)syscall(SYS_pidfd_open, (pid_t)pid, 0);
  if (fd < 0) return 0;
  /* the pidfd pins the process: checked against the start time after */
  if (fstatfs(fd, &fs) == 0 && (unsigned long)fs.f_type == PIDFS_MAGIC &&
      fstat(fd, &st) == 0 && start_of(pid) == start)
    ino = (uint64_t)st.st_ino;
  close(fd);
  return ino;
}

void rm_native_mount_unescape(char *s) {
  char *r = s, *w = s;
  while (*r) {
    if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && r[2] >= '0' &&
        r[2] <= '7' && r[3] >= '0' && r[3] <= '7') {
      *w++ = (char)((r[1] - '0') * 64 + (r[2] - '0') * 8 + (r[3] - '0'));
      r += 4;
    } else {
      *w++ = *r++;
    }
  }
  *w = '\0';
}

/* ---------------------------------------------------------------------
 * Threads started where they can run at once
 * ------------------------------------------------------------------- */

typedef struct placed {
  void *(*fn)(void *);
  void *arg;
  cpu_set_t allowed; /* the process's CPUs, given back once running */
} placed;

static void *placed_start(void *p) {
  placed pl = *(placed *)p;
  free(p);
  (void)sched_setaffinity(0, sizeof pl.allowed, &pl.allowed);
  return pl.fn(pl.arg);
}

int rm_native_thread_start(pthread_t *th, void *(*fn)(void *), void *arg,
                           unsigned index) {
  placed *pl;
  pthread_attr_t attr;
  cpu_set_t first;
  int me = sched_getcpu(), rc, pick = -1, others, k, round;
  if (index == 0 || me < 0 || me >= CPU_SETSIZE ||
      !(pl = (placed *)malloc(sizeof *pl)))
    return pthread_create(th, NULL, fn, arg);
  if (sched_getaffinity(0, sizeof pl->allowed, &pl->allowed) != 0) {
    free(pl);
    return pthread_create(th, NULL, fn, arg);
  }
  others = CPU_COUNT(&pl->allowed) - (CPU_ISSET(me, &pl->allowed) ? 1 : 0);
  if (others > 0) {
    /* the index-th allowed CPU after the caller's, round the machine
     * again when there are fewer than index */
    round = (int)((index - 1) % (unsigned)others);
    for (k = 1; k < CPU_SETSIZE && pick < 0; k++) {
      int cpu = (me + k) % CPU_SETSIZE;
      if (cpu != me && CPU_ISSET(cpu, &pl->allowed) && round-- == 0)
        pick = cpu;
    }
  }
  if (pick < 0 || pthread_attr_init(&attr) != 0) {
    free(pl);
    return pthread_create(th, NULL, fn, arg);
  }
  CPU_ZERO(&first);
  CPU_SET(pick, &first);
  pl->fn = fn;
  pl->arg = arg;
  rc = pthread_attr_setaffinity_np(&attr, sizeof first, &first) == 0
           ? pthread_create(th, &attr, placed_start, pl)
           : -1;
  pthread_attr_destroy(&attr);
  if (rc != 0) {
    free(pl);
    rc = pthread_create(th, NULL, fn, arg);
  }
  return rc;
}
