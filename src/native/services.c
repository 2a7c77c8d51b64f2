/*
 * Services through systemd (services.h).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "procfs.h"
#include "services.h"

/* What one manager said of one unit. */
typedef struct answer {
  rm_sd_unit unit;
  int control;   /* RM_CONTROL_* */
  rm_sd_props props;
} answer;

struct rm_native_services {
  rm_sd_conn *conn;
  answer *a;
  size_t n;
};

rm_native_services *rm_native_services_new(void) {
  return (rm_native_services *)calloc(1, sizeof(rm_native_services));
}

void rm_native_services_free(rm_native_services *sv) {
  if (!sv) return;
  rm_sd_conn_free(sv->conn);
  free(sv->a);
  free(sv);
}

/* The unit of pid, from its /proc/PID/cgroup. 0, or an errno value. */
static int unit_of(int procfd, uint32_t pid, rm_sd_unit *u) {
  rm_native_buf b = {0};
  int err = rm_native_proc_read(procfd, pid, "cgroup", &b);
  if (err == 0) rm_sd_parse_cgroup(b.p ? b.p : "", b.len, u);
  free(b.p);
  return err;
}

int rm_native_service_unit(int procfd, uint32_t pid, char *buf, size_t size) {
  rm_sd_unit u;
  int err = unit_of(procfd, pid, &u);
  if (err) {
    errno = err;
    return -1;
  }
  errno = 0;
  if (u.kind != RM_SD_SERVICE || rm_sd_format_name(&u, buf, size) != 0)
    return -1;
  return 0;
}

/* The manager's answer for u, asked the first time. */
static const answer *ask(rm_native_services *sv, const rm_sd_unit *u) {
  size_t i;
  answer *grown, *a;
  int q;
  for (i = 0; i < sv->n; i++)
    if (sv->a[i].unit.uid == u->uid && strcmp(sv->a[i].unit.name, u->name) == 0)
      return &sv->a[i];
  grown = (answer *)realloc(sv->a, (sv->n + 1) * sizeof *grown);
  if (!grown) return NULL;
  sv->a = grown;
  a = &sv->a[sv->n];
  memset(a, 0, sizeof *a);
  a->unit = *u;
  a->control = rm_sd_usable();
  if (a->control == RM_CONTROL_SYSTEMD) {
    if (!sv->conn) sv->conn = rm_sd_conn_new();
    q = sv->conn ? rm_sd_query(sv->conn, u->uid, u->name, &a->props) : -1;
    /* a running unit whose file is gone (not loaded) still stops */
    if (q != 0) a->control = RM_CONTROL_NO_MANAGER;
  }
  sv->n++;
  return a;
}

int rm_native_services_describe(rm_native_services *sv, int procfd,
                                uint32_t pid, rm_app *a, uint32_t *reasons) {
  rm_sd_unit u;
  const answer *ans;
  if (unit_of(procfd, pid, &u) != 0 || u.kind != RM_SD_SERVICE) return 0;
  if (rm_sd_format_name(&u, a->service, sizeof a->service) != 0) return 0;
  a->type = RM_APP_SERVICE;
  ans = ask(sv, &u);
  a->control = ans ? ans->control : RM_CONTROL_NO_MANAGER;
  if (a->control != RM_CONTROL_SYSTEMD) return 1;
  if (!ans->props.can_stop) {
    /* RefuseManualStop=yes: only systemd itself may stop it */
    a->type = RM_APP_CRITICAL;
    a->session_id = -1;
    a->restartable = 0;
    *reasons |= RM_REBOOT_CRITICAL_SERVICE;
  } else {
    /* only a unit systemd still has a file for starts again */
    a->restartable = ans->props.can_start && ans->props.loaded;
  }
  return 1;
}

int rm_native_service_name(const char *name, char *buf, size_t size) {
  rm_sd_unit u;
  if (rm_sd_parse_name(name, &u) != 0) return -1;
  return rm_sd_format_name(&u, buf, size);
}

int rm_native_service_matches(const char *name, const char *service) {
  char canon[RM_SVC_NAME_SIZE];
  if (!service[0] || rm_native_service_name(name, canon, sizeof canon) != 0)
    return 0;
  return strcmp(canon, service) == 0;
}

void rm_native_units_free(rm_native_unit *u, size_t n) {
  size_t i;
  for (i = 0; i < n; i++) {
    rm_sd_strv_free(u[i].triggers);
    u[i].triggers = NULL;
  }
  free(u);
}

static size_t count_jobs(const rm_native_unit *units, size_t n) {
  size_t i, k = 0, t;
  for (i = 0; i < n; i++) {
    k++;
    for (t = 0; units[i].triggers && units[i].triggers[t]; t++) k++;
  }
  return k;
}

