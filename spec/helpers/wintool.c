/*
 * A Windows test program for the specs, run under Wine. It exercises the
 * pieces of the Windows backend that cannot be observed through
 * rstrtmgr.dll:
 *
 *   wintool cmdline FILE...  each FILE holds one argument per line as
 *                          hexadecimal UTF-8 bytes ("-" for an empty
 *                          argument). For each, prints "case FILE", quotes
 *                          the arguments with rm_win_cmdline_quote
 *                          (src/win_restart.c), prints "line HEX" (the quoted
 *                          line), then parses "prog.exe LINE" with
 *                          CommandLineToArgvW and prints "argc N" and
 *                          "arg I HEX" for each argument after the
 *                          program's name.
 *   wintool hresult HR...  prints "HR CODE" for each HRESULT (hexadecimal),
 *                          through rm_win_hresult_to_error.
 *   wintool message CODE...  prints "CODE HEX" for each Win32 error code:
 *                          FormatMessageW's text for it, untouched, as
 *                          hexadecimal UTF-8 ("-" when it has none).
 *   wintool proc FLAG      prints "pid PID start FILETIME" for itself
 *                          (GetCurrentProcessId, GetProcessTimes), then waits
 *                          until the file FLAG exists (at most 30 s).
 */
#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#include <windows.h>
#include <shellapi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmdline.h"

static void put_hex_utf8(const WCHAR *w) {
  int n = WideCharToMultiByte(CP_UTF8, 0, w, -1, NULL, 0, NULL, NULL);
  char *s = (char *)malloc(n > 0 ? (size_t)n : 1);
  int i;
  if (!s || n <= 0 ||
      WideCharToMultiByte(CP_UTF8, 0, w, -1, s, n, NULL, NULL) != n) {
    printf("?");
    free(s);
    return;
  }
  if (n == 1) printf("-");
  for (i = 0; i + 1 < n; i++) printf("%02x", (unsigned char)s[i]);
  free(s);
}

static char *unhex(const char *h) {
  size_t n = strlen(h) / 2, i;
  char *s = (char *)malloc(n + 1);
  if (!s) exit(3);
  if (strcmp(h, "-") == 0) n = 0;
  for (i = 0; i < n; i++) {
    char d[3];
    d[0] = h[2 * i];
    d[1] = h[2 * i + 1];
    d[2] = '\0';
    s[i] = (char)strtoul(d, NULL, 16);
  }
  s[n] = '\0';
  return s;
}

static int cmdline(const char *file) {
  char line[65536];
  const char *args[256];
  size_t argc = 0, len, i;
  char *quoted;
  WCHAR *wide, **parsed;
  int n, wn;
  FILE *f = fopen(file, "rb");
  if (!f) return 2;
  printf("case %s\n", file);
  while (argc < 256 && fgets(line, sizeof line, f)) {
    line[strcspn(line, "\r\n")] = '\0';
    args[argc++] = unhex(line);
  }
  fclose(f);
  len = rm_win_cmdline_quote(argc, args, NULL, 0);
  quoted = (char *)malloc(len + 10);
  if (!quoted) return 3;
  memcpy(quoted, "prog.exe ", 9);
  /* the measured length is exactly what a second call writes */
  if (rm_win_cmdline_quote(argc, args, quoted + 9, len + 1) != len ||
      strlen(quoted + 9) != len)
    return 4;
  printf("line ");
  for (i = 0; i < len; i++) printf("%02x", (unsigned char)quoted[9 + i]);
  if (len == 0) printf("-");
  printf("\n");
  wn = MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, quoted, -1, NULL,
                           0);
  wide = (WCHAR *)malloc((size_t)(wn > 0 ? wn : 1) * sizeof *wide);
  if (!wide || wn <= 0 ||
      MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, quoted, -1, wide,
                          wn) != wn)
    return 5;
  parsed = CommandLineToArgvW(wide, &n);
  if (!parsed) return 6;
  printf("argc %d\n", n - 1);
  for (i = 1; i < (size_t)n; i++) {
    printf("arg %u ", (unsigned)i);
    put_hex_utf8(parsed[i]);
    printf("\n");
  }
  LocalFree(parsed);
  free(wide);
  free(quoted);
  for (i = 0; i < argc; i++) free((void *)args[i]);
  return 0;
}

static int proc(const char *flag) {
  FILETIME c, e, k, u;
  int waited;
  if (!GetProcessTimes(GetCurrentProcess(), &c, &e, &k, &u)) return 2;
  printf("pid %lu start %llu\n", (unsigned long)GetCurrentProcessId(),
         ((unsigned long long)c.dwHighDateTime << 32) | c.dwLowDateTime);
  fflush(stdout);
  for (waited = 0; waited < 30000; waited += 10) {
    if (GetFileAttributesA(flag) != INVALID_FILE_ATTRIBUTES) return 0;
    Sleep(10);
  }
  return 1;
}

static void message(const char *code) {
  WCHAR w[1024];
  DWORD n = FormatMessageW(FORMAT_MESSAGE_FROM_SYSTEM |
                               FORMAT_MESSAGE_IGNORE_INSERTS,
                           NULL, (DWORD)strtoul(code, NULL, 10), 0, w,
                           (DWORD)(sizeof w / sizeof w[0]), NULL);
  printf("%s ", code);
  if (n == 0) {
    printf("-\n");
    return;
  }
  w[n] = 0;
  put_hex_utf8(w);
  printf("\n");
}

int main(int argc, char **argv) {
  int i;
  if (argc >= 3 && strcmp(argv[1], "cmdline") == 0) {
    for (i = 2; i < argc; i++) {
      int rc = cmdline(argv[i]);
      if (rc != 0) return rc;
    }
    return 0;
  }
  if (argc >= 3 && strcmp(argv[1], "proc") == 0) return proc(argv[2]);
  if (argc >= 2 && strcmp(argv[1], "message") == 0) {
    for (i = 2; i < argc; i++) message(argv[i]);
    return 0;
  }
  if (argc >= 2 && strcmp(argv[1], "hresult") == 0) {
    for (i = 2; i < argc; i++)
      printf("%s %u\n", argv[i],
             rm_win_hresult_to_error((uint32_t)strtoul(argv[i], NULL, 16)));
    return 0;
  }
  fprintf(stderr, "usage: wintool cmdline FILE... | hresult HR... | "
                  "message CODE... | proc FLAG\n");
  return 2;
}
