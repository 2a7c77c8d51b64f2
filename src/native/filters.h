/*
 * A session's filters (RmAddFilter, RmRemoveFilter, RmGetFilterList) and
 * what they do to a listed app: the strongest action among those whose
 * target (a file the app uses, the app's process, its service) it matches.
 */
#ifndef RESTARTMANAGER_NATIVE_FILTERS_H
#define RESTARTMANAGER_NATIVE_FILTERS_H

#include <stddef.h>
#include <stdint.h>

#include "backend.h"

/* Hidden: a shared object built from these sources exports only the
 * luaopen_* openers, also when built without -fvisibility=hidden (LuaRocks'
 * builtin build passes no such flag). */
#if defined(__GNUC__) && !defined(_WIN32)
#pragma GCC visibility push(hidden)
#endif

typedef struct rm_native_filter {
  rm_filter f;       /* f.name points to name below */
  char *name;        /* path or service name */
  uint64_t dev, ino; /* a file filter's identity when added (0: none) */
} rm_native_filter;

/* A list of filters; start it zeroed ({0}). */
typedef struct rm_native_filters {
  rm_native_filter *v;
  size_t n;
} rm_native_filters;

/* Adds f; the latest filter for a target replaces earlier ones. */
unsigned rm_native_filters_add(rm_native_filters *l, const rm_filter *f);
/* RM_E_FILE_NOT_FOUND when there is no filter for f's target. */
unsigned rm_native_filters_remove(rm_native_filters *l, const rm_filter *f);
/* Lays the list out in buf as rm_backend_get_filter_list says. */
unsigned rm_native_filters_layout(const rm_native_filters *l, void *buf,
                                  size_t size, size_t *needed,
                                  unsigned *count);
void rm_native_filters_free(rm_native_filters *l);

/* The strongest action that applies to a (0 for none). procfd: a
 * descriptor of /proc. A no_shutdown file filter applies as well when the
 * app's files cannot be read (fail closed: an app is never stopped because
 * its files could not be checked). */
int rm_native_filters_action(const rm_native_filters *l, int procfd,
                             const rm_app *a);

/* The status bits an action sets. */
uint32_t rm_native_filters_mask(int action);

#if defined(__GNUC__) && !defined(_WIN32)
#pragma GCC visibility pop
#endif

#endif
