/*
 * The win32 engine's scan: who uses the registered files (see w32.h).
 *
 * A process uses a file when it holds a handle to it, maps a view of it
 * (a data file or a DLL) or runs it. Handles come from the system's handle
 * table (NtQuerySystemInformation, SystemExtendedHandleInformation): every
 * file handle of another process is duplicated into this one and its
 * identity read (GetFileInformationByHandle), only for disk files
 * (GetFileType first: asking a pipe for its information can block). Views
 * and images come from walking each process's address space (VirtualQueryEx
 * + GetMappedFileNameW); the names found are opened once per scan for their
 * identity. The executable comes from QueryFullProcessImageNameW.
 *
 * A registered directory is used by whoever uses it (a process's current
 * directory is a handle to it) or a file beneath it: the final path
 * (GetFinalPathNameByHandleW) of each file handle, view and image is
 * compared with the directory's, without regard to case, on a path
 * boundary. Only when a directory is registered: it costs a look-up per
 * handle.
 */
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#include "../process.h"
#include "w32.h"

#include <psapi.h>

#define SYSTEM_EXTENDED_HANDLE_INFORMATION 64
#define STATUS_INFO_LENGTH_MISMATCH ((LONG)0xC0000004L)
#define PATH_UNITS 32768

typedef struct handle_entry {
  PVOID object;
  ULONG_PTR pid;
  ULONG_PTR value;
  ULONG access;
  USHORT backtrace;
  USHORT type;
  ULONG attributes;
  ULONG reserved;
} handle_entry;

typedef struct handle_table {
  ULONG_PTR count;
  ULONG_PTR reserved;
  handle_entry entries[1];
} handle_table;

typedef LONG(WINAPI *query_fn)(int, PVOID, ULONG, PULONG);

/* ---------------------------------------------------------------------
 * Targets
 * ------------------------------------------------------------------- */

static int add_id(rm_win_targets *t, const rm_win_fileid *id) {
  size_t i;
  rm_win_fileid *grown;
  for (i = 0; i < t->nids; i++)
    if (t->ids[i].volume == id->volume && t->ids[i].index == id->index)
      return 1;
  grown = (rm_win_fileid *)realloc(t->ids, (t->nids + 1) * sizeof *grown);
  if (!grown) return 0;
  t->ids = grown;
  t->ids[t->nids++] = *id;
  return 1;
}

/* The final path of an open file or directory ("\\?\C:\dir\x"), a
 * malloc'd string; NULL when it has none. */
static WCHAR *final_path(HANDLE h) {
  WCHAR *p = (WCHAR *)malloc(PATH_UNITS * sizeof *p);
  DWORD n;
  if (!p) return NULL;
  n = GetFinalPathNameByHandleW(h, p, PATH_UNITS,
                                FILE_NAME_NORMALIZED | VOLUME_NAME_DOS);
  if (n == 0 || n >= PATH_UNITS) {
    free(p);
    return NULL;
  }
  return p;
}

/* Whether path is one of dirs or lies beneath one of them. */
static int beneath(const WCHAR *path, WCHAR *const *dirs, size_t n) {
  size_t i, len;
  for (i = 0; i < n; i++) {
    len = wcslen(dirs[i]);
    if (_wcsnicmp(path, dirs[i], len) == 0 &&
        (path[len] == L'\\' || path[len] == 0 ||
         (len > 0 && dirs[i][len - 1] == L'\\')))
      return 1;
  }
  return 0;
}

/* Adds the final path of w to t's directories when w is a directory now;
 * 0 when out of memory. */
