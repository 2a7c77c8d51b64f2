/*
 * The Windows backend: the one implementation of backend.h on Windows. Each
 * session call goes to the engine that runs (engine.h):
 *
 *   rstrtmgr  the Restart Manager of rstrtmgr.dll (rstrtmgr.c)
 *   win32     the user-mode engine (w32_*.c), where rstrtmgr.dll is only
 *             stubs: under Wine (and so Proton), or wherever RmStartSession
 *             succeeds without giving a session key
 *
 * The choice is made once per process, at the first call that needs it.
 * The environment variable RESTARTMANAGER_ENGINE set to "rstrtmgr" or
 * "win32" overrides it (tests run both engines under Wine that way); any
 * other value leaves the choice automatic. kernel32's side (process times,
 * RegisterApplicationRestart, messages) is the same for both.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../backend.h"
#include "cmdline.h"
#include "engine.h"
#include "wutil.h"

const char rm_backend_name[] = "windows";
const int rm_backend_needs_utf8 = 1;

struct rm_session {
  const rm_win_engine *e;
  void *impl;
  int primary;
};

static INIT_ONCE choice = INIT_ONCE_STATIC_INIT;
static const rm_win_engine *chosen;

static BOOL CALLBACK choose(PINIT_ONCE once, PVOID param, PVOID *ctx) {
  WCHAR v[16];
  DWORD n = GetEnvironmentVariableW(L"RESTARTMANAGER_ENGINE", v, 16);
  (void)once;
  (void)param;
  (void)ctx;
  chosen = NULL;
  if (n > 0 && n < 16) {
    if (wcscmp(v, L"rstrtmgr") == 0) chosen = &rm_win_rstrtmgr;
    else if (wcscmp(v, L"win32") == 0) chosen = &rm_win_w32;
  }
  if (!chosen)
    chosen = (rm_backend_wine_version() != NULL || !rm_win_rstrtmgr_gives_key())
                 ? &rm_win_w32
                 : &rm_win_rstrtmgr;
  return TRUE;
}

static const rm_win_engine *engine(void) {
  InitOnceExecuteOnce(&choice, choose, NULL, NULL);
  return chosen;
}

const char *rm_backend_engine(void) { return engine()->name; }

static unsigned new_session(rm_session **out, const rm_win_engine *e,
                            void *impl, int primary) {
  rm_session *s = (rm_session *)calloc(1, sizeof *s);
  if (!s) {
    e->end(impl);
    return RM_E_OUTOFMEMORY;
  }
  s->e = e;
  s->impl = impl;
  s->primary = primary;
  *out = s;
  return RM_OK;
}

unsigned rm_backend_start(rm_session **out, char key[RM_KEY_LEN + 1],
                          unsigned flags) {
  const rm_win_engine *e = engine();
  void *impl = NULL;
  unsigned rc;
  /* a private session is an ordinary one here: the Restart Manager has no
   * other kind, and the engines keep nothing that a private one would
   * spare */
  (void)flags;
  *out = NULL;
  rc = e->start(&impl, key);
  return rc != RM_OK ? rc : new_session(out, e, impl, 1);
}

unsigned rm_backend_join(rm_session **out, const char *key) {
  const rm_win_engine *e = engine();
  void *impl = NULL;
  unsigned rc;
  *out = NULL;
  rc = e->join(&impl, key);
  return rc != RM_OK ? rc : new_session(out, e, impl, 0);
}

unsigned rm_backend_end(rm_session *s) {
  unsigned rc = s->e->end(s->impl);
  free(s);
  return rc;
}

int rm_backend_is_primary(const rm_session *s) { return s->primary; }

unsigned rm_backend_register(rm_session *s, size_t nfiles,
                             const char *const *files, size_t nprocs,
                             const rm_unique_process *procs, size_t nsvcs,
                             const char *const *svcs) {
  return s->e->register_resources(s->impl, nfiles, files, nprocs, procs,
                                  nsvcs, svcs);
}

/* Neither engine reports processes it could not look into: the Restart
 * Manager reports nothing of the kind, and the win32 engine lists a process
 * it may not open as critical, with the reboot reason permission_denied. */
unsigned rm_backend_get_list(rm_session *s, unsigned *needed, unsigned *count,
                             rm_app *apps, uint32_t *reasons,
                             rm_pid_list *uninspected) {
  uninspected->pids = NULL;
  uninspected->n = 0;
  return s->e->get_list(s->impl, needed, count, apps, reasons);
}

unsigned rm_backend_shutdown(rm_session *s, uint32_t flags,
                             unsigned timeout_ms, rm_progress_fn fn,
                             void *ctx) {
  return s->e->shutdown(s->impl, flags, timeout_ms, fn, ctx);
}

