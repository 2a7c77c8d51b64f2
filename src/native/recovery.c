/*
 * The record of what a shutdown stopped (recovery.h). The file holds, per
 * application, NUL-terminated decimal fields: pid, start time, uid, gid,
 * the number of groups and each group, the registration's length; then the
 * registration's bytes (restartreg.h). Per service unit stopped through
 * systemd, NUL-terminated fields: "U" and its manager ("s" the system's,
 * else the user's uid), the unit's name, the number of its triggers and
 * each trigger's name.
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
                                 size_t n, const rm_native_unit *units,
                                 size_t nunits) {
  rm_native_buf b = {0};
  size_t i, k, done = 0;
  unsigned rc = RM_E_WRITE_FAULT;
  int fd;
  if (n == 0 && nunits == 0) {
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
  for (i = 0; i < nunits; i++) {
    const rm_native_unit *u = &units[i];
    char head[32];
    size_t t = 0;
    if (u->unit.uid == RM_SD_SYSTEM)
      snprintf(head, sizeof head, "Us");
    else
      snprintf(head, sizeof head, "U%ld", u->unit.uid);
    rm_native_gb_str(&b, head);
    rm_native_gb_str(&b, u->unit.name);
    while (u->triggers && u->triggers[t]) t++;
    add_number(&b, t);
    for (k = 0; k < t; k++) rm_native_gb_str(&b, u->triggers[k]);
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

/* A new entry of log (NULL when there is none or memory ran out). */
static rm_recovered *log_entry(void *ctx) {
  rm_native_recovery_log *log = (rm_native_recovery_log *)ctx;
  rm_recovered *e;
  if (!log) return NULL;
  if (log->n == log->cap) {
    size_t cap = log->cap ? log->cap * 2 : 8;
    rm_recovered *grown =
        (rm_recovered *)realloc(log->items, cap * sizeof *grown);
    if (!grown) {
      log->failed = 1;
      return NULL;
    }
    log->items = grown;
    log->cap = cap;
  }
  e = &log->items[log->n++];
  memset(e, 0, sizeof *e);
  return e;
}

/* Starts one recorded application again, detached, as its owner, where it
 * outlives the caller (relaunch.c). */
