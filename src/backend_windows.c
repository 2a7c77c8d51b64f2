/*
 * Windows backend: the Restart Manager of rstrtmgr.dll, through its W
 * functions only. Strings arrive as UTF-8 (checked by the binding) and are
 * converted to UTF-16 with MB_ERR_INVALID_CHARS.
 */
#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#include <windows.h>
#include <restartmanager.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"

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

const char rmb_name[] = "windows";
const int rmb_needs_utf8 = 1;

/* The handle is a DWORD and 0 is a valid one: whether the session is open is
 * tracked by the existence of this object, never by the handle's value. */
struct rm_session {
  DWORD handle;
  int primary;
};

/* UTF-8 -> freshly allocated UTF-16, NULL on failure (*rc set). */
static WCHAR *to_wide(const char *s, unsigned *rc) {
  int n = MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, s, -1, NULL, 0);
  WCHAR *w;
  if (n <= 0) {
    *rc = RM_E_BAD_ARGUMENTS;
    return NULL;
  }
  w = (WCHAR *)malloc((size_t)n * sizeof *w);
  if (!w) {
    *rc = RM_E_OUTOFMEMORY;
    return NULL;
  }
  if (MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, s, -1, w, n) != n) {
    free(w);
    *rc = RM_E_BAD_ARGUMENTS;
    return NULL;
  }
  return w;
}

/* UTF-16 (NUL-terminated, at most cch units) -> UTF-8 into buf. */
static void from_wide(const WCHAR *w, size_t cch, char *buf, size_t size) {
  size_t len = 0;
  int n;
  while (len < cch && w[len]) len++;
  n = WideCharToMultiByte(CP_UTF8, 0, w, (int)len, buf, (int)size - 1, NULL,
                          NULL);
  buf[n > 0 ? n : 0] = '\0';
}

unsigned rmb_start(rm_session **out, char key[RM_KEY_LEN + 1]) {
  /* RmStartSession may leave the key unterminated, or (Wine) unwritten. */
  WCHAR wkey[CCH_RM_SESSION_KEY + 1];
  rm_session *s = (rm_session *)calloc(1, sizeof *s);
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
  *out = s;
  return RM_OK;
}

unsigned rmb_join(rm_session **out, const char *key) {
  unsigned rc = RM_OK;
  WCHAR *wkey;
  rm_session *s;
  DWORD r;
  *out = NULL;
  wkey = to_wide(key, &rc);
  if (!wkey) return rc;
  s = (rm_session *)calloc(1, sizeof *s);
  if (!s) {
    free(wkey);
    return RM_E_OUTOFMEMORY;
  }
  s->handle = 0xFFFFFFFFu;
  r = RmJoinSession(&s->handle, wkey);
  free(wkey);
  if (r != ERROR_SUCCESS) {
    free(s);
    return (unsigned)r;
  }
  *out = s;
  return RM_OK;
}

unsigned rmb_end(rm_session *s) {
  DWORD rc = RmEndSession(s->handle);
  free(s);
  return (unsigned)rc;
}

int rmb_is_primary(const rm_session *s) { return s->primary; }

void rmb_error_text(unsigned code, char *buf, size_t size) {
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
  from_wide(w, n, buf, size);
}

/* Operations not built yet on this backend. */
#define NOT_IMPLEMENTED 120u

unsigned rmb_register(rm_session *s, size_t nfiles, const char *const *files,
                      size_t nprocs, const rm_unique_process *procs,
                      size_t nsvcs, const char *const *svcs) {
  (void)s; (void)nfiles; (void)files; (void)nprocs; (void)procs;
  (void)nsvcs; (void)svcs;
  return NOT_IMPLEMENTED;
}
unsigned rmb_get_list(rm_session *s, unsigned *needed, unsigned *count,
                      rm_app *apps, uint32_t *reasons) {
  (void)s; (void)apps;
  *needed = 0; *count = 0; *reasons = 0;
  return NOT_IMPLEMENTED;
}
unsigned rmb_shutdown(rm_session *s, uint32_t flags, unsigned timeout_ms,
                      rm_progress_fn fn, void *ctx) {
  (void)s; (void)flags; (void)timeout_ms; (void)fn; (void)ctx;
  return NOT_IMPLEMENTED;
}
unsigned rmb_restart(rm_session *s, rm_progress_fn fn, void *ctx) {
  (void)s; (void)fn; (void)ctx;
  return NOT_IMPLEMENTED;
}
unsigned rmb_cancel(rm_session *s) { (void)s; return NOT_IMPLEMENTED; }
unsigned rmb_add_filter(rm_session *s, const rm_filter *f) {
  (void)s; (void)f;
  return NOT_IMPLEMENTED;
}
unsigned rmb_remove_filter(rm_session *s, const rm_filter *f) {
  (void)s; (void)f;
  return NOT_IMPLEMENTED;
}
unsigned rmb_get_filter_list(rm_session *s, void *buf, size_t size,
                             size_t *needed, unsigned *count) {
  (void)s; (void)buf; (void)size;
  *needed = 0; *count = 0;
  return NOT_IMPLEMENTED;
}
unsigned rmb_process(uint32_t pid, rm_unique_process *out) {
  (void)pid; (void)out;
  return NOT_IMPLEMENTED;
}
unsigned rmb_register_restart(size_t argc, const char *const *argv,
                              uint32_t flags) {
  (void)argc; (void)argv; (void)flags;
  return NOT_IMPLEMENTED;
}
unsigned rmb_unregister_restart(void) { return NOT_IMPLEMENTED; }
