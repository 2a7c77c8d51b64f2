/*
 * The Windows backend's rstrtmgr engine (engine.h): the Restart Manager of
 * rstrtmgr.dll, through its W functions only. Strings arrive as
 * UTF-8 (checked by the binding) and are converted to UTF-16 with
 * MB_ERR_INVALID_CHARS; UTF-16 coming back is converted to UTF-8.
 *
 * Every out-parameter is initialised before the call that should write it:
 * Wine's rstrtmgr.dll, for one, leaves the key of RmStartSession and the
 * reboot reasons of RmGetList unwritten.
 */
#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#ifndef _WIN32_WINNT
#define _WIN32_WINNT 0x0600 /* Vista: the Restart Manager's first release */
#endif
#include <windows.h>
#include <restartmanager.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* src/ headers by path, here and in every Windows source: the Windows build
 * has no -Isrc, with which src/restartmanager.h (the public header) would
 * hide the SDK's above */
#include "../backend.h"
#include "engine.h"
#include "wutil.h"

#ifdef _MSC_VER
#pragma comment(lib, "rstrtmgr.lib")
#endif

/* Codes the mingw-w64 headers lack. */
#ifndef ERROR_FAIL_NOACTION_REBOOT
#define ERROR_FAIL_NOACTION_REBOOT 350L
#endif
#ifndef ERROR_FAIL_SHUTDOWN
#define ERROR_FAIL_SHUTDOWN 351L
#endif
#ifndef ERROR_FAIL_RESTART
#define ERROR_FAIL_RESTART 352L
#endif
#ifndef ERROR_MAX_SESSIONS_REACHED
#define ERROR_MAX_SESSIONS_REACHED 353L
#endif
#ifndef ERROR_REQUEST_OUT_OF_SEQUENCE
#define ERROR_REQUEST_OUT_OF_SEQUENCE 776L
#endif

/* The handle is a DWORD and 0 is a valid one: whether the session is open is
 * tracked by the existence of this object, never by the handle's value. */
typedef struct rms {
  DWORD handle;
  int primary;
  char key[RM_KEY_LEN + 1];
  struct rms *next_primary; /* this process's primaries (cancel) */
} rms;

/* The process's live primary sessions, so that another thread (or Lua
 * state) can cancel a session's running task by its key: the Restart
 * Manager's handles are valid process-wide. */
static SRWLOCK primaries_lock = SRWLOCK_INIT;
static rms *primaries;

static unsigned cancel_handle(DWORD handle);

static void primary_add(rms *s) {
  AcquireSRWLockExclusive(&primaries_lock);
  s->next_primary = primaries;
  primaries = s;
  ReleaseSRWLockExclusive(&primaries_lock);
}

static void primary_remove(rms *s) {
  rms **p;
  AcquireSRWLockExclusive(&primaries_lock);
  for (p = &primaries; *p; p = &(*p)->next_primary) {
    if (*p == s) {
      *p = s->next_primary;
      break;
    }
  }
  ReleaseSRWLockExclusive(&primaries_lock);
}

static unsigned rstr_cancel_key(const char *key) {
  rms *s;
  DWORD handle = 0;
  int found = 0;
  if (!key[0]) return RM_E_INVALID_HANDLE; /* a key never written */
  AcquireSRWLockShared(&primaries_lock);
  for (s = primaries; s && !found; s = s->next_primary) {
    if (strcmp(s->key, key) == 0) {
      handle = s->handle;
      found = 1;
    }
  }
  ReleaseSRWLockShared(&primaries_lock);
  return found ? cancel_handle(handle) : RM_E_INVALID_HANDLE;
}

/* ---------------------------------------------------------------------
 * Conversions
 * ------------------------------------------------------------------- */

#define to_wide rm_win_to_wide
#define from_wide rm_win_from_wide
#define filetime_u64 rm_win_filetime

/* RM_UNIQUE_PROCESS <-> rm_unique_process: the FILETIME's two halves are the
 * low and high 32 bits of one 64-bit count. */
