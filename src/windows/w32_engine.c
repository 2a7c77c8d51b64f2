/*
 * The win32 engine (engine.h): the Restart Manager's session model over
 * plain Win32, for where rstrtmgr.dll is only stubs (Wine, Proton). The same
 * semantics as the native backend:
 *
 * - Sessions live in the per-user store (w32_store.c); a secondary's calls
 *   fail with ERROR_INVALID_HANDLE once the primary is gone.
 * - The list (w32_scan.c): who holds, maps or runs a registered file, the
 *   registered processes still running, the registered services' processes.
 * - Shutdown: applications with a window are asked to close the way Windows
 *   asks them at log-off, per top-level window: WM_QUERYENDSESSION with
 *   ENDSESSION_CLOSEAPP (an application may refuse), WM_ENDSESSION, then
 *   WM_CLOSE; services are sent SERVICE_CONTROL_STOP. Console applications
 *   and those with no window have no polite way to be asked (a console
 *   control event reaches only processes sharing the caller's console):
 *   only `force` stops them. With `force`, whatever still runs after the
 *   timeout is ended with TerminateProcess. Each process is held by a handle
 *   opened at the shutdown and checked against the listed creation time, so
 *   a reused pid is never touched; its exit is seen on that handle.
 * - Restart: from this engine's own restart registrations
 *   (core.register_application_restart records there when the engine runs),
 *   with CreateProcessW; console applications in a new console.
 * - Filters and cancel as on the native backend: filters live in the
 *   primary's process; cancel works from any thread (or, by key, any Lua
 *   state) and ends the running task with ERROR_CANCELLED.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmdline.h"
#include "engine.h"
#include "../filters.h"
#include "../process.h"
#include "../progress.h"
#include "w32.h"

/* How long the stop of each message to one window may take, at most. */
#define MESSAGE_TIMEOUT_MS 5000
/* How long processes ended by force get to be gone. */
#define KILL_WAIT_MS 5000

typedef struct stopped {
  rm_app app;
  HANDLE h;   /* kept from the shutdown: identity and exit */
  int exited; /* 1 gone, 0 still running, -1 never asked */
  int asked;  /* a polite request was made */
  char *reg;  /* restart registration (rm_win_reg_read), or NULL */
  size_t reglen;
} stopped;

typedef struct w32s {
  int primary;
  char key[RM_KEY_LEN + 1];
  HANDLE token;  /* primary: the session's liveness token */
  HANDLE cancel; /* primary: manual-reset, set by cancel */
  rm_filters filters; /* primary only */
  stopped *apps;
  size_t napps;
  int shut_down;
  volatile LONG busy;
  struct w32s *next_primary;
} w32s;

static SRWLOCK primaries_lock = SRWLOCK_INIT;
static w32s *primaries;

static void primary_add(w32s *s) {
  AcquireSRWLockExclusive(&primaries_lock);
  s->next_primary = primaries;
  primaries = s;
  ReleaseSRWLockExclusive(&primaries_lock);
}

static void primary_remove(w32s *s) {
  w32s **p;
  AcquireSRWLockExclusive(&primaries_lock);
  for (p = &primaries; *p; p = &(*p)->next_primary)
    if (*p == s) {
      *p = s->next_primary;
      break;
    }
  ReleaseSRWLockExclusive(&primaries_lock);
}

/* ---------------------------------------------------------------------
 * Sessions
 * ------------------------------------------------------------------- */

static unsigned w_start(void **out, char key[RM_KEY_LEN + 1]) {
  w32s *s = (w32s *)calloc(1, sizeof *s);
  unsigned rc;
  *out = NULL;
  if (!s) return RM_E_OUTOFMEMORY;
  s->cancel = CreateEventW(NULL, TRUE, FALSE, NULL);
  if (!s->cancel) {
    free(s);
    return rm_win_last_error();
  }
  rc = rm_win_store_create(s->key, &s->token);
  if (rc != RM_OK) {
    CloseHandle(s->cancel);
    free(s);
    return rc;
  }
  s->primary = 1;
  memcpy(key, s->key, RM_KEY_LEN + 1);
  primary_add(s);
  *out = s;
  return RM_OK;
}

static unsigned w_join(void **out, const char *key) {
  w32s *s;
  unsigned rc = rm_win_store_alive(key, RM_E_SESSION_CREDENTIAL_CONFLICT);
  *out = NULL;
  if (rc != RM_OK) return rc;
  /* one of this process's own sessions: the primary is here */
  s = (w32s *)calloc(1, sizeof *s);
  if (!s) return RM_E_OUTOFMEMORY;
  memcpy(s->key, key, RM_KEY_LEN + 1);
  *out = s;
  return RM_OK;
}

