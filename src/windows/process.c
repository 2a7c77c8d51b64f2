/*
 * The process interface (process.h) on Win32.
 *
 * spawn: CreateProcessW with the arguments quoted into one command line
 * (cmdline.c, the inverse of CommandLineToArgvW), the program looked up in
 * PATH when its name has no directory part (as execvp does on POSIX; a name
 * without an extension also tries ".exe"), the environment changes merged
 * into a UTF-16 block (names compared case-insensitively, as Windows does),
 * and only the standard handles inherited: copies of them, made
 * inheritable, are the whole of PROC_THREAD_ATTRIBUTE_HANDLE_LIST, so that
 * no other inheritable handle of the caller (an open file, the session's
 * lock) reaches the child.
 *
 * wait: WaitForSingleObject + GetExitCodeProcess on the handle spawn kept.
 * executable: QueryFullProcessImageNameW. running: the pid opened, the
 * handle not signalled (a process that has exited but that someone still
 * holds open keeps its pid and times) and the creation time the same.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../process.h"
#include "cmdline.h"
#include "wutil.h"

/* The longest path QueryFullProcessImageNameW and the lookup handle. */
#define LONG_PATH 32768

static unsigned fail(char *msg, unsigned rc, const char *what) {
  char text[200];
  rm_backend_error_text(rc, text, sizeof text);
  snprintf(msg, RM_PROCESS_MSG_SIZE, "%s: %s", what, text);
  return rc;
}

/* Whether w names a directory part (a separator or a drive). */
static int has_directory(const WCHAR *w) {
  for (; *w; w++)
    if (*w == L'\\' || *w == L'/' || *w == L':') return 1;
  return 0;
}

/* Whether the last path component of w has an extension. */
static int has_extension(const WCHAR *w) {
  const WCHAR *dot = NULL;
  for (; *w; w++) {
    if (*w == L'\\' || *w == L'/') dot = NULL;
    else if (*w == L'.') dot = w;
  }
  return dot != NULL;
}

static int is_file(const WCHAR *path) {
  DWORD a = GetFileAttributesW(path);
  return a != INVALID_FILE_ATTRIBUTES && !(a & FILE_ATTRIBUTE_DIRECTORY);
}

/* dir (dlen units, may be 0) + "\" + name + ext into out (LONG_PATH units);
 * 1 when it names a file. */
static int try_path(const WCHAR *dir, size_t dlen, const WCHAR *name,
                    const WCHAR *ext, WCHAR *out) {
  size_t nlen = wcslen(name), elen = wcslen(ext), at = 0;
  if (dlen + 1 + nlen + elen + 1 > LONG_PATH) return 0;
  if (dlen > 0) {
    memcpy(out, dir, dlen * sizeof *out);
    at = dlen;
    if (dir[dlen - 1] != L'\\' && dir[dlen - 1] != L'/') out[at++] = L'\\';
  }
  memcpy(out + at, name, nlen * sizeof *out);
  at += nlen;
  memcpy(out + at, ext, (elen + 1) * sizeof *out);
  return is_file(out);
}

/* The file to start for name: name itself when it has a directory part,
 * else the first match in the caller's PATH. *out is malloc'd. */
