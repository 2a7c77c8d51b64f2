/*
 * Shutdown and restart (control.h).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "control.h"
#include "../progress.h"
#include "capture.h"
#include "launch.h"
#include "procfs.h"
#include "recovery.h"
#include "restartreg.h"
#include "services.h"
#include "util.h"

#define KILL_WAIT_MS 5000
#define MAX_GROUPS 65536 /* the kernel's NGROUPS_MAX */

typedef struct stopped {
  rm_app app;
  long unit; /* its service unit in units[], stopped through systemd; -1
                for a process stopped with signals */
  rm_native_restart_reg reg; /* reg.buf NULL when the app did not register */
  uid_t uid;
  gid_t gid;
  gid_t *groups; /* malloc'd */
  int ngroups;
  /* what the restarted app inherits of its own (has_*: could be read) */
  int has_umask, has_nice, has_limits;
  mode_t umask;
  int nice;
  struct rlimit limits[RM_NATIVE_NLIMITS];
  int pidfd;
  int exited;
} stopped;

struct rm_native_control {
  stopped *apps; /* what shutdown stopped, in stop order */
  size_t napps;
  rm_native_unit *units; /* the service units it stopped through systemd */
  size_t nunits;
  int shut_down;   /* a shutdown ran since the last restart */
  int busy;        /* a shutdown or restart is running */
  int cancel;      /* set by cancel(), read with __atomic */
  int evfd;        /* wakes the wait on cancel */
};

rm_native_control *rm_native_control_new(void) {
  rm_native_control *c = (rm_native_control *)calloc(1, sizeof *c);
  if (!c) return NULL;
  c->evfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (c->evfd < 0) {
    int err = errno;
    free(c);
    errno = err;
    return NULL;
  }
  return c;
}

/* Releases what stopped entries from first on hold, and forgets them. */
static void drop_stopped(rm_native_control *c, size_t first) {
  size_t i;
  for (i = first; i < c->napps; i++) {
    /* what never stopped is not this session's to restart any more */
    if (!(c->apps[i].app.status & RM_STATUS_STOPPED))
      rm_native_restart_unclaim(&c->apps[i].reg);
    rm_native_restart_free(&c->apps[i].reg);
    free(c->apps[i].groups);
    c->apps[i].groups = NULL;
    if (c->apps[i].pidfd >= 0) close(c->apps[i].pidfd);
  }
  c->napps = first;
}

/* Forgets the units from first on. */
static void drop_units(rm_native_control *c, size_t first) {
  size_t i;
  for (i = first; i < c->nunits; i++) {
    rm_sd_strv_free(c->units[i].triggers);
    c->units[i].triggers = NULL;
  }
  c->nunits = first;
}

void rm_native_control_free(rm_native_control *c) {
  drop_stopped(c, 0);
  drop_units(c, 0);
  free(c->units);
  free(c->apps);
  if (c->evfd >= 0) close(c->evfd);
  free(c);
}

int rm_native_control_cancelled(rm_native_control *c) {
  return __atomic_load_n(&c->cancel, __ATOMIC_SEQ_CST);
}

unsigned rm_native_control_cancel(rm_native_control *c) {
  uint64_t one = 1;
  __atomic_store_n(&c->cancel, 1, __ATOMIC_SEQ_CST);
  if (write(c->evfd, &one, sizeof one) < 0 && errno != EAGAIN)
    return RM_E_WRITE_FAULT;
  return RM_OK;
}

unsigned rm_native_control_begin(rm_native_control *c) {
  uint64_t v;
  if (c->busy) return RM_E_BUSY;
  c->busy = 1;
  /* drains the cancel eventfd and clears the flag */
  while (read(c->evfd, &v, sizeof v) > 0) {
  }
  __atomic_store_n(&c->cancel, 0, __ATOMIC_SEQ_CST);
  return RM_OK;
}

void rm_native_control_end(rm_native_control *c) { c->busy = 0; }

void rm_native_control_mark(const rm_native_control *c, rm_app *apps,
                            size_t n) {
  size_t i, k;
  for (i = 0; i < n; i++)
    for (k = 0; k < c->napps; k++)
      if (c->apps[k].app.process.pid == apps[i].process.pid &&
          c->apps[k].app.process.start_time == apps[i].process.start_time)
        apps[i].status |= c->apps[k].app.status & RM_STATUS_ERROR_ON_STOP;
}