static void free_stopped(w32s *s) {
  size_t i;
  for (i = 0; i < s->napps; i++) {
    if (s->apps[i].h) CloseHandle(s->apps[i].h);
    free(s->apps[i].reg);
  }
  free(s->apps);
  s->apps = NULL;
  s->napps = 0;
}

static unsigned w_end(void *v) {
  w32s *s = (w32s *)v;
  if (s->primary) {
    primary_remove(s);
    rm_win_store_remove(s->key);
    CloseHandle(s->token);
    CloseHandle(s->cancel);
  }
  free_stopped(s);
  rm_filters_free(&s->filters);
  free(s);
  return RM_OK;
}

static unsigned check(w32s *s) {
  if (s->primary) return RM_OK; /* it holds the token itself */
  return rm_win_store_alive(s->key, RM_E_INVALID_HANDLE);
}

static unsigned conductor(w32s *s) {
  unsigned rc = check(s);
  if (rc != RM_OK) return rc;
  return s->primary ? RM_OK : RM_E_SESSION_CREDENTIAL_CONFLICT;
}

/* ---------------------------------------------------------------------
 * Registration records
 * ------------------------------------------------------------------- */

typedef struct textbuf {
  char *p;
  size_t len, cap;
  int failed;
} textbuf;

static void tb_add(textbuf *b, const char *s, size_t n) {
  if (b->failed) return;
  if (b->len + n + 1 > b->cap) {
    size_t ncap = b->cap ? b->cap : 256;
    char *np;
    while (ncap < b->len + n + 1) ncap *= 2;
    np = (char *)realloc(b->p, ncap);
    if (!np) {
      b->failed = 1;
      return;
    }
    b->p = np;
    b->cap = ncap;
  }
  memcpy(b->p + b->len, s, n);
  b->len += n;
  b->p[b->len] = '\0';
}

static void tb_str(textbuf *b, const char *s) { tb_add(b, s, strlen(s)); }

/* "F VOLUME INDEX PATH\n" for one file: its absolute path and identity. */
static unsigned file_line(textbuf *b, const char *path) {
  WCHAR *w, *full;
  DWORD n;
  unsigned rc = RM_OK;
  rm_win_fileid id = {0, 0};
  char head[64], *u8;
  if (!path[0] || strpbrk(path, "\r\n")) return RM_E_BAD_ARGUMENTS;
  w = rm_win_to_wide(path, &rc);
  if (!w) return rc;
  n = GetFullPathNameW(w, 0, NULL, NULL);
  full = n ? (WCHAR *)malloc((size_t)n * sizeof *full) : NULL;
  if (!full || GetFullPathNameW(w, n, full, NULL) >= n) {
    free(w);
    free(full);
    return n ? RM_E_OUTOFMEMORY : RM_E_BAD_ARGUMENTS;
  }
  free(w);
  rm_win_file_identity(full, &id);
  u8 = rm_win_utf8_dup(full);
  free(full);
  if (!u8) return RM_E_OUTOFMEMORY;
  snprintf(head, sizeof head, "F %lu %llu ", (unsigned long)id.volume,
           (unsigned long long)id.index);
  tb_str(b, head);
  tb_str(b, u8);
  tb_str(b, "\n");
  free(u8);
  return RM_OK;
}

static unsigned w_register(void *v, size_t nfiles, const char *const *files,
                           size_t nprocs, const rm_unique_process *procs,
                           size_t nsvcs, const char *const *svcs) {
  w32s *s = (w32s *)v;
  textbuf b = {NULL, 0, 0, 0};
  unsigned rc = check(s);
  size_t i;
  char line[64];
  if (rc != RM_OK) return rc;
  for (i = 0; i < nfiles && rc == RM_OK; i++) rc = file_line(&b, files[i]);
  for (i = 0; i < nprocs && rc == RM_OK; i++) {
    snprintf(line, sizeof line, "P %lu %llu\n", (unsigned long)procs[i].pid,
             (unsigned long long)procs[i].start_time);
    tb_str(&b, line);
  }
  for (i = 0; i < nsvcs && rc == RM_OK; i++) {
    if (!svcs[i][0] || strpbrk(svcs[i], "\r\n")) {
      rc = RM_E_BAD_ARGUMENTS;
      break;
    }
    tb_str(&b, "S ");
    tb_str(&b, svcs[i]);
    tb_str(&b, "\n");
  }
  tb_str(&b, "E\n");
  if (rc == RM_OK && b.failed) rc = RM_E_OUTOFMEMORY;
  if (rc == RM_OK && (nfiles || nprocs || nsvcs))
    rc = rm_win_store_append(s->key, b.p, b.len);
  free(b.p);
  return rc;
}

