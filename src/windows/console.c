/*
 * console.h on Windows: the arguments from GetCommandLineW split by
 * CommandLineToArgvW (the rules the C runtime's own split follows), as
 * UTF-8; UTF-8 output through SetConsoleOutputCP(CP_UTF8).
 */
#include <stdlib.h>

#include "../console.h"
#include "wutil.h"

#include <shellapi.h>

unsigned rm_console_arguments(size_t *argc, char ***argv) {
  int n = 0, i;
  WCHAR **w = CommandLineToArgvW(GetCommandLineW(), &n);
  char **v;
  *argc = 0;
  *argv = NULL;
  if (!w) return rm_win_last_error();
  v = (char **)calloc(n > 0 ? (size_t)n : 1, sizeof *v);
  if (!v) {
    LocalFree(w);
    return RM_E_OUTOFMEMORY;
  }
  for (i = 0; i < n; i++) {
    v[i] = rm_win_utf8_dup(w[i][0] ? w[i] : L"");
    if (!v[i] && w[i][0]) {
      rm_console_free((size_t)i, v);
      LocalFree(w);
      return RM_E_OUTOFMEMORY;
    }
    if (!v[i]) {
      v[i] = (char *)calloc(1, 1);
      if (!v[i]) {
        rm_console_free((size_t)i, v);
        LocalFree(w);
        return RM_E_OUTOFMEMORY;
      }
    }
  }
  LocalFree(w);
  *argc = (size_t)n;
  *argv = v;
  return RM_OK;
}

void rm_console_free(size_t argc, char **argv) {
  size_t i;
  for (i = 0; i < argc && argv; i++) free(argv[i]);
  free(argv);
}

unsigned rm_console_utf8_output(void) {
  /* fails without a console (output redirected, a GUI program): then the
   * bytes go where they go unchanged, which is what is wanted */
  (void)SetConsoleOutputCP(CP_UTF8);
  return RM_OK;
}

unsigned rm_console_path_exists(const char *path, int *exists) {
  unsigned rc = RM_OK;
  WCHAR *w = rm_win_to_wide(path, &rc);
  DWORD e;
  *exists = 0;
  if (!w) return rc;
  if (GetFileAttributesW(w) != INVALID_FILE_ATTRIBUTES) {
    *exists = 1;
  } else {
    e = GetLastError();
    *exists = e != ERROR_FILE_NOT_FOUND && e != ERROR_PATH_NOT_FOUND &&
              e != ERROR_INVALID_NAME;
  }
  free(w);
  return RM_OK;
}
