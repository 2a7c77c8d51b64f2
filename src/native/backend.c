/*
 * The native (Linux) backend: the one implementation of backend.h, and the
 * only file that knows a session (struct rm_session). Each call checks the
 * session and hands plain arguments to the layers below it
 * (native.h): the store, the registration records, the scan, describing
 * apps, filters, shutdown and restart.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "native.h"

/* A list that did not fit the capacity of the call that scanned: the next
 * call with room for it takes it instead of scanning again; any call that
 * changes the session drops it. */
typedef struct pending_list {
  rm_app *apps;
  size_t n;
  rm_pid_list uninspected;
  uint32_t reasons;
  int valid;
} pending_list;

struct rm_session {
  int primary;
  int private_;       /* started private: nobody can join, no store */
  rm_native_buf mem;  /* a private session's records, in memory */
  size_t *missing;    /* what the last list found missing (backend.h) */
  size_t nmissing;
  pending_list pending;
  int storefd; /* the per-user store directory */
  int dirfd;   /* this session's directory in it */
  int lockfd;  /* primary: the lock file, held for the session's lifetime */
  char key[RM_KEY_LEN + 1];
  rm_native_control *control; /* primary only */
  rm_filters filters;         /* primary only */
  struct rm_session *next_primary; /* this process's primaries (cancel) */
};

const char rm_backend_name[] = "linux";
/* file names are bytes on Linux */
const int rm_backend_needs_utf8 = 0;

/* ---------------------------------------------------------------------
 * Sessions
 * ------------------------------------------------------------------- */

/* The process's live primary sessions, so that another thread (or Lua
 * state) can cancel a session's running task by its key. */
static pthread_mutex_t primaries_lock = PTHREAD_MUTEX_INITIALIZER;
static rm_session *primaries;

static void primary_add(rm_session *s) {
  pthread_mutex_lock(&primaries_lock);
  s->next_primary = primaries;
  primaries = s;
  pthread_mutex_unlock(&primaries_lock);
}

static void primary_remove(rm_session *s) {
  rm_session **p;
  pthread_mutex_lock(&primaries_lock);
  for (p = &primaries; *p; p = &(*p)->next_primary) {
    if (*p == s) {
      *p = s->next_primary;
      break;
    }
  }
  pthread_mutex_unlock(&primaries_lock);
}

static rm_session *new_session(void) {
  rm_session *s = (rm_session *)calloc(1, sizeof *s);
  if (s) s->storefd = s->dirfd = s->lockfd = -1;
  return s;
}

static void drop_pending(rm_session *s) {
  free(s->pending.apps);
  free(s->pending.uninspected.pids);
  memset(&s->pending, 0, sizeof s->pending);
}

static void free_session(rm_session *s) {
  if (s->primary) primary_remove(s);
  drop_pending(s);
  free(s->mem.p);
  free(s->missing);
  if (s->control) rm_native_control_free(s->control);
  rm_filters_free(&s->filters);
  if (s->dirfd >= 0) close(s->dirfd);
  if (s->lockfd >= 0) close(s->lockfd);
  if (s->storefd >= 0) close(s->storefd);
  free(s);
}

unsigned rm_backend_start(rm_session **out, char key[RM_KEY_LEN + 1],
                          unsigned flags) {
  rm_session *s = new_session();
  unsigned rc;
  *out = NULL;
  if (!s) return RM_E_OUTOFMEMORY;
  s->primary = 1;
  s->private_ = (flags & RM_START_PRIVATE) != 0;
  if (!s->private_) {
    s->storefd = rm_native_store_open(&rc);
    if (s->storefd < 0) goto fail;
  }
  /* made now, so that a cancel from another thread never races its
   * creation */
  if (!(s->control = rm_native_control_new())) {
    rc = rm_native_errno_code(errno, RM_E_OUTOFMEMORY);
    goto fail;
  }
  /* a private session lives in this process alone: a key that names it
   * for cancel, and nothing in the store */
  rc = s->private_ ? rm_native_new_key(s->key)
                   : rm_native_store_create(s->storefd, s->key, &s->dirfd,
                                            &s->lockfd, rm_native_recovery_run,
                                            NULL);
  if (rc != RM_OK) goto fail;
  primary_add(s);
  memcpy(key, s->key, RM_KEY_LEN + 1);
  *out = s;
  return RM_OK;
fail:
  s->primary = 0; /* never listed */
  free_session(s);
  return rc;
}