static unsigned find_program(const WCHAR *name, WCHAR **out) {
  static const WCHAR exe[] = L".exe", none[] = L"";
  const WCHAR *ext2 = has_extension(name) ? NULL : exe;
  WCHAR *path = NULL, *buf = (WCHAR *)malloc(LONG_PATH * sizeof(WCHAR));
  DWORD n;
  unsigned rc = RM_E_FILE_NOT_FOUND;
  *out = NULL;
  if (!buf) return RM_E_OUTOFMEMORY;
  if (has_directory(name)) {
    if (try_path(NULL, 0, name, none, buf) ||
        (ext2 && try_path(NULL, 0, name, ext2, buf)))
      rc = RM_OK;
    goto done;
  }
  n = GetEnvironmentVariableW(L"PATH", NULL, 0);
  if (n == 0) goto done;
  path = (WCHAR *)malloc((size_t)n * sizeof *path);
  if (!path) {
    rc = RM_E_OUTOFMEMORY;
    goto done;
  }
  if (GetEnvironmentVariableW(L"PATH", path, n) >= n) goto done;
  {
    const WCHAR *p = path;
    while (*p && rc != RM_OK) {
      const WCHAR *end = p;
      size_t len;
      while (*end && *end != L';') end++;
      len = (size_t)(end - p);
      /* an entry may be quoted; an empty one means nothing */
      if (len >= 2 && p[0] == L'"' && p[len - 1] == L'"') {
        p++;
        len -= 2;
      }
      if (len > 0 && (try_path(p, len, name, none, buf) ||
                      (ext2 && try_path(p, len, name, ext2, buf))))
        rc = RM_OK;
      p = *end ? end + 1 : end;
    }
  }
done:
  free(path);
  if (rc == RM_OK)
    *out = buf;
  else
    free(buf);
  return rc;
}

/* ---------------------------------------------------------------------
 * The environment block
 * ------------------------------------------------------------------- */

typedef struct env_entry {
  const WCHAR *s; /* "NAME=value" */
  int name_len;
} env_entry;

/* The length of the name of entry s. A leading '=' belongs to the name
 * (the per-drive directories, "=C:=C:\dir"). */
static int name_length(const WCHAR *s) {
  const WCHAR *eq = s[0] ? wcschr(s + 1, L'=') : NULL;
  return eq ? (int)(eq - s) : (int)wcslen(s);
}

static int entry_cmp(const void *a, const void *b) {
  const env_entry *x = (const env_entry *)a, *y = (const env_entry *)b;
  return rm_win_compare_nocase(x->s, x->name_len, y->s, y->name_len);
}

/* The changes as UTF-16 "NAME=value", or "NAME=" for a removal (only its
 * name is used then): a calloc'd array of nchanges strings in *out. */
static unsigned wide_changes(size_t nchanges, const rm_env_change *changes,
                             WCHAR ***out, char *msg) {
  WCHAR **wch = (WCHAR **)calloc(nchanges ? nchanges : 1, sizeof *wch);
  unsigned rc = RM_OK;
  size_t i;
  *out = wch;
  if (!wch) return RM_E_OUTOFMEMORY;
  for (i = 0; i < nchanges; i++) {
    const char *name = changes[i].name, *value = changes[i].value;
    size_t len;
    char *line;
    if (!name[0] || strchr(name, '=')) {
      snprintf(msg, RM_PROCESS_MSG_SIZE, "bad environment name '%s'", name);
      return RM_E_BAD_ARGUMENTS;
    }
    len = strlen(name) + (value ? strlen(value) : 0) + 2;
    line = (char *)malloc(len);
    if (!line) return RM_E_OUTOFMEMORY;
    snprintf(line, len, "%s=%s", name, value ? value : "");
    wch[i] = rm_win_to_wide(line, &rc);
    free(line);
    if (!wch[i]) return rc;
  }
  return RM_OK;
}

/* The entries of the block cur that no change names, then the changes
 * that set a value, sorted: a malloc'd array in *out. */
static unsigned merge_entries(WCHAR *cur, size_t nchanges,
                              const rm_env_change *changes, WCHAR **wch,
                              env_entry **out, size_t *count) {
  size_t n = 0, cap = nchanges + 64, i;
  env_entry *v = (env_entry *)malloc(cap * sizeof *v);
  WCHAR *p;
  *out = NULL;
  *count = 0;
  if (!v) return RM_E_OUTOFMEMORY;
  for (p = cur; *p; p += wcslen(p) + 1) {
    int nl = name_length(p), drop = 0;
    for (i = 0; i < nchanges && !drop; i++)
      drop = rm_win_compare_nocase(p, nl, wch[i], name_length(wch[i])) == 0;
    if (drop) continue;
    if (n + nchanges >= cap) {
      env_entry *nv = (env_entry *)realloc(v, 2 * cap * sizeof *v);
      if (!nv) {
        free(v);
        return RM_E_OUTOFMEMORY;
      }
      v = nv;
      cap *= 2;
    }
    v[n].s = p;
    v[n++].name_len = nl;
  }
  for (i = 0; i < nchanges; i++)
    if (changes[i].value) {
      v[n].s = wch[i];
      v[n++].name_len = name_length(wch[i]);
    }
  /* Windows wants the block sorted by name, case-insensitively */
  qsort(v, n, sizeof *v, entry_cmp);
  *out = v;
  *count = n;
  return RM_OK;
}

