/*
 * Shutdown and restart (RmShutdown, RmRestart, RmCancelCurrentTask) of
 * the apps a list found, for one primary session.
 *
 * Processes are signalled only through a pidfd: the one the list opened
 * on the process and read it again through, else one opened on the pid and then
 * checked against the start time the list gave, so a pid reused by another
 * process is never signalled. Exits are awaited by polling the pidfds, with
 * an eventfd that a cancel writes to. Restarted applications run detached
 * (launch.h: their own session, stdio on /dev/null) as their own user,
 * group and supplementary groups, with the arguments, working directory
 * and environment they registered (restartreg.h).
 */
#ifndef RESTARTMANAGER_NATIVE_CONTROL_H
#define RESTARTMANAGER_NATIVE_CONTROL_H

#include <stddef.h>
#include <stdint.h>

#include "backend.h"
#include "filters.h"

/* Hidden: a shared object built from these sources exports only the
 * luaopen_* openers, also when built without -fvisibility=hidden (LuaRocks'
 * builtin build passes no such flag). */
#if defined(__GNUC__) && !defined(_WIN32)
#pragma GCC visibility push(hidden)
#endif

/* What one primary session's shutdowns stopped, and its running task. */
typedef struct rm_native_control rm_native_control;

/* NULL when memory or descriptors ran out (errno set). */
rm_native_control *rm_native_control_new(void);
void rm_native_control_free(rm_native_control *c);

/* Starts a task (a shutdown or a restart): RM_E_BUSY while one runs; clears
 * an earlier cancel. rm_native_control_end ends it. */
unsigned rm_native_control_begin(rm_native_control *c);
void rm_native_control_end(rm_native_control *c);

/* Asks the running task to stop; from any thread. */
unsigned rm_native_control_cancel(rm_native_control *c);
/* 1 once the running task was asked to stop. */
int rm_native_control_cancelled(rm_native_control *c);

/* Adds to listed apps what this session's shutdowns did to them (a
 * process that would not stop keeps RM_STATUS_ERROR_ON_STOP). */
void rm_native_control_mark(const rm_native_control *c, rm_app *apps,
                            size_t n);

/* Stops apps (a fresh list, its filters' masks already set), applications
 * before services, politely and then, with RM_SHUTDOWN_FORCE, by force;
 * each polite stop may take timeout_ms. Services that systemd can stop are
 * stopped by their units (services.h), never signalled one by one. Within
 * a task. */
/* recdir: the session's directory, where what is stopped is recorded
 * before the first signal (recovery.h); -1 for none. pins: NULL, or for
 * each app a pidfd the list opened on it (-1 for none): an app with one is
 * signalled through it, the shutdown taking it over (set to -1); an app
 * without is identified again by pid and start time. */
unsigned rm_native_control_shutdown(rm_native_control *c, rm_app *apps,
                                    int *pins, size_t n, uint32_t flags,
                                    unsigned timeout_ms, int recdir,
                                    rm_progress_fn fn, void *ctx);

/* Starts again, in reverse stop order, what the shutdowns stopped and
 * registered for restart, and the units they stopped through systemd
 * (registered or not; services before applications), except what filters
 * (process and service filters may have come since) mask. procfd: a
 * descriptor of /proc. Within a task. */
unsigned rm_native_control_restart(rm_native_control *c,
                                   const rm_filters *filters,
                                   int procfd, int recdir, rm_progress_fn fn,
                                   void *ctx);

#if defined(__GNUC__) && !defined(_WIN32)
#pragma GCC visibility pop
#endif

#endif