static long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* While a wait goes on, the last percentage again about this often
 * (rm_reporter_tick). */
#define TICK_MS 1000

static int pidfd_open_(uint32_t pid) {
  return (int)syscall(SYS_pidfd_open, (pid_t)pid, 0);
}

static int pidfd_signal(int pidfd, int sig) {
  return (int)syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0);
}

/* Opens a pidfd on pid and checks that it is the process with that start
 * time: -1 when the pid is gone or now names another process (errno 0),
 * or when descriptors or memory ran out (errno set). */
static int open_checked(uint32_t pid, uint64_t start) {
  uint64_t now;
  int fd = pidfd_open_(pid), err;
  if (fd < 0) return -1;
  /* the pidfd pins the process it names: if that process has the start
   * time the list gave, it is the listed process */
  err = rm_native_proc_start_time(pid, &now);
  if (err || now != start) {
    close(fd);
    errno = err;
    return -1;
  }
  return fd;
}

static char *next_line(char *line) {
  char *nl = strchr(line, '\n');
  return nl ? nl + 1 : NULL;
}

/* One limit value of /proc/PID/limits ("unlimited" or a number). */
static int limit_value(char **p, rlim_t *v) {
  char *end;
  unsigned long long x;
  while (**p == ' ') (*p)++;
  if (strncmp(*p, "unlimited", 9) == 0) {
    *v = RLIM_INFINITY;
    *p += 9;
    return 0;
  }
  x = strtoull(*p, &end, 10);
  if (end == *p) return -1;
  *v = (rlim_t)x;
  *p = end;
  return 0;
}

/* The resource limits of pid: its /proc/PID/limits lists them in the
 * order of their numbers, after a heading, each name in 26 columns. */
static void read_limits(int procfd, uint32_t pid, stopped *st) {
  rm_native_buf b = {0};
  char *line;
  int i = 0;
  if (rm_native_proc_read(procfd, pid, "limits", &b) == 0 && b.p) {
    line = next_line(b.p); /* the heading */
    for (; line && *line && i < RM_NATIVE_NLIMITS; line = next_line(line), i++) {
      char *p = line;
      if (strlen(line) < 26 || strncmp(line, "Max ", 4) != 0) break;
      p += 26;
      if (limit_value(&p, &st->limits[i].rlim_cur) != 0 ||
          limit_value(&p, &st->limits[i].rlim_max) != 0)
        break;
    }
  }
  st->has_limits = i == RM_NATIVE_NLIMITS;
  free(b.p);
}

/* Owner, group, supplementary groups, umask, nice value and resource
 * limits of pid, from /proc/PID/status, stat and limits: a restarted app
 * gets its own, not the installer's. */
static void read_ids(uint32_t pid, stopped *st) {
  rm_native_buf b = {0};
  rm_native_stat ps;
  char *line;
  int procfd = rm_native_proc_open();
  st->ngroups = 0;
  st->groups = NULL;
  if (procfd < 0) return;
  if (rm_native_proc_stat(procfd, pid, &b, &ps) == 0) {
    st->nice = (int)ps.nice;
    st->has_nice = 1;
  }
  read_limits(procfd, pid, st);
  if (rm_native_proc_read(procfd, pid, "status", &b) != 0) {
    close(procfd);
    free(b.p);
    return;
  }
  close(procfd);
  for (line = b.p; line && *line; line = next_line(line)) {
    if (strncmp(line, "Uid:", 4) == 0) {
      st->uid = (uid_t)strtoul(line + 4, NULL, 10);
    } else if (strncmp(line, "Gid:", 4) == 0) {
      st->gid = (gid_t)strtoul(line + 4, NULL, 10);
    } else if (strncmp(line, "Umask:", 6) == 0) {
      st->umask = (mode_t)(strtoul(line + 6, NULL, 8) & 0777);
      st->has_umask = 1;
    } else if (strncmp(line, "Groups:", 7) == 0) {
      char *p = line + 7, *end;
      size_t cap = 0;
      for (;;) {
        unsigned long g;
        while (*p == ' ' || *p == '\t') p++;
        if (*p < '0' || *p > '9') break;
        g = strtoul(p, &end, 10);
        if ((size_t)st->ngroups == cap && cap < MAX_GROUPS) {
          gid_t *grown;
          cap = cap ? cap * 2 : 64;
          grown = (gid_t *)realloc(st->groups, cap * sizeof *grown);
          if (!grown) break;
          st->groups = grown;
        }
        if ((size_t)st->ngroups < cap) st->groups[st->ngroups++] = (gid_t)g;
        p = end;
      }
    }
  }
  free(b.p);
}

