/*
 * TEST STAND-IN for rstrtmgr.dll. It is neither Microsoft's Restart Manager
 * nor Wine's: a scripted DLL with the same exports and ABI, built only for the
 * specs. Under Wine it is loaded in place of Wine's rstrtmgr.dll (it sits
 * beside lua.exe and the specs run with WINEDLLOVERRIDES=rstrtmgr=n), so that
 * the Windows backend meets answers it can be checked against: known lists,
 * ERROR_MORE_DATA, progress reports, filter chains and errors on demand.
 *
 * It reads a scenario, a text file named by RM_STANDIN_SCENARIO, and appends
 * every call it receives to the log named by RM_STANDIN_LOG. UTF-16 strings
 * travel in both as hexadecimal code units, four digits each ("-" for the
 * empty string), so that the specs check the exact units.
 *
 * The scenario is read on first use and again at every RmStartSession; when
 * its text changed, the new one replaces the old one's state (counters,
 * filters), while the open sessions stay open.
 *
 * Scenario lines (# starts a comment):
 *   key TEXT             the key RmStartSession writes, without a NUL
 *   handle N             the first handle RmStartSession hands out (then
 *                        N+1, ...); default 0
 *   join_handle N        the handle RmJoinSession hands out; default 100
 *   fail FUNCTION CODE   FUNCTION (e.g. RmGetList) returns CODE
 *   reasons N            RmGetList's reboot reasons
 *   app PID START TYPE STATUS TSSESSION RESTARTABLE NAME SERVICE
 *                        one entry of RmGetList's answer (NAME and SERVICE
 *                        in hex units, at most 256 and 64; a full array
 *                        is written without a NUL)
 *   race N               the first N calls of RmGetList return 234 with a
 *                        needed count one larger at each call
 *   progress P...        the percentages RmShutdown and RmRestart report;
 *                        after each one, a requested cancellation makes
 *                        them return 1223
 *   filter file|service ACTION HEX   a filter in RmGetFilterList's answer
 *   filter process ACTION PID START
 *   filter_layout packed|spread|end_offset|bad_next|bad_pointer|unterminated
 *                        how RmGetFilterList lays out its chain
 *   filter_race N        the first N calls of RmGetFilterList return 234
 *                        with a need 64 bytes larger at each call
 *
 * Log lines: "call NAME ARGS" on entry, "return NAME CODE ..." on exit, and
 * lines for what arrays and callbacks carried (see each function).
 */
#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#include <windows.h>
#include <restartmanager.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef ERROR_CANCELLED
#define ERROR_CANCELLED 1223L
#endif
#ifndef ERROR_MAX_SESSIONS_REACHED
#define ERROR_MAX_SESSIONS_REACHED 353L
#endif

#define MAX_LINE 4096
#define MAX_APPS 64
#define MAX_FAILS 32
#define MAX_FILTERS 64
#define MAX_PROGRESS 64
#define MAX_SESSIONS 64
#define MAX_NAME 300

typedef struct app_entry {
  DWORD pid;
  ULONGLONG start;
  long type;
  unsigned long status, tssession, restartable;
  WCHAR name[CCH_RM_MAX_APP_NAME + 1];
  size_t name_len;
  WCHAR svc[CCH_RM_MAX_SVC_NAME + 1];
  size_t svc_len;
} app_entry;

typedef struct filter_entry {
  int trigger, action;
  WCHAR name[MAX_NAME];
  size_t name_len;
  DWORD pid;
  ULONGLONG start;
} filter_entry;

typedef struct fail_entry {
  char fn[64];
  DWORD code;
} fail_entry;

enum layout {
  LAYOUT_PACKED,
  LAYOUT_SPREAD,
  LAYOUT_END_OFFSET,
  LAYOUT_BAD_NEXT,
  LAYOUT_BAD_POINTER,
  LAYOUT_UNTERMINATED
};

static struct {
  int loaded;
  char *text; /* the scenario's text, as last read */
  char key[64];
  DWORD next_handle, join_handle;
  fail_entry fails[MAX_FAILS];
  int nfails;
  DWORD reasons;
  app_entry apps[MAX_APPS];
  int napps;
  int race, race_calls;
  unsigned progress[MAX_PROGRESS];
  int nprogress;
  filter_entry filters[MAX_FILTERS];
  int nfilters;
  enum layout layout;
  int filter_race, filter_race_calls;
  DWORD sessions[MAX_SESSIONS];
  int nsessions;
  int cancel_requested;
  DWORD task_thread; /* the thread inside RmShutdown or RmRestart, or 0 */
} sc;

