/*
 * Windows: a capture of what restarting a process needs when it never
 * registered for restart (capture.h), read from the live process before it
 * is stopped: its executable (QueryFullProcessImageNameW), and from its
 * process parameters (NtQueryInformationProcess gives the PEB, the PEB the
 * RTL_USER_PROCESS_PARAMETERS, ReadProcessMemory reads them) its command
 * line, current directory and environment; its image's subsystem (console
 * or not) from the PE headers mapped in it; its user and elevation from its
 * token.
 *
 * The process is opened once and its creation time checked on that handle:
 * the handle keeps that very process, so a pid reused meanwhile is never
 * read. A process of another bitness than the caller's (a 32-bit program
 * seen from the 64-bit build, or the reverse) lays its parameters out
 * otherwise: refused, never read at the wrong offsets.
 *
 * The restart: nothing when the program runs again (the same executable
 * and command line, of the caller's user); else CreateProcessW with the
 * captured executable, command line (as is), directory and environment
 * block; nothing inherited; a console
 * program gets a console of its own; out of the caller's job when it is in
 * one that may be left, so that the program does not end with the
 * installer.
 */
#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#ifndef _WIN32_WINNT
#define _WIN32_WINNT 0x0600
#endif
#include <windows.h>
#include <sddl.h>
#include <shellapi.h>
#include <tlhelp32.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "capture.h"
#include "wutil.h"

/* The longest path QueryFullProcessImageNameW gives. */
#define LONG_PATH 32768
/* No environment block of interest is larger. */
#define MAX_ENV_BYTES (16u << 20)
#define ENV_CHUNK 65536u

/* The start of the layouts this build reads, in the caller's own bitness
 * (pointer-sized fields: the same declarations give the 64-bit layout in
 * the 64-bit build and the 32-bit one in the 32-bit build). */
typedef struct counted_wide { /* UNICODE_STRING */
  USHORT length;              /* in bytes, without a NUL */
  USHORT maximum;
  WCHAR *buffer;
} counted_wide;

typedef struct basic_info { /* PROCESS_BASIC_INFORMATION */
  LONG exit_status;
  void *peb;
  ULONG_PTR affinity;
  LONG priority;
  ULONG_PTR pid;
  ULONG_PTR parent_pid;
} basic_info;

typedef struct peb_start { /* PEB, up to ProcessParameters */
  BYTE flags[4];
  void *mutant;
  void *image_base;
  void *loader;
  void *parameters;
} peb_start;

typedef struct parameters_start { /* RTL_USER_PROCESS_PARAMETERS */
  ULONG maximum_length, length, flags, debug_flags;
  HANDLE console;
  ULONG console_flags;
  HANDLE std_in, std_out, std_err;
  counted_wide current_directory;
  HANDLE current_directory_handle;
  counted_wide dll_path;
  counted_wide image_path;
  counted_wide command_line;
  void *environment;
} parameters_start;

/* The layouts' offsets, checked at compile time against the documented
 * ones (x86_64, then i686). */
#define OFFSET_IS(type, field, off64, off32)                                  \
  typedef char check_##type##_##field                                         \
      [offsetof(type, field) == (sizeof(void *) == 8 ? (off64) : (off32))     \
           ? 1                                                                \
           : -1]
OFFSET_IS(basic_info, peb, 0x08, 0x04);
OFFSET_IS(basic_info, parent_pid, 0x28, 0x14);
OFFSET_IS(peb_start, image_base, 0x10, 0x08);
OFFSET_IS(peb_start, parameters, 0x20, 0x10);
OFFSET_IS(parameters_start, current_directory, 0x38, 0x24);
OFFSET_IS(parameters_start, image_path, 0x60, 0x38);
OFFSET_IS(parameters_start, command_line, 0x70, 0x40);
OFFSET_IS(parameters_start, environment, 0x80, 0x48);

typedef LONG(WINAPI *query_fn)(HANDLE, ULONG, void *, ULONG, ULONG *);

static unsigned say(char msg[RM_WIN_CAPTURE_MSG_SIZE], unsigned rc,
                    uint32_t pid, const char *what) {
  char text[160];
  rm_backend_error_text(rc, text, sizeof text);
  snprintf(msg, RM_WIN_CAPTURE_MSG_SIZE, "process %lu: %s: %s",
           (unsigned long)pid, what, text);
  return rc;
}