static int is_service(const rm_app *a) { return a->type == RM_APP_SERVICE; }

/* A service stopped and started through systemd: its processes are never
 * signalled one by one. */
static int via_systemd(const rm_app *a) {
  return a->type == RM_APP_SERVICE && a->control == RM_CONTROL_SYSTEMD;
}

/* The index in c->units (from first on) of the unit of a, added when new;
 * -1 when out of memory. */
static long unit_index(rm_native_control *c, size_t first, const rm_app *a) {
  rm_sd_unit u;
  rm_native_unit *grown;
  size_t i;
  if (rm_sd_parse_name(a->service, &u) != 0) return -1;
  for (i = first; i < c->nunits; i++)
    if (c->units[i].unit.uid == u.uid &&
        strcmp(c->units[i].unit.name, u.name) == 0)
      return (long)i;
  grown = (rm_native_unit *)realloc(c->units,
                                    (c->nunits + 1) * sizeof *grown);
  if (!grown) return -1;
  c->units = grown;
  memset(&c->units[c->nunits], 0, sizeof *c->units);
  c->units[c->nunits].unit = u;
  c->units[c->nunits].state = RM_SD_JOB_PENDING;
  return (long)c->nunits++;
}

/* Waits until every stopped[i] with a pidfd has exited, the deadline
 * passes, or the operation is cancelled or stopped by its progress
 * callback. Returns the number still running. */
static size_t await_exits(rm_native_control *c, stopped **set, size_t n,
                          long deadline, rm_reporter *rep, size_t *done,
                          size_t total) {
  struct pollfd *pfd = (struct pollfd *)calloc(n + 1, sizeof *pfd);
  size_t running = 0, i;
  if (!pfd) return n;
  for (;;) {
    size_t k = 0;
    long left;
    int r;
    running = 0;
    for (i = 0; i < n; i++)
      if (!set[i]->exited) running++;
    if (!running || rm_native_control_cancelled(c) || rep->stop) break;
    left = deadline - now_ms();
    if (left <= 0) break;
    for (i = 0; i < n; i++) {
      if (set[i]->exited) continue;
      pfd[k].fd = set[i]->pidfd;
      pfd[k].events = POLLIN;
      pfd[k].revents = 0;
      k++;
    }
    pfd[k].fd = c->evfd;
    pfd[k].events = POLLIN;
    pfd[k].revents = 0;
    r = poll(pfd, k + 1, left > TICK_MS ? TICK_MS : (int)left);
    if (r < 0 && errno != EINTR) break;
    if (r == 0 && left > TICK_MS) rm_reporter_tick(rep);
    for (i = 0, k = 0; i < n; i++) {
      if (set[i]->exited) continue;
      if (pfd[k].revents & (POLLIN | POLLHUP | POLLERR)) {
        set[i]->exited = 1;
        (*done)++;
        rm_reporter_report(rep, (unsigned)(*done * 100 / total));
      }
      k++;
    }
  }
  free(pfd);
  return running;
}

/* An earlier shutdown of this session that took the process of st (and
 * did not stop it: a second, forced shutdown follows) gives it up to the
 * newer one, its registration (claimed) included, so that it is restarted
 * once. */
static void supersede(rm_native_control *c, size_t first, stopped *st) {
  const rm_unique_process *p = &st->app.process;
  size_t k;
  for (k = 0; k < first; k++) {
    stopped *old = &c->apps[k];
    if (old->app.process.pid != p->pid ||
        old->app.process.start_time != p->start_time)
      continue;
    if (!st->reg.buf && old->reg.buf) {
      st->reg = old->reg;
      memset(&old->reg, 0, sizeof old->reg);
    }
    rm_native_restart_free(&old->reg);
    free(old->groups);
    old->groups = NULL;
    old->ngroups = 0;
    if (old->pidfd >= 0) close(old->pidfd);
    old->pidfd = -1;
    old->app.status &= ~(uint32_t)RM_STATUS_STOPPED;
  }
}

/* Takes every unmasked app into c->apps (applications first, services
 * after them, as on Windows) with a pidfd, its ids and its registration;
 * set[] gets those to signal, *total their number. A service that systemd
 * can stop goes by its unit into c->units instead (*nunit their
 * processes). An app gone since the list is marked stopped by someone
 * else. Out of descriptors or memory: nothing is kept and the code is
 * returned, before anything is signalled. */