unsigned rm_backend_join(rm_session **out, const char *key) {
  rm_session *s;
  unsigned rc;
  *out = NULL;
  /* a malformed key never reaches the file system */
  if (strlen(key) != RM_KEY_LEN || !rm_native_valid_key(key))
    return RM_E_SESSION_CREDENTIAL_CONFLICT;
  s = new_session();
  if (!s) return RM_E_OUTOFMEMORY;
  memcpy(s->key, key, RM_KEY_LEN + 1);
  s->storefd = rm_native_store_open(&rc);
  if (s->storefd >= 0)
    rc = rm_native_store_join(s->storefd, key, &s->dirfd,
                              rm_native_recovery_run, NULL);
  if (rc != RM_OK) {
    free_session(s);
    return rc;
  }
  *out = s;
  return RM_OK;
}

int rm_backend_is_primary(const rm_session *s) { return s->primary; }

/* RM_OK while the session lives: always for its primary, else while the
 * primary holds it. */
static unsigned session_check(const rm_session *s) {
  return s->primary ? RM_OK : rm_native_store_check(s->dirfd);
}

/* The primary's calls: RM_E_SESSION_CREDENTIAL_CONFLICT for a secondary. */
static unsigned conductor(const rm_session *s) {
  unsigned rc = session_check(s);
  if (rc != RM_OK) return rc;
  return s->primary ? RM_OK : RM_E_SESSION_CREDENTIAL_CONFLICT;
}

unsigned rm_backend_end(rm_session *s) {
  unsigned rc = RM_OK;
  if (s->private_)
    ; /* nothing outside this process */
  else if (s->primary)
    rm_native_store_remove(s->storefd, s->key);
  else
    rc = session_check(s);
  free_session(s);
  return rc;
}

unsigned rm_backend_register(rm_session *s, size_t nfiles,
                             const char *const *files, size_t nprocs,
                             const rm_unique_process *procs, size_t nsvcs,
                             const char *const *svcs) {
  unsigned rc = session_check(s);
  if (rc != RM_OK) return rc;
  drop_pending(s);
  if (s->private_)
    return rm_native_records_add(&s->mem, nfiles, files, nprocs, procs, nsvcs,
                                 svcs);
  return rm_native_records_append(s->dirfd, nfiles, files, nprocs, procs,
                                  nsvcs, svcs);
}

/* ---------------------------------------------------------------------
 * The list
 * ------------------------------------------------------------------- */

/* Describing the hits of a list, on the scan's threads as they find them
 * (rm_native_hit_fn): each thread has its own cache of restart
 * registrations and its own connections to systemd's managers. */
typedef struct describing {
  int procfd, systemd;
  const rm_filters *filters;
  uint32_t reasons; /* every thread's, or'ed in as it ends */
} describing;

typedef struct describer {
  describing *d;
  rm_native_restart_cache *cache;
  rm_native_services *sv;
  uint32_t reasons;
} describer;

static void *describe_begin(void *ctx) {
  describing *d = (describing *)ctx;
  describer *t = (describer *)calloc(1, sizeof *t);
  if (!t) return NULL;
  t->d = d;
  t->cache = rm_native_restart_cache_new();
  if (d->systemd && !(t->sv = rm_native_services_new())) {
    rm_native_restart_cache_free(t->cache);
    free(t);
    return NULL;
  }
  return t;
}

static void describe_one(void *state, const rm_native_hit *h, void *out) {
  describer *t = (describer *)state;
  rm_app *a = (rm_app *)out;
  t->reasons |= rm_native_describe(t->d->procfd, h, t->sv, t->cache, a);
  if (t->d->filters->n)
    a->status |= rm_filters_mask(
        rm_native_filters_action(t->d->filters, t->d->procfd, a));
}

static void describe_end(void *state) {
  describer *t = (describer *)state;
  __atomic_fetch_or(&t->d->reasons, t->reasons, __ATOMIC_RELAXED);
  rm_native_restart_cache_free(t->cache);
  rm_native_services_free(t->sv);
  free(t);
}

/* Closes the pidfds of a list. */
static void close_pins(int *pins, size_t n) {
  size_t i;
  if (!pins) return;
  for (i = 0; i < n; i++)
    if (pins[i] >= 0) close(pins[i]);
  free(pins);
}

