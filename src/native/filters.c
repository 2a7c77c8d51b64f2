/*
 * What a session's filters need of Linux (filters.h).
 */
#define _GNU_SOURCE
#include <sys/stat.h>

#include "filters.h"
#include "scan.h"
#include "services.h"

static unsigned identify(void *ctx, const char *path, rm_file_id *id,
                         int *has_id) {
  struct stat st;
  (void)ctx;
  if (stat(path, &st) == 0) {
    id->volume = (uint64_t)st.st_dev;
    id->index = (uint64_t)st.st_ino;
    *has_id = 1;
  }
  return RM_OK;
}

unsigned rm_native_filters_add(rm_filters *l, const rm_filter *f) {
  return rm_filters_add(l, f, identify, NULL);
}

/* Whether a uses the file of filter e: by the identity it had when the
 * filter was added, or by the one its path has now. -1: a's files could
 * not be read. */
static int uses_file(void *ctx, size_t k, const rm_filter_entry *e,
                     const rm_app *a) {
  int procfd = *(const int *)ctx;
  struct stat st;
  int hit = 0;
  (void)k;
  if (e->has_id)
    hit = rm_native_process_uses(procfd, a->process.pid, e->id.volume,
                                 e->id.index);
  /* the path may name another file by now */
  if (hit == 0 && stat(e->name, &st) == 0 &&
      (!e->has_id || (uint64_t)st.st_ino != e->id.index ||
       (uint64_t)st.st_dev != e->id.volume))
    hit = rm_native_process_uses(procfd, a->process.pid,
                                 (uint64_t)st.st_dev, (uint64_t)st.st_ino);
  return hit;
}

static int names_service(void *ctx, const char *name, const char *service) {
  (void)ctx;
  return rm_native_service_matches(name, service);
}

int rm_native_filters_action(const rm_filters *l, int procfd,
                             const rm_app *a) {
  rm_filter_match m;
  m.file = uses_file;
  m.service = names_service;
  m.ctx = &procfd;
  return rm_filters_action(l, &m, a);
}
