/*
 * Restart registrations (RegisterApplicationRestart): how to start a
 * process again, written by the process itself into its owner's store as
 * <store>/restart-<pid>-<start time>, whole (a temporary file renamed into
 * place). Contents, NUL-separated:
 *   RMRESTART1, flags, executable, working directory, argument count,
 *   arguments..., environment count, environment entries...
 * A registration is trusted only from a store directory and file that
 * belong to the process's owner and that no one else may write.
 */
#ifndef RESTARTMANAGER_NATIVE_RESTARTREG_H
#define RESTARTMANAGER_NATIVE_RESTARTREG_H

#include <stddef.h>
#include <stdint.h>

#include "backend.h"
#include "procfs.h"

/* Hidden: a shared object built from these sources exports only the
 * luaopen_* openers, also when built without -fvisibility=hidden (LuaRocks'
 * builtin build passes no such flag). */
#if defined(__GNUC__) && !defined(_WIN32)
#pragma GCC visibility push(hidden)
#endif

/* A parsed registration; the strings point into buf. */
typedef struct rm_native_restart_reg {
  char *buf;
  size_t len; /* the registration's bytes in buf (as read) */
  char *store; /* malloc'd: the store directory it was found in */
  uint32_t pid; /* the process it is the registration of */
  uint64_t start;
  int claimed; /* rm_native_restart_claim took it */
  uint32_t flags;
  const char *exe, *cwd;
  char **argv; /* exe, arguments..., NULL */
  char **envp; /* NULL-terminated */
} rm_native_restart_reg;

/* Records how to restart the calling process: its executable, working
 * directory, argv (the arguments after the executable) and environment. */
unsigned rm_native_restart_register(size_t argc, const char *const *argv,
                                    uint32_t flags);
/* The same, recording program (an absolute path; NULL: the calling
 * process's executable) as what runs on restart: for a launcher that
 * execs program next, keeping its pid and start time. */
unsigned rm_native_restart_register_as(const char *program, size_t argc,
                                       const char *const *argv,
                                       uint32_t flags);
/* Removes the calling process's registration (none is not an error). */
unsigned rm_native_restart_unregister(void);

/* The registration of the live process pid with that start time, from its
 * owner's store: 0, or -1 when it has none that can be trusted. Release it
 * with rm_native_restart_free. */
int rm_native_restart_find(uint32_t pid, uint64_t start,
                           rm_native_restart_reg *r);
void rm_native_restart_free(rm_native_restart_reg *r);

/* Takes the registration r (found by rm_native_restart_find) for this
 * caller's restart: it is renamed <name>.claimed in its store, so that of
 * two installers stopping the same application at once only one restarts
 * it. 0 when this caller has it; -1 when another took it first. */
int rm_native_restart_claim(rm_native_restart_reg *r);

/* Gives a claim back (the application did not stop after all). */
void rm_native_restart_unclaim(rm_native_restart_reg *r);

/* 1 when pid (with that start time) registered for restart and allows a
 * restart after an update (no RM_RESTART_NO_PATCH). */
int rm_native_restartable(uint32_t pid, uint64_t start_time);

/* The same for the many processes of one list: procfd a descriptor of
 * /proc, c a cache of the stores' listings (one a thread; NULL for none),
 * so that a store is listed once and a registration read only when it is
 * there; st the process's stat (its start time, and where its environment
 * lies, read from its memory where allowed). */
typedef struct rm_native_restart_cache rm_native_restart_cache;
rm_native_restart_cache *rm_native_restart_cache_new(void);
void rm_native_restart_cache_free(rm_native_restart_cache *c);
int rm_native_restartable_in(int procfd, rm_native_restart_cache *c,
                             uint32_t pid, const rm_native_stat *st);

/* Parses a registration's bytes (exposed for the fuzz target): 0, and r's
 * strings point into buf; r->buf is left NULL. */
int rm_native_parse_restart(char *buf, size_t len, rm_native_restart_reg *r);

#if defined(__GNUC__) && !defined(_WIN32)
#pragma GCC visibility pop
#endif

#endif