static int add_dir(rm_win_targets *t, const WCHAR *w) {
  DWORD a = GetFileAttributesW(w);
  HANDLE h;
  WCHAR *p, **grown;
  size_t i;
  if (a == INVALID_FILE_ATTRIBUTES || !(a & FILE_ATTRIBUTE_DIRECTORY))
    return 1;
  h = CreateFileW(w, FILE_READ_ATTRIBUTES,
                  FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE,
                  NULL, OPEN_EXISTING, FILE_FLAG_BACKUP_SEMANTICS, NULL);
  if (h == INVALID_HANDLE_VALUE) return 1;
  p = final_path(h);
  CloseHandle(h);
  if (!p) return 1;
  for (i = 0; i < t->ndirs; i++)
    if (_wcsicmp(t->dirs[i], p) == 0) {
      free(p);
      return 1;
    }
  grown = (WCHAR **)realloc(t->dirs, (t->ndirs + 1) * sizeof *grown);
  if (!grown) {
    free(p);
    return 0;
  }
  t->dirs = grown;
  t->dirs[t->ndirs++] = p;
  return 1;
}

/* One line of a record (NUL-terminated, without its newline). */
static int take_line(rm_win_targets *t, char *line) {
  if (line[0] == 'F' && line[1] == ' ') {
    char *p = line + 2, *end;
    rm_win_fileid id;
    WCHAR *w;
    unsigned rc;
    id.volume = (uint32_t)strtoul(p, &end, 10);
    id.index = strtoull(end, &end, 10);
    if (*end != ' ') return 1;
    if ((id.volume || id.index) && !add_id(t, &id)) return 0;
    /* the file the path names now, too */
    w = rm_win_to_wide(end + 1, &rc);
    if (w) {
      if ((rm_win_file_identity(w, &id) && !add_id(t, &id)) ||
          !add_dir(t, w)) {
        free(w);
        return 0;
      }
      free(w);
    }
    return 1;
  }
  if (line[0] == 'P' && line[1] == ' ') {
    char *end;
    rm_unique_process p, *grown;
    p.pid = (uint32_t)strtoul(line + 2, &end, 10);
    p.start_time = strtoull(end, &end, 10);
    grown = (rm_unique_process *)realloc(t->procs,
                                         (t->nprocs + 1) * sizeof *grown);
    if (!grown) return 0;
    t->procs = grown;
    t->procs[t->nprocs++] = p;
    return 1;
  }
  if (line[0] == 'S' && line[1] == ' ') {
    char **grown = (char **)realloc(t->svcs, (t->nsvcs + 1) * sizeof *grown);
    char *copy;
    if (!grown) return 0;
    t->svcs = grown;
    copy = (char *)malloc(strlen(line + 2) + 1);
    if (!copy) return 0;
    strcpy(copy, line + 2);
    t->svcs[t->nsvcs++] = copy;
  }
  return 1;
}

unsigned rm_win_targets_load(const char *key, rm_win_targets *t) {
  char *buf, *p, *rec;
  size_t len;
  unsigned rc;
  memset(t, 0, sizeof *t);
  rc = rm_win_store_load(key, &buf, &len);
  if (rc != RM_OK || !buf) return rc;
  /* whole records only: each ends with a line "E" */
  rec = buf;
  for (p = buf; *p;) {
    char *nl = strchr(p, '\n');
    if (!nl) break; /* a torn last line */
    *nl = '\0';
    if (strcmp(p, "E") == 0) {
      char *q = rec;
      while (q < p) {
        size_t l = strlen(q);
        if (!take_line(t, q)) {
          free(buf);
          rm_win_targets_free(t);
          return RM_E_OUTOFMEMORY;
        }
        q += l + 1;
      }
      rec = nl + 1;
    }
    p = nl + 1;
  }
  free(buf);
  return RM_OK;
}

void rm_win_targets_free(rm_win_targets *t) {
  size_t i;
  for (i = 0; i < t->nsvcs; i++) free(t->svcs[i]);
  free(t->svcs);
  for (i = 0; i < t->ndirs; i++) free(t->dirs[i]);
  free(t->dirs);
  free(t->ids);
  free(t->procs);
  memset(t, 0, sizeof *t);
}