static void to_unique_process(const rm_unique_process *p,
                              RM_UNIQUE_PROCESS *w) {
  w->dwProcessId = (DWORD)p->pid;
  w->ProcessStartTime.dwLowDateTime = (DWORD)(p->start_time & 0xFFFFFFFFu);
  w->ProcessStartTime.dwHighDateTime = (DWORD)(p->start_time >> 32);
}

static void from_unique_process(const RM_UNIQUE_PROCESS *w,
                                rm_unique_process *p) {
  p->pid = (uint32_t)w->dwProcessId;
  p->start_time = filetime_u64(&w->ProcessStartTime);
}

/* An array of n UTF-16 copies of strs, NULL when n is 0 (rc RM_OK) or on
 * failure (*rc set). Released with free_wide_array. */
static LPCWSTR *to_wide_array(size_t n, const char *const *strs,
                              unsigned *rc) {
  LPCWSTR *v;
  size_t i;
  *rc = RM_OK;
  if (n == 0) return NULL;
  v = (LPCWSTR *)calloc(n, sizeof *v);
  if (!v) {
    *rc = RM_E_OUTOFMEMORY;
    return NULL;
  }
  for (i = 0; i < n; i++) {
    v[i] = to_wide(strs[i], rc);
    if (!v[i]) {
      while (i-- > 0) free((void *)v[i]);
      free((void *)v);
      return NULL;
    }
  }
  return v;
}

static void free_wide_array(size_t n, LPCWSTR *v) {
  size_t i;
  if (!v) return;
  for (i = 0; i < n; i++) free((void *)v[i]);
  free((void *)v);
}

/* ---------------------------------------------------------------------
 * Sessions
 * ------------------------------------------------------------------- */

static unsigned rstr_start(void **out, char key[RM_KEY_LEN + 1]) {
  /* RmStartSession may leave the key unterminated, or (Wine) unwritten. */
  WCHAR wkey[CCH_RM_SESSION_KEY + 1];
  rms *s = (rms *)calloc(1, sizeof *s);
  DWORD rc;
  *out = NULL;
  if (!s) return RM_E_OUTOFMEMORY;
  memset(wkey, 0, sizeof wkey);
  s->handle = 0xFFFFFFFFu;
  rc = RmStartSession(&s->handle, 0, wkey);
  if (rc != ERROR_SUCCESS) {
    free(s);
    return (unsigned)rc;
  }
  s->primary = 1;
  from_wide(wkey, (size_t)(CCH_RM_SESSION_KEY), key, RM_KEY_LEN + 1);
  memcpy(s->key, key, RM_KEY_LEN + 1);
  primary_add(s);
  *out = s;
  return RM_OK;
}

/* The key goes to RmJoinSession in a zero-filled buffer of
 * CCH_RM_SESSION_KEY + 1 characters, the size the SDK declares for the
 * parameter (_In_reads_(CCH_RM_SESSION_KEY+1)); a key of any other length is
 * refused before the call, with the code an unknown key gets. */
static unsigned rstr_join(void **out, const char *key) {
  WCHAR wkey[CCH_RM_SESSION_KEY + 1];
  rms *s;
  DWORD r;
  *out = NULL;
  memset(wkey, 0, sizeof wkey);
  if (strlen(key) != CCH_RM_SESSION_KEY ||
      MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, key,
                          CCH_RM_SESSION_KEY, wkey,
                          CCH_RM_SESSION_KEY) != CCH_RM_SESSION_KEY)
    return RM_E_SESSION_CREDENTIAL_CONFLICT;
  s = (rms *)calloc(1, sizeof *s);
  if (!s) return RM_E_OUTOFMEMORY;
  s->handle = 0xFFFFFFFFu;
  r = RmJoinSession(&s->handle, wkey);
  if (r != ERROR_SUCCESS) {
    free(s);
    return (unsigned)r;
  }
  *out = s;
  return RM_OK;
}

int rm_win_rstrtmgr_gives_key(void) {
  WCHAR wkey[CCH_RM_SESSION_KEY + 1];
  DWORD h = 0xFFFFFFFFu;
  memset(wkey, 0, sizeof wkey);
  if (RmStartSession(&h, 0, wkey) != ERROR_SUCCESS) return 0;
  RmEndSession(h);
  return wkey[0] != 0;
}