/* ---------------------------------------------------------------------
 * Filters
 * ------------------------------------------------------------------- */

/* A file filter's identity when it is added. */
static unsigned identify(void *ctx, const char *path, rm_file_id *id,
                         int *has_id) {
  rm_win_fileid fid;
  unsigned rc = RM_OK;
  WCHAR *w = rm_win_to_wide(path, &rc);
  (void)ctx;
  if (!w) return rc;
  if (rm_win_file_identity(w, &fid)) {
    id->volume = fid.volume;
    id->index = fid.index;
    *has_id = 1;
  }
  free(w);
  return RM_OK;
}

static unsigned w_add_filter(void *v, const rm_filter *f) {
  w32s *s = (w32s *)v;
  unsigned rc = conductor(s);
  if (rc != RM_OK) return rc;
  return rm_filters_add(&s->filters, f, identify, NULL);
}

static unsigned w_remove_filter(void *v, const rm_filter *f) {
  w32s *s = (w32s *)v;
  unsigned rc = conductor(s);
  if (rc != RM_OK) return rc;
  return rm_filters_remove(&s->filters, f);
}

static unsigned w_get_filter_list(void *v, void *buf, size_t size,
                                  size_t *needed, unsigned *count) {
  w32s *s = (w32s *)v;
  unsigned rc = conductor(s);
  *needed = 0;
  *count = 0;
  if (rc != RM_OK) return rc;
  return rm_filters_layout(&s->filters, buf, size, needed, count);
}

static int pid_listed(const uint32_t *v, size_t n, uint32_t pid) {
  size_t i;
  for (i = 0; i < n; i++)
    if (v[i] == pid) return 1;
  return 0;
}

/* The users of each file filter, read once for a whole list. */
typedef struct file_users {
  uint32_t *pids;
  size_t n;
  int known; /* 0: they could not be read */
} file_users;

/* The users of file filter e: by the identity it had when added and by the
 * one its path has now. */
static void read_users(const rm_filter_entry *e, file_users *u) {
  rm_win_fileid ids[2];
  size_t nids = 0;
  unsigned rc = RM_OK;
  WCHAR *w = rm_win_to_wide(e->name, &rc);
  if (e->has_id) {
    ids[0].volume = (uint32_t)e->id.volume;
    ids[0].index = e->id.index;
    nids = 1;
  }
  if (w) {
    rm_win_fileid now;
    if (rm_win_file_identity(w, &now) &&
        !(nids && now.volume == ids[0].volume && now.index == ids[0].index))
      ids[nids++] = now;
    free(w);
  }
  u->known = rm_win_users(ids, nids, &u->pids, &u->n) == RM_OK;
}

/* ctx: the file_users of every filter (NULL: none could be read). */
static int uses_file(void *ctx, size_t k, const rm_filter_entry *e,
                     const rm_app *a) {
  const file_users *u = (const file_users *)ctx;
  (void)e;
  if (!u || !u[k].known) return -1;
  return pid_listed(u[k].pids, u[k].n, a->process.pid);
}

/* Service names are compared without regard to case, as Windows does. */
static int names_service(void *ctx, const char *name, const char *service) {
  (void)ctx;
  return _stricmp(name, service) == 0;
}

/* Applies the filters to apps[0..n) (rm_filters_action): the strongest
 * action that applies wins. */
static void apply_filters(w32s *s, rm_app *apps, size_t n) {
  file_users *users = NULL;
  rm_filter_match m;
  size_t i, k;
  if (s->filters.n && n) {
    users = (file_users *)calloc(s->filters.n, sizeof *users);
    for (k = 0; users && k < s->filters.n; k++)
      if (s->filters.v[k].f.trigger == RM_FILTER_TRIGGER_FILE)
        read_users(&s->filters.v[k], &users[k]);
    m.file = uses_file;
    m.service = names_service;
    m.ctx = users;
    for (i = 0; i < n; i++)
      apps[i].status |= rm_filters_mask(rm_filters_action(&s->filters, &m,
                                                          &apps[i]));
    for (k = 0; users && k < s->filters.n; k++) free(users[k].pids);
    free(users);
  }
  /* what this session's shutdown did to a process still running stays in
   * its status */
  for (i = 0; i < n; i++)
    for (k = 0; k < s->napps; k++)
      if (s->apps[k].app.process.pid == apps[i].process.pid &&
          s->apps[k].app.process.start_time == apps[i].process.start_time)
        apps[i].status |= s->apps[k].app.status & RM_STATUS_ERROR_ON_STOP;
}

