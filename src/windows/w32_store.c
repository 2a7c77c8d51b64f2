/*
 * The win32 engine's per-user store (see w32.h): %LOCALAPPDATA%\
 * restartmanager, a directory per session named by its key, holding the
 * session's "records"; "restart-PID-START" files for restart
 * registrations (those of processes that ended are swept at the next
 * registration). The primary holds a Local\ named event for as long as the
 * session lives: its token. A session whose token no process holds lost its
 * primary (Windows closes every handle of a process that ends, however it
 * ends) and is stale. Start takes a Local\ named mutex while it sweeps stale
 * sessions and adds its own; records are appended under a byte-range lock
 * on the file, each ending with a line "E", so that a reader skips a record
 * a writer never finished.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmdline.h"
#include "../process.h"
#include "w32.h"

#include <bcrypt.h>

#define MAX_SESSIONS 64
#define STORE_LOCK_TIMEOUT_MS 5000
#define PATH_UNITS 1024

int rm_win_file_identity(const WCHAR *path, rm_win_fileid *id) {
  BY_HANDLE_FILE_INFORMATION bi;
  HANDLE h = CreateFileW(path, FILE_READ_ATTRIBUTES,
                         FILE_SHARE_READ | FILE_SHARE_WRITE |
                             FILE_SHARE_DELETE,
                         NULL, OPEN_EXISTING, FILE_FLAG_BACKUP_SEMANTICS,
                         NULL);
  int ok;
  if (h == INVALID_HANDLE_VALUE) return 0;
  ok = GetFileInformationByHandle(h, &bi) != 0;
  CloseHandle(h);
  if (!ok) return 0;
  id->volume = (uint32_t)bi.dwVolumeSerialNumber;
  id->index = ((uint64_t)bi.nFileIndexHigh << 32) | bi.nFileIndexLow;
  return 1;
}

/* root + "\" + name into buf (PATH_UNITS), creating root when needed. */
static unsigned store_path(const WCHAR *name, WCHAR *buf) {
  WCHAR base[PATH_UNITS];
  DWORD n = GetEnvironmentVariableW(L"LOCALAPPDATA", base, PATH_UNITS);
  DWORD a;
  int len;
  if (n == 0 || n >= PATH_UNITS - 64) return RM_E_WRITE_FAULT;
  len = _snwprintf(buf, PATH_UNITS, L"%ls\\restartmanager", base);
  if (len < 0) return RM_E_WRITE_FAULT;
  if (!CreateDirectoryW(buf, NULL) && GetLastError() != ERROR_ALREADY_EXISTS)
    return GetLastError() == ERROR_ACCESS_DENIED ? RM_E_ACCESS_DENIED
                                                  : RM_E_WRITE_FAULT;
  a = GetFileAttributesW(buf);
  /* a file, or a link to somewhere else, where the store should be */
  if (a == INVALID_FILE_ATTRIBUTES || !(a & FILE_ATTRIBUTE_DIRECTORY) ||
      (a & FILE_ATTRIBUTE_REPARSE_POINT))
    return RM_E_ACCESS_DENIED;
  if (name && _snwprintf(buf + len, (size_t)(PATH_UNITS - len), L"\\%ls",
                         name) < 0)
    return RM_E_WRITE_FAULT;
  return RM_OK;
}

static void token_name(const char *key, WCHAR *buf, size_t cch) {
  _snwprintf(buf, cch, L"Local\\restartmanager-session-%hs", key);
  buf[cch - 1] = 0;
}

static int valid_key(const char *key) {
  size_t i;
  for (i = 0; i < RM_KEY_LEN; i++)
    if (!((key[i] >= '0' && key[i] <= '9') || (key[i] >= 'a' && key[i] <= 'f')))
      return 0;
  return key[RM_KEY_LEN] == '\0';
}

static int token_held(const char *key) {
  WCHAR name[96];
  HANDLE h;
  token_name(key, name, 96);
  h = OpenEventW(SYNCHRONIZE, FALSE, name);
  if (h == NULL) return GetLastError() == ERROR_ACCESS_DENIED;
  CloseHandle(h);
  return 1;
}