/* n bytes at addr of process h, all of them. */
static int read_at(HANDLE h, const void *addr, void *buf, size_t n) {
  SIZE_T got = 0;
  return ReadProcessMemory(h, addr, buf, n, &got) && got == n;
}

/* UTF-16 (n units) -> malloc'd UTF-8; NULL (and *rc) when it is not valid
 * UTF-16 or memory runs out. */
static char *utf8_of(const WCHAR *w, size_t n, unsigned *rc) {
  int need;
  char *s;
  if (n == 0) {
    s = (char *)malloc(1);
    if (!s) *rc = RM_E_OUTOFMEMORY;
    else s[0] = '\0';
    return s;
  }
  need = WideCharToMultiByte(CP_UTF8, WC_ERR_INVALID_CHARS, w, (int)n, NULL,
                             0, NULL, NULL);
  if (need <= 0) {
    *rc = RM_E_BAD_ARGUMENTS;
    return NULL;
  }
  s = (char *)malloc((size_t)need + 1);
  if (!s) {
    *rc = RM_E_OUTOFMEMORY;
    return NULL;
  }
  WideCharToMultiByte(CP_UTF8, WC_ERR_INVALID_CHARS, w, (int)n, s, need,
                      NULL, NULL);
  s[need] = '\0';
  return s;
}

/* A UNICODE_STRING of process h as malloc'd UTF-16 (*n units, up to its
 * first NUL). */
static unsigned read_counted(HANDLE h, const counted_wide *c, WCHAR **out,
                             size_t *n) {
  WCHAR *w;
  *out = NULL;
  *n = 0;
  if (c->length % 2 != 0 || (c->length > 0 && !c->buffer))
    return RM_E_INVALID_PARAMETER;
  w = (WCHAR *)malloc((size_t)c->length + sizeof(WCHAR));
  if (!w) return RM_E_OUTOFMEMORY;
  if (c->length > 0 && !read_at(h, c->buffer, w, c->length)) {
    unsigned rc = rm_win_last_error();
    free(w);
    return rc;
  }
  w[c->length / 2] = 0;
  /* up to a NUL: what the process itself reads as a string (a program may
   * cut its own command line while parsing it) */
  *n = wcslen(w);
  *out = w;
  return RM_OK;
}

static unsigned read_counted_utf8(HANDLE h, const counted_wide *c,
                                  char **out) {
  WCHAR *w;
  size_t n;
  unsigned rc = read_counted(h, c, &w, &n);
  if (rc != RM_OK) return rc;
  *out = utf8_of(w, n, &rc);
  free(w);
  return *out ? RM_OK : rc;
}

/* The environment block at addr of process h, up to its closing empty
 * string, as malloc'd UTF-16 (*n units, the final NUL not counted). Read
 * in chunks, within the memory region it lies in. */
static unsigned read_environment(HANDLE h, const void *addr, WCHAR **out,
                                 size_t *n) {
  MEMORY_BASIC_INFORMATION mbi;
  const BYTE *at = (const BYTE *)addr, *end;
  BYTE *buf = NULL;
  size_t have = 0, i;
  *out = NULL;
  *n = 0;
  if (!addr || ((ULONG_PTR)addr & 1)) return RM_E_INVALID_PARAMETER;
  if (VirtualQueryEx(h, addr, &mbi, sizeof mbi) != sizeof mbi)
    return rm_win_last_error();
  end = (const BYTE *)mbi.BaseAddress + mbi.RegionSize;
  for (;;) {
    size_t chunk = (size_t)(end - (at + have));
    BYTE *grown;
    if (chunk > ENV_CHUNK) chunk = ENV_CHUNK;
    chunk &= ~(size_t)1;
    if (chunk == 0 || have + chunk > MAX_ENV_BYTES) {
      free(buf);
      return RM_E_INVALID_PARAMETER; /* no end within reach */
    }
    grown = (BYTE *)realloc(buf, have + chunk + sizeof(WCHAR));
    if (!grown) {
      free(buf);
      return RM_E_OUTOFMEMORY;
    }
    buf = grown;
    if (!read_at(h, at + have, buf + have, chunk)) {
      unsigned rc = rm_win_last_error();
      free(buf);
      return rc;
    }
    /* the end: an empty string (a NUL at the start, or right after the
     * NUL of the last string) */
    for (i = have / 2; i < (have + chunk) / 2; i++) {
      const WCHAR *w = (const WCHAR *)buf;
      if (w[i] == 0 && (i == 0 || w[i - 1] == 0)) {
        *n = i;
        *out = (WCHAR *)buf;
        return RM_OK;
      }
    }
    have += chunk;
  }
}