/* ---------------------------------------------------------------------
 * The list
 * ------------------------------------------------------------------- */

static unsigned scan(w32s *s, rm_app **apps, size_t *n, uint32_t *reasons) {
  rm_win_targets t;
  unsigned rc = rm_win_targets_load(s->key, &t);
  if (rc != RM_OK) return rc;
  rc = rm_win_scan(&t, apps, n, reasons);
  rm_win_targets_free(&t);
  if (rc == RM_OK && s->primary) apply_filters(s, *apps, *n);
  return rc;
}

static unsigned w_get_list(void *v, unsigned *needed, unsigned *count,
                           rm_app *apps, uint32_t *reasons) {
  w32s *s = (w32s *)v;
  rm_app *found = NULL;
  size_t n = 0;
  uint32_t why = 0;
  unsigned cap = *count, rc = check(s);
  *needed = 0;
  *count = 0;
  *reasons = 0;
  if (rc != RM_OK) return rc;
  rc = scan(s, &found, &n, &why);
  if (rc != RM_OK) return rc;
  *needed = (unsigned)n;
  if (n > cap) {
    free(found);
    return RM_E_MORE_DATA;
  }
  if (n) memcpy(apps, found, n * sizeof *apps);
  *count = (unsigned)n;
  *reasons = why;
  free(found);
  return RM_OK;
}

/* ---------------------------------------------------------------------
 * Shutdown
 * ------------------------------------------------------------------- */

static int cancelled(w32s *s) {
  return WaitForSingleObject(s->cancel, 0) == WAIT_OBJECT_0;
}

static int has_window(const rm_app *a) {
  return a->type == RM_APP_MAIN_WINDOW || a->type == RM_APP_OTHER_WINDOW;
}

/* Asks every top-level window of st's process to close, as at log-off.
 * Returns 0 when one refused (WM_QUERYENDSESSION answered FALSE). */
static int ask_windows(stopped *st, unsigned timeout_ms) {
  HWND *w;
  size_t n, i;
  DWORD_PTR answer;
  UINT t = timeout_ms < MESSAGE_TIMEOUT_MS ? timeout_ms : MESSAGE_TIMEOUT_MS;
  int refused = 0;
  if (t == 0) t = 1;
  if (rm_win_windows_of(st->app.process.pid, &w, &n) != RM_OK) return 1;
  for (i = 0; i < n && !refused; i++) {
    answer = TRUE;
    if (SendMessageTimeoutW(w[i], WM_QUERYENDSESSION, 0, ENDSESSION_CLOSEAPP,
                            SMTO_ABORTIFHUNG, t, &answer) &&
        answer == FALSE)
      refused = 1;
  }
  for (i = 0; i < n; i++) {
    /* WM_ENDSESSION says whether the session really ends */
    SendMessageTimeoutW(w[i], WM_ENDSESSION, refused ? FALSE : TRUE,
                        ENDSESSION_CLOSEAPP, SMTO_ABORTIFHUNG, t, &answer);
    if (!refused) PostMessageW(w[i], WM_CLOSE, 0, 0);
  }
  free(w);
  return !refused;
}

static void ask_service(const stopped *st) {
  SC_HANDLE scm = OpenSCManagerW(NULL, NULL, SC_MANAGER_CONNECT), svc;
  SERVICE_STATUS ss;
  unsigned rc;
  WCHAR *w;
  if (!scm) return;
  w = rm_win_to_wide(st->app.service, &rc);
  svc = w ? OpenServiceW(scm, w, SERVICE_STOP) : NULL;
  free(w);
  if (svc) {
    ControlService(svc, SERVICE_CONTROL_STOP, &ss);
    CloseServiceHandle(svc);
  }
  CloseServiceHandle(scm);
}

