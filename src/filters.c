/*
 * A session's filters (filters.h).
 */
#include <stdlib.h>
#include <string.h>

#include "filters.h"

static int same_target(const rm_filter *a, const rm_filter *b) {
  if (a->trigger != b->trigger) return 0;
  if (a->trigger == RM_FILTER_TRIGGER_PROCESS)
    return a->process.pid == b->process.pid &&
           a->process.start_time == b->process.start_time;
  return strcmp(a->name, b->name) == 0;
}

static int named(const rm_filter *f) {
  return f->trigger == RM_FILTER_TRIGGER_FILE ||
         f->trigger == RM_FILTER_TRIGGER_SERVICE;
}

unsigned rm_filters_add(rm_filters *l, const rm_filter *f,
                        rm_filter_identify_fn identify, void *ctx) {
  rm_filter_entry e, *grown;
  size_t i;
  if ((f->action != RM_FILTER_NO_RESTART &&
       f->action != RM_FILTER_NO_SHUTDOWN) ||
      (f->trigger != RM_FILTER_TRIGGER_PROCESS && !named(f)) ||
      (named(f) && (!f->name || !f->name[0])))
    return RM_E_BAD_ARGUMENTS;
  memset(&e, 0, sizeof e);
  e.f = *f;
  e.f.name = NULL;
  if (named(f)) {
    size_t len = strlen(f->name) + 1;
    e.name = (char *)malloc(len);
    if (!e.name) return RM_E_OUTOFMEMORY;
    memcpy(e.name, f->name, len);
    e.f.name = e.name;
    if (f->trigger == RM_FILTER_TRIGGER_FILE && identify) {
      unsigned rc = identify(ctx, e.name, &e.id, &e.has_id);
      if (rc != RM_OK) {
        free(e.name);
        return rc;
      }
    }
  }
  /* the latest filter for a target replaces earlier ones */
  for (i = 0; i < l->n; i++)
    if (same_target(&l->v[i].f, &e.f)) {
      free(l->v[i].name);
      l->v[i] = e;
      return RM_OK;
    }
  grown = (rm_filter_entry *)realloc(l->v, (l->n + 1) * sizeof *grown);
  if (!grown) {
    free(e.name);
    return RM_E_OUTOFMEMORY;
  }
  l->v = grown;
  l->v[l->n++] = e;
  return RM_OK;
}

unsigned rm_filters_remove(rm_filters *l, const rm_filter *f) {
  size_t i;
  if (f->trigger != RM_FILTER_TRIGGER_PROCESS && !f->name)
    return RM_E_BAD_ARGUMENTS;
  for (i = 0; i < l->n; i++)
    if (same_target(&l->v[i].f, f)) {
      free(l->v[i].name);
      l->v[i] = l->v[--l->n];
      return RM_OK;
    }
  return RM_E_FILE_NOT_FOUND;
}

unsigned rm_filters_layout(const rm_filters *l, void *buf, size_t size,
                           size_t *needed, unsigned *count) {
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
    out[i].name = NULL;
    if (l->v[i].name) {
      size_t len = strlen(l->v[i].name) + 1;
      char *dst = (char *)buf + off;
      memcpy(dst, l->v[i].name, len);
      out[i].name = dst;
      off += len;
    }
  }
  *count = (unsigned)l->n;
  return RM_OK;
}

void rm_filters_free(rm_filters *l) {
  size_t i;
  for (i = 0; i < l->n; i++) free(l->v[i].name);
  free(l->v);
  l->v = NULL;
  l->n = 0;
}

int rm_filters_action(const rm_filters *l, const rm_filter_match *m,
                      const rm_app *a) {
  size_t i;
  int action = 0;
  for (i = 0; i < l->n; i++) {
    const rm_filter_entry *e = &l->v[i];
    int hit = 0;
    switch (e->f.trigger) {
    case RM_FILTER_TRIGGER_PROCESS:
      hit = e->f.process.pid == a->process.pid &&
            e->f.process.start_time == a->process.start_time;
      break;
    case RM_FILTER_TRIGGER_SERVICE:
      hit = a->service[0] && m->service(m->ctx, e->name, a->service);
      break;
    case RM_FILTER_TRIGGER_FILE:
      hit = m->file(m->ctx, i, e, a);
      /* not known: a no_shutdown filter spares the app (fail closed); a
       * no_restart filter leaves it as it would be without filters */
      if (hit < 0) hit = e->f.action == RM_FILTER_NO_SHUTDOWN;
      break;
    default: break;
    }
    /* where several apply, the stronger action wins */
    if (hit && e->f.action > action) action = e->f.action;
  }
  return action;
}

uint32_t rm_filters_mask(int action) {
  if (action == RM_FILTER_NO_SHUTDOWN)
    return RM_STATUS_SHUTDOWN_MASKED | RM_STATUS_RESTART_MASKED;
  if (action == RM_FILTER_NO_RESTART) return RM_STATUS_RESTART_MASKED;
  return 0;
}
