/*
 * A Windows program for the specs, run under Wine: it uses a file the way
 * real applications do, so that the win32 engine has something to find and
 * stop. Every mode writes "pid PID\n" to READY once it is set up (written
 * whole through a temporary name, so that a reader never sees half of it),
 * then runs until it is stopped.
 *
 *   winholder exclusive FILE READY   holds FILE open with no sharing
 *   winholder map FILE READY         maps FILE and keeps only the view
 *                                    (the file and mapping handles closed)
 *   winholder window FILE READY LOG  holds FILE open (shared) and shows a
 *                                    window; appends to LOG each of
 *                                    WM_QUERYENDSESSION (with its lParam),
 *                                    WM_ENDSESSION (wParam) and WM_CLOSE it
 *                                    receives, and exits on WM_CLOSE
 *   winholder refuse FILE READY LOG  the same window, but it answers FALSE
 *                                    to WM_QUERYENDSESSION and ignores
 *                                    WM_CLOSE
 *   winholder ignore FILE READY LOG  the same window; it agrees to end the
 *                                    session but ignores WM_CLOSE
 *   winholder hidden FILE READY LOG  the window of "window", never shown
 *                                    (a tray or background program)
 *   winholder read FILE READY        holds FILE open for reading, sharing
 *                                    read, write and delete
 *   winholder report FILE READY ...  holds FILE open with no sharing, and
 *                                    writes into READY, after its pid, what
 *                                    it runs with, each as hexadecimal
 *                                    UTF-8: "line" (its command line),
 *                                    "cwd" (its current directory), "mark"
 *                                    (its variable WINHOLDER_MARK; "none"
 *                                    when unset); the words after READY
 *                                    are only there to be reported
 *   winholder nap MS                 sleeps MS milliseconds and exits (for
 *                                    Lua programs, which cannot sleep)
 */
#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#include <windows.h>
#include <shellapi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

static const WCHAR *log_path;
/* refuse: answers FALSE to WM_QUERYENDSESSION and ignores WM_CLOSE;
 * ignore: ignores WM_CLOSE only */
static int refuse, ignore;

static void note(const char *text) {
  HANDLE f = CreateFileW(log_path, FILE_APPEND_DATA, FILE_SHARE_READ, NULL,
                         OPEN_ALWAYS, 0, NULL);
  DWORD n;
  if (f == INVALID_HANDLE_VALUE) return;
  WriteFile(f, text, (DWORD)strlen(text), &n, NULL);
  CloseHandle(f);
}

/* " KEY HEX\n" for the UTF-8 of w (NULL: "none") at the end of buf. */
static void report(char *buf, size_t size, const char *key, const WCHAR *w) {
  char u[32768];
  size_t at = strlen(buf), i;
  int n = 0;
  if (w)
    n = WideCharToMultiByte(CP_UTF8, 0, w, -1, u, (int)sizeof u, NULL, NULL);
  if (w && n <= 0) exit(3);
  at += (size_t)snprintf(buf + at, size - at, "%s ", key);
  if (!w) at += (size_t)snprintf(buf + at, size - at, "none");
  else if (n == 1) at += (size_t)snprintf(buf + at, size - at, "-");
  for (i = 0; w && i + 1 < (size_t)n && at + 3 < size; i++)
    at += (size_t)snprintf(buf + at, size - at, "%02x", (unsigned char)u[i]);
  snprintf(buf + at, size - at, "\n");
}

static void ready_with(const WCHAR *path, const char *more) {
  WCHAR tmp[MAX_PATH + 8];
  char text[64];
  DWORD n;
  HANDLE f;
  _snwprintf(tmp, MAX_PATH + 8, L"%ls.tmp", path);
  tmp[MAX_PATH + 7] = 0;
  snprintf(text, sizeof text, "pid %lu\n", (unsigned long)GetCurrentProcessId());
  f = CreateFileW(tmp, GENERIC_WRITE, 0, NULL, CREATE_ALWAYS, 0, NULL);
  if (f == INVALID_HANDLE_VALUE) exit(3);
  WriteFile(f, text, (DWORD)strlen(text), &n, NULL);
  if (more) WriteFile(f, more, (DWORD)strlen(more), &n, NULL);
  CloseHandle(f);
  if (!MoveFileExW(tmp, path, MOVEFILE_REPLACE_EXISTING)) exit(3);
}

static void ready(const WCHAR *path) { ready_with(path, NULL); }

static LRESULT CALLBACK proc(HWND w, UINT m, WPARAM wp, LPARAM lp) {
  char line[64];
  switch (m) {
  case WM_QUERYENDSESSION:
    snprintf(line, sizeof line, "queryendsession %lx\n", (unsigned long)lp);
    note(line);
    return refuse ? FALSE : TRUE;
  case WM_ENDSESSION:
    snprintf(line, sizeof line, "endsession %lu\n", (unsigned long)wp);
    note(line);
    return 0;
  case WM_CLOSE:
    note("close\n");
    if (!refuse && !ignore) DestroyWindow(w);
    return 0;
  case WM_DESTROY:
    PostQuitMessage(0);
    return 0;
  default:
    return DefWindowProcW(w, m, wp, lp);
  }
}