static unsigned rstr_end(void *v) {
  rms *s = (rms *)v;
  DWORD rc;
  if (s->primary) primary_remove(s);
  rc = RmEndSession(s->handle);
  free(s);
  return (unsigned)rc;
}


/* ---------------------------------------------------------------------
 * Resources and the affected list
 * ------------------------------------------------------------------- */

static unsigned rstr_register(void *v, size_t nfiles,
                              const char *const *files, size_t nprocs,
                              const rm_unique_process *procs, size_t nsvcs,
                              const char *const *svcs) {
  rms *s = (rms *)v;
  LPCWSTR *wfiles = NULL, *wsvcs = NULL;
  RM_UNIQUE_PROCESS *wprocs = NULL;
  unsigned rc = RM_OK;
  size_t i;
  if (nfiles > UINT_MAX || nprocs > UINT_MAX || nsvcs > UINT_MAX)
    return RM_E_BAD_ARGUMENTS;
  /* an array is passed as NULL exactly when its count is 0 */
  wfiles = to_wide_array(nfiles, files, &rc);
  if (rc != RM_OK) goto done;
  wsvcs = to_wide_array(nsvcs, svcs, &rc);
  if (rc != RM_OK) goto done;
  if (nprocs > 0) {
    wprocs = (RM_UNIQUE_PROCESS *)calloc(nprocs, sizeof *wprocs);
    if (!wprocs) {
      rc = RM_E_OUTOFMEMORY;
      goto done;
    }
    for (i = 0; i < nprocs; i++) to_unique_process(&procs[i], &wprocs[i]);
  }
  rc = (unsigned)RmRegisterResources(s->handle, (UINT)nfiles, wfiles,
                                     (UINT)nprocs, wprocs, (UINT)nsvcs, wsvcs);
done:
  free_wide_array(nfiles, wfiles);
  free_wide_array(nsvcs, wsvcs);
  free(wprocs);
  return rc;
}

static void from_process_info(const RM_PROCESS_INFO *w, rm_app *a) {
  from_unique_process(&w->Process, &a->process);
  from_wide(w->strAppName, CCH_RM_MAX_APP_NAME + 1, a->name, sizeof a->name);
  from_wide(w->strServiceShortName, CCH_RM_MAX_SVC_NAME + 1, a->service,
            sizeof a->service);
  a->type = (int)w->ApplicationType;
  a->status = (uint32_t)w->AppStatus;
  /* RM_INVALID_TS_SESSION (-1) arrives as 0xFFFFFFFF and leaves as -1 */
  a->session_id = (int32_t)w->TSSessionId;
  a->restartable = w->bRestartable != FALSE;
}

static unsigned rstr_get_list(void *v, unsigned *needed, unsigned *count,
                              rm_app *apps, uint32_t *reasons) {
  rms *s = (rms *)v;
  UINT need = 0, n = (UINT)*count;
  DWORD why = 0;
  RM_PROCESS_INFO *info = NULL;
  DWORD rc;
  UINT i;
  unsigned cap = *count;
  *needed = 0;
  *count = 0;
  *reasons = 0;
  if (cap > 0) {
    /* zero-filled, so that a name the call leaves unwritten reads "" */
    info = (RM_PROCESS_INFO *)calloc(cap, sizeof *info);
    if (!info) return RM_E_OUTOFMEMORY;
  }
  rc = RmGetList(s->handle, &need, &n, info, &why);
  *needed = (unsigned)need;
  if (rc == ERROR_SUCCESS) {
    if (n > cap) n = cap;
    for (i = 0; i < n; i++) from_process_info(&info[i], &apps[i]);
    *count = (unsigned)n;
    *reasons = (uint32_t)why;
  }
  free(info);
  return (unsigned)rc;
}

/* ---------------------------------------------------------------------
 * Shutdown and restart
 * ------------------------------------------------------------------- */

