/*
 * TEMPORARY: the process interface (process.h) on Win32 is not written
 * yet. These definitions only let the Windows build link; every call
 * fails with ERROR_INVALID_FUNCTION. The CreateProcessW implementation
 * replaces this file.
 */
#include <stdio.h>

#include "process.h"

static unsigned not_implemented(char *msg) {
  snprintf(msg, RM_PROCESS_MSG_SIZE,
           "not implemented on the windows backend yet");
  return RM_E_INVALID_FUNCTION;
}

unsigned rm_process_spawn(size_t argc, const char *const *argv,
                          size_t nchanges, const rm_env_change *changes,
                          rm_child *out, char msg[RM_PROCESS_MSG_SIZE]) {
  (void)argc;
  (void)argv;
  (void)nchanges;
  (void)changes;
  (void)out;
  return not_implemented(msg);
}

unsigned rm_process_wait(rm_child *c, int nohang, int *state, int *value,
                         char msg[RM_PROCESS_MSG_SIZE]) {
  (void)c;
  (void)nohang;
  (void)state;
  (void)value;
  return not_implemented(msg);
}

void rm_process_release(rm_child *c) { c->handle = NULL; }

unsigned rm_process_executable(uint32_t pid, char *buf, size_t size,
                               size_t *len, char msg[RM_PROCESS_MSG_SIZE]) {
  (void)pid;
  (void)buf;
  (void)size;
  (void)len;
  return not_implemented(msg);
}

unsigned rm_process_running(const rm_unique_process *p, int *running) {
  (void)p;
  *running = 0;
  return RM_E_INVALID_FUNCTION;
}