static int is_target(const rm_win_fileid *ids, size_t n,
                     const rm_win_fileid *id) {
  size_t i;
  for (i = 0; i < n; i++)
    if (ids[i].volume == id->volume && ids[i].index == id->index) return 1;
  return 0;
}

/* ---------------------------------------------------------------------
 * A set of pids
 * ------------------------------------------------------------------- */

typedef struct pidset {
  uint32_t *v;
  size_t n, cap;
  int failed;
} pidset;

static int pid_in(const pidset *s, uint32_t pid) {
  size_t i;
  for (i = 0; i < s->n; i++)
    if (s->v[i] == pid) return 1;
  return 0;
}

static void pid_add(pidset *s, uint32_t pid) {
  if (pid_in(s, pid) || s->failed) return;
  if (s->n == s->cap) {
    size_t ncap = s->cap ? 2 * s->cap : 16;
    uint32_t *nv = (uint32_t *)realloc(s->v, ncap * sizeof *nv);
    if (!nv) {
      s->failed = 1;
      return;
    }
    s->v = nv;
    s->cap = ncap;
  }
  s->v[s->n++] = pid;
}

/* ---------------------------------------------------------------------
 * Handles
 * ------------------------------------------------------------------- */

static handle_table *query_handles(unsigned *rc) {
  query_fn q = (query_fn)(void (*)(void))GetProcAddress(
      GetModuleHandleW(L"ntdll.dll"), "NtQuerySystemInformation");
  ULONG size = 1 << 20, need = 0;
  handle_table *t = NULL;
  LONG st;
  int tries;
  *rc = RM_OK;
  if (!q) {
    *rc = RM_E_ACCESS_DENIED;
    return NULL;
  }
  for (tries = 0; tries < 16; tries++) {
    handle_table *nt = (handle_table *)realloc(t, size);
    if (!nt) {
      free(t);
      *rc = RM_E_OUTOFMEMORY;
      return NULL;
    }
    t = nt;
    st = q(SYSTEM_EXTENDED_HANDLE_INFORMATION, t, size, &need);
    if (st != STATUS_INFO_LENGTH_MISMATCH) break;
    /* the table grows between calls: ask for more than it said */
    size = (need > size ? need : size) * 2;
  }
  if (st < 0) {
    free(t);
    *rc = RM_E_ACCESS_DENIED;
    return NULL;
  }
  return t;
}

/* The type index the table gives file handles: that of a file handle of
 * our own, opened for the look. 0xFFFF when it cannot tell (every type is
 * then tried). */
static USHORT file_type_index(const handle_table *t, HANDLE mine) {
  ULONG_PTR i, self = (ULONG_PTR)GetCurrentProcessId();
  for (i = 0; i < t->count; i++)
    if (t->entries[i].pid == self &&
        t->entries[i].value == (ULONG_PTR)mine)
      return t->entries[i].type;
  return 0xFFFF;
}

/* What a scan looks for: identities, and directories to look beneath. */
typedef struct wanted {
  const rm_win_fileid *ids;
  size_t nids;
  WCHAR *const *dirs;
  size_t ndirs;
} wanted;

/* Whether the open file h is beneath one of the wanted directories. */
static int handle_beneath(const wanted *w, HANDLE h) {
  WCHAR *p;
  int hit;
  if (w->ndirs == 0) return 0;
  p = final_path(h);
  hit = p && beneath(p, w->dirs, w->ndirs);
  free(p);
  return hit;
}