static unsigned take_apps(rm_native_control *c, const rm_app *apps,
                          int *pins, size_t n, stopped **set, size_t *total,
                          size_t *nunit) {
  size_t i, first = c->napps, first_unit = c->nunits;
  int pass;
  for (pass = 0; pass < 2; pass++) {
    for (i = 0; i < n; i++) {
      stopped *st;
      if (is_service(&apps[i]) != pass) continue;
      if (apps[i].status & RM_STATUS_SHUTDOWN_MASKED) continue;
      st = &c->apps[c->napps];
      memset(st, 0, sizeof *st);
      st->app = apps[i];
      st->unit = -1;
      st->pidfd = -1;
      if (via_systemd(&apps[i])) {
        st->unit = unit_index(c, first_unit, &apps[i]);
        if (st->unit < 0) {
          drop_stopped(c, first);
          drop_units(c, first_unit);
          return RM_E_OUTOFMEMORY;
        }
        supersede(c, first, st);
        c->napps++;
        (*nunit)++;
        continue;
      }
      errno = 0;
      if (pins && pins[i] >= 0) {
        /* the list's own pidfd: the process it found, whatever runs at
         * its pid now */
        st->pidfd = pins[i];
        pins[i] = -1;
        if (rm_native_pidfd_exited(st->pidfd)) {
          close(st->pidfd);
          st->pidfd = -1;
        }
      } else {
        st->pidfd =
            open_checked(apps[i].process.pid, apps[i].process.start_time);
      }
      if (st->pidfd < 0 && (errno == ENOSYS || errno == EPERM)) {
        /* no pidfd_open (a kernel before 5.3, or a seccomp policy): a
         * process that cannot be signalled without a pid race is not
         * "gone"; signal nothing and say why */
        drop_stopped(c, first);
        drop_units(c, first_unit);
        return RM_E_NOT_SUPPORTED;
      }
      if (st->pidfd < 0 && rm_native_errno_code(errno, RM_OK) != RM_OK) {
        /* the process may well be running: say why, signal nothing */
        unsigned rc = rm_native_errno_code(errno, RM_OK);
        drop_stopped(c, first);
        drop_units(c, first_unit);
        return rc;
      }
      c->napps++;
      if (st->pidfd < 0) {
        /* gone since the list, or the pid names another process now */
        st->app.status = (st->app.status & ~RM_STATUS_RUNNING) |
                         RM_STATUS_STOPPED_OTHER;
        continue;
      }
      read_ids(apps[i].process.pid, st);
      if (rm_native_restart_find(apps[i].process.pid,
                                 apps[i].process.start_time, &st->reg) != 0)
        memset(&st->reg, 0, sizeof st->reg);
      if (rm_native_pidfd_exited(st->pidfd)) {
        /* gone while its ids were read: they may be a newcomer's */
        rm_native_restart_free(&st->reg);
        free(st->groups);
        st->groups = NULL;
        st->ngroups = 0;
        close(st->pidfd);
        st->pidfd = -1;
        st->app.status = (st->app.status & ~RM_STATUS_RUNNING) |
                         RM_STATUS_STOPPED_OTHER;
        continue;
      }
      supersede(c, first, st);
      /* another installer stopping it at the same time restarts it */
      if (st->reg.buf && rm_native_restart_claim(&st->reg) != 0)
        rm_native_restart_free(&st->reg);
      set[(*total)++] = st;
    }
  }
  return RM_OK;
}

/* Signals set[0..total): SIGTERM, a wait of timeout_ms, then with force
 * SIGKILL and another wait. Marks what was never signalled (a stop or a
 * cancel came first) exited = -1. Returns how many still run. */
static size_t stop_set(rm_native_control *c, stopped **set, size_t total,
                       int force, unsigned timeout_ms, rm_reporter *rep,
                       size_t *done, size_t denom) {
  size_t i, k, left;
  for (i = 0; i < total && !rep->stop && !rm_native_control_cancelled(c);
       i++) {
    if (pidfd_signal(set[i]->pidfd, SIGTERM) != 0 && errno == ESRCH)
      set[i]->exited = 1;
  }
  /* anything not signalled because of a stop or cancel is not waited for */
  for (k = i; k < total; k++) set[k]->exited = -1;
  left = await_exits(c, set, i, now_ms() + (long)timeout_ms, rep, done,
                     denom);
  if (left && force && !rep->stop && !rm_native_control_cancelled(c)) {
    for (k = 0; k < i; k++)
      if (!set[k]->exited) (void)pidfd_signal(set[k]->pidfd, SIGKILL);
    left = await_exits(c, set, i, now_ms() + KILL_WAIT_MS, rep, done,
                       denom);
  }
  return left;
}