/* The strings of an environment block (n units) as UTF-8, into c. */
static unsigned split_environment(const WCHAR *w, size_t n,
                                  rm_win_capture *c) {
  size_t count = 0, i, k = 0;
  unsigned rc = RM_OK;
  for (i = 0; i < n; i++)
    if (w[i] == 0) count++;
  c->envp = (char **)calloc(count + 1, sizeof *c->envp);
  if (!c->envp) return RM_E_OUTOFMEMORY;
  for (i = 0; i < n && k < count;) {
    size_t len = wcslen(w + i);
    c->envp[k] = utf8_of(w + i, len, &rc);
    if (!c->envp[k]) return rc;
    k++;
    c->envc = k;
    i += len + 1;
  }
  return RM_OK;
}

/* Whether the image mapped at base in process h is a console program
 * (IMAGE_SUBSYSTEM_WINDOWS_CUI): 1, 0, or -1 when its headers cannot be
 * read. */
static int console_image(HANDLE h, const BYTE *base) {
  IMAGE_DOS_HEADER dos;
  DWORD signature;
  WORD subsystem;
  /* the optional header follows the signature (4 bytes) and the file
   * header (20); Subsystem lies at its offset 68 in PE32 and PE32+ alike */
  if (!base || !read_at(h, base, &dos, sizeof dos) ||
      dos.e_magic != IMAGE_DOS_SIGNATURE || dos.e_lfanew <= 0 ||
      dos.e_lfanew > 4096 ||
      !read_at(h, base + dos.e_lfanew, &signature, sizeof signature) ||
      signature != IMAGE_NT_SIGNATURE ||
      !read_at(h, base + dos.e_lfanew + 4 + 20 + 68, &subsystem,
               sizeof subsystem))
    return -1;
  return subsystem == IMAGE_SUBSYSTEM_WINDOWS_CUI;
}

/* The user (SID as text) and elevation of a token. */
static unsigned token_user(HANDLE token, char **user, int *elevated) {
  BYTE buf[512];
  DWORD len = 0;
  TOKEN_ELEVATION el;
  WCHAR *sid = NULL;
  *user = NULL;
  *elevated = 0;
  if (!GetTokenInformation(token, TokenUser, buf, sizeof buf, &len) ||
      !ConvertSidToStringSidW(((TOKEN_USER *)(void *)buf)->User.Sid, &sid))
    return rm_win_last_error();
  *user = rm_win_utf8_dup(sid);
  LocalFree(sid);
  if (!*user) return RM_E_OUTOFMEMORY;
  if (!GetTokenInformation(token, TokenElevation, &el, sizeof el, &len)) {
    free(*user);
    *user = NULL;
    return rm_win_last_error();
  }
  *elevated = el.TokenIsElevated != 0;
  return RM_OK;
}

unsigned rm_win_caller_user(char **user, int *elevated) {
  HANDLE token;
  unsigned rc;
  if (!OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &token))
    return rm_win_last_error();
  rc = token_user(token, user, elevated);
  CloseHandle(token);
  return rc;
}

/* The command line split as CommandLineToArgvW splits it, into c. */
static unsigned split_line(const WCHAR *line, rm_win_capture *c) {
  int n = 0, i;
  WCHAR **v;
  unsigned rc = RM_OK;
  /* CommandLineToArgvW answers "" with the caller's own path */
  if (!line[0]) {
    c->argv = (char **)calloc(1, sizeof *c->argv);
    return c->argv ? RM_OK : RM_E_OUTOFMEMORY;
  }
  v = CommandLineToArgvW(line, &n);
  if (!v) return rm_win_last_error();
  c->argv = (char **)calloc((size_t)n + 1, sizeof *c->argv);
  if (!c->argv) rc = RM_E_OUTOFMEMORY;
  for (i = 0; rc == RM_OK && i < n; i++) {
    c->argv[i] = rm_win_utf8_dup(v[i]);
    if (!c->argv[i]) rc = RM_E_BAD_ARGUMENTS;
    else c->argc = (size_t)i + 1;
  }
  LocalFree(v);
  return rc;
}