/* Adds every process holding a handle to one of the wanted files. */
static unsigned scan_handles(const wanted *w, pidset *out) {
  WCHAR self_path[MAX_PATH];
  HANDLE mine = INVALID_HANDLE_VALUE, owner = NULL;
  ULONG_PTR owner_pid = 0, i;
  handle_table *t;
  USHORT ftype;
  unsigned rc;
  if (GetModuleFileNameW(NULL, self_path, MAX_PATH))
    mine = CreateFileW(self_path, FILE_READ_ATTRIBUTES,
                       FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE,
                       NULL, OPEN_EXISTING, 0, NULL);
  t = query_handles(&rc);
  if (!t) {
    if (mine != INVALID_HANDLE_VALUE) CloseHandle(mine);
    return rc;
  }
  ftype = mine != INVALID_HANDLE_VALUE ? file_type_index(t, mine) : 0xFFFF;
  if (mine != INVALID_HANDLE_VALUE) CloseHandle(mine);
  for (i = 0; i < t->count; i++) {
    const handle_entry *e = &t->entries[i];
    HANDLE dup = NULL;
    BY_HANDLE_FILE_INFORMATION bi;
    rm_win_fileid id;
    if (ftype != 0xFFFF && e->type != ftype) continue;
    if (pid_in(out, (uint32_t)e->pid)) continue;
    if (e->pid != owner_pid) {
      if (owner) CloseHandle(owner);
      owner_pid = e->pid;
      owner = OpenProcess(PROCESS_DUP_HANDLE, FALSE, (DWORD)e->pid);
    }
    if (!owner) continue;
    if (!DuplicateHandle(owner, (HANDLE)e->value, GetCurrentProcess(), &dup,
                         0, FALSE, DUPLICATE_SAME_ACCESS))
      continue;
    if (GetFileType(dup) == FILE_TYPE_DISK &&
        GetFileInformationByHandle(dup, &bi)) {
      id.volume = (uint32_t)bi.dwVolumeSerialNumber;
      id.index = ((uint64_t)bi.nFileIndexHigh << 32) | bi.nFileIndexLow;
      if (is_target(w->ids, w->nids, &id) || handle_beneath(w, dup))
        pid_add(out, (uint32_t)e->pid);
    }
    CloseHandle(dup);
  }
  if (owner) CloseHandle(owner);
  free(t);
  return out->failed ? RM_E_OUTOFMEMORY : RM_OK;
}

/* ---------------------------------------------------------------------
 * Views, images and executables
 * ------------------------------------------------------------------- */

/* Names already looked at in this scan, with their identity. */
typedef struct name_cache {
  WCHAR **names;
  rm_win_fileid *ids;
  int *has; /* 1: has an identity; 2: also beneath a wanted directory */
  size_t n, cap;
} name_cache;

static void cache_free(name_cache *c) {
  size_t i;
  for (i = 0; i < c->n; i++) free(c->names[i]);
  free(c->names);
  free(c->ids);
  free(c->has);
  memset(c, 0, sizeof *c);
}

/* A name GetMappedFileNameW gives as a path CreateFileW opens:
 * "\Device\HarddiskVolume1\x" (Windows) -> "\\?\GLOBALROOT\Device\...",
 * "\??\C:\x" (Wine) -> "\\?\C:\x"; a drive path stays as it is. */
static void openable(const WCHAR *name, WCHAR *buf, size_t cch) {
  if (wcsncmp(name, L"\\Device\\", 8) == 0)
    _snwprintf(buf, cch, L"\\\\?\\GLOBALROOT%ls", name);
  else if (wcsncmp(name, L"\\??\\", 4) == 0)
    _snwprintf(buf, cch, L"\\\\?\\%ls", name + 4);
  else
    _snwprintf(buf, cch, L"%ls", name);
  buf[cch - 1] = 0;
}

/* The identity of the file called name, through the cache: 0 when it
 * has none, 1 when it has one, 2 when it also lies beneath one of w's
 * directories. */