/* Removes the session directory dir (one level: it holds only files). */
static void remove_dir(const WCHAR *dir) {
  WCHAR pat[PATH_UNITS], file[PATH_UNITS];
  WIN32_FIND_DATAW fd;
  HANDLE f;
  _snwprintf(pat, PATH_UNITS, L"%ls\\*", dir);
  f = FindFirstFileW(pat, &fd);
  if (f != INVALID_HANDLE_VALUE) {
    do {
      if (fd.dwFileAttributes & FILE_ATTRIBUTE_DIRECTORY) continue;
      _snwprintf(file, PATH_UNITS, L"%ls\\%ls", dir, fd.cFileName);
      DeleteFileW(file);
    } while (FindNextFileW(f, &fd));
    FindClose(f);
  }
  RemoveDirectoryW(dir);
}

/* Sweeps the sessions whose primary is gone; returns how many live. */
static size_t sweep(const WCHAR *root) {
  WCHAR pat[PATH_UNITS], dir[PATH_UNITS];
  WIN32_FIND_DATAW fd;
  HANDLE f;
  size_t live = 0;
  _snwprintf(pat, PATH_UNITS, L"%ls\\*", root);
  f = FindFirstFileW(pat, &fd);
  if (f == INVALID_HANDLE_VALUE) return 0;
  do {
    char key[RM_KEY_LEN + 2];
    if (!(fd.dwFileAttributes & FILE_ATTRIBUTE_DIRECTORY)) continue;
    if (WideCharToMultiByte(CP_UTF8, 0, fd.cFileName, -1, key, sizeof key,
                            NULL, NULL) <= 0 ||
        !valid_key(key))
      continue;
    if (token_held(key)) {
      live++;
      continue;
    }
    _snwprintf(dir, PATH_UNITS, L"%ls\\%ls", root, fd.cFileName);
    remove_dir(dir);
  } while (FindNextFileW(f, &fd));
  FindClose(f);
  return live;
}

static HANDLE lock_store(unsigned *rc) {
  HANDLE m = CreateMutexW(NULL, FALSE, L"Local\\restartmanager-store");
  DWORD w;
  if (m == NULL) {
    *rc = rm_win_last_error();
    return NULL;
  }
  w = WaitForSingleObject(m, STORE_LOCK_TIMEOUT_MS);
  /* abandoned: its owner died holding it; the store is still consistent
   * (every change is one file operation) */
  if (w == WAIT_OBJECT_0 || w == WAIT_ABANDONED) return m;
  CloseHandle(m);
  *rc = w == WAIT_TIMEOUT ? RM_E_SEM_TIMEOUT : rm_win_last_error();
  return NULL;
}

static void unlock_store(HANDLE m) {
  ReleaseMutex(m);
  CloseHandle(m);
}

unsigned rm_win_store_create(char key[RM_KEY_LEN + 1], HANDLE *token) {
  WCHAR root[PATH_UNITS], dir[PATH_UNITS], name[96];
  unsigned char raw[RM_KEY_LEN / 2];
  unsigned rc = store_path(NULL, root);
  HANDLE lock, ev = NULL;
  int tries;
  size_t i;
  *token = NULL;
  key[0] = '\0';
  if (rc != RM_OK) return rc;
  lock = lock_store(&rc);
  if (!lock) return rc;
  if (sweep(root) >= MAX_SESSIONS) {
    unlock_store(lock);
    return RM_E_MAX_SESSIONS_REACHED;
  }
  rc = RM_E_WRITE_FAULT;
  for (tries = 0; tries < 8 && !ev; tries++) {
    if (BCryptGenRandom(NULL, raw, sizeof raw,
                        BCRYPT_USE_SYSTEM_PREFERRED_RNG) != 0)
      break;
    for (i = 0; i < sizeof raw; i++)
      snprintf(key + 2 * i, 3, "%02x", raw[i]);
    token_name(key, name, 96);
    ev = CreateEventW(NULL, TRUE, FALSE, name);
    if (ev && GetLastError() == ERROR_ALREADY_EXISTS) {
      CloseHandle(ev); /* someone's session: another key */
      ev = NULL;
    }
  }
  if (ev) {
    _snwprintf(dir, PATH_UNITS, L"%ls\\%hs", root, key);
    if (CreateDirectoryW(dir, NULL)) {
      rc = RM_OK;
    } else {
      rc = RM_E_WRITE_FAULT;
      CloseHandle(ev);
      ev = NULL;
    }
  }
  unlock_store(lock);
  if (rc != RM_OK) {
    key[0] = '\0';
    return rc;
  }
  *token = ev;
  return RM_OK;
}