/* Marks the set's processes that ended; returns how many still run. */
static size_t sweep_exits(stopped **set, size_t n, rm_reporter *rep,
                          size_t *done, size_t total) {
  size_t i, left = 0;
  for (i = 0; i < n; i++) {
    if (set[i]->exited != 0) continue;
    if (rm_win_process_ended(set[i]->h)) {
      set[i]->exited = 1;
      (*done)++;
      rm_reporter_report(rep, (unsigned)(*done * 100 / (total + 1)));
    } else {
      left++;
    }
  }
  return left;
}

/* Waits until every asked process of set ended, the deadline passed or the
 * session was cancelled; returns how many of them still run. */
static size_t await_exits(w32s *s, stopped **set, size_t n, ULONGLONG until,
                          rm_reporter *rep, size_t *done, size_t total,
                          int only_asked) {
  for (;;) {
    HANDLE hs[MAXIMUM_WAIT_OBJECTS];
    DWORD nh = 0, wait;
    size_t i, left = 0;
    ULONGLONG now;
    sweep_exits(set, n, rep, done, total);
    for (i = 0; i < n; i++) {
      if (set[i]->exited != 0 || (only_asked && !set[i]->asked)) continue;
      left++;
      if (nh < MAXIMUM_WAIT_OBJECTS - 1) hs[nh++] = set[i]->h;
    }
    if (left == 0 || rep->stop || cancelled(s)) break;
    now = GetTickCount64();
    if (now >= until) break;
    wait = (DWORD)(until - now);
    /* more than one wait can hold: look again now and then */
    if (left > nh && wait > 50) wait = 50;
    hs[nh++] = s->cancel;
    WaitForMultipleObjects(nh, hs, FALSE, wait);
  }
  return sweep_exits(set, n, rep, done, total);
}

/* Opens the listed process for the shutdown: the same process (creation
 * time) and still running, else NULL. */
static HANDLE open_listed(const rm_app *a) {
  HANDLE h = OpenProcess(SYNCHRONIZE | PROCESS_TERMINATE |
                             PROCESS_QUERY_LIMITED_INFORMATION,
                         FALSE, (DWORD)a->process.pid);
  if (!h) return NULL;
  if (rm_win_process_ended(h) ||
      rm_win_process_created(h) != a->process.start_time) {
    CloseHandle(h);
    return NULL;
  }
  return h;
}

/* Takes apps into the session's stopped list; set gets those to stop. */
static unsigned take_apps(w32s *s, rm_app *apps, size_t n, stopped **set,
                          size_t *total) {
  stopped *grown = (stopped *)realloc(s->apps,
                                      (s->napps + n + 1) * sizeof *grown);
  size_t i;
  int pass;
  *total = 0;
  if (!grown) return RM_E_OUTOFMEMORY;
  s->apps = grown;
  /* applications first, services after them */
  for (pass = 0; pass < 2; pass++)
    for (i = 0; i < n; i++) {
      stopped *st;
      if ((apps[i].type == RM_APP_SERVICE) != pass) continue;
      if (apps[i].status & RM_STATUS_SHUTDOWN_MASKED) continue;
      st = &s->apps[s->napps++];
      memset(st, 0, sizeof *st);
      st->app = apps[i];
      st->h = open_listed(&apps[i]);
      if (!st->h) {
        /* gone since the list, or the pid names another process now */
        st->app.status = (st->app.status & ~RM_STATUS_RUNNING) |
                         RM_STATUS_STOPPED_OTHER;
        continue;
      }
      if (rm_win_reg_read(&st->app.process, &st->reg, &st->reglen) != RM_OK)
        st->reg = NULL;
      set[(*total)++] = st;
    }
  return RM_OK;
}

/* Sends the polite requests; console applications get none. */
static void ask_all(w32s *s, stopped **set, size_t total, unsigned timeout_ms,
                    rm_reporter *rep) {
  size_t i;
  for (i = 0; i < total && !rep->stop && !cancelled(s); i++) {
    stopped *st = set[i];
    if (has_window(&st->app)) {
      st->asked = 1;
      if (!ask_windows(st, timeout_ms))
        st->asked = 0; /* refused: nothing to wait for */
    } else if (st->app.type == RM_APP_SERVICE) {
      st->asked = 1;
      ask_service(st);
    }
  }
}

static void settle(stopped **set, size_t total) {
  size_t i;
  for (i = 0; i < total; i++) {
    stopped *st = set[i];
    if (st->exited == 1)
      st->app.status = (st->app.status & ~RM_STATUS_RUNNING) |
                       RM_STATUS_STOPPED;
    else
      st->app.status |= RM_STATUS_ERROR_ON_STOP;
  }
}