/* The caller's environment with the changes, as a UTF-16 block in *out. */
static unsigned build_environment(size_t nchanges,
                                  const rm_env_change *changes,
                                  WCHAR **out, char *msg) {
  WCHAR *cur = GetEnvironmentStringsW(), *p, **wch = NULL;
  env_entry *v = NULL;
  size_t n = 0, i, total = 1;
  unsigned rc;
  *out = NULL;
  if (!cur) return fail(msg, rm_win_last_error(), "environment");
  rc = wide_changes(nchanges, changes, &wch, msg);
  if (rc == RM_OK) rc = merge_entries(cur, nchanges, changes, wch, &v, &n);
  if (rc == RM_OK) {
    for (i = 0; i < n; i++) total += wcslen(v[i].s) + 1;
    *out = (WCHAR *)malloc((total + 1) * sizeof **out);
    if (!*out) rc = RM_E_OUTOFMEMORY;
  }
  if (rc == RM_OK) {
    p = *out;
    for (i = 0; i < n; i++) {
      size_t len = wcslen(v[i].s) + 1;
      memcpy(p, v[i].s, len * sizeof *p);
      p += len;
    }
    p[0] = 0;
    p[1] = 0; /* an empty block is two NULs */
  }
  if (rc != RM_OK && !msg[0]) fail(msg, rc, "environment");
  if (wch)
    for (i = 0; i < nchanges; i++) free(wch[i]);
  free(wch);
  free(v);
  FreeEnvironmentStringsW(cur);
  return rc;
}

/* ---------------------------------------------------------------------
 * spawn
 * ------------------------------------------------------------------- */

/* Inheritable copies of the valid standard handles, without duplicates
 * (stdout and stderr are often one handle); *n of them in h[0..3) and the
 * copy for each stream in std[0..3) (NULL when the stream has none). */
static void std_copies(HANDLE h[3], HANDLE std[3], DWORD *n) {
  static const DWORD ids[3] = {STD_INPUT_HANDLE, STD_OUTPUT_HANDLE,
                               STD_ERROR_HANDLE};
  HANDLE orig[3];
  DWORD i, j;
  *n = 0;
  for (i = 0; i < 3; i++) {
    HANDLE o = GetStdHandle(ids[i]), c = NULL;
    orig[i] = o;
    std[i] = NULL;
    if (o == NULL || o == INVALID_HANDLE_VALUE) continue;
    for (j = 0; j < i; j++)
      if (orig[j] == o) std[i] = std[j];
    if (std[i]) continue;
    if (DuplicateHandle(GetCurrentProcess(), o, GetCurrentProcess(), &c, 0,
                        TRUE, DUPLICATE_SAME_ACCESS)) {
      std[i] = c;
      h[(*n)++] = c;
    }
  }
}

