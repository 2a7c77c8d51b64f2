/*
 * Small helpers every Windows file shares: UTF-8 <-> UTF-16 (W functions
 * only, MB_ERR_INVALID_CHARS on the way in), FILETIME as one 64-bit count,
 * GetLastError as a code that is never 0, and the process's environment
 * variables read as UTF-8.
 */
#ifndef RESTARTMANAGER_WIN_WUTIL_H
#define RESTARTMANAGER_WIN_WUTIL_H

#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#ifndef _WIN32_WINNT
#define _WIN32_WINNT 0x0600
#endif
#include <windows.h>
#include <stddef.h>
#include <stdint.h>

/* UTF-8 -> freshly allocated UTF-16, NULL on failure (*rc set:
 * RM_E_BAD_ARGUMENTS for invalid UTF-8, RM_E_OUTOFMEMORY). */
WCHAR *rm_win_to_wide(const char *s, unsigned *rc);

/* UTF-16 (up to a NUL or cch units) -> UTF-8 into buf (size > 0), always
 * NUL-terminated; a string too long loses whole characters at its end. */
void rm_win_from_wide(const WCHAR *w, size_t cch, char *buf, size_t size);

/* UTF-16 (NUL-terminated) -> freshly allocated UTF-8, NULL on failure. */
char *rm_win_utf8_dup(const WCHAR *w);

uint64_t rm_win_filetime(const FILETIME *ft);

/* GetLastError(), or ERROR_FUNCTION_FAILED (1627) when it says 0. */
unsigned rm_win_last_error(void);

/* The creation time of an open process handle (0 when unreadable). */
uint64_t rm_win_process_created(HANDLE h);

/* Whether the process behind h has ended (its handle is signalled). A
 * process that exited but is still open by someone keeps its pid and its
 * times: only the handle tells it apart from a running one. */
int rm_win_process_ended(HANDLE h);

/* Case-insensitive ordinal comparison of two UTF-16 strings (environment
 * names, paths): <0, 0, >0. */
int rm_win_compare_nocase(const WCHAR *a, int alen, const WCHAR *b, int blen);

#endif