static unsigned run_shutdown(w32s *s, uint32_t flags, unsigned timeout_ms,
                             rm_reporter *rep) {
  rm_app *apps = NULL;
  stopped **set = NULL;
  size_t n = 0, i, total = 0, done = 0, left;
  uint32_t reasons = 0;
  unsigned rc = scan(s, &apps, &n, &reasons);
  if (rc != RM_OK) return rc;
  /* any reboot reason: shutting down cannot free every resource */
  if (reasons) {
    free(apps);
    return RM_E_FAIL_NOACTION_REBOOT;
  }
  if (flags & RM_SHUTDOWN_ONLY_REGISTERED)
    for (i = 0; i < n; i++)
      if (!(apps[i].status & RM_STATUS_SHUTDOWN_MASKED) &&
          !apps[i].restartable) {
        free(apps);
        return RM_E_FAIL_SHUTDOWN; /* stops nothing */
      }
  set = (stopped **)calloc(n + 1, sizeof *set);
  rc = set ? take_apps(s, apps, n, set, &total) : RM_E_OUTOFMEMORY;
  free(apps);
  if (rc != RM_OK) {
    free(set);
    return rc;
  }
  s->shut_down = 1;
  rm_reporter_report(rep, 0);
  ask_all(s, set, total, timeout_ms, rep);
  left = await_exits(s, set, total, GetTickCount64() + timeout_ms, rep,
                     &done, total, 1);
  /* the unasked (console) ones still run too */
  for (i = 0, left = 0; i < total; i++) left += set[i]->exited == 0;
  if (left && (flags & RM_SHUTDOWN_FORCE) && !rep->stop && !cancelled(s)) {
    for (i = 0; i < total; i++)
      if (set[i]->exited == 0) TerminateProcess(set[i]->h, 1);
    left = await_exits(s, set, total, GetTickCount64() + KILL_WAIT_MS, rep,
                       &done, total, 0);
  }
  settle(set, total);
  free(set);
  if (cancelled(s) || rep->stop) return RM_E_CANCELLED;
  if (left) return RM_E_FAIL_SHUTDOWN;
  rm_reporter_report(rep, 100);
  return RM_OK;
}

static unsigned w_shutdown(void *v, uint32_t flags, unsigned timeout_ms,
                           rm_progress_fn fn, void *ctx) {
  w32s *s = (w32s *)v;
  rm_reporter rep;
  unsigned rc = conductor(s);
  if (rc != RM_OK) return rc;
  rm_reporter_init(&rep, fn, ctx);
  if (flags & ~(RM_SHUTDOWN_FORCE | RM_SHUTDOWN_ONLY_REGISTERED))
    return RM_E_BAD_ARGUMENTS;
  if (InterlockedCompareExchange(&s->busy, 1, 0) != 0) return RM_E_BUSY;
  ResetEvent(s->cancel);
  rc = run_shutdown(s, flags, timeout_ms, &rep);
  InterlockedExchange(&s->busy, 0);
  return rc;
}

/* ---------------------------------------------------------------------
 * Restart registrations and restart
 * ------------------------------------------------------------------- */

/* A registration: RM_WIN_REG_MAGIC, flags, the executable, the working directory,
 * the command line (the executable quoted, then the arguments), then the
 * environment's strings; each NUL-terminated, UTF-8. */