unsigned rm_win_store_alive(const char *key, unsigned dead_code) {
  WCHAR dir[PATH_UNITS], wkey[RM_KEY_LEN + 1];
  DWORD a;
  if (!valid_key(key)) return dead_code;
  if (!token_held(key)) return dead_code;
  MultiByteToWideChar(CP_UTF8, 0, key, -1, wkey, RM_KEY_LEN + 1);
  if (store_path(wkey, dir) != RM_OK) return dead_code;
  a = GetFileAttributesW(dir);
  if (a == INVALID_FILE_ATTRIBUTES || !(a & FILE_ATTRIBUTE_DIRECTORY))
    return dead_code;
  return RM_OK;
}

void rm_win_store_remove(const char *key) {
  WCHAR dir[PATH_UNITS], wkey[RM_KEY_LEN + 1];
  if (!valid_key(key)) return;
  MultiByteToWideChar(CP_UTF8, 0, key, -1, wkey, RM_KEY_LEN + 1);
  if (store_path(wkey, dir) == RM_OK) remove_dir(dir);
}

static unsigned records_path(const char *key, WCHAR *buf) {
  WCHAR name[RM_KEY_LEN + 16];
  if (!valid_key(key)) return RM_E_INVALID_HANDLE;
  _snwprintf(name, RM_KEY_LEN + 16, L"%hs\\records", key);
  name[RM_KEY_LEN + 15] = 0;
  return store_path(name, buf);
}

unsigned rm_win_store_append(const char *key, const char *text, size_t len) {
  WCHAR path[PATH_UNITS];
  OVERLAPPED ov;
  DWORD done = 0;
  unsigned rc = records_path(key, path);
  HANDLE f;
  if (rc != RM_OK) return rc;
  if (len > 0x7FFFFFFFu) return RM_E_BAD_ARGUMENTS;
  f = CreateFileW(path, FILE_APPEND_DATA | SYNCHRONIZE,
                  FILE_SHARE_READ | FILE_SHARE_WRITE, NULL, OPEN_ALWAYS,
                  FILE_ATTRIBUTE_NORMAL, NULL);
  if (f == INVALID_HANDLE_VALUE) return RM_E_WRITE_FAULT;
  memset(&ov, 0, sizeof ov);
  if (!LockFileEx(f, LOCKFILE_EXCLUSIVE_LOCK, 0, MAXDWORD, MAXDWORD, &ov)) {
    CloseHandle(f);
    return RM_E_WRITE_FAULT;
  }
  if (!WriteFile(f, text, (DWORD)len, &done, NULL) || done != (DWORD)len)
    rc = RM_E_WRITE_FAULT;
  UnlockFileEx(f, 0, MAXDWORD, MAXDWORD, &ov);
  CloseHandle(f);
  return rc;
}

