/*
 * The record of what a shutdown stopped (recovery.h). The file holds, per
 * application, NUL-terminated decimal fields: pid, start time, uid, gid,
 * the number of groups and each group, the registration's length; then the
 * registration's bytes (restartreg.h).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <poll.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "recovery.h"
#include "capture.h"
#include "launch.h"
#include "procfs.h"
#include "util.h"

#define RECORD_NAME "stopping"
#define SIGNALLED_NAME "signalled"
#define RECORD_TMP "stopping.tmp"
#define RECORD_MAX (1 << 26)
#define GROUPS_MAX 65536
/* how long a recorded application that still runs (asked to stop by the
 * primary that died) is waited for */
#define EXIT_WAIT_MS 5000

static void add_number(rm_native_buf *b, unsigned long long v) {
  char num[32];
  snprintf(num, sizeof num, "%llu", v);
  rm_native_gb_str(b, num);
}

unsigned rm_native_recovery_save(int dirfd, const rm_native_recovery_app *apps,
                                 size_t n) {
  rm_native_buf b = {0};
  size_t i, k, done = 0;
  unsigned rc = RM_E_WRITE_FAULT;
  int fd;
  if (n == 0) {
    (void)unlinkat(dirfd, RECORD_NAME, 0);
    (void)unlinkat(dirfd, SIGNALLED_NAME, 0);
    return RM_OK;
  }
  for (i = 0; i < n; i++) {
    const rm_native_recovery_app *a = &apps[i];
    add_number(&b, a->process.pid);
    add_number(&b, a->process.start_time);
    add_number(&b, a->uid);
    add_number(&b, a->gid);
    add_number(&b, a->ngroups);
    for (k = 0; k < a->ngroups; k++) add_number(&b, a->groups[k]);
    add_number(&b, a->reg->len);
    rm_native_gb_add(&b, a->reg->buf, a->reg->len);
  }
  if (b.failed) {
    free(b.p);
    return RM_E_OUTOFMEMORY;
  }
  (void)unlinkat(dirfd, RECORD_TMP, 0);
  fd = openat(dirfd, RECORD_TMP,
              O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd >= 0) {
    int ok;
    while (done < b.len) {
      ssize_t w = write(fd, b.p + done, b.len - done);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) break;
      done += (size_t)w;
    }
    ok = done == b.len && fsync(fd) == 0;
    if (close(fd) != 0) ok = 0;
    if (ok && renameat(dirfd, RECORD_TMP, dirfd, RECORD_NAME) == 0)
      rc = RM_OK;
    else
      (void)unlinkat(dirfd, RECORD_TMP, 0);
  } else {
    rc = rm_native_errno_code(errno, RM_E_WRITE_FAULT);
  }
  free(b.p);
  return rc;
}

/* Next decimal field of [*p, end) into *v; 0 on success. */
static int next_number(const char **p, const char *end,
                       unsigned long long *v) {
  const char *z = (const char *)memchr(*p, '\0', (size_t)(end - *p));
  char *stop;
  if (!z || z == *p || **p < '0' || **p > '9') return -1;
  errno = 0;
  *v = strtoull(*p, &stop, 10);
  if (stop != z || errno) return -1;
  *p = z + 1;
  return 0;
}

/* 1 while the process (pid, start) runs (a zombie has ended). */
static int running(uint32_t pid, uint64_t start) {
  rm_native_buf scratch = {0};
  rm_native_stat st;
  int procfd = rm_native_proc_open(), alive = 0;
  if (procfd < 0) return 1; /* not known: left be */
  if (rm_native_proc_stat(procfd, pid, &scratch, &st) == 0)
    alive = st.start_time == start &&
            ((st.state != 'Z' && st.state != 'X') ||
             (st.state == 'Z' && st.threads > 1)); /* see process.c */
  free(scratch.p);
  close(procfd);
  return alive;
}

/* Starts one recorded application again, detached, as its owner, where it
 * outlives the caller (relaunch.c). */
