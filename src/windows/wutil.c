/*
 * Helpers shared by the Windows files (see wutil.h).
 */
#include <stdlib.h>
#include <string.h>

#include "../backend.h"
#include "wutil.h"

WCHAR *rm_win_to_wide(const char *s, unsigned *rc) {
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

static int is_high_surrogate(WCHAR c) { return c >= 0xD800 && c <= 0xDBFF; }
static int is_low_surrogate(WCHAR c) { return c >= 0xDC00 && c <= 0xDFFF; }

void rm_win_from_wide(const WCHAR *w, size_t cch, char *buf, size_t size) {
  size_t len = 0;
  int n = 0;
  while (len < cch && w[len]) len++;
  while (len > 0) {
    n = WideCharToMultiByte(CP_UTF8, 0, w, (int)len, NULL, 0, NULL, NULL);
    if (n > 0 && (size_t)n < size) break;
    len--;
    if (len > 0 && is_low_surrogate(w[len]) && is_high_surrogate(w[len - 1]))
      len--;
  }
  n = len ? WideCharToMultiByte(CP_UTF8, 0, w, (int)len, buf, (int)size - 1,
                                NULL, NULL)
          : 0;
  buf[n > 0 ? n : 0] = '\0';
}

char *rm_win_utf8_dup(const WCHAR *w) {
  int n = WideCharToMultiByte(CP_UTF8, 0, w, -1, NULL, 0, NULL, NULL);
  char *s;
  if (n <= 0) return NULL;
  s = (char *)malloc((size_t)n);
  if (!s) return NULL;
  if (WideCharToMultiByte(CP_UTF8, 0, w, -1, s, n, NULL, NULL) != n) {
    free(s);
    return NULL;
  }
  return s;
}

uint64_t rm_win_filetime(const FILETIME *ft) {
  return ((uint64_t)ft->dwHighDateTime << 32) | (uint64_t)ft->dwLowDateTime;
}

unsigned rm_win_last_error(void) {
  DWORD e = GetLastError();
  return e ? (unsigned)e : 1627u;
}

uint64_t rm_win_process_created(HANDLE h) {
  FILETIME created, exited, kernel, user;
  if (!GetProcessTimes(h, &created, &exited, &kernel, &user)) return 0;
  return rm_win_filetime(&created);
}

int rm_win_process_ended(HANDLE h) {
  return WaitForSingleObject(h, 0) == WAIT_OBJECT_0;
}

int rm_win_compare_nocase(const WCHAR *a, int alen, const WCHAR *b,
                          int blen) {
  /* CompareStringOrdinal: Vista and later, locale-independent */
  int r = CompareStringOrdinal(a, alen, b, blen, TRUE);
  return r == CSTR_LESS_THAN ? -1 : r == CSTR_GREATER_THAN ? 1 : 0;
}
