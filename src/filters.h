/*
 * A session's filters (RmAddFilter, RmRemoveFilter, RmGetFilterList), one
 * implementation for every engine that keeps them itself (the native
 * backend, the win32 engine): the list, adding and removing by the
 * contract's rules, the layout rm_backend_get_filter_list returns, and the
 * action that applies to a listed app.
 *
 * What differs between platforms comes in through hooks: a file's identity
 * when its filter is added, whether an app uses a filtered file, whether a
 * filter's service name names an app's service. Nothing here reads files,
 * processes or services itself.
 */
#ifndef RESTARTMANAGER_FILTERS_H
#define RESTARTMANAGER_FILTERS_H

#include <stddef.h>
#include <stdint.h>

#include "backend.h"

/* Hidden: a shared object built from these sources exports only the
 * luaopen_* openers, also when built without -fvisibility=hidden (LuaRocks'
 * builtin build passes no such flag). */
#if defined(__GNUC__) && !defined(_WIN32)
#pragma GCC visibility push(hidden)
#endif

/* A file's identity as the platform knows it: device and inode on Linux,
 * volume serial number and file index on Windows. */
typedef struct rm_file_id {
  uint64_t volume, index;
} rm_file_id;

typedef struct rm_filter_entry {
  rm_filter f;   /* f.name points to name below */
  char *name;    /* path or service name (NULL for a process filter) */
  rm_file_id id; /* a file filter's identity when it was added */
  int has_id;    /* 0: the path named no file then */
} rm_filter_entry;

/* A list of filters; start it zeroed ({0}). */
typedef struct rm_filters {
  rm_filter_entry *v;
  size_t n;
} rm_filters;

/* The identity of the file at path, for a file filter being added: RM_OK
 * with *has_id 0 when the path names no file; any other code refuses the
 * filter with that code. */
typedef unsigned (*rm_filter_identify_fn)(void *ctx, const char *path,
                                          rm_file_id *id, int *has_id);

/* Adds f (RmAddFilter): RM_E_BAD_ARGUMENTS for an action other than
 * no_restart or no_shutdown, an unknown trigger, or a file or service
 * filter without a name; the latest filter for a target replaces earlier
 * ones. identify (may be NULL: no identity) is asked for a file filter's
 * identity once f passed those checks. */
unsigned rm_filters_add(rm_filters *l, const rm_filter *f,
                        rm_filter_identify_fn identify, void *ctx);
/* Removes the filter for f's target (RmRemoveFilter): RM_E_BAD_ARGUMENTS
 * for a file or service filter without a name, RM_E_FILE_NOT_FOUND when
 * there is no filter for that target. */
unsigned rm_filters_remove(rm_filters *l, const rm_filter *f);
/* Lays the list out in buf as rm_backend_get_filter_list says: an array of
 * *count rm_filter, then each name with its NUL, the names pointing into
 * buf. RM_E_MORE_DATA (with *needed) when buf is NULL or smaller. */
unsigned rm_filters_layout(const rm_filters *l, void *buf, size_t size,
                           size_t *needed, unsigned *count);
void rm_filters_free(rm_filters *l);

/* How an engine matches a filter to an app. */
typedef struct rm_filter_match {
  /* 1 when a uses the file of e (the k-th filter of the list), 0 when it
   * does not, -1 when that cannot be known (its files could not be read) */
  int (*file)(void *ctx, size_t k, const rm_filter_entry *e,
              const rm_app *a);
  /* 1 when the filter's service name names service (never empty) */
  int (*service)(void *ctx, const char *name, const char *service);
  void *ctx;
} rm_filter_match;

/* The strongest action among the filters that apply to a (0 for none): a
 * process filter by pid and start time, a service filter by a's service, a
 * file filter when a uses the file. Where that use cannot be known, a
 * no_shutdown file filter applies (fail closed: an app is never stopped
 * because its files could not be checked) and a no_restart one does not
 * (the app is restarted as it would be without filters). */
int rm_filters_action(const rm_filters *l, const rm_filter_match *m,
                      const rm_app *a);

/* The status bits an action sets (RmNoShutdown masks both). */
uint32_t rm_filters_mask(int action);

#if defined(__GNUC__) && !defined(_WIN32)
#pragma GCC visibility pop
#endif

#endif