/* What the waits on systemd's jobs report to: progress and cancel. */
typedef struct unit_wait {
  rm_native_control *c;
  rm_reporter *rep;
  size_t *done, total;
  size_t first; /* the units of this operation: c->units[first..] */
  long last_tick;
} unit_wait;

/* Asked at every wake-up of the wait (at least once a second): the
 * progress ticks meanwhile, as while applications exit. */
static int unit_wait_stop(void *ctx) {
  unit_wait *u = (unit_wait *)ctx;
  long now = now_ms();
  if (now - u->last_tick >= TICK_MS) {
    u->last_tick = now;
    rm_reporter_tick(u->rep);
  }
  return rm_native_control_cancelled(u->c) || u->rep->stop;
}

static void unit_wait_finished(void *ctx, rm_sd_job *j) {
  unit_wait *u = (unit_wait *)ctx;
  size_t i, k;
  for (i = u->first; i < u->c->nunits; i++) {
    if (u->c->units[i].unit.uid != j->uid ||
        strcmp(u->c->units[i].unit.name, j->unit) != 0)
      continue;
    /* every process of the unit is done with */
    for (k = 0; k < u->c->napps; k++)
      if (u->c->apps[k].unit == (long)i) (*u->done)++;
    rm_reporter_report(u->rep, (unsigned)(*u->done * 100 / (u->total ? u->total : 1)));
  }
}

static void unit_waiter(rm_native_control *c, unit_wait *uw, rm_sd_waiter *w,
                        rm_reporter *rep, size_t *done, size_t total,
                        size_t first) {
  uw->c = c;
  uw->rep = rep;
  uw->done = done;
  uw->total = total;
  uw->first = first;
  uw->last_tick = now_ms();
  w->cancel_fd = c->evfd;
  w->stop = unit_wait_stop;
  w->finished = unit_wait_finished;
  w->ctx = uw;
}

/* Stops the units c->units[first..] through systemd, after the
 * applications. Returns how many did not stop. */
static size_t stop_units(rm_native_control *c, size_t first, int force,
                         unsigned timeout_ms, rm_reporter *rep, size_t *done,
                         size_t total) {
  unit_wait uw;
  rm_sd_waiter w;
  size_t i;
  if (c->nunits == first) return 0;
  if (rep->stop || rm_native_control_cancelled(c)) {
    /* never asked to stop: nothing to start again */
    for (i = first; i < c->nunits; i++) c->units[i].state = RM_SD_JOB_FAILED;
    return 0;
  }
  unit_waiter(c, &uw, &w, rep, done, total, first);
  return rm_native_units_stop(c->units + first, c->nunits - first, force,
                              now_ms() + (long)timeout_ms, KILL_WAIT_MS, &w);
}

/* The statuses of c->apps[first..] once the stop is over; closes their
 * pidfds, but for a registered app that was asked to stop and has not yet:
 * the restart looks at it again (it may exit late, and must come back). A
 * service stopped through systemd is stopped when its unit's stop job
 * ended "done". */
static void settle(rm_native_control *c, size_t first, int stopped_early) {
  size_t i;
  for (i = first; i < c->napps; i++) {
    stopped *st = &c->apps[i];
    if (st->unit >= 0) {
      int state = c->units[st->unit].state;
      if (state == RM_SD_JOB_DONE)
        st->app.status = (st->app.status & ~RM_STATUS_RUNNING) |
                         RM_STATUS_STOPPED;
      else if (!stopped_early)
        st->app.status |= RM_STATUS_ERROR_ON_STOP;
      continue;
    }
    if (st->pidfd < 0) continue;
    if (st->exited == 1) {
      st->app.status = (st->app.status & ~RM_STATUS_RUNNING) |
                       RM_STATUS_STOPPED;
    } else if (st->exited == 0) {
      st->app.status |= RM_STATUS_ERROR_ON_STOP;
      if (st->reg.buf) continue; /* keeps its pidfd */
    } else {
      st->exited = 0; /* never signalled */
      rm_native_restart_unclaim(&st->reg);
    }
    close(st->pidfd);
    st->pidfd = -1;
  }
}

