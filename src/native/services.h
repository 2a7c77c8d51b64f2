/*
 * Services through systemd, between the layers that find, describe, filter
 * and stop processes (scan, apps, filters, control) and systemd.h. A
 * service is a process of a service unit, where systemd runs; it is stopped
 * and started through the manager that owns its unit when systemd can be
 * used, and with signals, as any process, when it cannot (rm_app.control
 * says which, and why).
 */
#ifndef RESTARTMANAGER_NATIVE_SERVICES_H
#define RESTARTMANAGER_NATIVE_SERVICES_H

#include <stdint.h>

#include "backend.h"
#include "systemd.h"

/* Hidden: a shared object built from these sources exports only the
 * luaopen_* openers, also when built without -fvisibility=hidden. */
#if defined(__GNUC__) && !defined(_WIN32)
#pragma GCC visibility push(hidden)
#endif

/* One scan's view of the services: the managers' answers, asked once per
 * unit. */
typedef struct rm_native_services rm_native_services;

rm_native_services *rm_native_services_new(void);
void rm_native_services_free(rm_native_services *sv);

/* The service of pid (procfd: a descriptor of /proc): the canonical name of
 * its service unit ("cron.service", "user:1000:foo.service") into buf, 0
 * when it is a process of a service unit; -1 when it is not (errno 0) or
 * its cgroup could not be read (errno set). Applications a desktop
 * launched (app-*), login sessions and other scopes are no services. */
int rm_native_service_unit(int procfd, uint32_t pid, char *buf, size_t size);

/* When pid is a service (a process of a service unit; call it only where
 * systemd runs):
 * sets a->type (RM_APP_SERVICE, or RM_APP_CRITICAL for a unit that refuses a
 * manual stop), a->service (its name: "cron.service",
 * "user:1000:foo.service"), a->control and a->restartable (systemd can
 * start it; without systemd, whether it registered, left to the caller),
 * adds RM_REBOOT_CRITICAL_SERVICE to *reasons for a unit that refuses a
 * manual stop, and returns 1. Returns 0 for any other process
 * (applications a desktop launched, login sessions, processes in no unit),
 * touching nothing. */
int rm_native_services_describe(rm_native_services *sv, int procfd,
                                uint32_t pid, rm_app *a, uint32_t *reasons);

/* The canonical form of a service name a caller gave ("cron" ->
 * "cron.service", "user:alice:foo" -> "user:1000:foo.service") into buf;
 * -1 when it is malformed or names no user. */
int rm_native_service_name(const char *name, char *buf, size_t size);

/* The one rule for a service name against a service: 1 when the
 * registered or filter name names service (a canonical name, as
 * rm_native_service_unit gives it): "cron" and "cron.service" both name
 * "cron.service", "user:alice:foo" names "user:1000:foo.service" when
 * alice's uid is 1000. */
int rm_native_service_matches(const char *name, const char *service);

/* A unit stopped through systemd by a shutdown, and what came down with
 * it: the units that trigger it (sockets, paths, timers), so that nothing
 * activates it again mid-update. */
typedef struct rm_native_unit {
  rm_sd_unit unit;
  char **triggers; /* active triggers stopped with it; NULL-terminated */
  int state;       /* RM_SD_JOB_* of its stop, then of its start */
} rm_native_unit;

void rm_native_units_free(rm_native_unit *u, size_t n);

/* Looks up the active triggers (sockets, paths, timers) of the units of
 * units[0..n) that have none yet: those rm_native_units_stop stops with
 * them. */
void rm_native_units_triggers(rm_native_unit *units, size_t n);

/* Stops units[0..n) through their managers: their triggers first (looked
 * up now for a unit that has none yet), then the
 * units, awaited together until deadline_ms; with force, what is still
 * running then is killed (KillUnit, SIGKILL) and stopped again, awaited for
 * kill_ms more. Each unit's state says how it ended. Returns how many are
 * still running. */
size_t rm_native_units_stop(rm_native_unit *units, size_t n, int force,
                            long deadline_ms, unsigned kill_ms,
                            const rm_sd_waiter *w);

/* Starts units[0..n) again (triggers first, then the units) and waits
 * until their start jobs end or the waiter says stop. Returns how many did
 * not start. */
size_t rm_native_units_start(rm_native_unit *units, size_t n,
                             const rm_sd_waiter *w);

#if defined(__GNUC__) && !defined(_WIN32)
#pragma GCC visibility pop
#endif

#endif