static int name_identity(name_cache *c, const wanted *w, const WCHAR *name,
                         rm_win_fileid *id, WCHAR *scratch) {
  size_t i, len;
  int has;
  for (i = 0; i < c->n; i++)
    if (wcscmp(c->names[i], name) == 0) {
      *id = c->ids[i];
      return c->has[i];
    }
  openable(name, scratch, PATH_UNITS);
  has = rm_win_file_identity(scratch, id);
  if (has && w->ndirs > 0) {
    HANDLE h = CreateFileW(scratch, FILE_READ_ATTRIBUTES,
                           FILE_SHARE_READ | FILE_SHARE_WRITE |
                               FILE_SHARE_DELETE,
                           NULL, OPEN_EXISTING, FILE_FLAG_BACKUP_SEMANTICS,
                           NULL);
    if (h != INVALID_HANDLE_VALUE) {
      if (handle_beneath(w, h)) has = 2;
      CloseHandle(h);
    }
  }
  if (c->n == c->cap) {
    size_t ncap = c->cap ? 2 * c->cap : 64;
    WCHAR **nn = (WCHAR **)realloc(c->names, ncap * sizeof *nn);
    rm_win_fileid *ni;
    int *nh;
    if (!nn) return has;
    c->names = nn;
    ni = (rm_win_fileid *)realloc(c->ids, ncap * sizeof *ni);
    if (!ni) return has;
    c->ids = ni;
    nh = (int *)realloc(c->has, ncap * sizeof *nh);
    if (!nh) return has;
    c->has = nh;
    c->cap = ncap;
  }
  len = wcslen(name) + 1;
  c->names[c->n] = (WCHAR *)malloc(len * sizeof(WCHAR));
  if (!c->names[c->n]) return has;
  memcpy(c->names[c->n], name, len * sizeof(WCHAR));
  c->ids[c->n] = *id;
  c->has[c->n] = has;
  c->n++;
  return has;
}

/* Whether the name a process maps or runs is one of the wanted files. */
static int wanted_name(const wanted *w, name_cache *c, const WCHAR *name,
                       WCHAR *scratch) {
  rm_win_fileid id;
  int has = name_identity(c, w, name, &id, scratch);
  return has == 2 || (has && is_target(w->ids, w->nids, &id));
}

/* Whether process pid maps or runs one of the wanted files. */
static int uses_by_mapping(uint32_t pid, const wanted *w, name_cache *c,
                           WCHAR *name, WCHAR *scratch) {
  MEMORY_BASIC_INFORMATION m;
  BYTE *at = NULL;
  DWORD n = PATH_UNITS;
  int hit = 0;
  HANDLE h = OpenProcess(PROCESS_QUERY_INFORMATION | PROCESS_VM_READ, FALSE,
                         (DWORD)pid);
  if (!h) {
    h = OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, FALSE, (DWORD)pid);
    if (!h) return 0;
  }
  if (QueryFullProcessImageNameW(h, 0, name, &n) &&
      wanted_name(w, c, name, scratch))
    hit = 1;
  while (!hit && VirtualQueryEx(h, at, &m, sizeof m) == sizeof m) {
    if ((m.Type == MEM_MAPPED || m.Type == MEM_IMAGE) &&
        m.BaseAddress == m.AllocationBase &&
        GetMappedFileNameW(h, m.BaseAddress, name, PATH_UNITS) > 0 &&
        wanted_name(w, c, name, scratch))
      hit = 1;
    at = (BYTE *)m.BaseAddress + m.RegionSize;
    if (at <= (BYTE *)m.BaseAddress) break; /* the top of the space */
  }
  CloseHandle(h);
  return hit;
}

static unsigned all_pids(DWORD **pids, size_t *n) {
  DWORD cap = 1024, got = 0;
  DWORD *v = NULL;
  *pids = NULL;
  *n = 0;
  for (;;) {
    DWORD *nv = (DWORD *)realloc(v, cap * sizeof *nv);
    if (!nv) {
      free(v);
      return RM_E_OUTOFMEMORY;
    }
    v = nv;
    if (!EnumProcesses(v, cap * sizeof *v, &got)) {
      free(v);
      return rm_win_last_error();
    }
    if (got < cap * sizeof *v) break;
    cap *= 2;
  }
  *pids = v;
  *n = got / sizeof *v;
  return RM_OK;
}