/* RM_WRITE_STATUS_CALLBACK takes the percentage and nothing else (no
 * context pointer; the SDK declares it __cdecl, which the trampoline below
 * says too, for i686). The binding's fn and ctx therefore sit, for the
 * duration of RmShutdown or RmRestart, in a slot the trampoline finds by the
 * calling thread's id: the module's only mutable global is the list of
 * these slots, each living on the stack of the call that owns it. The
 * newest slot of a thread comes first, so a callback that runs another
 * session's shutdown gets its own reports. A report that arrives on another
 * thread finds no slot and is dropped: the binding's callback runs Lua,
 * which must stay on the caller's thread. (A list under a slim lock rather
 * than thread-local storage: no initialisation, no runtime library, the
 * same in a DLL and in a static build.)
 *
 * Once fn returns non-zero (the binding's callback does when the Lua
 * function raised; it keeps the error and raises it after the backend
 * returned) later reports are not passed on. fn never unwinds through
 * rstrtmgr's frames: the binding calls Lua with lua_pcall.
 *
 * Cancelling from inside the callback (the Lua layer's deadline does) is
 * not a call Microsoft documents: RmCancelCurrentTask is "called from
 * another thread". So a cancel asked for on the thread that runs the
 * session's task goes to a short-lived watchdog thread, which makes the
 * call while the callback waits for it (at most CANCEL_WAIT_MS: should the
 * Restart Manager hold the call until the task's thread moves on, the
 * callback returns and the cancel lands as soon as it does). */
#define CANCEL_WAIT_MS 5000

typedef struct progress_slot {
  DWORD thread;
  DWORD handle; /* the session whose task runs */
  rm_progress_fn fn;
  void *ctx;
  int stopped;
  struct progress_slot *next;
} progress_slot;

static SRWLOCK progress_lock = SRWLOCK_INIT;
static progress_slot *progress_slots;

static void progress_push(progress_slot *p, DWORD handle, rm_progress_fn fn,
                          void *ctx) {
  p->thread = GetCurrentThreadId();
  p->handle = handle;
  p->fn = fn;
  p->ctx = ctx;
  p->stopped = 0;
  AcquireSRWLockExclusive(&progress_lock);
  p->next = progress_slots;
  progress_slots = p;
  ReleaseSRWLockExclusive(&progress_lock);
}

static void progress_pop(progress_slot *p) {
  progress_slot **at;
  AcquireSRWLockExclusive(&progress_lock);
  for (at = &progress_slots; *at; at = &(*at)->next)
    if (*at == p) {
      *at = p->next;
      break;
    }
  ReleaseSRWLockExclusive(&progress_lock);
}

static void __cdecl progress_trampoline(UINT percent) {
  DWORD me = GetCurrentThreadId();
  progress_slot *p;
  AcquireSRWLockShared(&progress_lock);
  for (p = progress_slots; p; p = p->next)
    if (p->thread == me) break;
  ReleaseSRWLockShared(&progress_lock);
  /* the slot stays valid: its owner is this thread, inside RmShutdown or
   * RmRestart below us on the stack */
  if (p == NULL || p->stopped) return;
  if (p->fn(p->ctx, (unsigned)percent) != 0) p->stopped = 1;
}

/* Whether the calling thread is inside a task of session handle. */
static int on_task_thread(DWORD handle) {
  DWORD me = GetCurrentThreadId();
  progress_slot *p;
  int found = 0;
  AcquireSRWLockShared(&progress_lock);
  for (p = progress_slots; p && !found; p = p->next)
    found = p->thread == me && p->handle == handle;
  ReleaseSRWLockShared(&progress_lock);
  return found;
}

static DWORD WINAPI watchdog(LPVOID arg) {
  return RmCancelCurrentTask((DWORD)(uintptr_t)arg);
}

/* RmCancelCurrentTask(handle), from another thread when the caller runs
 * that session's task. */
static unsigned cancel_handle(DWORD handle) {
  HANDLE t;
  DWORD rc = ERROR_SUCCESS;
  if (!on_task_thread(handle)) return (unsigned)RmCancelCurrentTask(handle);
  t = CreateThread(NULL, 0, watchdog, (LPVOID)(uintptr_t)handle, 0, NULL);
  if (t == NULL) return rm_win_last_error();
  if (WaitForSingleObject(t, CANCEL_WAIT_MS) != WAIT_OBJECT_0 ||
      !GetExitCodeThread(t, &rc))
    rc = ERROR_SUCCESS; /* asked for; it lands when the task allows */
  CloseHandle(t);
  return (unsigned)rc;
}