static int window(int show) {
  WNDCLASSW wc;
  HWND w;
  memset(&wc, 0, sizeof wc);
  wc.lpfnWndProc = proc;
  wc.hInstance = GetModuleHandleW(NULL);
  wc.lpszClassName = L"winholder";
  if (!RegisterClassW(&wc)) return 3;
  w = CreateWindowExW(0, L"winholder", L"winholder", WS_OVERLAPPEDWINDOW,
                      0, 0, 200, 100, NULL, NULL, wc.hInstance, NULL);
  if (!w) return 3;
  if (show) ShowWindow(w, SW_SHOW);
  return -1;
}

int main(void) {
  int argc;
  WCHAR **argv = CommandLineToArgvW(GetCommandLineW(), &argc);
  HANDLE f;
  MSG msg;
  if (argv && argc == 3 && wcscmp(argv[1], L"nap") == 0) {
    Sleep((DWORD)wcstoul(argv[2], NULL, 10));
    return 0;
  }
  if (!argv || argc < 4) {
    fprintf(stderr, "usage: winholder exclusive|read|map|window|refuse|ignore|"
                    "hidden|report FILE READY [LOG]\n");
    return 2;
  }
  if (wcscmp(argv[1], L"exclusive") == 0) {
    f = CreateFileW(argv[2], GENERIC_READ | GENERIC_WRITE, 0, NULL,
                    OPEN_ALWAYS, 0, NULL);
    if (f == INVALID_HANDLE_VALUE) return 3;
    ready(argv[3]);
    for (;;) Sleep(INFINITE);
  }
  if (wcscmp(argv[1], L"report") == 0) {
    static char text[3 * 65536 + 256];
    static WCHAR cwd[32768], mark[32768];
    DWORD n;
    f = CreateFileW(argv[2], GENERIC_READ | GENERIC_WRITE, 0, NULL,
                    OPEN_ALWAYS, 0, NULL);
    if (f == INVALID_HANDLE_VALUE) return 3;
    if (!GetCurrentDirectoryW(32768, cwd)) return 3;
    n = GetEnvironmentVariableW(L"WINHOLDER_MARK", mark, 32768);
    text[0] = '\0';
    report(text, sizeof text, "line", GetCommandLineW());
    report(text, sizeof text, "cwd", cwd);
    report(text, sizeof text, "mark", n > 0 || GetLastError() !=
                                              ERROR_ENVVAR_NOT_FOUND
                                          ? mark
                                          : NULL);
    ready_with(argv[3], text);
    for (;;) Sleep(INFINITE);
  }
  if (wcscmp(argv[1], L"read") == 0) {
    f = CreateFileW(argv[2], GENERIC_READ,
                    FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE,
                    NULL, OPEN_EXISTING, 0, NULL);
    if (f == INVALID_HANDLE_VALUE) return 3;
    ready(argv[3]);
    for (;;) Sleep(INFINITE);
  }
  if (wcscmp(argv[1], L"map") == 0) {
    HANDLE m;
    void *view;
    f = CreateFileW(argv[2], GENERIC_READ, FILE_SHARE_READ | FILE_SHARE_DELETE,
                    NULL, OPEN_EXISTING, 0, NULL);
    if (f == INVALID_HANDLE_VALUE) return 3;
    m = CreateFileMappingW(f, NULL, PAGE_READONLY, 0, 0, NULL);
    if (!m) return 3;
    view = MapViewOfFile(m, FILE_MAP_READ, 0, 0, 0);
    if (!view) return 3;
    CloseHandle(m);
    CloseHandle(f);
    ready(argv[3]);
    for (;;) Sleep(INFINITE);
  }
  if ((wcscmp(argv[1], L"window") == 0 || wcscmp(argv[1], L"refuse") == 0 ||
       wcscmp(argv[1], L"ignore") == 0 || wcscmp(argv[1], L"hidden") == 0) &&
      argc >= 5) {
    refuse = wcscmp(argv[1], L"refuse") == 0;
    ignore = wcscmp(argv[1], L"ignore") == 0;
    log_path = argv[4];
    f = CreateFileW(argv[2], GENERIC_READ,
                    FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE,
                    NULL, OPEN_EXISTING, 0, NULL);
    if (f == INVALID_HANDLE_VALUE) return 3;
    if (window(wcscmp(argv[1], L"hidden") != 0) != -1) return 3;
    ready(argv[3]);
    while (GetMessageW(&msg, NULL, 0, 0) > 0) {
      TranslateMessage(&msg);
      DispatchMessageW(&msg);
    }
    note("exit\n");
    return 0;
  }
  fprintf(stderr, "unknown mode\n");
  return 2;
}