/* The whole of file path into a malloc'd NUL-terminated buffer. */
static unsigned read_all(const WCHAR *path, char **buf, size_t *len) {
  HANDLE f = CreateFileW(path, GENERIC_READ,
                         FILE_SHARE_READ | FILE_SHARE_WRITE |
                             FILE_SHARE_DELETE,
                         NULL, OPEN_EXISTING, FILE_ATTRIBUTE_NORMAL, NULL);
  LARGE_INTEGER size;
  DWORD got = 0;
  char *b;
  *buf = NULL;
  *len = 0;
  if (f == INVALID_HANDLE_VALUE)
    return GetLastError() == ERROR_FILE_NOT_FOUND ||
                   GetLastError() == ERROR_PATH_NOT_FOUND
               ? RM_E_FILE_NOT_FOUND
               : RM_E_WRITE_FAULT;
  if (!GetFileSizeEx(f, &size) || size.QuadPart > 0x10000000) {
    CloseHandle(f);
    return RM_E_WRITE_FAULT;
  }
  b = (char *)malloc((size_t)size.QuadPart + 1);
  if (!b) {
    CloseHandle(f);
    return RM_E_OUTOFMEMORY;
  }
  if (size.QuadPart > 0 &&
      !ReadFile(f, b, (DWORD)size.QuadPart, &got, NULL)) {
    free(b);
    CloseHandle(f);
    return RM_E_WRITE_FAULT;
  }
  CloseHandle(f);
  b[got] = '\0';
  *buf = b;
  *len = got;
  return RM_OK;
}

unsigned rm_win_store_load(const char *key, char **buf, size_t *len) {
  WCHAR path[PATH_UNITS];
  unsigned rc = records_path(key, path);
  *buf = NULL;
  *len = 0;
  if (rc != RM_OK) return rc;
  rc = read_all(path, buf, len);
  return rc == RM_E_FILE_NOT_FOUND ? RM_OK : rc; /* nothing registered */
}

static unsigned reg_path(const rm_unique_process *p, WCHAR *buf) {
  WCHAR name[64];
  _snwprintf(name, 64, L"restart-%lu-%llu", (unsigned long)p->pid,
             (unsigned long long)p->start_time);
  name[63] = 0;
  return store_path(name, buf);
}

/* Removes the registrations of processes that no longer run. */
static void sweep_registrations(void) {
  WCHAR root[PATH_UNITS], pat[PATH_UNITS], file[PATH_UNITS];
  WIN32_FIND_DATAW fd;
  HANDLE f;
  if (store_path(NULL, root) != RM_OK) return;
  _snwprintf(pat, PATH_UNITS, L"%ls\\restart-*", root);
  f = FindFirstFileW(pat, &fd);
  if (f == INVALID_HANDLE_VALUE) return;
  do {
    rm_unique_process p;
    unsigned long pid;
    unsigned long long start;
    int running = 0;
    if (swscanf(fd.cFileName, L"restart-%lu-%llu", &pid, &start) != 2)
      continue;
    p.pid = (uint32_t)pid;
    p.start_time = (uint64_t)start;
    if (rm_process_running(&p, &running) == RM_OK && !running) {
      _snwprintf(file, PATH_UNITS, L"%ls\\%ls", root, fd.cFileName);
      DeleteFileW(file);
    }
  } while (FindNextFileW(f, &fd));
  FindClose(f);
}

unsigned rm_win_reg_write(const rm_unique_process *p, const char *data,
                          size_t len) {
  WCHAR path[PATH_UNITS], tmp[PATH_UNITS + 8];
  DWORD done = 0;
  unsigned rc = reg_path(p, path);
  HANDLE f;
  if (rc != RM_OK) return rc;
  if (len > 0x7FFFFFFFu) return RM_E_BAD_ARGUMENTS;
  sweep_registrations();
  _snwprintf(tmp, PATH_UNITS + 8, L"%ls.tmp", path);
  tmp[PATH_UNITS + 7] = 0;
  f = CreateFileW(tmp, GENERIC_WRITE, 0, NULL, CREATE_ALWAYS,
                  FILE_ATTRIBUTE_NORMAL, NULL);
  if (f == INVALID_HANDLE_VALUE) return RM_E_WRITE_FAULT;
  if (!WriteFile(f, data, (DWORD)len, &done, NULL) || done != (DWORD)len)
    rc = RM_E_WRITE_FAULT;
  CloseHandle(f);
  /* whole or not at all: a reader never sees half a registration */
  if (rc == RM_OK &&
      !MoveFileExW(tmp, path, MOVEFILE_REPLACE_EXISTING))
    rc = RM_E_WRITE_FAULT;
  if (rc != RM_OK) DeleteFileW(tmp);
  return rc;
}

