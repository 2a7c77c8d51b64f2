/*
 * The process interface's exec on Win32 (process.h): Windows has no call
 * that replaces a process's program while keeping the process, so a
 * launcher there cannot hand its restart registration to the program it
 * starts. Both functions say so rather than start a second process that
 * would not be the registered one.
 */
#include <stdio.h>

#include "../process.h"

unsigned rm_process_find(const char *argv0, char *buf, size_t size,
                         char msg[RM_PROCESS_MSG_SIZE]) {
  (void)argv0;
  if (size) buf[0] = '\0';
  snprintf(msg, RM_PROCESS_MSG_SIZE,
           "not available on Windows: a process cannot replace its program "
           "there; the program registers itself "
           "(RegisterApplicationRestart)");
  return RM_E_INVALID_PARAMETER;
}

unsigned rm_process_chdir(const char *dir, char msg[RM_PROCESS_MSG_SIZE]) {
  (void)dir;
  snprintf(msg, RM_PROCESS_MSG_SIZE, "not available on Windows");
  return RM_E_INVALID_PARAMETER;
}

unsigned rm_process_setenv(const char *name, const char *value,
                           char msg[RM_PROCESS_MSG_SIZE]) {
  (void)name;
  (void)value;
  snprintf(msg, RM_PROCESS_MSG_SIZE, "not available on Windows");
  return RM_E_INVALID_PARAMETER;
}

unsigned rm_process_exec(const char *path, size_t argc,
                         const char *const *argv,
                         char msg[RM_PROCESS_MSG_SIZE]) {
  (void)path;
  (void)argc;
  (void)argv;
  snprintf(msg, RM_PROCESS_MSG_SIZE,
           "not available on Windows: a process cannot replace its program "
           "there; the program registers itself "
           "(RegisterApplicationRestart)");
  return RM_E_INVALID_PARAMETER;
}