/* Applications asked to stop that had not by the end of the shutdown (and
 * registered for restart): waits up to KILL_WAIT_MS for them to exit; those
 * that did count as stopped, and are restarted. */
static void await_late(rm_native_control *c) {
  stopped **set = (stopped **)calloc(c->napps + 1, sizeof *set);
  rm_reporter quiet;
  size_t i, n = 0, done = 0;
  if (!set) return;
  rm_reporter_init(&quiet, NULL, NULL);
  for (i = 0; i < c->napps; i++) {
    stopped *st = &c->apps[i];
    if (st->pidfd >= 0 && (st->app.status & RM_STATUS_ERROR_ON_STOP)) {
      st->exited = 0;
      set[n++] = st;
    }
  }
  if (n) (void)await_exits(c, set, n, now_ms() + KILL_WAIT_MS, &quiet, &done, n);
  for (i = 0; i < n; i++) {
    stopped *st = set[i];
    if (st->exited == 1)
      st->app.status = (st->app.status & ~(uint32_t)(RM_STATUS_RUNNING |
                                                     RM_STATUS_ERROR_ON_STOP)) |
                       RM_STATUS_STOPPED;
    else
      rm_native_restart_unclaim(&st->reg); /* it runs: not ours to restart */
    close(st->pidfd);
    st->pidfd = -1;
  }
  free(set);
}

/* Writes what is to come back (stopped or about to be, registered, not
 * restarted yet; and the units stopped or about to be through systemd, not
 * started again yet) to the session's record (recovery.h). */
static unsigned save_record(const rm_native_control *c, int recdir) {
  rm_native_recovery_app *r;
  rm_native_unit *u;
  size_t i, k, n = 0, nu = 0;
  unsigned rc;
  if (recdir < 0) return RM_OK;
  r = (rm_native_recovery_app *)calloc(c->napps + 1, sizeof *r);
  u = (rm_native_unit *)calloc(c->nunits + 1, sizeof *u);
  if (!r || !u) {
    free(r);
    free(u);
    return RM_E_OUTOFMEMORY;
  }
  for (i = 0; i < c->nunits; i++) {
    int again = 0, done = 0;
    /* a stop that was refused stopped nothing */
    if (c->units[i].state == RM_SD_JOB_FAILED) continue;
    for (k = 0; k < c->napps; k++)
      if (c->apps[k].unit == (long)i &&
          (c->apps[k].app.status & RM_STATUS_RESTARTED))
        done = 1;
    /* a unit a later (forced) shutdown stopped again is recorded once */
    for (k = 0; k < nu; k++)
      if (u[k].unit.uid == c->units[i].unit.uid &&
          strcmp(u[k].unit.name, c->units[i].unit.name) == 0)
        again = 1;
    if (!done && !again) u[nu++] = c->units[i]; /* shares its triggers */
  }
  for (i = 0; i < c->napps; i++) {
    const stopped *st = &c->apps[i];
    if (!st->reg.buf || (st->reg.flags & RM_RESTART_NO_PATCH) ||
        (st->app.status & RM_STATUS_RESTARTED))
      continue;
    if (!(st->app.status & RM_STATUS_STOPPED) && st->pidfd < 0) continue;
    r[n].process = st->app.process;
    r[n].uid = st->uid;
    r[n].gid = st->gid;
    r[n].ngroups = (size_t)st->ngroups;
    r[n].groups = st->groups;
    r[n].reg = &st->reg;
    n++;
  }
  rc = rm_native_recovery_save(recdir, r, n, u, nu);
  free(r);
  free(u);
  return rc;
}

