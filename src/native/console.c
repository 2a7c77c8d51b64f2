/*
 * console.h on POSIX: argv is the bytes the program got, and a terminal
 * shows whatever encoding its locale says; nothing to do.
 */
#include <stdlib.h>

#include "console.h"

unsigned rm_console_arguments(size_t *argc, char ***argv) {
  *argc = 0;
  *argv = NULL;
  return RM_E_INVALID_FUNCTION;
}

void rm_console_free(size_t argc, char **argv) {
  size_t i;
  for (i = 0; i < argc && argv; i++) free(argv[i]);
  free(argv);
}

unsigned rm_console_utf8_output(void) { return RM_OK; }

unsigned rm_console_path_exists(const char *path, int *exists) {
  (void)path;
  *exists = 0;
  return RM_E_INVALID_FUNCTION;
}