void rm_win_capture_free(rm_win_capture *c) {
  size_t i;
  if (c->argv)
    for (i = 0; i < c->argc; i++) free(c->argv[i]);
  if (c->envp)
    for (i = 0; i < c->envc; i++) free(c->envp[i]);
  free(c->argv);
  free(c->envp);
  free(c->exe);
  free(c->cwd);
  free(c->line);
  free(c->user);
  memset(c, 0, sizeof *c);
}

/* The parts read from the process's memory, into c. */
static unsigned read_parameters(HANDLE h, uint32_t pid, rm_win_capture *c,
                                char msg[RM_WIN_CAPTURE_MSG_SIZE]) {
  basic_info bi;
  peb_start peb;
  parameters_start pp;
  query_fn query;
  FARPROC f;
  HMODULE ntdll = GetModuleHandleW(L"ntdll.dll");
  WCHAR *w = NULL;
  size_t n;
  ULONG got = 0;
  LONG status;
  unsigned rc;
  int console;
  f = ntdll ? GetProcAddress(ntdll, "NtQueryInformationProcess") : NULL;
  if (!f) return say(msg, RM_E_NOT_SUPPORTED, pid, "NtQueryInformationProcess");
  /* through void (*)(void), the one cast between function types that every
   * compiler accepts silently */
  query = (query_fn)(void (*)(void))f;
  status = query(h, 0 /* ProcessBasicInformation */, &bi, sizeof bi, &got);
  if (status < 0 || !bi.peb)
    return say(msg, RM_E_ACCESS_DENIED, pid, "its basic information");
  c->ppid = (uint32_t)bi.parent_pid;
  if (!read_at(h, bi.peb, &peb, sizeof peb) || !peb.parameters ||
      !read_at(h, peb.parameters, &pp, sizeof pp))
    return say(msg, rm_win_last_error(), pid, "its process parameters");
  rc = read_counted(h, &pp.command_line, &w, &n);
  if (rc != RM_OK) return say(msg, rc, pid, "its command line");
  c->line = utf8_of(w, n, &rc);
  if (c->line) rc = split_line(w, c);
  free(w);
  if (rc != RM_OK) return say(msg, rc, pid, "its command line");
  rc = read_counted_utf8(h, &pp.current_directory, &c->cwd);
  if (rc != RM_OK) return say(msg, rc, pid, "its current directory");
  n = strlen(c->cwd);
  /* "C:\dir\" -> "C:\dir"; "C:\" stays */
  if (n > 3 && (c->cwd[n - 1] == '\\' || c->cwd[n - 1] == '/'))
    c->cwd[n - 1] = '\0';
  rc = read_environment(h, pp.environment, &w, &n);
  if (rc == RM_OK) {
    rc = split_environment(w, n, c);
    free(w);
  }
  if (rc != RM_OK) return say(msg, rc, pid, "its environment");
  console = console_image(h, (const BYTE *)peb.image_base);
  if (console < 0)
    return say(msg, rm_win_last_error(), pid, "its image's headers");
  c->console = console;
  return RM_OK;
}