/* timeout_ms is the native backend's deadline for polite stops; Windows
 * applies its own (the contract: 30 s for applications and 20 s for
 * services under RmForceShutdown), so it is unused here. */
static unsigned rstr_shutdown(void *v, uint32_t flags, unsigned timeout_ms,
                              rm_progress_fn fn, void *ctx) {
  rms *s = (rms *)v;
  progress_slot slot;
  DWORD rc;
  (void)timeout_ms;
  if (fn == NULL)
    return (unsigned)RmShutdown(s->handle, (ULONG)flags, NULL);
  progress_push(&slot, s->handle, fn, ctx);
  rc = RmShutdown(s->handle, (ULONG)flags, progress_trampoline);
  progress_pop(&slot);
  return (unsigned)rc;
}

static unsigned rstr_restart(void *v, rm_progress_fn fn, void *ctx) {
  rms *s = (rms *)v;
  progress_slot slot;
  DWORD rc;
  /* dwRestartFlags is reserved and must be 0 */
  if (fn == NULL) return (unsigned)RmRestart(s->handle, 0, NULL);
  progress_push(&slot, s->handle, fn, ctx);
  rc = RmRestart(s->handle, 0, progress_trampoline);
  progress_pop(&slot);
  return (unsigned)rc;
}

static unsigned rstr_cancel(void *v) {
  return cancel_handle(((rms *)v)->handle);
}

/* ---------------------------------------------------------------------
 * Filters
 * ------------------------------------------------------------------- */

/* The target of f as RmAddFilter/RmRemoveFilter want it: exactly one of
 * *path, *proc and *svc is non-NULL. *wide must be freed. */
static unsigned filter_target(const rm_filter *f, WCHAR **wide,
                              RM_UNIQUE_PROCESS *buf, LPCWSTR *path,
                              RM_UNIQUE_PROCESS **proc, LPCWSTR *svc) {
  unsigned rc = RM_OK;
  *wide = NULL;
  *path = NULL;
  *proc = NULL;
  *svc = NULL;
  switch (f->trigger) {
  case RM_FILTER_TRIGGER_FILE:
  case RM_FILTER_TRIGGER_SERVICE:
    if (!f->name) return RM_E_BAD_ARGUMENTS;
    *wide = to_wide(f->name, &rc);
    if (!*wide) return rc;
    if (f->trigger == RM_FILTER_TRIGGER_FILE)
      *path = *wide;
    else
      *svc = *wide;
    return RM_OK;
  case RM_FILTER_TRIGGER_PROCESS:
    to_unique_process(&f->process, buf);
    *proc = buf;
    return RM_OK;
  default:
    return RM_E_BAD_ARGUMENTS;
  }
}

static unsigned rstr_add_filter(void *v, const rm_filter *f) {
  rms *s = (rms *)v;
  WCHAR *wide;
  RM_UNIQUE_PROCESS pbuf, *proc;
  LPCWSTR path, svc;
  unsigned rc = filter_target(f, &wide, &pbuf, &path, &proc, &svc);
  if (rc != RM_OK) return rc;
  rc = (unsigned)RmAddFilter(s->handle, path, proc, svc,
                             (RM_FILTER_ACTION)f->action);
  free(wide);
  return rc;
}

static unsigned rstr_remove_filter(void *v, const rm_filter *f) {
  rms *s = (rms *)v;
  WCHAR *wide;
  RM_UNIQUE_PROCESS pbuf, *proc;
  LPCWSTR path, svc;
  unsigned rc = filter_target(f, &wide, &pbuf, &path, &proc, &svc);
  if (rc != RM_OK) return rc;
  rc = (unsigned)RmRemoveFilter(s->handle, path, proc, svc);
  free(wide);
  return rc;
}

/* What RmGetFilterList returned is never trusted: every record must lie
 * inside the buffer, every string pointer must point into it and its string
 * must end inside it. Anything else is ERROR_INVALID_DATA. */