unsigned rm_native_control_shutdown(rm_native_control *c, rm_app *apps,
                                    int *pins, size_t n, uint32_t flags,
                                    unsigned timeout_ms, int recdir,
                                    rm_progress_fn fn, void *ctx) {
  rm_reporter rep;
  stopped *grown, **set;
  size_t i, first = c->napps, first_unit = c->nunits, total = 0, nunit = 0;
  size_t left, done = 0;
  unsigned rc;
  rm_reporter_init(&rep, fn, ctx);
  if (flags & RM_SHUTDOWN_ONLY_REGISTERED) {
    for (i = 0; i < n; i++)
      if (!(apps[i].status & RM_STATUS_SHUTDOWN_MASKED) &&
          !apps[i].restartable)
        return RM_E_FAIL_SHUTDOWN; /* stops nothing */
  }
  grown = (stopped *)realloc(c->apps, (c->napps + n + 1) * sizeof *grown);
  if (grown) c->apps = grown;
  set = (stopped **)calloc(n + 1, sizeof *set);
  if (!grown || !set) {
    free(set);
    return RM_E_OUTOFMEMORY;
  }
  rc = take_apps(c, apps, pins, n, set, &total, &nunit);
  /* the units' triggers, stopped with them, are recorded with them */
  if (rc == RM_OK && c->nunits > first_unit)
    rm_native_units_triggers(c->units + first_unit, c->nunits - first_unit);
  /* recorded before the first signal: a primary that dies from here on
   * leaves what to bring back */
  if (rc == RM_OK) rc = save_record(c, recdir);
  if (rc != RM_OK) {
    drop_stopped(c, first);
    drop_units(c, first_unit);
    free(set);
    return rc;
  }
  c->shut_down = 1;
  rm_reporter_report(&rep, 0);
  if (recdir >= 0 && total + nunit && !rep.stop)
    rm_native_recovery_mark(recdir);
  /* the applications, then the services through systemd */
  left = stop_set(c, set, total, (flags & RM_SHUTDOWN_FORCE) != 0,
                  timeout_ms, &rep, &done, total + nunit ? total + nunit : 1);
  left += stop_units(c, first_unit, (flags & RM_SHUTDOWN_FORCE) != 0,
                     timeout_ms, &rep, &done, total + nunit);
  /* again, without the units whose stop was refused */
  if (c->nunits > first_unit) (void)save_record(c, recdir);
  settle(c, first, rep.stop || rm_native_control_cancelled(c));
  free(set);
  if (rm_native_control_cancelled(c) || rep.stop) return RM_E_CANCELLED;
  if (left) return RM_E_FAIL_SHUTDOWN;
  rm_reporter_report(&rep, 100);
  return RM_OK;
}

/* Starts the registered command of st, detached, as its owner, with
 * nothing of the installer inherited, where it outlives the installer (the
 * user's systemd manager, else a cgroup beside the installer's: see
 * relaunch.c). 0 or an errno value. */
static int spawn(const stopped *st) {
  rm_native_relaunch r;
  uint32_t groups[MAX_GROUPS], pid;
  char msg[RM_NATIVE_MSG_SIZE];
  int i, via;
  memset(&r, 0, sizeof r);
  for (i = 0; i < st->ngroups && i < MAX_GROUPS; i++)
    groups[i] = (uint32_t)st->groups[i];
  r.exe = st->reg.exe;
  r.argv = st->reg.argv;
  r.envp = st->reg.envp;
  r.cwd = st->reg.cwd;
  r.uid = (uint32_t)st->uid;
  r.gid = (uint32_t)st->gid;
  r.ngroups = (size_t)i;
  r.groups = groups;
  r.name = st->app.name;
  r.has_umask = st->has_umask;
  r.umask = st->umask;
  r.has_nice = st->has_nice;
  r.nice = st->nice;
  r.limits = st->has_limits ? st->limits : NULL;
  return rm_native_relaunch_start(&r, &pid, &via, msg) == RM_OK ? 0 : EIO;
}

/* Whether st is to be restarted: stopped by a shutdown, registered, not
 * registered with RM_RESTART_NO_PATCH, and not restarted already (by a
 * restart that was then interrupted); services through systemd go by
 * their units. */
static int to_restart(const stopped *st) {
  return st->unit < 0 && (st->app.status & RM_STATUS_STOPPED) && st->reg.buf &&
         !(st->reg.flags & RM_RESTART_NO_PATCH) &&
         !(st->app.status & RM_STATUS_RESTARTED);
}

/* Starts again the units the shutdowns stopped through systemd (whether
 * or not their services registered for restart; sockets first), unless a
 * filter says no, and marks their processes. Returns non-zero when one did
 * not start. */