unsigned rm_win_capture_take(const rm_unique_process *p, rm_win_capture *c,
                             char msg[RM_WIN_CAPTURE_MSG_SIZE]) {
  HANDLE h, token;
  BOOL self_wow = FALSE, target_wow = FALSE;
  WCHAR *path = NULL;
  DWORD len = LONG_PATH;
  unsigned rc = RM_OK;
  uint64_t created;
  memset(c, 0, sizeof *c);
  msg[0] = '\0';
  h = OpenProcess(PROCESS_QUERY_INFORMATION | PROCESS_VM_READ | SYNCHRONIZE,
                  FALSE, (DWORD)p->pid);
  if (!h) {
    rc = rm_win_last_error();
    /* OpenProcess says "invalid parameter" for a pid no process has */
    if (rc == RM_E_INVALID_PARAMETER) rc = RM_E_FILE_NOT_FOUND;
    return say(msg, rc, p->pid, "cannot open it");
  }
  created = rm_win_process_created(h);
  if (created == 0 || rm_win_process_ended(h) ||
      (p->start_time != 0 && created != p->start_time)) {
    CloseHandle(h);
    snprintf(msg, RM_WIN_CAPTURE_MSG_SIZE,
             "process %lu: gone (or the pid names another process now)",
             (unsigned long)p->pid);
    return RM_E_FILE_NOT_FOUND;
  }
  c->process.pid = p->pid;
  c->process.start_time = created;
  if (!IsWow64Process(GetCurrentProcess(), &self_wow) ||
      !IsWow64Process(h, &target_wow)) {
    rc = say(msg, rm_win_last_error(), p->pid, "its bitness");
    goto done;
  }
  if (self_wow != target_wow) {
    snprintf(msg, RM_WIN_CAPTURE_MSG_SIZE,
             "process %lu: a %s program, read from a %s one: its command "
             "line and environment cannot be read here",
             (unsigned long)p->pid, target_wow ? "32-bit" : "64-bit",
             self_wow ? "32-bit" : "64-bit");
    rc = RM_E_NOT_SUPPORTED;
    goto done;
  }
  path = (WCHAR *)malloc(LONG_PATH * sizeof *path);
  if (!path) {
    rc = say(msg, RM_E_OUTOFMEMORY, p->pid, "its executable");
    goto done;
  }
  if (!QueryFullProcessImageNameW(h, 0, path, &len)) {
    rc = say(msg, rm_win_last_error(), p->pid, "its executable");
    goto done;
  }
  c->exe = utf8_of(path, len, &rc);
  if (!c->exe) {
    say(msg, rc, p->pid, "its executable");
    goto done;
  }
  rc = read_parameters(h, p->pid, c, msg);
  if (rc != RM_OK) goto done;
  if (!OpenProcessToken(h, TOKEN_QUERY, &token)) {
    rc = say(msg, rm_win_last_error(), p->pid, "its token");
    goto done;
  }
  rc = token_user(token, &c->user, &c->elevated);
  CloseHandle(token);
  if (rc != RM_OK) {
    say(msg, rc, p->pid, "its user");
    goto done;
  }
  {
    char *me = NULL;
    int me_elevated = 0;
    rc = rm_win_caller_user(&me, &me_elevated);
    if (rc != RM_OK) {
      say(msg, rc, p->pid, "the caller's own user");
      goto done;
    }
    c->other_user = strcmp(me, c->user) != 0;
    c->would_elevate = me_elevated && !c->elevated;
    free(me);
  }
  /* still the same process: ended meanwhile, its memory may have been half
   * torn down while it was read */
  if (rm_win_process_ended(h)) {
    snprintf(msg, RM_WIN_CAPTURE_MSG_SIZE, "process %lu: ended while read",
             (unsigned long)p->pid);
    rc = RM_E_FILE_NOT_FOUND;
  }
done:
  free(path);
  CloseHandle(h);
  if (rc != RM_OK) {
    rm_win_capture_free(c);
    if (!msg[0]) say(msg, rc, p->pid, "capture");
  }
  return rc;
}

/* Whether two paths (UTF-8) are equal without regard to case. */
static int same_path(const char *a, const char *b) {
  unsigned rc = RM_OK;
  WCHAR *wa = rm_win_to_wide(a, &rc), *wb = rm_win_to_wide(b, &rc);
  int same = wa && wb &&
             rm_win_compare_nocase(wa, -1, wb, -1) == 0;
  free(wa);
  free(wb);
  return same;
}

/* The file name part of a UTF-8 path. */
static const char *base_name(const char *p) {
  const char *b = p;
  for (; *p; p++)
    if (*p == '\\' || *p == '/') b = p + 1;
  return b;
}