static unsigned scan_mappings(const wanted *w, pidset *out) {
  DWORD *pids;
  size_t n, i;
  name_cache c;
  WCHAR *name, *scratch;
  unsigned rc = all_pids(&pids, &n);
  if (rc != RM_OK) return rc;
  name = (WCHAR *)malloc(2 * PATH_UNITS * sizeof *name);
  if (!name) {
    free(pids);
    return RM_E_OUTOFMEMORY;
  }
  scratch = name + PATH_UNITS;
  memset(&c, 0, sizeof c);
  for (i = 0; i < n; i++) {
    if (pids[i] == 0 || pid_in(out, pids[i])) continue;
    if (uses_by_mapping(pids[i], w, &c, name, scratch))
      pid_add(out, pids[i]);
  }
  cache_free(&c);
  free(name);
  free(pids);
  return out->failed ? RM_E_OUTOFMEMORY : RM_OK;
}

static unsigned users(const wanted *w, uint32_t **pids, size_t *n) {
  pidset s = {NULL, 0, 0, 0};
  unsigned rc = RM_OK;
  *pids = NULL;
  *n = 0;
  if (w->nids == 0 && w->ndirs == 0) return RM_OK;
  rc = scan_handles(w, &s);
  if (rc == RM_OK) rc = scan_mappings(w, &s);
  if (rc != RM_OK) {
    free(s.v);
    return rc;
  }
  *pids = s.v;
  *n = s.n;
  return RM_OK;
}

unsigned rm_win_users(const rm_win_fileid *ids, size_t nids, uint32_t **pids,
                      size_t *n) {
  wanted w;
  w.ids = ids;
  w.nids = nids;
  w.dirs = NULL;
  w.ndirs = 0;
  return users(&w, pids, n);
}

/* ---------------------------------------------------------------------
 * Windows and describing an application
 * ------------------------------------------------------------------- */

typedef struct win_list {
  uint32_t pid;
  HWND *v;
  size_t n, cap;
  int failed;
} win_list;

static BOOL CALLBACK collect_window(HWND w, LPARAM arg) {
  win_list *l = (win_list *)arg;
  DWORD pid = 0;
  GetWindowThreadProcessId(w, &pid);
  if (pid != l->pid) return TRUE;
  if (l->n == l->cap) {
    size_t ncap = l->cap ? 2 * l->cap : 8;
    HWND *nv = (HWND *)realloc(l->v, ncap * sizeof *nv);
    if (!nv) {
      l->failed = 1;
      return FALSE;
    }
    l->v = nv;
    l->cap = ncap;
  }
  l->v[l->n++] = w;
  return TRUE;
}

unsigned rm_win_windows_of(uint32_t pid, HWND **wins, size_t *n) {
  win_list l = {pid, NULL, 0, 0, 0};
  *wins = NULL;
  *n = 0;
  /* no desktop (no display): no windows, and nothing to enumerate */
  EnumWindows(collect_window, (LPARAM)&l);
  if (l.failed) {
    free(l.v);
    return RM_E_OUTOFMEMORY;
  }
  *wins = l.v;
  *n = l.n;
  return RM_OK;
}

