/*
 * The process interface's exec on POSIX (process.h): find a program the
 * way a shell would, and replace the calling process by it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../process.h"

static unsigned code_of(int e) {
  switch (e) {
  case ENOENT:
  case ENOTDIR: return RM_E_FILE_NOT_FOUND;
  case EACCES:
  case EPERM:
  case ENOEXEC: return RM_E_ACCESS_DENIED;
  case ENOMEM: return RM_E_OUTOFMEMORY;
  case E2BIG: return RM_E_BAD_ARGUMENTS;
  default: return RM_E_INVALID_PARAMETER;
  }
}

static int runnable(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISREG(st.st_mode) &&
         access(path, X_OK) == 0;
}

unsigned rm_process_find(const char *argv0, char *buf, size_t size,
                         char msg[RM_PROCESS_MSG_SIZE]) {
  const char *path, *p;
  char cwd[PATH_MAX];
  msg[0] = '\0';
  if (!argv0[0]) {
    snprintf(msg, RM_PROCESS_MSG_SIZE, "the program's name is empty");
    return RM_E_FILE_NOT_FOUND;
  }
  if (strchr(argv0, '/')) {
    int n;
    if (argv0[0] == '/') {
      n = snprintf(buf, size, "%s", argv0);
    } else {
      if (!getcwd(cwd, sizeof cwd)) {
        int e = errno;
        snprintf(msg, RM_PROCESS_MSG_SIZE, "cannot find '%s': %s", argv0,
                 strerror(e));
        return code_of(e);
      }
      n = snprintf(buf, size, "%s/%s", cwd, argv0);
    }
    if (n < 0 || (size_t)n >= size) {
      snprintf(msg, RM_PROCESS_MSG_SIZE, "the path of '%.100s' is too long",
               argv0);
      return RM_E_BAD_ARGUMENTS;
    }
    if (!runnable(buf)) {
      int e = errno ? errno : EACCES;
      snprintf(msg, RM_PROCESS_MSG_SIZE, "cannot run '%s': %s", argv0,
               strerror(e));
      return code_of(e);
    }
    return RM_OK;
  }
  path = getenv("PATH");
  if (!path) path = "/usr/local/bin:/usr/bin:/bin";
  for (p = path;; p++) {
    const char *end = strchr(p, ':');
    size_t len = end ? (size_t)(end - p) : strlen(p);
    int n;
    if (len == 0) {
      /* an empty entry is the working directory */
      if (getcwd(cwd, sizeof cwd))
        n = snprintf(buf, size, "%s/%s", cwd, argv0);
      else
        n = -1;
    } else {
      n = snprintf(buf, size, "%.*s/%s", (int)len, p, argv0);
    }
    if (n > 0 && (size_t)n < size && buf[0] == '/' && runnable(buf))
      return RM_OK;
    if (!end) break;
    p = end;
  }
  snprintf(msg, RM_PROCESS_MSG_SIZE, "'%s' was not found in PATH", argv0);
  return RM_E_FILE_NOT_FOUND;
}

unsigned rm_process_chdir(const char *dir, char msg[RM_PROCESS_MSG_SIZE]) {
  msg[0] = '\0';
  if (chdir(dir) != 0) {
    int e = errno;
    snprintf(msg, RM_PROCESS_MSG_SIZE, "cannot change to '%s': %s", dir,
             strerror(e));
    return code_of(e);
  }
  return RM_OK;
}

unsigned rm_process_setenv(const char *name, const char *value,
                           char msg[RM_PROCESS_MSG_SIZE]) {
  int r = value ? setenv(name, value, 1) : unsetenv(name);
  msg[0] = '\0';
  if (r != 0) {
    int e = errno;
    snprintf(msg, RM_PROCESS_MSG_SIZE, "cannot set '%.100s': %s", name,
             strerror(e));
    return code_of(e);
  }
  return RM_OK;
}

unsigned rm_process_exec(const char *path, size_t argc,
                         const char *const *argv,
                         char msg[RM_PROCESS_MSG_SIZE]) {
  int e;
  msg[0] = '\0';
  if (argc < 1 || argv[argc] != NULL) {
    snprintf(msg, RM_PROCESS_MSG_SIZE, "the program is missing");
    return RM_E_BAD_ARGUMENTS;
  }
  fflush(NULL);
  execv(path, (char *const *)argv);
  e = errno;
  snprintf(msg, RM_PROCESS_MSG_SIZE, "cannot run '%s': %s", path,
           strerror(e));
  return code_of(e);
}