static void bring_back(const char *regbytes, size_t len, uid_t uid, gid_t gid,
                       const gid_t *groups, size_t ngroups,
                       const rm_unique_process *was, void *log) {
  rm_native_restart_reg reg;
  rm_native_relaunch r;
  char *copy = (char *)malloc(len + 1);
  uint32_t *ids = (uint32_t *)calloc(ngroups + 1, sizeof *ids);
  char msg[RM_NATIVE_MSG_SIZE];
  uint32_t pid;
  size_t i;
  int via, ok;
  rm_recovered *e;
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
    pid = 0;
    ok = rm_native_relaunch_start(&r, &pid, &via, msg) == RM_OK;
    if ((e = log_entry(log)) != NULL) {
      e->exe = strdup(reg.exe ? reg.exe : "");
      e->process = *was;
      e->uid = (uint32_t)uid;
      e->new_pid = ok ? pid : 0;
      e->started = ok;
      if (!e->exe) {
        ((rm_native_recovery_log *)log)->failed = 1;
        ((rm_native_recovery_log *)log)->n--;
      }
    }
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

/* The next "U..." field of [*p, end) (a unit entry's head) into u:
 * 1 when there is one, 0 when the next entry is an application's, -1 when
 * the record is malformed. */
static int next_unit(const char **p, const char *end, rm_native_unit *u) {
  const char *z = (const char *)memchr(*p, '\0', (size_t)(end - *p)), *name;
  unsigned long long nt, k;
  size_t len;
  char *stop;
  if (!z || **p != 'U') return z ? 0 : -1;
  memset(u, 0, sizeof *u);
  u->unit.kind = RM_SD_SERVICE;
  if (strcmp(*p, "Us") == 0) {
    u->unit.uid = RM_SD_SYSTEM;
  } else {
    errno = 0;
    u->unit.uid = strtol(*p + 1, &stop, 10);
    if (stop != z || errno || u->unit.uid < 0 || (*p)[1] < '0' || (*p)[1] > '9')
      return -1;
  }
  name = z + 1;
  if (name >= end || !(z = (const char *)memchr(name, '\0', (size_t)(end - name))))
    return -1;
  len = (size_t)(z - name);
  if (len == 0 || len >= sizeof u->unit.name) return -1;
  memcpy(u->unit.name, name, len + 1);
  *p = z + 1;
  if (next_number(p, end, &nt) || nt > 64) return -1;
  u->triggers = (char **)calloc((size_t)nt + 1, sizeof *u->triggers);
  if (!u->triggers) return -1;
  for (k = 0; k < nt; k++) {
    if (*p >= end || !(z = (const char *)memchr(*p, '\0', (size_t)(end - *p))) ||
        z == *p || !(u->triggers[k] = strdup(*p))) {
      rm_sd_strv_free(u->triggers);
      u->triggers = NULL;
      return -1;
    }
    *p = z + 1;
  }
  return 1;
}

/* A unit start can take its own TimeoutStartSec; a recovery waits this
 * long at most. */
#define UNIT_WAIT_MS 120000L
static int unit_wait_over(void *ctx) { return rm_sd_now_ms() > *(long *)ctx; }

/* Starts the recorded units units[0..n) through their managers (an active
 * unit stays as it is) and logs them. */
static void start_units(rm_native_unit *units, size_t n, void *log) {
  rm_sd_waiter w;
  long deadline = rm_sd_now_ms() + UNIT_WAIT_MS;
  size_t i;
  if (!n) return;
  memset(&w, 0, sizeof w);
  w.cancel_fd = -1;
  w.stop = unit_wait_over;
  w.ctx = &deadline;
  (void)rm_native_units_start(units, n, &w);
  for (i = 0; i < n; i++) {
    rm_recovered *e = log_entry(log);
    char name[RM_SD_UNIT_SIZE + 32];
    if (!e) continue;
    if (rm_sd_format_name(&units[i].unit, name, sizeof name) != 0)
      snprintf(name, sizeof name, "%s", units[i].unit.name);
    e->service = strdup(name);
    e->uid = units[i].unit.uid == RM_SD_SYSTEM ? 0 : (uint32_t)units[i].unit.uid;
    e->started = units[i].state == RM_SD_JOB_DONE;
    if (!e->service) {
      ((rm_native_recovery_log *)log)->failed = 1;
      ((rm_native_recovery_log *)log)->n--;
    }
  }
}

void rm_native_recovery_run(int dirfd, void *log) {
  struct stat st;
  char *buf;
  const char *p, *end;
  size_t total = 0, nunits = 0, cunits = 0;
  gid_t *groups = NULL;
  long deadline = 0;
  struct stat mark;
  rm_native_unit *units = NULL, u;
  int pass;
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
  end = buf + total;
  /* services first, then applications, as a restart does */
  for (pass = 0; pass < 2; pass++) {
    p = buf;
    while (p < end) {
      unsigned long long pid, start, uid, gid, ngroups, len, g, k;
      rm_unique_process was;
      int r = next_unit(&p, end, &u);
      if (r < 0) break;
      if (r == 1) {
        if (pass == 0 && nunits == cunits) {
          size_t cap = cunits ? cunits * 2 : 4;
          rm_native_unit *grown =
              (rm_native_unit *)realloc(units, cap * sizeof *grown);
          if (grown) {
            units = grown;
            cunits = cap;
          }
        }
        if (pass == 0 && nunits < cunits)
          units[nunits++] = u;
        else
          rm_sd_strv_free(u.triggers);
        continue;
      }
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
      was.pid = (uint32_t)pid;
      was.start_time = (uint64_t)start;
      /* still running: the dead primary may have asked it to stop and it
       * is on its way out (then it comes back once it has ended), or it
       * never stopped (it is left be) */
      if (pass == 1 && ends_soon((uint32_t)pid, (uint64_t)start, deadline))
        bring_back(p, (size_t)len, (uid_t)uid, (gid_t)gid, groups,
                   (size_t)ngroups, &was, log);
      p += len;
    }
    if (pass == 0) start_units(units, nunits, log);
  }
  rm_native_units_free(units, nunits); /* and the array */
  free(groups);
  free(buf);
  (void)unlinkat(dirfd, RECORD_NAME, 0);
  (void)unlinkat(dirfd, SIGNALLED_NAME, 0);
}
