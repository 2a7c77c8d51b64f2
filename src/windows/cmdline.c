/*
 * Command-line quoting and HRESULT mapping for the Windows restart
 * registration (see win_restart.h).
 */
#include <string.h>

#include "cmdline.h"

/* Whether arg must be enclosed in quotes: it is empty, or it contains a
 * character that separates or quotes arguments. Newline and vertical tab are
 * not separators for CommandLineToArgvW, but other parsers treat them as
 * blanks; quoting them is harmless. */
static int needs_quotes(const char *arg) {
  if (*arg == '\0') return 1;
  return strpbrk(arg, " \t\n\v\"") != NULL;
}

/* Appends c to the line: counts it always, stores it while there is room for
 * it and the final NUL. */
static void put(char *buf, size_t size, size_t *len, char c) {
  if (*len + 1 < size) buf[*len] = c;
  (*len)++;
}

static void put_backslashes(char *buf, size_t size, size_t *len, size_t n) {
  while (n-- > 0) put(buf, size, len, '\\');
}

/*
 * The parsing rules this inverts: inside or outside quotes, a run of 2n
 * backslashes followed by a quote gives n backslashes and the quote opens or
 * closes quoting; 2n+1 backslashes followed by a quote give n backslashes and
 * a literal quote; backslashes not followed by a quote are literal. So a
 * quoted argument doubles every run of backslashes that precedes a quote or
 * the closing quote, and escapes each quote with one more backslash.
 */
size_t rm_win_cmdline_quote(size_t argc, const char *const *argv, char *buf,
                         size_t size) {
  size_t len = 0, i;
  for (i = 0; i < argc; i++) {
    const char *p = argv[i];
    if (i > 0) put(buf, size, &len, ' ');
    if (!needs_quotes(p)) {
      for (; *p; p++) put(buf, size, &len, *p);
      continue;
    }
    put(buf, size, &len, '"');
    for (;;) {
      size_t slashes = 0;
      while (*p == '\\') {
        slashes++;
        p++;
      }
      if (*p == '\0') {
        /* before the closing quote: doubled, so that it stays a quote */
        put_backslashes(buf, size, &len, 2 * slashes);
        break;
      }
      if (*p == '"') {
        put_backslashes(buf, size, &len, 2 * slashes + 1);
        put(buf, size, &len, '"');
      } else {
        put_backslashes(buf, size, &len, slashes);
        put(buf, size, &len, *p);
      }
      p++;
    }
    put(buf, size, &len, '"');
  }
  if (size > 0) buf[len < size ? len : size - 1] = '\0';
  return len;
}

unsigned rm_win_hresult_to_error(uint32_t hr) {
  if ((hr & 0x80000000u) == 0) return 0;
  if ((hr & 0xFFFF0000u) == 0x80070000u) {
    unsigned code = (unsigned)(hr & 0xFFFFu);
    /* 0x80070000 is not a failure anyone reports; keep it one */
    return code ? code : WIN_ERROR_FUNCTION_FAILED;
  }
  return WIN_ERROR_FUNCTION_FAILED;
}