int rm_win_is_console(HANDLE h) {
  WCHAR *path = (WCHAR *)malloc(PATH_UNITS * sizeof *path);
  DWORD n = PATH_UNITS, got = 0;
  unsigned char head[1024];
  HANDLE f;
  uint32_t pe;
  int console = 0;
  if (!path) return 0;
  if (!QueryFullProcessImageNameW(h, 0, path, &n)) {
    free(path);
    return 0;
  }
  f = CreateFileW(path, GENERIC_READ,
                  FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE,
                  NULL, OPEN_EXISTING, 0, NULL);
  free(path);
  if (f == INVALID_HANDLE_VALUE) return 0;
  if (ReadFile(f, head, sizeof head, &got, NULL) && got >= 0x40 &&
      head[0] == 'M' && head[1] == 'Z') {
    /* e_lfanew, then "PE\0\0", the file header (20 bytes), and the
     * optional header's Subsystem at 68 in both PE32 and PE32+ */
    pe = (uint32_t)head[0x3C] | (uint32_t)head[0x3D] << 8 |
         (uint32_t)head[0x3E] << 16 | (uint32_t)head[0x3F] << 24;
    if (pe < got - 24 - 70 && memcmp(head + pe, "PE\0\0", 4) == 0)
      console = head[pe + 24 + 68] == IMAGE_SUBSYSTEM_WINDOWS_CUI;
  }
  CloseHandle(f);
  return console;
}

/* The window type of pid's windows: main_window for a visible window
 * nobody owns, other_window for any other top-level window, hidden ones
 * included (a program in the notification area, one whose main window is
 * hidden: Windows, too, asks them at log-off), 0 for none. */
static int window_type(uint32_t pid) {
  HWND *w;
  size_t n, i;
  int type = 0;
  if (rm_win_windows_of(pid, &w, &n) != RM_OK) return 0;
  for (i = 0; i < n; i++) {
    type = RM_APP_OTHER_WINDOW;
    if (IsWindowVisible(w[i]) && GetWindow(w[i], GW_OWNER) == NULL) {
      type = RM_APP_MAIN_WINDOW;
      break;
    }
  }
  free(w);
  return type;
}

static void base_name(HANDLE h, char *buf, size_t size) {
  WCHAR *path = (WCHAR *)malloc(PATH_UNITS * sizeof *path);
  DWORD n = PATH_UNITS;
  const WCHAR *base;
  buf[0] = '\0';
  if (!path) return;
  if (QueryFullProcessImageNameW(h, 0, path, &n)) {
    base = wcsrchr(path, L'\\');
    rm_win_from_wide(base ? base + 1 : path, (size_t)-1, buf, size);
  }
  free(path);
}

/* Fills a for pid (service: its service name, or NULL) and returns its
 * reboot reasons; 0 with a->process.pid 0 when the process is gone. */
static uint32_t describe(uint32_t pid, const char *service, rm_app *a) {
  HANDLE h, t;
  DWORD sid = 0;
  rm_unique_process me;
  char *reg;
  size_t len;
  uint32_t reasons = 0;
  int wt;
  memset(a, 0, sizeof *a);
  a->session_id = -1;
  h = OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION | SYNCHRONIZE, FALSE,
                  (DWORD)pid);
  if (!h) {
    if (GetLastError() != ERROR_ACCESS_DENIED) return 0;
    a->process.pid = pid;
    a->type = RM_APP_CRITICAL;
    a->status = RM_STATUS_RUNNING;
    return RM_REBOOT_PERMISSION_DENIED;
  }
  /* exited, though someone holds it open: gone */
  if (rm_win_process_ended(h)) {
    CloseHandle(h);
    return 0;
  }
  a->process.pid = pid;
  a->process.start_time = rm_win_process_created(h);
  a->status = RM_STATUS_RUNNING;
  base_name(h, a->name, sizeof a->name);
  if (ProcessIdToSessionId((DWORD)pid, &sid)) a->session_id = (int32_t)sid;
  t = OpenProcess(PROCESS_TERMINATE, FALSE, (DWORD)pid);
  if (pid == (uint32_t)GetCurrentProcessId()) {
    a->type = RM_APP_CRITICAL;
    reasons = RM_REBOOT_DETECTED_SELF;
  } else if (!t) {
    a->type = RM_APP_CRITICAL;
    reasons = RM_REBOOT_PERMISSION_DENIED;
  } else if (service) {
    a->type = RM_APP_SERVICE;
    strncpy(a->service, service, sizeof a->service - 1);
  } else if ((wt = window_type(pid)) != 0) {
    a->type = wt;
  } else {
    a->type = rm_win_is_console(h) ? RM_APP_CONSOLE : RM_APP_UNKNOWN;
  }
  if (t) CloseHandle(t);
  CloseHandle(h);
  if (a->type == RM_APP_CRITICAL) {
    a->session_id = -1;
    return reasons;
  }
  me = a->process;
  if (rm_win_reg_read(&me, &reg, &len) == RM_OK) {
    a->restartable = 1;
    free(reg);
  }
  return reasons;
}

