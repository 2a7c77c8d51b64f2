/*
 * What a primary's shutdown stopped, kept in the session's directory
 * ("stopping", written whole before the first signal), so that a primary
 * that dies before its restart loses no application: the next session of
 * the same user that finds the stale session (a start or a join sweeps the
 * store) starts again, as their owners, those recorded applications that
 * are no longer running, then the session is removed. A restart that
 * completes, or a session that ends normally, removes the record.
 */
#ifndef RESTARTMANAGER_NATIVE_RECOVERY_H
#define RESTARTMANAGER_NATIVE_RECOVERY_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "backend.h"
#include "restartreg.h"
#include "services.h"

/* Hidden: a shared object built from these sources exports only the
 * luaopen_* openers, also when built without -fvisibility=hidden (LuaRocks'
 * builtin build passes no such flag). */
#if defined(__GNUC__) && !defined(_WIN32)
#pragma GCC visibility push(hidden)
#endif

/* One application to bring back: the process it was, its ids, and its
 * registration. */
typedef struct rm_native_recovery_app {
  rm_unique_process process;
  uid_t uid;
  gid_t gid;
  size_t ngroups;
  const gid_t *groups;
  const rm_native_restart_reg *reg;
} rm_native_recovery_app;

/* Replaces the record of the session directory dirfd with apps[0..n) and
 * the service units units[0..nunits) stopped through systemd, with what
 * triggers them (none at all: removes it). RM_OK, or the code of the
 * failed write. */
unsigned rm_native_recovery_save(int dirfd, const rm_native_recovery_app *apps,
                                 size_t n, const rm_native_unit *units,
                                 size_t nunits);

/* What a recovery started again (rm_native_recover). */
typedef struct rm_native_recovery_log {
  rm_recovered *items; /* malloc'd */
  size_t n, cap;
  int failed; /* out of memory: some were not logged */
} rm_native_recovery_log;

/* Notes in the session directory dirfd that the shutdown is about to
 * signal: an application recorded there that still runs then may be on its
 * way out, and recovery waits for it (5 s at most). */
void rm_native_recovery_mark(int dirfd);

/* Starts again what the record of the stale session directory dirfd names
 * and is no longer running (or, after the mark, ends within 5 s): the
 * applications as their owners, the units through their managers (an
 * active unit is left as it is); then removes the record. log: an
 * rm_native_recovery_log that gets what was started, or NULL. */
void rm_native_recovery_run(int dirfd, void *log);

#if defined(__GNUC__) && !defined(_WIN32)
#pragma GCC visibility pop
#endif

#endif