/* Who uses the session's resources now: a malloc'd array of apps (by
 * pid), described and with the session's filters and shutdown applied.
 * pins: NULL, or where to put a malloc'd array of a pidfd for each app (-1
 * where there is none), on which the scan read the process again after it
 * found it: a shutdown signals through them. */
static unsigned list_apps(rm_session *s, rm_app **apps, size_t *napps,
                          uint32_t *reasons, rm_pid_list *uninspected,
                          int **pins) {
  int *fds = NULL;
  rm_native_hit *hits = NULL;
  void *described = NULL;
  describing d;
  rm_native_hit_fn fn;
  size_t n = 0;
  char *buf = NULL;
  size_t len = 0;
  int procfd;
  unsigned rc = RM_OK;
  *apps = NULL;
  *napps = 0;
  *reasons = 0;
  if (pins) *pins = NULL;
  uninspected->pids = NULL;
  uninspected->n = 0;
  if (!s->private_) rc = rm_native_records_load(s->dirfd, &buf, &len);
  if (rc != RM_OK) return rc;
  procfd = rm_native_proc_open();
  if (procfd < 0) {
    free(buf);
    return rm_native_errno_code(errno, RM_E_INVALID_FUNCTION);
  }
  free(s->missing);
  s->missing = NULL;
  s->nmissing = 0;
  d.procfd = procfd;
  d.systemd = rm_native_systemd_running();
  d.filters = &s->filters;
  d.reasons = 0;
  memset(&fn, 0, sizeof fn);
  fn.size = sizeof(rm_app);
  fn.keep_pins = pins != NULL;
  fn.ctx = &d;
  fn.begin = describe_begin;
  fn.each = describe_one;
  fn.end = describe_end;
  if (s->private_)
    rc = rm_native_scan(procfd, s->mem.p, s->mem.len, 1, &fn, &hits,
                        &described, &n, uninspected, &s->missing,
                        &s->nmissing);
  else
    rc = rm_native_scan(procfd, buf, len, 0, &fn, &hits, &described, &n,
                        uninspected, &s->missing, &s->nmissing);
  free(buf);
  *apps = (rm_app *)described;
  *reasons = d.reasons;
  if (rc == RM_OK && n) {
    size_t i;
    /* the pidfds leave the hits at once: whatever happens, closed once */
    if (pins && (fds = (int *)malloc(n * sizeof *fds)) == NULL)
      rc = RM_E_OUTOFMEMORY;
    for (i = 0; i < n; i++) {
      if (fds) fds[i] = hits[i].pidfd;
      else if (hits[i].pidfd >= 0) close(hits[i].pidfd);
      hits[i].pidfd = -1;
    }
  }
  if (rc == RM_OK) {
    if (s->control) rm_native_control_mark(s->control, *apps, n);
    *napps = n;
    if (pins) *pins = fds;
    fds = NULL;
  }
  close_pins(fds, n);
  free(hits);
  close(procfd);
  if (rc != RM_OK) {
    free(*apps);
    *apps = NULL;
    free(uninspected->pids);
    uninspected->pids = NULL;
    uninspected->n = 0;
  }
  return rc;
}

size_t rm_native_missing(const rm_session *s, const size_t **places) {
  *places = s->missing;
  return s->nmissing;
}

unsigned rm_backend_get_list(rm_session *s, unsigned *needed,
                             unsigned *count, rm_app *apps,
                             uint32_t *reasons, rm_pid_list *uninspected) {
  rm_app *found;
  size_t n;
  uint32_t r;
  unsigned cap = *count, rc = session_check(s);
  *needed = 0;
  *count = 0;
  *reasons = 0;
  uninspected->pids = NULL;
  uninspected->n = 0;
  if (rc != RM_OK) {
    drop_pending(s);
    return rc;
  }
  if (s->pending.valid && s->pending.n <= cap && (apps || !s->pending.n)) {
    /* the call before found more than its capacity, and nothing happened
     * to the session since: its scan is this call's answer */
    found = s->pending.apps;
    n = s->pending.n;
    r = s->pending.reasons;
    *uninspected = s->pending.uninspected;
    memset(&s->pending, 0, sizeof s->pending);
  } else {
    drop_pending(s);
    rc = list_apps(s, &found, &n, &r, uninspected, NULL);
    if (rc != RM_OK) return rc;
  }
  *needed = (unsigned)n;
  if (n > cap || (n && !apps)) {
    /* kept for the next call (uninspected is set on success only) */
    s->pending.apps = found;
    s->pending.n = n;
    s->pending.reasons = r;
    s->pending.uninspected = *uninspected;
    s->pending.valid = 1;
    uninspected->pids = NULL;
    uninspected->n = 0;
    return RM_E_MORE_DATA;
  }
  if (n) memcpy(apps, found, n * sizeof *apps);
  free(found);
  *count = (unsigned)n;
  *reasons = r;
  return RM_OK;
}