/* CreateProcessW with only h[0..nh) inherited. */
static unsigned create(const WCHAR *app, WCHAR *line, WCHAR *env,
                       HANDLE *h, DWORD nh, HANDLE std[3],
                       PROCESS_INFORMATION *pi) {
  STARTUPINFOEXW si;
  SIZE_T size = 0;
  LPPROC_THREAD_ATTRIBUTE_LIST attrs = NULL;
  DWORD flags = CREATE_UNICODE_ENVIRONMENT;
  unsigned rc = RM_OK;
  BOOL ok;
  memset(&si, 0, sizeof si);
  si.StartupInfo.cb = sizeof si.StartupInfo;
  if (nh > 0) {
    InitializeProcThreadAttributeList(NULL, 1, 0, &size);
    attrs = (LPPROC_THREAD_ATTRIBUTE_LIST)malloc(size);
    if (!attrs) return RM_E_OUTOFMEMORY;
    if (!InitializeProcThreadAttributeList(attrs, 1, 0, &size)) {
      rc = rm_win_last_error();
      free(attrs);
      return rc;
    }
    if (!UpdateProcThreadAttribute(attrs, 0, PROC_THREAD_ATTRIBUTE_HANDLE_LIST,
                                   h, nh * sizeof *h, NULL, NULL)) {
      rc = rm_win_last_error();
      DeleteProcThreadAttributeList(attrs);
      free(attrs);
      return rc;
    }
    si.StartupInfo.cb = sizeof si;
    si.lpAttributeList = attrs;
    si.StartupInfo.dwFlags = STARTF_USESTDHANDLES;
    si.StartupInfo.hStdInput = std[0];
    si.StartupInfo.hStdOutput = std[1];
    si.StartupInfo.hStdError = std[2];
    flags |= EXTENDED_STARTUPINFO_PRESENT;
  }
  ok = CreateProcessW(app, line, NULL, NULL, nh > 0 ? TRUE : FALSE, flags,
                      env, NULL, &si.StartupInfo, pi);
  if (!ok) rc = rm_win_last_error();
  if (attrs) {
    DeleteProcThreadAttributeList(attrs);
    free(attrs);
  }
  return rc;
}

unsigned rm_process_spawn(size_t argc, const char *const *argv,
                          size_t nchanges, const rm_env_change *changes,
                          rm_child *out, char msg[RM_PROCESS_MSG_SIZE]) {
  WCHAR *wname = NULL, *app = NULL, *wline = NULL, *env = NULL;
  char *line = NULL;
  HANDLE h[3], std[3];
  DWORD nh = 0, i;
  PROCESS_INFORMATION pi;
  unsigned rc = RM_OK;
  size_t len;
  msg[0] = '\0';
  out->pid = 0;
  out->handle = NULL;
  if (argc < 1 || !argv[0][0]) {
    snprintf(msg, RM_PROCESS_MSG_SIZE, "no program to start");
    return RM_E_BAD_ARGUMENTS;
  }
  wname = rm_win_to_wide(argv[0], &rc);
  if (!wname) return fail(msg, rc, argv[0]);
  rc = find_program(wname, &app);
  if (rc != RM_OK) {
    fail(msg, rc, argv[0]);
    goto done;
  }
  len = rm_win_cmdline_quote(argc, argv, NULL, 0);
  line = (char *)malloc(len + 1);
  if (!line) {
    rc = fail(msg, RM_E_OUTOFMEMORY, argv[0]);
    goto done;
  }
  rm_win_cmdline_quote(argc, argv, line, len + 1);
  wline = rm_win_to_wide(line, &rc);
  if (!wline) {
    fail(msg, rc, argv[0]);
    goto done;
  }
  if (nchanges > 0) {
    rc = build_environment(nchanges, changes, &env, msg);
    if (rc != RM_OK) goto done;
  }
  std_copies(h, std, &nh);
  rc = create(app, wline, env, h, nh, std, &pi);
  for (i = 0; i < nh; i++) CloseHandle(h[i]);
  if (rc != RM_OK) {
    fail(msg, rc, argv[0]);
    goto done;
  }
  CloseHandle(pi.hThread);
  out->pid = (uint32_t)pi.dwProcessId;
  out->handle = pi.hProcess;
done:
  free(wname);
  free(app);
  free(line);
  free(wline);
  free(env);
  return rc;
}

