/*
 * A session's filters (filters.h).
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "filters.h"
#include "scan.h"
#include "services.h"

static int same_target(const rm_filter *a, const rm_filter *b) {
  if (a->trigger != b->trigger) return 0;
  if (a->trigger == RM_FILTER_TRIGGER_PROCESS)
    return a->process.pid == b->process.pid &&
           a->process.start_time == b->process.start_time;
  return strcmp(a->name, b->name) == 0;
}

unsigned rm_native_filters_add(rm_native_filters *l, const rm_filter *f) {
  rm_native_filter nf, *grown;
  size_t i;
  if ((f->action != RM_FILTER_NO_RESTART &&
       f->action != RM_FILTER_NO_SHUTDOWN) ||
      (f->trigger != RM_FILTER_TRIGGER_PROCESS && (!f->name || !f->name[0])))
    return RM_E_BAD_ARGUMENTS;
  memset(&nf, 0, sizeof nf);
  nf.f = *f;
  if (f->trigger != RM_FILTER_TRIGGER_PROCESS) {
    nf.name = (char *)malloc(strlen(f->name) + 1);
    if (!nf.name) return RM_E_OUTOFMEMORY;
    strcpy(nf.name, f->name);
    nf.f.name = nf.name;
    if (f->trigger == RM_FILTER_TRIGGER_FILE) {
      struct stat st;
      if (stat(f->name, &st) == 0) {
        nf.dev = (uint64_t)st.st_dev;
        nf.ino = (uint64_t)st.st_ino;
      }
    }
  }
  /* the latest filter for a target replaces earlier ones */
  for (i = 0; i < l->n; i++) {
    if (same_target(&l->v[i].f, &nf.f)) {
      free(l->v[i].name);
      l->v[i] = nf;
      return RM_OK;
    }
  }
  grown = (rm_native_filter *)realloc(l->v, (l->n + 1) * sizeof *grown);
  if (!grown) {
    free(nf.name);
    return RM_E_OUTOFMEMORY;
  }
  l->v = grown;
  l->v[l->n++] = nf;
  return RM_OK;
}

unsigned rm_native_filters_remove(rm_native_filters *l, const rm_filter *f) {
  size_t i;
  if (f->trigger != RM_FILTER_TRIGGER_PROCESS && !f->name)
    return RM_E_BAD_ARGUMENTS;
  for (i = 0; i < l->n; i++) {
    if (same_target(&l->v[i].f, f)) {
      free(l->v[i].name);
      l->v[i] = l->v[--l->n];
      return RM_OK;
    }
  }
  return RM_E_FILE_NOT_FOUND;
}

unsigned rm_native_filters_layout(const rm_native_filters *l, void *buf,
                                  size_t size, size_t *needed,
                                  unsigned *count) {
  size_t i, need, off;
  rm_filter *out = (rm_filter *)buf;
  *needed = 0;
  *count = 0;
  need = l->n * sizeof(rm_filter);
  for (i = 0; i < l->n; i++)
    if (l->v[i].name) need += strlen(l->v[i].name) + 1;
  *needed = need;
  if (size < need || (need && !buf)) return RM_E_MORE_DATA;
  off = l->n * sizeof(rm_filter);
  for (i = 0; i < l->n; i++) {
    out[i] = l->v[i].f;
    if (l->v[i].name) {
      char *dst = (char *)buf + off;
      strcpy(dst, l->v[i].name);
      out[i].name = dst;
      off += strlen(dst) + 1;
    } else {
      out[i].name = NULL;
    }
  }
  *count = (unsigned)l->n;
  return RM_OK;
}

void rm_native_filters_free(rm_native_filters *l) {
  size_t i;
  for (i = 0; i < l->n; i++) free(l->v[i].name);
  free(l->v);
  l->v = NULL;
  l->n = 0;
}

/* Whether a uses the file filter f names: by the identity it had when the
 * filter was added, or by the one its path has now. -1: a's files could
 * not be read. */
static int uses_filtered_file(const rm_native_filter *f, int procfd,
                              const rm_app *a) {
  struct stat st;
  int hit = 0;
  if (f->ino)
    hit = rm_native_process_uses(procfd, a->process.pid, f->dev, f->ino);
  /* the path may name another file by now */
  if (hit == 0 && stat(f->name, &st) == 0 &&
      ((uint64_t)st.st_ino != f->ino || (uint64_t)st.st_dev != f->dev))
    hit = rm_native_process_uses(procfd, a->process.pid,
                                 (uint64_t)st.st_dev, (uint64_t)st.st_ino);
  return hit;
}

int rm_native_filters_action(const rm_native_filters *l, int procfd,
                             const rm_app *a) {
  size_t i;
  int action = 0;
  for (i = 0; i < l->n; i++) {
    const rm_native_filter *f = &l->v[i];
    int hit = 0;
    switch (f->f.trigger) {
    case RM_FILTER_TRIGGER_PROCESS:
      hit = f->f.process.pid == a->process.pid &&
            f->f.process.start_time == a->process.start_time;
      break;
    case RM_FILTER_TRIGGER_SERVICE:
      hit = rm_native_service_matches(f->name, a->service);
      break;
    case RM_FILTER_TRIGGER_FILE:
      hit = uses_filtered_file(f, procfd, a);
      /* not known: a no_shutdown filter spares the app (fail closed); a
       * no_restart filter leaves it as it would be without filters */
      if (hit < 0) hit = f->f.action == RM_FILTER_NO_SHUTDOWN;
      break;
    default: break;
    }
    /* where several apply, the stronger action wins */
    if (hit && f->f.action > action) action = f->f.action;
  }
  return action;
}

uint32_t rm_native_filters_mask(int action) {
  if (action == RM_FILTER_NO_SHUTDOWN)
    return RM_STATUS_SHUTDOWN_MASKED | RM_STATUS_RESTART_MASKED;
  if (action == RM_FILTER_NO_RESTART) return RM_STATUS_RESTART_MASKED;
  return 0;
}