/* ---------------------------------------------------------------------
 * Shutdown, restart, cancel
 * ------------------------------------------------------------------- */

unsigned rm_backend_shutdown(rm_session *s, uint32_t flags,
                             unsigned timeout_ms, rm_progress_fn fn,
                             void *ctx) {
  rm_app *apps = NULL;
  int *pins = NULL;
  size_t n = 0;
  rm_pid_list uninspected;
  uint32_t reasons;
  unsigned rc = conductor(s);
  if (rc != RM_OK) return rc;
  drop_pending(s);
  if (flags & ~(RM_SHUTDOWN_FORCE | RM_SHUTDOWN_ONLY_REGISTERED))
    return RM_E_BAD_ARGUMENTS;
  rc = rm_native_control_begin(s->control);
  if (rc != RM_OK) return rc;
  /* the list's pidfds go to the signals: a process the list found is the
   * one signalled, never one that took its pid since */
  rc = list_apps(s, &apps, &n, &reasons, &uninspected, &pins);
  free(uninspected.pids);
  /* any reboot reason: shutting down cannot free every resource */
  if (rc == RM_OK && reasons) rc = RM_E_FAIL_NOACTION_REBOOT;
  if (rc == RM_OK)
    rc = rm_native_control_shutdown(s->control, apps, pins, n, flags,
                                    timeout_ms, s->dirfd, fn, ctx);
  close_pins(pins, n);
  free(apps);
  rm_native_control_end(s->control);
  return rc;
}

unsigned rm_backend_restart(rm_session *s, rm_progress_fn fn, void *ctx) {
  unsigned rc = conductor(s);
  int procfd;
  if (rc != RM_OK) return rc;
  drop_pending(s);
  rc = rm_native_control_begin(s->control);
  if (rc != RM_OK) return rc;
  procfd = rm_native_proc_open();
  if (procfd < 0) {
    rc = rm_native_errno_code(errno, RM_E_INVALID_FUNCTION);
  } else {
    rc = rm_native_control_restart(s->control, &s->filters, procfd, s->dirfd,
                                   fn, ctx);
    close(procfd);
  }
  rm_native_control_end(s->control);
  return rc;
}

unsigned rm_backend_cancel(rm_session *s) {
  unsigned rc = conductor(s);
  if (rc != RM_OK) return rc;
  return rm_native_control_cancel(s->control);
}

unsigned rm_backend_cancel_key(const char *key) {
  rm_session *s;
  unsigned rc = RM_E_INVALID_HANDLE;
  pthread_mutex_lock(&primaries_lock);
  for (s = primaries; s; s = s->next_primary) {
    if (strcmp(s->key, key) == 0) {
      /* under the lock: the session cannot be freed meanwhile */
      rc = rm_native_control_cancel(s->control);
      break;
    }
  }
  pthread_mutex_unlock(&primaries_lock);
  return rc;
}

/* ---------------------------------------------------------------------
 * Filters
 * ------------------------------------------------------------------- */

unsigned rm_backend_add_filter(rm_session *s, const rm_filter *f) {
  unsigned rc = conductor(s);
  if (rc != RM_OK) return rc;
  drop_pending(s);
  return rm_native_filters_add(&s->filters, f);
}

unsigned rm_backend_remove_filter(rm_session *s, const rm_filter *f) {
  unsigned rc = conductor(s);
  if (rc != RM_OK) return rc;
  drop_pending(s);
  return rm_filters_remove(&s->filters, f);
}

unsigned rm_backend_get_filter_list(rm_session *s, void *buf, size_t size,
                                    size_t *needed, unsigned *count) {
  unsigned rc = conductor(s);
  *needed = 0;
  *count = 0;
  if (rc != RM_OK) return rc;
  return rm_filters_layout(&s->filters, buf, size, needed, count);
}

/* ---------------------------------------------------------------------
 * Processes, restart registration, errors
 * ------------------------------------------------------------------- */

void rm_native_recovered_free(rm_recovered *r, size_t n) {
  size_t i;
  if (!r) return;
  for (i = 0; i < n; i++) {
    free(r[i].service);
    free(r[i].exe);
  }
  free(r);
}