static void bring_back(const char *regbytes, size_t len, uid_t uid, gid_t gid,
                       const gid_t *groups, size_t ngroups) {
  rm_native_restart_reg reg;
  rm_native_relaunch r;
  char *copy = (char *)malloc(len + 1);
  uint32_t *ids = (uint32_t *)calloc(ngroups + 1, sizeof *ids);
  char msg[RM_NATIVE_MSG_SIZE];
  uint32_t pid;
  size_t i;
  int via;
  if (!copy || !ids) {
    free(copy);
    free(ids);
    return;
  }
  for (i = 0; i < ngroups; i++) ids[i] = (uint32_t)groups[i];
  memcpy(copy, regbytes, len);
  copy[len] = '\0';
  if (rm_native_parse_restart(copy, len, &reg) == 0) {
    memset(&r, 0, sizeof r);
    r.exe = reg.exe;
    r.argv = reg.argv;
    r.envp = reg.envp;
    r.cwd = reg.cwd;
    r.uid = (uint32_t)uid;
    r.gid = (uint32_t)gid;
    r.ngroups = ngroups;
    r.groups = ids;
    (void)rm_native_relaunch_start(&r, &pid, &via, msg);
    reg.buf = NULL; /* copy is freed below */
    rm_native_restart_free(&reg);
  }
  free(copy);
  free(ids);
}

void rm_native_recovery_mark(int dirfd) {
  int fd = openat(dirfd, SIGNALLED_NAME,
                  O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd >= 0) close(fd);
}

static long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* 1 when pid has ended, or ends before deadline (a monotonic time in ms;
 * 0: no wait). */
static int ends_soon(uint32_t pid, uint64_t start, long deadline) {
  int fd, gone = 0;
  long left;
  if (!running(pid, start)) return 1;
  if (!deadline) return 0;
  fd = (int)syscall(SYS_pidfd_open, (pid_t)pid, 0);
  if (fd < 0) return 0;
  while ((left = deadline - now_ms()) > 0) {
    struct pollfd p;
    p.fd = fd;
    p.events = POLLIN;
    p.revents = 0;
    if (poll(&p, 1, (int)left) > 0) {
      gone = 1;
      break;
    }
  }
  close(fd);
  return gone;
}

void rm_native_recovery_run(int dirfd) {
  struct stat st;
  char *buf;
  const char *p, *end;
  size_t total = 0;
  gid_t *groups = NULL;
  long deadline = 0;
  struct stat mark;
  int fd = openat(dirfd, RECORD_NAME,
                  O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return;
  /* only a regular file of the store's owner, written by a primary */
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
      st.st_uid != geteuid() || st.st_size > RECORD_MAX ||
      !(buf = (char *)malloc((size_t)st.st_size + 1))) {
    close(fd);
    return;
  }
  while (total < (size_t)st.st_size) {
    ssize_t n = read(fd, buf + total, (size_t)st.st_size - total);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    total += (size_t)n;
  }
  close(fd);
  /* the primary got as far as its signals: what still runs may be on its
   * way out, and is waited for (all together, EXIT_WAIT_MS at most) */
  if (fstatat(dirfd, SIGNALLED_NAME, &mark, AT_SYMLINK_NOFOLLOW) == 0)
    deadline = now_ms() + EXIT_WAIT_MS;
  p = buf;
  end = buf + total;
  while (p < end) {
    unsigned long long pid, start, uid, gid, ngroups, len, g, k;
    if (next_number(&p, end, &pid) || next_number(&p, end, &start) ||
        next_number(&p, end, &uid) || next_number(&p, end, &gid) ||
        next_number(&p, end, &ngroups) || ngroups > GROUPS_MAX)
      break;
    free(groups);
    groups = (gid_t *)calloc(ngroups + 1, sizeof *groups);
    if (!groups) break;
    for (k = 0; k < ngroups; k++) {
      if (next_number(&p, end, &g)) break;
      groups[k] = (gid_t)g;
    }
    if (k < ngroups || next_number(&p, end, &len) ||
        len > (unsigned long long)(end - p))
      break;
    /* still running: the dead primary may have asked it to stop and it
     * is on its way out (then it comes back once it has ended), or it
     * never stopped (it is left be) */
    if (ends_soon((uint32_t)pid, (uint64_t)start, deadline))
      bring_back(p, (size_t)len, (uid_t)uid, (gid_t)gid, groups,
                 (size_t)ngroups);
    p += len;
  }
  free(groups);
  free(buf);
  (void)unlinkat(dirfd, RECORD_NAME, 0);
  (void)unlinkat(dirfd, SIGNALLED_NAME, 0);
}