/* ------------------------------------------------------------------ */

static WCHAR *env_path(const WCHAR *name) {
  static WCHAR buf[2][MAX_PATH];
  static int which;
  WCHAR *b = buf[which ^= 1];
  DWORD n = GetEnvironmentVariableW(name, b, MAX_PATH);
  return (n > 0 && n < MAX_PATH) ? b : NULL;
}

static void log_line(const char *fmt, ...) {
  char line[MAX_LINE];
  va_list ap;
  int n;
  DWORD done;
  HANDLE f;
  WCHAR *path = env_path(L"RM_STANDIN_LOG");
  if (!path) return;
  va_start(ap, fmt);
  n = vsnprintf(line, sizeof line - 1, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  if (n > (int)sizeof line - 2) n = (int)sizeof line - 2;
  line[n++] = '\n';
  f = CreateFileW(path, FILE_APPEND_DATA, FILE_SHARE_READ | FILE_SHARE_WRITE,
                  NULL, OPEN_ALWAYS, FILE_ATTRIBUTE_NORMAL, NULL);
  if (f == INVALID_HANDLE_VALUE) return;
  WriteFile(f, line, (DWORD)n, &done, NULL);
  CloseHandle(f);
}

/* units as hex into out (at least 4 * n + 2 bytes); "-" when n is 0. */
static char *hex_units(const WCHAR *w, size_t n, char *out) {
  size_t i;
  if (n == 0) {
    strcpy(out, "-");
    return out;
  }
  for (i = 0; i < n; i++) sprintf(out + 4 * i, "%04x", (unsigned)w[i]);
  out[4 * n] = '\0';
  return out;
}

/* A NUL-terminated wide string as hex, or "NULL". */
static const char *hex_wstr(const WCHAR *w, char *out, size_t size) {
  size_t n = 0;
  if (w == NULL) return "NULL";
  while (w[n] && 4 * (n + 1) + 2 < size) n++;
  return hex_units(w, n, out);
}

static unsigned parse_hex_units(const char *s, WCHAR *out, size_t max) {
  size_t n = 0;
  if (strcmp(s, "-") == 0) return 0;
  while (s[0] && n < max) {
    char d[5];
    memcpy(d, s, 4);
    d[4] = '\0';
    out[n++] = (WCHAR)strtoul(d, NULL, 16);
    if (strlen(s) < 4) break;
    s += 4;
  }
  return (unsigned)n;
}

static ULONGLONG parse_u64(const char *s) { return strtoull(s, NULL, 0); }

/* Splits line into at most max words (in place). */
static int split(char *line, char **words, int max) {
  int n = 0;
  char *p = line;
  while (*p && n < max) {
    while (*p == ' ' || *p == '\t' || *p == '\r') *p++ = '\0';
    if (!*p || *p == '#') break;
    words[n++] = p;
    while (*p && *p != ' ' && *p != '\t' && *p != '\r') p++;
  }
  if (*p == '#') *p = '\0';
  return n;
}

static int action_of(const char *s) {
  if (strcmp(s, "no_restart") == 0) return RmNoRestart;
  if (strcmp(s, "no_shutdown") == 0) return RmNoShutdown;
  return atoi(s);
}

/* The scenario file's text (malloc'd; "" when there is none). */
static char *read_scenario(void) {
  WCHAR *path = env_path(L"RM_STANDIN_SCENARIO");
  HANDLE f;
  char *text;
  DWORD size, got = 0;
  f = path ? CreateFileW(path, GENERIC_READ,
                         FILE_SHARE_READ | FILE_SHARE_WRITE, NULL,
                         OPEN_EXISTING, FILE_ATTRIBUTE_NORMAL, NULL)
           : INVALID_HANDLE_VALUE;
  if (f == INVALID_HANDLE_VALUE) return (char *)calloc(1, 1);
  size = GetFileSize(f, NULL);
  text = (char *)calloc(1, (size_t)size + 1);
  if (text && !ReadFile(f, text, size, &got, NULL)) got = 0;
  CloseHandle(f);
  if (text) text[got] = '\0';
  return text;
}

static void load(void) {
  char *text = read_scenario(), *copy, *line;
  DWORD sessions[MAX_SESSIONS];
  int nsessions = sc.nsessions;
  if (!text) return;
  if (sc.loaded && sc.text && strcmp(sc.text, text) == 0) {
    free(text);
    return;
  }
  memcpy(sessions, sc.sessions, sizeof sessions);
  free(sc.text);
  memset(&sc, 0, sizeof sc);
  memcpy(sc.sessions, sessions, sizeof sessions);
  sc.nsessions = nsessions;
  sc.loaded = 1;
  sc.text = text;
  sc.join_handle = 100;
  copy = (char *)malloc(strlen(text) + 1);
  if (!copy) return;
  strcpy(copy, text);
  for (line = copy; line && *line;) {
    char *next = strchr(line, '\n');
    char *w[MAX_PROGRESS + 2];
    int n, i;
    if (next) *next++ = '\0';
    n = split(line, w, (int)(sizeof w / sizeof w[0]));
    line = next;
    if (n == 0) continue;
    if (strcmp(w[0], "key") == 0 && n >= 2) {
      strncpy(sc.key, w[1], sizeof sc.key - 1);
    } else if (strcmp(w[0], "handle") == 0 && n >= 2) {
      sc.next_handle = (DWORD)parse_u64(w[1]);
    } else if (strcmp(w[0], "join_handle") == 0 && n >= 2) {
      sc.join_handle = (DWORD)parse_u64(w[1]);
    } else if (strcmp(w[0], "fail") == 0 && n >= 3 && sc.nfails < MAX_FAILS) {
      strncpy(sc.fails[sc.nfails].fn, w[1], sizeof sc.fails[0].fn - 1);
      sc.fails[sc.nfails++].code = (DWORD)parse_u64(w[2]);
    } else if (strcmp(w[0], "reasons") == 0 && n >= 2) {
      sc.reasons = (DWORD)parse_u64(w[1]);
    } else if (strcmp(w[0], "app") == 0 && n >= 9 && sc.napps < MAX_APPS) {
      app_entry *a = &sc.apps[sc.napps++];
      a->pid = (DWORD)parse_u64(w[1]);
      a->start = parse_u64(w[2]);
      a->type = strtol(w[3], NULL, 0);
      a->status = (unsigned long)parse_u64(w[4]);
      a->tssession = (unsigned long)strtoll(w[5], NULL, 0);
      a->restartable = (unsigned long)parse_u64(w[6]);
      a->name_len = parse_hex_units(w[7], a->name, CCH_RM_MAX_APP_NAME + 1);
      a->svc_len = parse_hex_units(w[8], a->svc, CCH_RM_MAX_SVC_NAME + 1);
    } else if (strcmp(w[0], "race") == 0 && n >= 2) {
      sc.race = atoi(w[1]);
    } else if (strcmp(w[0], "progress") == 0) {
      for (i = 1; i < n && sc.nprogress < MAX_PROGRESS; i++)
        sc.progress[sc.nprogress++] = (unsigned)atoi(w[i]);
    } else if (strcmp(w[0], "filter") == 0 && n >= 4 &&
               sc.nfilters < MAX_FILTERS) {
      filter_entry *e = &sc.filters[sc.nfilters++];
      e->action = action_of(w[2]);
      if (strcmp(w[1], "process") == 0 && n >= 5) {
        e->trigger = RmFilterTriggerProcess;
        e->pid = (DWORD)parse_u64(w[3]);
        e->start = parse_u64(w[4]);
      } else {
        e->trigger = strcmp(w[1], "file") == 0 ? RmFilterTriggerFile
                                               : RmFilterTriggerService;
        e->name_len = parse_hex_units(w[3], e->name, MAX_NAME - 1);
      }
    } else if (strcmp(w[0], "filter_layout") == 0 && n >= 2) {
      static const char *const names[] = {"packed",      "spread",
                                          "end_offset",  "bad_next",
                                          "bad_pointer", "unterminated"};
      for (i = 0; i < 6; i++)
        if (strcmp(w[1], names[i]) == 0) sc.layout = (enum layout)i;
    } else if (strcmp(w[0], "filter_race") == 0 && n >= 2) {
      sc.filter_race = atoi(w[1]);
    } else {
      log_line("scenario: unknown line %s", w[0]);
    }
  }
  free(copy);
}

static void ensure_loaded(void) {
  if (!sc.loaded) load();
}

/* The code FUNCTION must fail with, 0 for none. */
static DWORD failure(const char *fn) {
  int i;
  for (i = 0; i < sc.nfails; i++)
    if (strcmp(sc.fails[i].fn, fn) == 0) return sc.fails[i].code;
  return 0;
}

static int session_index(DWORD h) {
  int i;
  for (i = 0; i < sc.nsessions; i++)
    if (sc.sessions[i] == h) return i;
  return -1;
}

static DWORD add_session(DWORD h) {
  if (sc.nsessions == MAX_SESSIONS) return ERROR_MAX_SESSIONS_REACHED;
  sc.sessions[sc.nsessions++] = h;
  return ERROR_SUCCESS;
}

static DWORD ret(const char *fn, DWORD rc) {
  log_line("return %s %lu", fn, (unsigned long)rc);
  return rc;
}

/* Logs the call's failure on demand, or ERROR_INVALID_HANDLE for a handle
 * no session has; 0 to go on. */
static DWORD check(const char *fn, DWORD h) {
  DWORD f = failure(fn);
  if (f) return f;
  if (session_index(h) < 0) return ERROR_INVALID_HANDLE;
  return 0;
}

static ULONGLONG ft64(const FILETIME *ft) {
  return ((ULONGLONG)ft->dwHighDateTime << 32) | ft->dwLowDateTime;
}

static void set_ft(FILETIME *ft, ULONGLONG v) {
  ft->dwLowDateTime = (DWORD)(v & 0xFFFFFFFFu);
  ft->dwHighDateTime = (DWORD)(v >> 32);
}

/* ------------------------------------------------------------------ */

DWORD WINAPI RmStartSession(DWORD *pSessionHandle, DWORD dwSessionFlags,
                            WCHAR strSessionKey[]) {
  DWORD rc, i;
  int zeroed = 1;
  load();
  /* the caller is to offer CCH_RM_SESSION_KEY + 1 units, zero-filled */
  for (i = 0; i < 33; i++)
    if (strSessionKey[i] != 0) zeroed = 0;
  log_line("call RmStartSession flags=%lu key_zeroed=%d",
           (unsigned long)dwSessionFlags, zeroed);
  rc = failure("RmStartSession");
  if (rc) return ret("RmStartSession", rc);
  rc = add_session(sc.next_handle);
  if (rc) return ret("RmStartSession", rc);
  *pSessionHandle = sc.next_handle++;
  /* the key's characters, and no terminating NUL */
  for (i = 0; sc.key[i] && i < 32; i++) strSessionKey[i] = (WCHAR)sc.key[i];
  log_line("started %lu", (unsigned long)*pSessionHandle);
  return ret("RmStartSession", 0);
}

DWORD WINAPI RmJoinSession(DWORD *pSessionHandle,
                           const WCHAR strSessionKey[]) {
  char hex[4 * 40 + 2];
  DWORD rc, i;
  int match = 1;
  ensure_loaded();
  log_line("call RmJoinSession key=%s",
           hex_wstr(strSessionKey, hex, sizeof hex));
  rc = failure("RmJoinSession");
  if (rc) return ret("RmJoinSession", rc);
  for (i = 0; i < 32; i++) {
    if (strSessionKey[i] != (WCHAR)(unsigned char)sc.key[i]) match = 0;
    if (!sc.key[i] || !strSessionKey[i]) break;
  }
  if (!match || !sc.key[0])
    return ret("RmJoinSession", ERROR_SESSION_CREDENTIAL_CONFLICT);
  rc = add_session(sc.join_handle);
  if (rc) return ret("RmJoinSession", rc);
  *pSessionHandle = sc.join_handle;
  log_line("joined %lu", (unsigned long)sc.join_handle);
  return ret("RmJoinSession", 0);
}

DWORD WINAPI RmEndSession(DWORD dwSessionHandle) {
  DWORD rc;
  int i;
  ensure_loaded();
  log_line("call RmEndSession h=%lu", (unsigned long)dwSessionHandle);
  rc = check("RmEndSession", dwSessionHandle);
  i = session_index(dwSessionHandle);
  /* the session ends even when the scenario makes the call fail */
  if (i >= 0) sc.sessions[i] = sc.sessions[--sc.nsessions];
  return ret("RmEndSession", rc);
}

/* Logs: "file I HEX", "proc I PID LOW HIGH", "svc I HEX". */
DWORD WINAPI RmRegisterResources(DWORD dwSessionHandle, UINT nFiles,
                                 LPCWSTR rgsFileNames[], UINT nApplications,
                                 RM_UNIQUE_PROCESS rgApplications[],
                                 UINT nServices, LPCWSTR rgsServiceNames[]) {
  char hex[MAX_LINE];
  UINT i;
  DWORD rc;
  ensure_loaded();
  log_line("call RmRegisterResources h=%lu nfiles=%u files=%s napps=%u "
           "apps=%s nsvcs=%u svcs=%s",
           (unsigned long)dwSessionHandle, nFiles,
           rgsFileNames ? "ptr" : "NULL", nApplications,
           rgApplications ? "ptr" : "NULL", nServices,
           rgsServiceNames ? "ptr" : "NULL");
  rc = check("RmRegisterResources", dwSessionHandle);
  if (rc) return ret("RmRegisterResources", rc);
  if ((nFiles && !rgsFileNames) || (nApplications && !rgApplications) ||
      (nServices && !rgsServiceNames))
    return ret("RmRegisterResources", ERROR_INVALID_PARAMETER);
  for (i = 0; i < nFiles; i++)
    log_line("file %u %s", i, hex_wstr(rgsFileNames[i], hex, sizeof hex));
  for (i = 0; i < nApplications; i++)
    log_line("proc %u %lu %lu %lu", i,
             (unsigned long)rgApplications[i].dwProcessId,
             (unsigned long)rgApplications[i].ProcessStartTime.dwLowDateTime,
             (unsigned long)rgApplications[i].ProcessStartTime.dwHighDateTime);
  for (i = 0; i < nServices; i++)
    log_line("svc %u %s", i, hex_wstr(rgsServiceNames[i], hex, sizeof hex));
  return ret("RmRegisterResources", 0);
}

DWORD WINAPI RmGetList(DWORD dwSessionHandle, UINT *pnProcInfoNeeded,
                       UINT *pnProcInfo, RM_PROCESS_INFO rgAffectedApps[],
                       LPDWORD lpdwRebootReasons) {
  DWORD rc;
  UINT cap, needed;
  int i;
  ensure_loaded();
  log_line("call RmGetList h=%lu capacity=%u array=%s",
           (unsigned long)dwSessionHandle, pnProcInfo ? *pnProcInfo : 0u,
           rgAffectedApps ? "ptr" : "NULL");
  rc = check("RmGetList", dwSessionHandle);
  if (rc) return ret("RmGetList", rc);
  if (!pnProcInfoNeeded || !pnProcInfo || !lpdwRebootReasons)
    return ret("RmGetList", ERROR_INVALID_PARAMETER);
  cap = *pnProcInfo;
  needed = (UINT)sc.napps;
  if (sc.race_calls < sc.race) {
    /* the list grew since the caller's last look */
    sc.race_calls++;
    needed += (UINT)sc.race_calls;
    *pnProcInfoNeeded = needed;
    *pnProcInfo = 0;
    log_line("return RmGetList 234 needed=%u", needed);
    return ERROR_MORE_DATA;
  }
  *pnProcInfoNeeded = needed;
  *lpdwRebootReasons = sc.reasons;
  if (cap < needed) {
    *pnProcInfo = 0;
    log_line("return RmGetList 234 needed=%u", needed);
    return ERROR_MORE_DATA;
  }
  for (i = 0; i < sc.napps; i++) {
    RM_PROCESS_INFO *p = &rgAffectedApps[i];
    const app_entry *a = &sc.apps[i];
    memset(p, 0, sizeof *p);
    p->Process.dwProcessId = a->pid;
    set_ft(&p->Process.ProcessStartTime, a->start);
    memcpy(p->strAppName, a->name, a->name_len * sizeof(WCHAR));
    memcpy(p->strServiceShortName, a->svc, a->svc_len * sizeof(WCHAR));
    p->ApplicationType = (RM_APP_TYPE)a->type;
    p->AppStatus = a->status;
    p->TSSessionId = (DWORD)a->tssession;
    p->bRestartable = (BOOL)a->restartable;
  }
  *pnProcInfo = needed;
  log_line("return RmGetList 0 count=%u", needed);
  return 0;
}

/* Logs "progress P" before each report and "progress_returned P" once the
 * callback came back. */
static DWORD run_task(const char *fn, DWORD h, DWORD flags,
                      RM_WRITE_STATUS_CALLBACK cb) {
  DWORD rc;
  int i;
  ensure_loaded();
  log_line("call %s h=%lu flags=%lu callback=%s", fn, (unsigned long)h,
           (unsigned long)flags, cb ? "ptr" : "NULL");
  rc = check(fn, h);
  if (rc) return ret(fn, rc);
  sc.cancel_requested = 0;
  sc.task_thread = GetCurrentThreadId();
  for (i = 0; i < sc.nprogress; i++) {
    if (cb) {
      log_line("progress %u", sc.progress[i]);
      cb(sc.progress[i]);
      log_line("progress_returned %u", sc.progress[i]);
    }
    if (sc.cancel_requested) {
      sc.cancel_requested = 0;
      sc.task_thread = 0;
      return ret(fn, ERROR_CANCELLED);
    }
  }
  sc.task_thread = 0;
  return ret(fn, 0);
}

DWORD WINAPI RmShutdown(DWORD dwSessionHandle, ULONG lActionFlags,
                        RM_WRITE_STATUS_CALLBACK fnStatus) {
  return run_task("RmShutdown", dwSessionHandle, (DWORD)lActionFlags,
                  fnStatus);
}

DWORD WINAPI RmRestart(DWORD dwSessionHandle, DWORD dwRestartFlags,
                       RM_WRITE_STATUS_CALLBACK fnStatus) {
  return run_task("RmRestart", dwSessionHandle, dwRestartFlags, fnStatus);
}

DWORD WINAPI RmCancelCurrentTask(DWORD dwSessionHandle) {
  DWORD rc;
  ensure_loaded();
  /* Microsoft documents the call from another thread than the task's:
   * one made on the task's own thread (from its status callback) says so */
  log_line("call RmCancelCurrentTask h=%lu%s", (unsigned long)dwSessionHandle,
           sc.task_thread == GetCurrentThreadId() ? " on_task_thread" : "");
  rc = check("RmCancelCurrentTask", dwSessionHandle);
  if (rc) return ret("RmCancelCurrentTask", rc);
  sc.cancel_requested = 1;
  return ret("RmCancelCurrentTask", 0);
}

/* "file=HEX|NULL proc=PID:LOW:HIGH|NULL svc=HEX|NULL" into out. */
static void describe_target(LPCWSTR file, const RM_UNIQUE_PROCESS *proc,
                            LPCWSTR svc, char *out, size_t size) {
  char f[4 * MAX_NAME + 8], s[4 * MAX_NAME + 8], p[64];
  if (proc)
    snprintf(p, sizeof p, "%lu:%lu:%lu", (unsigned long)proc->dwProcessId,
             (unsigned long)proc->ProcessStartTime.dwLowDateTime,
             (unsigned long)proc->ProcessStartTime.dwHighDateTime);
  else
    strcpy(p, "NULL");
  snprintf(out, size, "file=%s proc=%s svc=%s", hex_wstr(file, f, sizeof f),
           p, hex_wstr(svc, s, sizeof s));
}

/* The filter in the list with the same target, -1 if none. */
static int find_filter(LPCWSTR file, const RM_UNIQUE_PROCESS *proc,
                       LPCWSTR svc) {
  int i;
  for (i = 0; i < sc.nfilters; i++) {
    const filter_entry *e = &sc.filters[i];
    LPCWSTR name = file ? file : svc;
    int trigger = file ? RmFilterTriggerFile
                  : proc ? RmFilterTriggerProcess
                         : RmFilterTriggerService;
    if (e->trigger != trigger) continue;
    if (proc) {
      if (e->pid == proc->dwProcessId &&
          e->start == ft64(&proc->ProcessStartTime))
        return i;
    } else if (wcslen(name) == e->name_len &&
               memcmp(name, e->name, e->name_len * sizeof(WCHAR)) == 0) {
      return i;
    }
  }
  return -1;
}

static int one_target(LPCWSTR file, const RM_UNIQUE_PROCESS *proc,
                      LPCWSTR svc) {
  return (file != NULL) + (proc != NULL) + (svc != NULL) == 1;
}

DWORD WINAPI RmAddFilter(DWORD dwSessionHandle, LPCWSTR strModuleName,
                         RM_UNIQUE_PROCESS *pProcess,
                         LPCWSTR strServiceShortName,
                         RM_FILTER_ACTION FilterAction) {
  char what[MAX_LINE];
  DWORD rc;
  int i;
  filter_entry *e;
  ensure_loaded();
  describe_target(strModuleName, pProcess, strServiceShortName, what,
                  sizeof what);
  log_line("call RmAddFilter h=%lu %s action=%d",
           (unsigned long)dwSessionHandle, what, (int)FilterAction);
  rc = check("RmAddFilter", dwSessionHandle);
  if (rc) return ret("RmAddFilter", rc);
  if (!one_target(strModuleName, pProcess, strServiceShortName))
    return ret("RmAddFilter", ERROR_BAD_ARGUMENTS);
  i = find_filter(strModuleName, pProcess, strServiceShortName);
  if (i < 0) {
    if (sc.nfilters == MAX_FILTERS)
      return ret("RmAddFilter", ERROR_OUTOFMEMORY);
    i = sc.nfilters++;
  }
  e = &sc.filters[i];
  memset(e, 0, sizeof *e);
  e->action = (int)FilterAction;
  if (pProcess) {
    e->trigger = RmFilterTriggerProcess;
    e->pid = pProcess->dwProcessId;
    e->start = ft64(&pProcess->ProcessStartTime);
  } else {
    LPCWSTR name = strModuleName ? strModuleName : strServiceShortName;
    e->trigger = strModuleName ? RmFilterTriggerFile : RmFilterTriggerService;
    e->name_len = wcslen(name);
    if (e->name_len > MAX_NAME - 1) e->name_len = MAX_NAME - 1;
    memcpy(e->name, name, e->name_len * sizeof(WCHAR));
  }
  return ret("RmAddFilter", 0);
}

DWORD WINAPI RmRemoveFilter(DWORD dwSessionHandle, LPCWSTR strModuleName,
                            RM_UNIQUE_PROCESS *pProcess,
                            LPCWSTR strServiceShortName) {
  char what[MAX_LINE];
  DWORD rc;
  int i;
  ensure_loaded();
  describe_target(strModuleName, pProcess, strServiceShortName, what,
                  sizeof what);
  log_line("call RmRemoveFilter h=%lu %s", (unsigned long)dwSessionHandle,
           what);
  rc = check("RmRemoveFilter", dwSessionHandle);
  if (rc) return ret("RmRemoveFilter", rc);
  if (!one_target(strModuleName, pProcess, strServiceShortName))
    return ret("RmRemoveFilter", ERROR_BAD_ARGUMENTS);
  i = find_filter(strModuleName, pProcess, strServiceShortName);
  if (i < 0) return ret("RmRemoveFilter", ERROR_FILE_NOT_FOUND);
  memmove(&sc.filters[i], &sc.filters[i + 1],
          (size_t)(sc.nfilters - i - 1) * sizeof sc.filters[0]);
  sc.nfilters--;
  return ret("RmRemoveFilter", 0);
}

/* Lays the filter list out in buf (when it is not NULL) and returns the size
 * the layout takes. Records first, 8-byte aligned (spread: with 40 bytes of
 * padding after each), then the strings. */
static size_t lay_out_filters(BYTE *buf) {
  size_t rec = sizeof(RM_FILTER_INFO);
  size_t gap = sc.layout == LAYOUT_SPREAD ? 40 : 0;
  size_t step = (rec + gap + 7) & ~(size_t)7;
  size_t strings = step * (size_t)sc.nfilters, at = strings, total;
  int i;
  for (i = 0; i < sc.nfilters; i++)
    if (sc.filters[i].trigger != RmFilterTriggerProcess)
      at += (sc.filters[i].name_len + 1) * sizeof(WCHAR);
  total = at;
  if (!buf) return total;
  at = strings;
  for (i = 0; i < sc.nfilters; i++) {
    const filter_entry *e = &sc.filters[i];
    RM_FILTER_INFO *r = (RM_FILTER_INFO *)(buf + step * (size_t)i);
    memset(r, 0, rec);
    r->FilterAction = (RM_FILTER_ACTION)e->action;
    r->FilterTrigger = (RM_FILTER_TRIGGER)e->trigger;
    r->cbNextOffset = i + 1 < sc.nfilters ? (DWORD)step : 0;
    if (e->trigger == RmFilterTriggerProcess) {
      r->Process.dwProcessId = e->pid;
      set_ft(&r->Process.ProcessStartTime, e->start);
    } else {
      WCHAR *s = (WCHAR *)(buf + at);
      memcpy(s, e->name, e->name_len * sizeof(WCHAR));
      s[e->name_len] = 0;
      if (e->trigger == RmFilterTriggerFile)
        r->strFilename = s;
      else
        r->strServiceShortName = s;
      at += (e->name_len + 1) * sizeof(WCHAR);
    }
  }
  if (sc.nfilters > 0) {
    RM_FILTER_INFO *last =
        (RM_FILTER_INFO *)(buf + step * (size_t)(sc.nfilters - 1));
    RM_FILTER_INFO *first = (RM_FILTER_INFO *)buf;
    switch (sc.layout) {
    case LAYOUT_END_OFFSET:
      /* the last record points at the end of the data instead of 0 */
      last->cbNextOffset = (DWORD)(total - step * (size_t)(sc.nfilters - 1));
      break;
    case LAYOUT_BAD_NEXT:
      /* a record that claims its successor lies past the buffer */
      first->cbNextOffset = (DWORD)(total + 4096);
      break;
    case LAYOUT_BAD_POINTER:
      /* a string pointer to memory outside the buffer */
      for (i = 0; i < sc.nfilters; i++) {
        RM_FILTER_INFO *r = (RM_FILTER_INFO *)(buf + step * (size_t)i);
        if (r->FilterTrigger == RmFilterTriggerFile)
          r->strFilename = (LPWSTR)L"outside";
        else if (r->FilterTrigger == RmFilterTriggerService)
          r->strServiceShortName = (LPWSTR)L"outside";
      }
      break;
    case LAYOUT_UNTERMINATED:
      /* the last string runs to the end of the buffer without a NUL */
      ((WCHAR *)(buf + total))[-1] = L'x';
      break;
    default:
      break;
    }
  }
  return total;
}

DWORD WINAPI RmGetFilterList(DWORD dwSessionHandle, PBYTE pbFilterBuf,
                             DWORD cbFilterBuf, LPDWORD cbFilterBufNeeded) {
  DWORD rc;
  size_t need;
  ensure_loaded();
  log_line("call RmGetFilterList h=%lu buf=%s size=%lu needed=%s",
           (unsigned long)dwSessionHandle, pbFilterBuf ? "ptr" : "NULL",
           (unsigned long)cbFilterBuf, cbFilterBufNeeded ? "ptr" : "NULL");
  rc = check("RmGetFilterList", dwSessionHandle);
  if (rc) return ret("RmGetFilterList", rc);
  need = lay_out_filters(NULL);
  if (sc.filter_race_calls < sc.filter_race) {
    sc.filter_race_calls++;
    need += 64 * (size_t)sc.filter_race_calls;
    if (cbFilterBufNeeded) *cbFilterBufNeeded = (DWORD)need;
    log_line("return RmGetFilterList 234 needed=%lu", (unsigned long)need);
    return ERROR_MORE_DATA;
  }
  if (cbFilterBufNeeded) *cbFilterBufNeeded = (DWORD)need;
  if (!cbFilterBufNeeded || cbFilterBuf < need || (need && !pbFilterBuf)) {
    log_line("return RmGetFilterList 234 needed=%lu", (unsigned long)need);
    return ERROR_MORE_DATA;
  }
  if (need) lay_out_filters(pbFilterBuf);
  log_line("return RmGetFilterList 0 needed=%lu count=%d",
           (unsigned long)need, sc.nfilters);
  return 0;
}