unsigned rm_native_recover(rm_recovered **out, size_t *n) {
  rm_native_recovery_log log;
  unsigned rc;
  int storefd = rm_native_store_open(&rc);
  *out = NULL;
  *n = 0;
  if (storefd < 0) return rc;
  memset(&log, 0, sizeof log);
  rc = rm_native_store_sweep(storefd, rm_native_recovery_run, &log);
  close(storefd);
  /* what was started is started: a log short of memory says so */
  if (rc == RM_OK && log.failed) rc = RM_E_OUTOFMEMORY;
  if (rc != RM_OK) {
    rm_native_recovered_free(log.items, log.n);
    return rc;
  }
  *out = log.items;
  *n = log.n;
  return RM_OK;
}

unsigned rm_backend_process(uint32_t pid, rm_unique_process *out) {
  uint64_t start;
  int err = rm_native_proc_start_time(pid, &start);
  if (err) return rm_native_errno_code(err, RM_E_INVALID_PARAMETER);
  out->pid = pid;
  out->start_time = start;
  return RM_OK;
}

unsigned rm_backend_register_restart(size_t argc, const char *const *argv,
                                     uint32_t flags) {
  return rm_native_restart_register(argc, argv, flags);
}

unsigned rm_backend_unregister_restart(void) {
  return rm_native_restart_unregister();
}

void rm_backend_error_text(unsigned code, char *buf, size_t size) {
  const char *t;
  switch (code) {
  case RM_E_INVALID_FUNCTION:
    t = "not supported (/proc is not mounted, or cannot be read)";
    break;
  case RM_OK: t = "the operation completed successfully"; break;
  case RM_E_FILE_NOT_FOUND: t = "no such filter"; break;
  case RM_E_TOO_MANY_OPEN_FILES:
    t = "too many open files: the process reached its descriptor limit "
        "(RLIMIT_NOFILE)";
    break;
  case RM_E_ACCESS_DENIED: {
    char path[4096];
    if (rm_native_store_path(path, sizeof path) != 0) strcpy(path, "?");
    snprintf(buf, size,
             "access denied: the session store %s is not a private "
             "directory of the calling user (it must be a real directory, "
             "not a symbolic link, owned by the user, with no access for "
             "group or others)",
             path);
    return;
  }
  case RM_E_INVALID_HANDLE:
    t = "the session is no longer valid (its primary ended it or died)";
    break;
  case RM_E_OUTOFMEMORY: t = "not enough memory"; break;
  case RM_E_NOT_SUPPORTED:
    t = "processes cannot be signalled safely here: pidfd_open is not "
        "available (Linux 5.3 or later is needed, and no seccomp policy may "
        "deny it); nothing was signalled";
    break;
  case RM_E_INVALID_PARAMETER: t = "no such process"; break;
  case RM_E_WRITE_FAULT: t = "reading or writing the session store failed"; break;
  case RM_E_SEM_TIMEOUT: t = "timed out waiting for the session store's lock"; break;
  case RM_E_BAD_ARGUMENTS:
    t = "invalid arguments (an empty name, or a relative path while the "
        "working directory no longer exists)";
    break;
  case RM_E_BUSY:
    t = "the session is busy with a shutdown or restart";
    break;
  case RM_E_MORE_DATA: t = "more data is available: the capacity is too small"; break;
  case RM_E_FAIL_NOACTION_REBOOT:
    t = "a reboot is needed: nothing was shut down";
    break;
  case RM_E_FAIL_SHUTDOWN: t = "some applications could not be shut down"; break;
  case RM_E_FAIL_RESTART: t = "some applications could not be restarted"; break;
  case RM_E_MAX_SESSIONS_REACHED:
    t = "the maximum number of sessions (64 per user) is reached";
    break;
  case RM_E_REQUEST_OUT_OF_SEQUENCE:
    t = "restart was called before shutdown";
    break;
  case RM_E_SESSION_CREDENTIAL_CONFLICT:
    t = "the session key is unknown, belongs to another user, or the call is "
        "reserved to the primary installer";
    break;
  case RM_E_CANCELLED: t = "the operation was cancelled"; break;
  default: t = "unknown error"; break;
  }
  snprintf(buf, size, "%s", t);
}

const char *rm_backend_wine_version(void) { return NULL; }

const char *rm_backend_engine(void) { return "native"; }