#define ERR_INVALID_DATA 13u
/* How often a list that grows between the measuring call and the filling
 * call is asked for again. */
#define FILTER_LIST_TRIES 8

/* One record, decoded: name_at/name_len locate the UTF-16 string inside the
 * buffer (in bytes and units); utf8 is its size as UTF-8 without the NUL. */
typedef struct raw_filter {
  int trigger, action;
  rm_unique_process process;
  size_t name_at, name_len, utf8;
} raw_filter;

/* The string a record's pointer names, located in buf[0..size). */
static unsigned locate_string(const BYTE *buf, size_t size, LPCWSTR p,
                              raw_filter *r) {
  uintptr_t lo = (uintptr_t)buf, at = (uintptr_t)p;
  size_t off, units = 0;
  WCHAR c;
  r->name_at = 0;
  r->name_len = 0;
  r->utf8 = 0;
  if (p == NULL) return RM_OK; /* read as "" */
  if (at < lo || at - lo >= size) return ERR_INVALID_DATA;
  off = (size_t)(at - lo);
  for (;;) {
    if (off + (units + 1) * sizeof c > size) return ERR_INVALID_DATA;
    memcpy(&c, buf + off + units * sizeof c, sizeof c);
    if (c == 0) break;
    units++;
  }
  r->name_at = off;
  r->name_len = units;
  if (units > 0) {
    /* the string may sit at any offset: convert an aligned copy */
    WCHAR *w = (WCHAR *)malloc(units * sizeof *w);
    int n;
    if (!w) return RM_E_OUTOFMEMORY;
    memcpy(w, buf + off, units * sizeof *w);
    n = WideCharToMultiByte(CP_UTF8, 0, w, (int)units, NULL, 0, NULL, NULL);
    free(w);
    if (n <= 0) return ERR_INVALID_DATA;
    r->utf8 = (size_t)n;
  }
  return RM_OK;
}

/* Walks the chain of RM_FILTER_INFO records in buf[0..size) by cbNextOffset
 * (relative to the record, 0 on the last one; an offset that lands exactly
 * on the end of the data ends the chain too). *out gets a malloc'd array of
 * *n decoded records (NULL when there are none). */
static unsigned walk_filters(const BYTE *buf, size_t size, raw_filter **out,
                             size_t *n) {
  raw_filter *v = NULL;
  size_t off = 0, cap = 0, count = 0;
  unsigned rc = RM_OK;
  RM_FILTER_INFO fi;
  *out = NULL;
  *n = 0;
  if (buf == NULL || size < sizeof fi) return RM_OK;
  memcpy(&fi, buf, sizeof fi);
  /* a buffer the call left as it was (zero-filled): no filters */
  if (fi.FilterTrigger == RmFilterTriggerInvalid &&
      fi.FilterAction == RmInvalidFilterAction && fi.cbNextOffset == 0)
    return RM_OK;
  for (;;) {
    raw_filter *r;
    if (off > size || size - off < sizeof fi) {
      rc = ERR_INVALID_DATA;
      break;
    }
    memcpy(&fi, buf + off, sizeof fi);
    if (count == cap) {
      size_t ncap = cap ? 2 * cap : 8;
      raw_filter *nv = (raw_filter *)realloc(v, ncap * sizeof *nv);
      if (!nv) {
        rc = RM_E_OUTOFMEMORY;
        break;
      }
      v = nv;
      cap = ncap;
    }
    r = &v[count];
    memset(r, 0, sizeof *r);
    r->trigger = (int)fi.FilterTrigger;
    r->action = (int)fi.FilterAction;
    if (fi.FilterTrigger == RmFilterTriggerProcess)
      from_unique_process(&fi.Process, &r->process);
    else if (fi.FilterTrigger == RmFilterTriggerFile)
      rc = locate_string(buf, size, fi.strFilename, r);
    else if (fi.FilterTrigger == RmFilterTriggerService)
      rc = locate_string(buf, size, fi.strServiceShortName, r);
    if (rc != RM_OK) break;
    count++;
    /* every step moves forward by at least one byte: the walk ends */
    if (fi.cbNextOffset == 0 || fi.cbNextOffset == size - off) break;
    off += fi.cbNextOffset;
  }
  if (rc != RM_OK) {
    free(v);
    return rc;
  }
  *out = v;
  *n = count;
  return RM_OK;
}