static void set_job(rm_sd_job *j, long uid, const char *unit, int start) {
  memset(j, 0, sizeof *j);
  j->uid = uid;
  j->start = start;
  snprintf(j->unit, sizeof j->unit, "%s", unit);
}

/* Triggers first (jobs[0..), then each unit; *first is the index of the
 * first unit's job. */
static rm_sd_job *make_jobs(rm_native_unit *units, size_t n, int start,
                            size_t *total, size_t *first) {
  size_t k = 0, i, t;
  rm_sd_job *jobs = (rm_sd_job *)calloc(count_jobs(units, n) + 1, sizeof *jobs);
  if (!jobs) return NULL;
  for (i = 0; i < n; i++)
    for (t = 0; units[i].triggers && units[i].triggers[t]; t++)
      set_job(&jobs[k++], units[i].unit.uid, units[i].triggers[t], start);
  *first = k;
  for (i = 0; i < n; i++) set_job(&jobs[k++], units[i].unit.uid, units[i].unit.name, start);
  *total = k;
  return jobs;
}

/* Looks up the active triggers of the units that have none yet. */
static void find_triggers(rm_sd_conn *conn, rm_native_unit *units, size_t n) {
  size_t i;
  for (i = 0; i < n; i++) {
    if (units[i].triggers) continue;
    /* what could start it again while the files are replaced */
    (void)rm_sd_active_triggers(conn, units[i].unit.uid, units[i].unit.name,
                                &units[i].triggers);
  }
}

void rm_native_units_triggers(rm_native_unit *units, size_t n) {
  rm_sd_conn *conn = rm_sd_conn_new();
  if (!conn) return;
  find_triggers(conn, units, n);
  rm_sd_conn_free(conn);
}

/* Each unit's outcome from its job (jobs[first..]: the units' own, after
 * their triggers'), then frees jobs and conn; returns how many did not
 * reach their state. */
static size_t finish_jobs(rm_native_unit *units, size_t n, rm_sd_job *jobs,
                          size_t first, rm_sd_conn *conn) {
  size_t i, left = 0;
  for (i = 0; i < n; i++) {
    units[i].state = jobs[first + i].state;
    if (units[i].state != RM_SD_JOB_DONE) left++;
  }
  free(jobs);
  rm_sd_conn_free(conn);
  return left;
}

size_t rm_native_units_stop(rm_native_unit *units, size_t n, int force,
                            long deadline_ms, unsigned kill_ms,
                            const rm_sd_waiter *w) {
  rm_sd_conn *conn = rm_sd_conn_new();
  rm_sd_job *jobs;
  size_t total = 0, first = 0, i;
  if (!conn) return n;
  for (i = 0; i < n; i++) units[i].state = RM_SD_JOB_FAILED;
  find_triggers(conn, units, n);
  jobs = make_jobs(units, n, 0, &total, &first);
  if (!jobs) {
    rm_sd_conn_free(conn);
    return n;
  }
  for (i = 0; i < total; i++) (void)rm_sd_job_queue(conn, &jobs[i]);
  rm_sd_job_wait(conn, jobs, total, deadline_ms, w);
  if (force && (!w || !w->stop || !w->stop(w->ctx))) {
    int again = 0;
    for (i = first; i < total; i++) {
      if (jobs[i].state != RM_SD_JOB_PENDING) continue;
      /* through systemd, so that it neither restarts it nor counts a
       * failure of its own making: kill, then stop (the pending stop job
       * merges with the new one) */
      (void)rm_sd_kill(conn, jobs[i].uid, jobs[i].unit, SIGKILL);
      (void)rm_sd_job_queue(conn, &jobs[i]);
      again = 1;
    }
    if (again)
      rm_sd_job_wait(conn, jobs, total, rm_sd_now_ms() + (long)kill_ms, w);
  }
  return finish_jobs(units, n, jobs, first, conn);
}

size_t rm_native_units_start(rm_native_unit *units, size_t n,
                             const rm_sd_waiter *w) {
  rm_sd_conn *conn = rm_sd_conn_new();
  rm_sd_job *jobs;
  size_t total = 0, first = 0, i;
  if (!conn) return n;
  jobs = make_jobs(units, n, 1, &total, &first);
  if (!jobs) {
    rm_sd_conn_free(conn);
    return n;
  }
  /* sockets first: whatever connects meanwhile waits in their queues */
  for (i = 0; i < first; i++) (void)rm_sd_job_queue(conn, &jobs[i]);
  rm_sd_job_wait(conn, jobs, first, rm_sd_now_ms() + 120000L, w);
  for (i = first; i < total; i++) (void)rm_sd_job_queue(conn, &jobs[i]);
  /* a start ends when the unit is up or failed; its own TimeoutStartSec
   * bounds that, this bounds a manager that would never answer */
  rm_sd_job_wait(conn, jobs, total, rm_sd_now_ms() + 600000L, w);
  return finish_jobs(units, n, jobs, first, conn);
}