static unsigned w_register_restart(size_t argc, const char *const *argv,
                                   uint32_t flags) {
  WCHAR exe[MAX_PATH * 4], cwd[MAX_PATH * 4], *env, *e;
  textbuf b = {NULL, 0, 0, 0};
  rm_unique_process self;
  const char **all;
  char *u8exe, *u8cwd, num[16], *line;
  size_t len, i;
  unsigned rc = rm_backend_process((uint32_t)GetCurrentProcessId(), &self);
  if (rc != RM_OK) return rc;
  if (!GetModuleFileNameW(NULL, exe, MAX_PATH * 4) ||
      !GetCurrentDirectoryW(MAX_PATH * 4, cwd))
    return rm_win_last_error();
  u8exe = rm_win_utf8_dup(exe);
  u8cwd = rm_win_utf8_dup(cwd);
  all = (const char **)calloc(argc + 1, sizeof *all);
  if (!u8exe || !u8cwd || !all) {
    free(u8exe);
    free(u8cwd);
    free((void *)all);
    return RM_E_OUTOFMEMORY;
  }
  all[0] = u8exe;
  for (i = 0; i < argc; i++) all[i + 1] = argv[i];
  len = rm_win_cmdline_quote(argc + 1, all, NULL, 0);
  line = (char *)malloc(len + 1);
  if (line) rm_win_cmdline_quote(argc + 1, all, line, len + 1);
  free((void *)all);
  snprintf(num, sizeof num, "%lu", (unsigned long)flags);
  tb_add(&b, RM_WIN_REG_MAGIC, sizeof RM_WIN_REG_MAGIC);
  tb_add(&b, num, strlen(num) + 1);
  tb_add(&b, u8exe, strlen(u8exe) + 1);
  tb_add(&b, u8cwd, strlen(u8cwd) + 1);
  if (line) tb_add(&b, line, strlen(line) + 1);
  free(u8exe);
  free(u8cwd);
  env = GetEnvironmentStringsW();
  for (e = env; e && *e; e += wcslen(e) + 1) {
    char *u = rm_win_utf8_dup(e);
    if (!u) {
      b.failed = 1;
      break;
    }
    tb_add(&b, u, strlen(u) + 1);
    free(u);
  }
  if (env) FreeEnvironmentStringsW(env);
  if (!line || b.failed) rc = RM_E_OUTOFMEMORY;
  else rc = rm_win_reg_write(&self, b.p, b.len);
  free(line);
  free(b.p);
  return rc;
}

static unsigned w_unregister_restart(void) {
  rm_unique_process self;
  unsigned rc = rm_backend_process((uint32_t)GetCurrentProcessId(), &self);
  return rc != RM_OK ? rc : rm_win_reg_remove(&self);
}

/* The parts of a registration; 0 when it is malformed. */
typedef struct reg_parts {
  uint32_t flags;
  const char *exe, *cwd, *line;
  const char *env; /* the first environment string */
  const char *end;
} reg_parts;

static int parse_reg(const char *buf, size_t len, reg_parts *r) {
  const char *p = buf, *end = buf + len, *f[5];
  int i;
  if (len == 0 || buf[len - 1] != '\0') return 0;
  for (i = 0; i < 5; i++) {
    if (p >= end) return 0;
    f[i] = p;
    p += strlen(p) + 1;
  }
  if (strcmp(f[0], RM_WIN_REG_MAGIC) != 0) return 0;
  r->flags = (uint32_t)strtoul(f[1], NULL, 10);
  r->exe = f[2];
  r->cwd = f[3];
  r->line = f[4];
  r->env = p;
  r->end = end;
  return 1;
}

/* The registered environment as a UTF-16 block (NULL with *none set when
 * the registration has none: the installer's is inherited). */
static WCHAR *env_block(const reg_parts *r, int *none) {
  size_t units = 1;
  const char *p;
  WCHAR *block, *at;
  *none = r->env >= r->end;
  if (*none) return NULL;
  for (p = r->env; p < r->end; p += strlen(p) + 1) {
    int n = MultiByteToWideChar(CP_UTF8, 0, p, -1, NULL, 0);
    if (n <= 0) return NULL;
    units += (size_t)n;
  }
  block = (WCHAR *)malloc((units + 1) * sizeof *block);
  if (!block) return NULL;
  at = block;
  for (p = r->env; p < r->end; p += strlen(p) + 1)
    at += MultiByteToWideChar(CP_UTF8, 0, p, -1, at, (int)(units - (size_t)(at - block)));
  at[0] = 0;
  at[1] = 0;
  return block;
}

/* Starts st's registered command: console applications in a console of
 * their own, nothing of the installer's inherited. */
static int start_again(const stopped *st) {
  reg_parts r;
  WCHAR *exe, *cwd, *line, *env;
  STARTUPINFOW si;
  PROCESS_INFORMATION pi;
  DWORD how = CREATE_UNICODE_ENVIRONMENT | CREATE_DEFAULT_ERROR_MODE;
  unsigned rc = RM_OK;
  int ok = 0, inherit_env = 0;
  if (!parse_reg(st->reg, st->reglen, &r)) return 0;
  if (st->app.type == RM_APP_CONSOLE) how |= CREATE_NEW_CONSOLE;
  exe = rm_win_to_wide(r.exe, &rc);
  cwd = rm_win_to_wide(r.cwd, &rc);
  line = rm_win_to_wide(r.line, &rc);
  env = env_block(&r, &inherit_env);
  memset(&si, 0, sizeof si);
  si.cb = sizeof si;
  if (exe && cwd && line && (env || inherit_env) &&
      CreateProcessW(exe, line, NULL, NULL, FALSE, how, env,
                     cwd[0] ? cwd : NULL, &si, &pi)) {
    CloseHandle(pi.hThread);
    CloseHandle(pi.hProcess);
    ok = 1;
  }
  free(exe);
  free(cwd);
  free(line);
  free(env);
  return ok;
}