unsigned rm_backend_restart(rm_session *s, rm_progress_fn fn, void *ctx) {
  return s->e->restart(s->impl, fn, ctx);
}

unsigned rm_backend_cancel(rm_session *s) { return s->e->cancel(s->impl); }

unsigned rm_backend_cancel_key(const char *key) {
  return engine()->cancel_key(key);
}

unsigned rm_backend_add_filter(rm_session *s, const rm_filter *f) {
  return s->e->add_filter(s->impl, f);
}

unsigned rm_backend_remove_filter(rm_session *s, const rm_filter *f) {
  return s->e->remove_filter(s->impl, f);
}

unsigned rm_backend_get_filter_list(rm_session *s, void *buf, size_t size,
                                    size_t *needed, unsigned *count) {
  return s->e->get_filter_list(s->impl, buf, size, needed, count);
}

/* ---------------------------------------------------------------------
 * Processes and restart registration
 * ------------------------------------------------------------------- */

unsigned rm_backend_process(uint32_t pid, rm_unique_process *out) {
  FILETIME created, exited, kernel, user;
  HANDLE h;
  unsigned rc = RM_OK;
  memset(out, 0, sizeof *out);
  h = OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, FALSE, (DWORD)pid);
  if (h == NULL) return rm_win_last_error();
  if (GetProcessTimes(h, &created, &exited, &kernel, &user)) {
    out->pid = pid;
    out->start_time = rm_win_filetime(&created);
  } else {
    rc = rm_win_last_error();
  }
  CloseHandle(h);
  return rc;
}

/* RegisterApplicationRestart and UnregisterApplicationRestart return an
 * HRESULT; rm_win_hresult_to_error maps it: S_OK -> 0, HRESULT_FROM_WIN32
 * codes (0x8007xxxx) -> their Win32 code (E_INVALIDARG, a command line over
 * RESTART_MAX_CMD_LINE characters, -> 87), E_FAIL and any other failure ->
 * 1627 (ERROR_FUNCTION_FAILED). */
unsigned rm_backend_register_restart(size_t argc, const char *const *argv,
                              uint32_t flags) {
  WCHAR *wline = NULL;
  unsigned rc = RM_OK;
  HRESULT hr;
  if (argc > 0) {
    size_t len = rm_win_cmdline_quote(argc, argv, NULL, 0);
    char *line = (char *)malloc(len + 1);
    if (!line) return RM_E_OUTOFMEMORY;
    rm_win_cmdline_quote(argc, argv, line, len + 1);
    wline = rm_win_to_wide(line, &rc);
    free(line);
    if (!wline) return rc;
  }
  /* no arguments: NULL, the executable alone */
  hr = RegisterApplicationRestart(wline, (DWORD)flags);
  free(wline);
  rc = rm_win_hresult_to_error((uint32_t)hr);
  if (rc == RM_OK && engine()->register_restart)
    rc = engine()->register_restart(argc, argv, flags);
  return rc;
}

unsigned rm_backend_unregister_restart(void) {
  unsigned rc =
      rm_win_hresult_to_error((uint32_t)UnregisterApplicationRestart());
  if (rc == RM_OK && engine()->unregister_restart)
    rc = engine()->unregister_restart();
  return rc;
}

/* ---------------------------------------------------------------------
 * Messages and environment
 * ------------------------------------------------------------------- */

void rm_backend_error_text(unsigned code, char *buf, size_t size) {
  WCHAR w[512];
  DWORD n = FormatMessageW(FORMAT_MESSAGE_FROM_SYSTEM |
                               FORMAT_MESSAGE_IGNORE_INSERTS,
                           NULL, code, 0, w, (DWORD)(sizeof w / sizeof w[0]),
                           NULL);
  while (n > 0 && (w[n - 1] == L'\r' || w[n - 1] == L'\n' ||
                   w[n - 1] == L' ' || w[n - 1] == L'.'))
    n--;
  if (n == 0) {
    snprintf(buf, size, "system error %u", code);
    return;
  }
  w[n] = 0;
  rm_win_from_wide(w, n, buf, size);
}

/* Wine's ntdll exports wine_get_version (cdecl, no arguments); Windows'
 * does not. */
typedef const char *(__cdecl *wine_version_fn)(void);

const char *rm_backend_wine_version(void) {
  HMODULE ntdll = GetModuleHandleW(L"ntdll.dll");
  FARPROC p;
  if (ntdll == NULL) return NULL;
  p = GetProcAddress(ntdll, "wine_get_version");
  if (p == NULL) return NULL;
  /* through void (*)(void), the one cast between function types that every
   * compiler accepts silently */
  return ((wine_version_fn)(void (*)(void))p)();
}