unsigned rm_process_wait(rm_child *c, int nohang, int *state, int *value,
                         char msg[RM_PROCESS_MSG_SIZE]) {
  DWORD w, code = 0;
  msg[0] = '\0';
  *state = RM_CHILD_RUNNING;
  *value = 0;
  if (c->handle == NULL) {
    snprintf(msg, RM_PROCESS_MSG_SIZE, "process %lu: not a started child",
             (unsigned long)c->pid);
    return RM_E_INVALID_HANDLE;
  }
  w = WaitForSingleObject((HANDLE)c->handle, nohang ? 0 : INFINITE);
  if (w == WAIT_TIMEOUT) return RM_OK;
  if (w != WAIT_OBJECT_0) return fail(msg, rm_win_last_error(), "wait");
  if (!GetExitCodeProcess((HANDLE)c->handle, &code))
    return fail(msg, rm_win_last_error(), "exit code");
  *state = RM_CHILD_EXITED;
  /* an NTSTATUS exit (0xC0000005) reads as a negative number */
  *value = (int)code;
  return RM_OK;
}

void rm_process_release(rm_child *c) {
  if (c->handle) CloseHandle((HANDLE)c->handle);
  c->handle = NULL;
}

unsigned rm_process_executable(uint32_t pid, char *buf, size_t size,
                               size_t *len, char msg[RM_PROCESS_MSG_SIZE]) {
  WCHAR *w;
  DWORD n = LONG_PATH;
  HANDLE h;
  unsigned rc = RM_OK;
  int need;
  msg[0] = '\0';
  *len = 0;
  h = OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, FALSE, (DWORD)pid);
  if (!h) {
    char what[40];
    unsigned e = rm_win_last_error();
    snprintf(what, sizeof what, "process %lu", (unsigned long)pid);
    /* OpenProcess says "invalid parameter" for a pid no process has */
    return fail(msg, e == RM_E_INVALID_PARAMETER ? RM_E_FILE_NOT_FOUND : e,
                what);
  }
  w = (WCHAR *)malloc(LONG_PATH * sizeof *w);
  if (!w) {
    CloseHandle(h);
    return fail(msg, RM_E_OUTOFMEMORY, "executable");
  }
  if (!QueryFullProcessImageNameW(h, 0, w, &n)) {
    rc = fail(msg, rm_win_last_error(), "executable");
    goto done;
  }
  need = WideCharToMultiByte(CP_UTF8, 0, w, (int)n, NULL, 0, NULL, NULL);
  if (need <= 0 && n > 0) {
    rc = fail(msg, rm_win_last_error(), "executable");
    goto done;
  }
  *len = (size_t)need;
  if ((size_t)need + 1 > size) {
    *len = (size_t)need + 1;
    rc = RM_E_MORE_DATA;
    goto done;
  }
  if (need > 0)
    WideCharToMultiByte(CP_UTF8, 0, w, (int)n, buf, need, NULL, NULL);
  buf[need] = '\0';
done:
  free(w);
  CloseHandle(h);
  return rc;
}

unsigned rm_process_running(const rm_unique_process *p, int *running) {
  HANDLE h;
  DWORD e;
  *running = 0;
  h = OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION | SYNCHRONIZE, FALSE,
                  (DWORD)p->pid);
  if (!h) {
    e = GetLastError();
    /* no such process */
    if (e == ERROR_INVALID_PARAMETER) return RM_OK;
    if (e != ERROR_ACCESS_DENIED) return rm_win_last_error();
    /* another user's process: no SYNCHRONIZE, but the exit code tells */
    h = OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, FALSE, (DWORD)p->pid);
    if (!h) return rm_win_last_error();
    if (GetExitCodeProcess(h, &e) && e == STILL_ACTIVE)
      *running = rm_win_process_created(h) == p->start_time;
    CloseHandle(h);
    return RM_OK;
  }
  *running = !rm_win_process_ended(h) &&
             rm_win_process_created(h) == p->start_time;
  CloseHandle(h);
  return RM_OK;
}
