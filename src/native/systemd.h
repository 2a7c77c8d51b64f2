/*
 * Native backend, bottom layer: systemd. Which unit a process belongs to
 * (from /proc/PID/cgroup) and which manager owns it; how services are named;
 * jobs on a manager through its D-Bus API, with sd-bus from libsystemd
 * loaded at run time (dlopen "libsystemd.so.0", no link-time dependency).
 *
 * Plain arguments only: nothing here knows sessions, apps or filters.
 */
#ifndef RESTARTMANAGER_NATIVE_SYSTEMD_H
#define RESTARTMANAGER_NATIVE_SYSTEMD_H

#include <stddef.h>
#include <stdint.h>

/* Hidden: a shared object built from these sources exports only the
 * luaopen_* openers, also when built without -fvisibility=hidden. */
#if defined(__GNUC__) && !defined(_WIN32)
#pragma GCC visibility push(hidden)
#endif

/* What a process is to systemd. */
#define RM_SD_NONE 0    /* in no unit (no systemd, or a cgroup of its own) */
#define RM_SD_SERVICE 1 /* a service unit's process */
#define RM_SD_APP 2     /* an application a desktop launched: app-*.scope or
                           app-*.service in a user's manager */
#define RM_SD_SESSION 3 /* a login session's process: session-*.scope */
#define RM_SD_OTHER 4   /* another unit: a scope (init.scope, run-*.scope) */

/* The system manager, in rm_sd_unit.uid. */
#define RM_SD_SYSTEM (-1L)

#define RM_SD_UNIT_SIZE 256

/* A unit and the manager that owns it. */
typedef struct rm_sd_unit {
  int kind;                   /* RM_SD_* */
  long uid;                   /* RM_SD_SYSTEM, or the uid of a user manager */
  char name[RM_SD_UNIT_SIZE]; /* e.g. "cron.service" */
} rm_sd_unit;

/* The unit of a process from the text of its /proc/PID/cgroup (the unified
 * "0::" line, else the "name=systemd" line). out->kind is RM_SD_NONE when
 * the process is in no unit. Reads no further than len. */
void rm_sd_parse_cgroup(const char *text, size_t len, rm_sd_unit *out);

/* How services are named:
 *   "cron" or "cron.service"             the system manager's cron.service
 *   "user:1000:foo" or "user:1000:foo.service"
 *                                        foo.service of user 1000's manager
 *   "user:alice:foo"                     the same by user name
 * rm_sd_parse_name fills u (kind RM_SD_SERVICE) and returns 0, or -1 for a
 * malformed name or an unknown user. rm_sd_format_name writes the
 * canonical form ("cron.service", "user:1000:foo.service"); -1 when it does
 * not fit. */
int rm_sd_parse_name(const char *name, rm_sd_unit *u);
int rm_sd_format_name(const rm_sd_unit *u, char *buf, size_t size);
/* 1 when the registered (or filter) name names the unit u. */
int rm_sd_names_unit(const char *name, const rm_sd_unit *u);

/* Whether systemd can be used at all, as RM_CONTROL_* (backend.h):
 * RM_CONTROL_SYSTEMD, RM_CONTROL_NO_LIBSYSTEMD (libsystemd.so.0 did not
 * load) or RM_CONTROL_NO_SYSTEMD (no systemd runs: no /run/systemd/system).
 * The library is loaded once per process. */
int rm_sd_usable(void);
/* Why libsystemd did not load (dlerror's text), or "". */
const char *rm_sd_library_error(void);

/* Connections to the managers, made when first needed, one per manager:
 * the system manager through its private socket /run/systemd/private (as
 * root) or the system bus; user UID's manager through
 * /run/user/UID/systemd/private, accepted only when the socket's peer is
 * that user (or root). */
typedef struct rm_sd_conn rm_sd_conn;

rm_sd_conn *rm_sd_conn_new(void);
void rm_sd_conn_free(rm_sd_conn *c);

/* What the manager says of a unit. */
typedef struct rm_sd_props {
  int loaded;       /* LoadState is "loaded" */
  int can_stop;     /* CanStop: false with RefuseManualStop=yes */
  int can_start;    /* CanStart */
  int refuse_stop;  /* RefuseManualStop */
  int active;       /* ActiveState is active, activating or reloading */
} rm_sd_props;

/* 0, or RM_CONTROL_NO_MANAGER when the unit's manager cannot be reached,
 * or -1 when it answered with an error. */
int rm_sd_query(rm_sd_conn *c, long uid, const char *unit, rm_sd_props *p);

/* The active units that trigger unit (its TriggeredBy: sockets, paths,
 * timers), as a malloc'd NULL-terminated array of malloc'd names (free with
 * rm_sd_strv_free); *out NULL when there are none. 0 or -1. */
int rm_sd_active_triggers(rm_sd_conn *c, long uid, const char *unit,
                          char ***out);
void rm_sd_strv_free(char **v);

/* Sends a signal to every process of a unit (KillUnit, who "all"). 0/-1. */
int rm_sd_kill(rm_sd_conn *c, long uid, const char *unit, int sig);

/* Jobs: StopUnit or StartUnit (mode "replace") queued on a manager, then
 * awaited together through the managers' JobRemoved signals. */
#define RM_SD_JOB_PENDING 0
#define RM_SD_JOB_DONE 1   /* result "done" */
#define RM_SD_JOB_FAILED 2 /* any other result, or no job could be queued */

typedef struct rm_sd_job {
  long uid;
  char unit[RM_SD_UNIT_SIZE];
  int start;          /* 1: StartUnit, 0: StopUnit */
  int state;          /* RM_SD_JOB_* */
  char result[32];    /* the manager's result ("done", "failed", ...) */
  char path[128];     /* the job's object path while it is pending */
} rm_sd_job;

/* Queues job j (j->uid, j->unit, j->start); j->state is RM_SD_JOB_PENDING
 * when the manager took it, else RM_SD_JOB_FAILED with j->result set.
 * Returns 0 when queued. */
int rm_sd_job_queue(rm_sd_conn *c, rm_sd_job *j);

/* What the wait watches besides the jobs. */
typedef struct rm_sd_waiter {
  int cancel_fd;                   /* readable: stop waiting (-1: none) */
  int (*stop)(void *ctx);          /* non-zero: stop waiting (may be NULL) */
  void (*finished)(void *ctx, rm_sd_job *j); /* a job ended (may be NULL) */
  void *ctx;
} rm_sd_waiter;

/* Waits until every pending job of jobs[0..n) has ended, deadline_ms
 * (CLOCK_MONOTONIC milliseconds) has passed, or the waiter says stop (it
 * is asked at every wake-up, at least once a second).
 * Returns how many are still pending. */
size_t rm_sd_job_wait(rm_sd_conn *c, rm_sd_job *jobs, size_t n,
                      long deadline_ms, const rm_sd_waiter *w);

/* CLOCK_MONOTONIC in milliseconds. */
long rm_sd_now_ms(void);

#if defined(__GNUC__) && !defined(_WIN32)
#pragma GCC visibility pop
#endif

#endif
