/*
 * The progress a shutdown or restart reports (rm_progress_fn), the same for
 * every engine that drives one itself (the native backend, the win32
 * engine): percentages that never fall, and a stop once the caller's
 * function asks for it.
 */
#ifndef RESTARTMANAGER_PROGRESS_H
#define RESTARTMANAGER_PROGRESS_H

#include "backend.h"

/* Hidden: a shared object built from these sources exports only the
 * luaopen_* openers, also when built without -fvisibility=hidden (LuaRocks'
 * builtin build passes no such flag). */
#if defined(__GNUC__) && !defined(_WIN32)
#pragma GCC visibility push(hidden)
#endif

typedef struct rm_reporter {
  rm_progress_fn fn; /* NULL: nothing is reported */
  void *ctx;
  int last;          /* the last percentage reported, -1 before any */
  int stop;          /* the function returned non-zero: stop */
} rm_reporter;

void rm_reporter_init(rm_reporter *r, rm_progress_fn fn, void *ctx);
/* Reports pct when it is higher than the last one reported. */
void rm_reporter_report(rm_reporter *r, unsigned pct);
/* Reports the last percentage again (once one was reported), so that a
 * caller can show the time passing while a wait goes on and cancel on
 * time. */
void rm_reporter_tick(rm_reporter *r);

#if defined(__GNUC__) && !defined(_WIN32)
#pragma GCC visibility pop
#endif

#endif