static int restart_units(rm_native_control *c, const rm_filters *filters,
                         int procfd, rm_reporter *rep, size_t *done,
                         size_t total) {
  rm_native_unit *todo;
  size_t *which, n = 0, i, k;
  int failed = 0;
  if (!c->nunits) return 0;
  todo = (rm_native_unit *)calloc(c->nunits, sizeof *todo);
  which = (size_t *)calloc(c->nunits, sizeof *which);
  if (!todo || !which) {
    free(todo);
    free(which);
    for (k = 0; k < c->napps; k++)
      if (c->apps[k].unit >= 0)
        c->apps[k].app.status |= RM_STATUS_ERROR_ON_RESTART;
    return 1;
  }
  /* the reverse of the stop order */
  for (i = c->nunits; i-- > 0;) {
    int masked = 0, again = 0;
    /* a stop that was refused stopped nothing */
    if (c->units[i].state == RM_SD_JOB_FAILED) continue;
    /* a unit a later (forced) shutdown stopped again starts once */
    for (k = 0; k < n; k++)
      if (todo[k].unit.uid == c->units[i].unit.uid &&
          strcmp(todo[k].unit.name, c->units[i].unit.name) == 0)
        again = 1;
    if (again) continue;
    for (k = 0; k < c->napps; k++) {
      stopped *st = &c->apps[k];
      if (st->unit != (long)i) continue;
      /* started already by a restart that was then interrupted */
      if (st->app.status & RM_STATUS_RESTARTED) masked = 1;
      st->app.status |= rm_filters_mask(
          rm_native_filters_action(filters, procfd, &st->app));
      if (st->app.status & RM_STATUS_RESTART_MASKED) masked = 1;
    }
    if (masked) continue;
    todo[n] = c->units[i]; /* shares its triggers */
    which[n++] = i;
  }
  if (n) {
    unit_wait uw;
    rm_sd_waiter w;
    unit_waiter(c, &uw, &w, rep, done, total, 0);
    w.finished = NULL; /* counted below, a unit at a time */
    (void)rm_native_units_start(todo, n, &w);
    for (i = 0; i < n; i++) {
      int ok = todo[i].state == RM_SD_JOB_DONE;
      if (!ok && (rep->stop || rm_native_control_cancelled(c))) continue;
      if (!ok) failed = 1;
      for (k = 0; k < c->napps; k++) {
        if (c->apps[k].unit != (long)which[i]) continue;
        c->apps[k].app.status |=
            ok ? RM_STATUS_RESTARTED : RM_STATUS_ERROR_ON_RESTART;
        (*done)++;
      }
      rm_reporter_report(rep, (unsigned)(*done * 100 / (total ? total : 1)));
    }
  }
  free(todo);
  free(which);
  return failed;
}

unsigned rm_native_control_restart(rm_native_control *c,
                                   const rm_filters *filters,
                                   int procfd, int recdir, rm_progress_fn fn,
                                   void *ctx) {
  rm_reporter rep;
  size_t i, total = 0, done = 0;
  int failed = 0;
  rm_reporter_init(&rep, fn, ctx);
  if (!c->shut_down) return RM_E_REQUEST_OUT_OF_SEQUENCE;
  await_late(c);
  for (i = 0; i < c->napps; i++)
    if (to_restart(&c->apps[i]) || c->apps[i].unit >= 0) total++;
  rm_reporter_report(&rep, 0);
  /* the reverse of the stop order: services first, then applications */
  failed = restart_units(c, filters, procfd, &rep, &done, total);
  for (i = c->napps; i-- > 0;) {
    stopped *st = &c->apps[i];
    if (rep.stop || rm_native_control_cancelled(c)) break;
    if (!to_restart(st)) continue;
    /* file filters were applied while the app ran; process and service
     * filters may have come since */
    st->app.status |= rm_filters_mask(
        rm_native_filters_action(filters, procfd, &st->app));
    if (st->app.status & RM_STATUS_RESTART_MASKED) continue;
    if (spawn(st) == 0) {
      st->app.status |= RM_STATUS_RESTARTED;
    } else {
      st->app.status |= RM_STATUS_ERROR_ON_RESTART;
      failed = 1;
    }
    done++;
    rm_reporter_report(&rep, (unsigned)(done * 100 / (total ? total : 1)));
  }
  if (rep.stop || rm_native_control_cancelled(c)) {
    (void)save_record(c, recdir); /* what is still to come back */
    return RM_E_CANCELLED;
  }
  rm_reporter_report(&rep, 100);
  if (recdir >= 0) (void)rm_native_recovery_save(recdir, NULL, 0, NULL, 0);
  drop_stopped(c, 0);
  drop_units(c, 0);
  c->shut_down = 0;
  return failed ? RM_E_FAIL_RESTART : RM_OK;
}