/* At the restart, file filters no longer apply: they were applied while
 * the app ran (a stopped app uses no file). */
static int uses_no_file(void *ctx, size_t k, const rm_filter_entry *e,
                        const rm_app *a) {
  (void)ctx;
  (void)k;
  (void)e;
  (void)a;
  return 0;
}

/* The action of the process and service filters that apply to a. */
static int restart_action(w32s *s, const rm_app *a) {
  rm_filter_match m;
  m.file = uses_no_file;
  m.service = names_service;
  m.ctx = NULL;
  return rm_filters_action(&s->filters, &m, a);
}

static int wants_restart(const stopped *st) {
  reg_parts r;
  return (st->app.status & RM_STATUS_STOPPED) && st->reg &&
         parse_reg(st->reg, st->reglen, &r) &&
         !(r.flags & RM_RESTART_NO_PATCH);
}

static unsigned w_restart(void *v, rm_progress_fn fn, void *ctx) {
  w32s *s = (w32s *)v;
  rm_reporter rep;
  size_t i, total = 0, done = 0;
  int failed = 0;
  unsigned rc = conductor(s);
  if (rc != RM_OK) return rc;
  rm_reporter_init(&rep, fn, ctx);
  if (InterlockedCompareExchange(&s->busy, 1, 0) != 0) return RM_E_BUSY;
  if (!s->shut_down) {
    InterlockedExchange(&s->busy, 0);
    return RM_E_REQUEST_OUT_OF_SEQUENCE;
  }
  ResetEvent(s->cancel);
  for (i = 0; i < s->napps; i++) total += wants_restart(&s->apps[i]);
  rm_reporter_report(&rep, 0);
  /* the reverse of the stop order */
  for (i = s->napps; i-- > 0;) {
    stopped *st = &s->apps[i];
    if (rep.stop || cancelled(s)) break;
    if (!wants_restart(st)) continue;
    /* file filters were applied while the app ran; process and service
     * filters may have come since */
    st->app.status |= rm_filters_mask(restart_action(s, &st->app));
    if (st->app.status & RM_STATUS_RESTART_MASKED) continue;
    if (start_again(st)) {
      st->app.status |= RM_STATUS_RESTARTED;
    } else {
      st->app.status |= RM_STATUS_ERROR_ON_RESTART;
      failed = 1;
    }
    done++;
    rm_reporter_report(&rep, (unsigned)(done * 100 / (total ? total : 1)));
  }
  if (rep.stop || cancelled(s)) {
    rc = RM_E_CANCELLED;
  } else {
    rm_reporter_report(&rep, 100);
    rc = failed ? RM_E_FAIL_RESTART : RM_OK;
    free_stopped(s);
    s->shut_down = 0;
  }
  InterlockedExchange(&s->busy, 0);
  return rc;
}

/* ---------------------------------------------------------------------
 * Cancel
 * ------------------------------------------------------------------- */

static unsigned w_cancel(void *v) {
  w32s *s = (w32s *)v;
  unsigned rc = conductor(s);
  if (rc != RM_OK) return rc;
  return SetEvent(s->cancel) ? RM_OK : rm_win_last_error();
}

static unsigned w_cancel_key(const char *key) {
  w32s *s;
  unsigned rc = RM_E_INVALID_HANDLE;
  AcquireSRWLockShared(&primaries_lock);
  for (s = primaries; s; s = s->next_primary)
    if (strcmp(s->key, key) == 0) {
      rc = SetEvent(s->cancel) ? RM_OK : rm_win_last_error();
      break;
    }
  ReleaseSRWLockShared(&primaries_lock);
  return rc;
}

const rm_win_engine rm_win_w32 = {
  "win32",
  w_start,
  w_join,
  w_end,
  w_register,
  w_get_list,
  w_shutdown,
  w_restart,
  w_cancel,
  w_cancel_key,
  w_add_filter,
  w_remove_filter,
  w_get_filter_list,
  w_register_restart,
  w_unregister_restart,
};