/* The pid of running service name (0 when it does not run). */
static uint32_t service_pid(SC_HANDLE scm, const char *name) {
  SERVICE_STATUS_PROCESS st;
  DWORD need = 0;
  unsigned rc;
  WCHAR *w = rm_win_to_wide(name, &rc);
  SC_HANDLE s;
  uint32_t pid = 0;
  if (!w) return 0;
  s = OpenServiceW(scm, w, SERVICE_QUERY_STATUS);
  free(w);
  if (!s) return 0;
  if (QueryServiceStatusEx(s, SC_STATUS_PROCESS_INFO, (LPBYTE)&st, sizeof st,
                           &need) &&
      st.dwCurrentState != SERVICE_STOPPED)
    pid = (uint32_t)st.dwProcessId;
  CloseServiceHandle(s);
  return pid;
}

unsigned rm_win_scan(const rm_win_targets *t, rm_app **apps_out, size_t *n,
                     uint32_t *reasons) {
  uint32_t *pids = NULL;
  size_t npids = 0, i, k = 0, total;
  const char **svc_of;
  uint32_t *all;
  rm_app *apps;
  wanted w;
  unsigned rc;
  w.ids = t->ids;
  w.nids = t->nids;
  w.dirs = t->dirs;
  w.ndirs = t->ndirs;
  rc = users(&w, &pids, &npids);
  *apps_out = NULL;
  *n = 0;
  *reasons = 0;
  if (rc != RM_OK) return rc;
  total = npids + t->nprocs + t->nsvcs;
  all = (uint32_t *)calloc(total ? total : 1, sizeof *all);
  svc_of = (const char **)calloc(total ? total : 1, sizeof *svc_of);
  apps = (rm_app *)calloc(total ? total : 1, sizeof *apps);
  if (!all || !svc_of || !apps) {
    free(pids);
    free(all);
    free((void *)svc_of);
    free(apps);
    return RM_E_OUTOFMEMORY;
  }
  for (i = 0; i < npids; i++) all[k++] = pids[i];
  free(pids);
  if (t->nsvcs > 0) {
    SC_HANDLE scm = OpenSCManagerW(NULL, NULL, SC_MANAGER_CONNECT);
    for (i = 0; scm && i < t->nsvcs; i++) {
      uint32_t pid = service_pid(scm, t->svcs[i]);
      size_t j;
      if (pid == 0) continue;
      for (j = 0; j < k && all[j] != pid; j++) {}
      if (j == k) all[k++] = pid;
      svc_of[j] = t->svcs[i];
    }
    if (scm) CloseServiceHandle(scm);
  }
  /* registered processes: only the very process, still running */
  for (i = 0; i < t->nprocs; i++) {
    int running = 0;
    size_t j;
    if (rm_process_running(&t->procs[i], &running) != RM_OK || !running)
      continue;
    for (j = 0; j < k && all[j] != t->procs[i].pid; j++) {}
    if (j == k) all[k++] = t->procs[i].pid;
  }
  for (i = 0, total = 0; i < k; i++) {
    rm_app *a = &apps[total];
    *reasons |= describe(all[i], svc_of[i], a);
    if (a->process.pid != 0) total++;
  }
  free(all);
  free((void *)svc_of);
  *apps_out = apps;
  *n = total;
  return RM_OK;
}