unsigned rm_win_find_running(const char *exe, const char *line,
                             uint32_t *pid) {
  PROCESSENTRY32W pe;
  HANDLE snap;
  DWORD self = GetCurrentProcessId();
  *pid = 0;
  snap = CreateToolhelp32Snapshot(TH32CS_SNAPPROCESS, 0);
  if (snap == INVALID_HANDLE_VALUE) return rm_win_last_error();
  pe.dwSize = sizeof pe;
  if (Process32FirstW(snap, &pe)) {
    do {
      rm_unique_process p;
      rm_win_capture c;
      char msg[RM_WIN_CAPTURE_MSG_SIZE], *name;
      int same;
      if (pe.th32ProcessID == 0 || pe.th32ProcessID == self) continue;
      /* the file name first: most processes are never opened */
      name = rm_win_utf8_dup(pe.szExeFile);
      same = name && same_path(name, base_name(exe));
      free(name);
      if (!same) continue;
      p.pid = (uint32_t)pe.th32ProcessID;
      p.start_time = 0;
      if (rm_win_capture_take(&p, &c, msg) != RM_OK) continue;
      if (!c.other_user && same_path(c.exe, exe) &&
          strcmp(c.line, line) == 0)
        *pid = c.process.pid;
      rm_win_capture_free(&c);
    } while (*pid == 0 && Process32NextW(snap, &pe));
  }
  CloseHandle(snap);
  return RM_OK;
}

/* The environment strings as one UTF-16 block, NULL (and *rc) on failure. */
static WCHAR *environment_block(const char *const *envp, size_t envc,
                                unsigned *rc) {
  size_t units = 1, i;
  WCHAR *block, *at;
  for (i = 0; i < envc; i++) {
    int n = MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, envp[i], -1,
                                NULL, 0);
    if (n <= 0) {
      *rc = RM_E_BAD_ARGUMENTS;
      return NULL;
    }
    units += (size_t)n;
  }
  block = (WCHAR *)malloc((units + 1) * sizeof *block);
  if (!block) {
    *rc = RM_E_OUTOFMEMORY;
    return NULL;
  }
  at = block;
  for (i = 0; i < envc; i++)
    at += MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, envp[i], -1, at,
                              (int)(units - (size_t)(at - block)));
  at[0] = 0;
  at[1] = 0;
  return block;
}

unsigned rm_win_relaunch_start(const rm_win_relaunch *l, uint32_t *pid,
                               char note[RM_WIN_CAPTURE_MSG_SIZE],
                               char msg[RM_WIN_CAPTURE_MSG_SIZE]) {
  WCHAR *exe = NULL, *line = NULL, *cwd = NULL, *env = NULL;
  STARTUPINFOW si;
  PROCESS_INFORMATION pi;
  DWORD how = CREATE_UNICODE_ENVIRONMENT | CREATE_DEFAULT_ERROR_MODE;
  BOOL in_job = FALSE, ok;
  unsigned rc = RM_OK;
  msg[0] = '\0';
  note[0] = '\0';
  *pid = 0;
  if (l->console) how |= CREATE_NEW_CONSOLE;
  exe = rm_win_to_wide(l->exe, &rc);
  if (exe) line = rm_win_to_wide(l->line, &rc);
  if (line) cwd = rm_win_to_wide(l->cwd, &rc);
  if (cwd) env = environment_block(l->envp, l->envc, &rc);
  if (!env) {
    snprintf(msg, RM_WIN_CAPTURE_MSG_SIZE,
             "the capture of '%s' does not convert to UTF-16", l->exe);
    goto done;
  }
  memset(&si, 0, sizeof si);
  si.cb = sizeof si;
  if (!IsProcessInJob(GetCurrentProcess(), NULL, &in_job)) in_job = FALSE;
  ok = CreateProcessW(exe, line, NULL, NULL, FALSE,
                      how | (in_job ? CREATE_BREAKAWAY_FROM_JOB : 0), env,
                      cwd[0] ? cwd : NULL, &si, &pi);
  if (!ok && in_job && GetLastError() == ERROR_ACCESS_DENIED) {
    /* the job does not allow leaving it */
    ok = CreateProcessW(exe, line, NULL, NULL, FALSE, how, env,
                        cwd[0] ? cwd : NULL, &si, &pi);
    if (ok)
      snprintf(note, RM_WIN_CAPTURE_MSG_SIZE,
               "the caller's job may not be left: the program runs in it "
               "and ends with it if the job says so");
  }
  if (!ok) {
    char text[160];
    rc = rm_win_last_error();
    rm_backend_error_text(rc, text, sizeof text);
    snprintf(msg, RM_WIN_CAPTURE_MSG_SIZE, "cannot start '%s': %s", l->exe,
             text);
    goto done;
  }
  CloseHandle(pi.hThread);
  CloseHandle(pi.hProcess);
  *pid = (uint32_t)pi.dwProcessId;
done:
  free(exe);
  free(line);
  free(cwd);
  free(env);
  return rc;
}