/* The raw list from RmGetFilterList into a malloc'd buffer (*buf NULL when
 * the list is empty). */
static unsigned fetch_filters(rms *s, BYTE **buf, size_t *size) {
  BYTE *b = NULL;
  DWORD cb = 0, need;
  DWORD rc = ERROR_MORE_DATA;
  int tries;
  *buf = NULL;
  *size = 0;
  for (tries = 0; tries < FILTER_LIST_TRIES; tries++) {
    need = 0;
    rc = RmGetFilterList(s->handle, b, cb, &need);
    if (rc != ERROR_MORE_DATA) break;
    /* a list that grew meanwhile: ask again with the size it needs now (and
     * more than before, whatever the call claims) */
    if (need <= cb) need = cb + 256;
    free(b);
    b = (BYTE *)calloc(1, need);
    if (!b) return RM_E_OUTOFMEMORY;
    cb = need;
  }
  if (rc != ERROR_SUCCESS) {
    free(b);
    return (unsigned)rc;
  }
  *buf = b;
  *size = cb;
  return RM_OK;
}

static unsigned rstr_get_filter_list(void *vs, void *buf, size_t size,
                                     size_t *needed, unsigned *count) {
  rms *s = (rms *)vs;
  BYTE *raw;
  size_t rawsize, n, i, total, at;
  raw_filter *v;
  unsigned rc;
  *needed = 0;
  *count = 0;
  rc = fetch_filters(s, &raw, &rawsize);
  if (rc != RM_OK) return rc;
  rc = walk_filters(raw, rawsize, &v, &n);
  if (rc != RM_OK) {
    free(raw);
    return rc;
  }
  /* the caller's layout: n rm_filter, then each string with its NUL */
  total = n * sizeof(rm_filter);
  for (i = 0; i < n; i++)
    if (v[i].trigger == RM_FILTER_TRIGGER_FILE ||
        v[i].trigger == RM_FILTER_TRIGGER_SERVICE)
      total += v[i].utf8 + 1;
  *needed = total;
  if (size < total || (total > 0 && buf == NULL)) {
    free(v);
    free(raw);
    return RM_E_MORE_DATA;
  }
  at = n * sizeof(rm_filter);
  for (i = 0; i < n; i++) {
    rm_filter *f = (rm_filter *)buf + i;
    memset(f, 0, sizeof *f);
    f->trigger = v[i].trigger;
    f->action = v[i].action;
    f->process = v[i].process;
    if (f->trigger == RM_FILTER_TRIGGER_FILE ||
        f->trigger == RM_FILTER_TRIGGER_SERVICE) {
      char *dst = (char *)buf + at;
      if (v[i].utf8 > 0) {
        WCHAR *w = (WCHAR *)malloc(v[i].name_len * sizeof *w);
        if (!w) {
          rc = RM_E_OUTOFMEMORY;
          break;
        }
        memcpy(w, raw + v[i].name_at, v[i].name_len * sizeof *w);
        WideCharToMultiByte(CP_UTF8, 0, w, (int)v[i].name_len, dst,
                            (int)v[i].utf8, NULL, NULL);
        free(w);
      }
      dst[v[i].utf8] = '\0';
      f->name = dst;
      at += v[i].utf8 + 1;
    }
  }
  free(v);
  free(raw);
  if (rc != RM_OK) return rc;
  *count = (unsigned)n;
  return RM_OK;
}


const rm_win_engine rm_win_rstrtmgr = {
  "rstrtmgr",
  rstr_start,
  rstr_join,
  rstr_end,
  rstr_register,
  rstr_get_list,
  rstr_shutdown,
  rstr_restart,
  rstr_cancel,
  rstr_cancel_key,
  rstr_add_filter,
  rstr_remove_filter,
  rstr_get_filter_list,
  NULL,
  NULL,
};