unsigned rm_win_reg_remove(const rm_unique_process *p) {
  WCHAR path[PATH_UNITS];
  unsigned rc = reg_path(p, path);
  if (rc != RM_OK) return rc;
  if (DeleteFileW(path) || GetLastError() == ERROR_FILE_NOT_FOUND)
    return RM_OK;
  return RM_E_WRITE_FAULT;
}

/* Appends s with its NUL to buf (*len used of *cap); 0 on failure. */
static int put_str(char **buf, size_t *len, size_t *cap, const char *s) {
  size_t n = strlen(s) + 1;
  if (*len + n > *cap) {
    size_t ncap = (*len + n) * 2;
    char *nb = (char *)realloc(*buf, ncap);
    if (!nb) return 0;
    *buf = nb;
    *cap = ncap;
  }
  memcpy(*buf + *len, s, n);
  *len += n;
  return 1;
}

/* The registration p made with RegisterApplicationRestart: its command
 * line after the executable's quoted path, no working directory, no
 * environment (the Restart Manager restores neither). */
static unsigned kernel_registration(const rm_unique_process *p, char **data,
                                    size_t *len) {
  WCHAR *cmd = (WCHAR *)calloc(RESTART_MAX_CMD_LINE + 1, sizeof(WCHAR));
  WCHAR *exe = (WCHAR *)malloc(PATH_UNITS * sizeof(WCHAR));
  DWORD cch = RESTART_MAX_CMD_LINE + 1, n = PATH_UNITS, flags = 0;
  char *u8exe = NULL, *u8cmd = NULL, *line = NULL, num[16];
  char *buf = NULL;
  size_t blen = 0, cap = 0, qlen;
  unsigned rc = RM_E_FILE_NOT_FOUND;
  HANDLE h = OpenProcess(PROCESS_VM_READ | PROCESS_QUERY_LIMITED_INFORMATION,
                         FALSE, (DWORD)p->pid);
  if (!h || !cmd || !exe) goto done;
  if (rm_win_process_created(h) != p->start_time ||
      FAILED(GetApplicationRestartSettings(h, cmd, &cch, &flags)) ||
      !QueryFullProcessImageNameW(h, 0, exe, &n))
    goto done;
  rc = RM_E_OUTOFMEMORY;
  u8exe = rm_win_utf8_dup(exe);
  u8cmd = rm_win_utf8_dup(cmd);
  if (!u8exe || !u8cmd) goto done;
  qlen = rm_win_cmdline_quote(1, (const char *const *)&u8exe, NULL, 0);
  line = (char *)malloc(qlen + strlen(u8cmd) + 2);
  if (!line) goto done;
  rm_win_cmdline_quote(1, (const char *const *)&u8exe, line, qlen + 1);
  if (u8cmd[0]) {
    line[qlen] = ' ';
    strcpy(line + qlen + 1, u8cmd);
  }
  snprintf(num, sizeof num, "%lu", (unsigned long)flags);
  if (put_str(&buf, &blen, &cap, RM_WIN_REG_MAGIC) &&
      put_str(&buf, &blen, &cap, num) && put_str(&buf, &blen, &cap, u8exe) &&
      put_str(&buf, &blen, &cap, "") && put_str(&buf, &blen, &cap, line)) {
    *data = buf;
    *len = blen;
    buf = NULL;
    rc = RM_OK;
  }
done:
  if (h) CloseHandle(h);
  free(cmd);
  free(exe);
  free(u8exe);
  free(u8cmd);
  free(line);
  free(buf);
  return rc;
}

unsigned rm_win_reg_read(const rm_unique_process *p, char **data,
                         size_t *len) {
  WCHAR path[PATH_UNITS];
  unsigned rc = reg_path(p, path);
  *data = NULL;
  *len = 0;
  if (rc != RM_OK) return rc;
  rc = read_all(path, data, len);
  if (rc != RM_E_FILE_NOT_FOUND) return rc;
  return kernel_registration(p, data, len);
}
