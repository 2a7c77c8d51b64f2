/*
 * Fuzz target: rm_win_cmdline_quote (the command line a Windows restart
 * registration records) and rm_win_hresult_to_error.
 *
 * The input, split at its NUL bytes, is an argument vector. Properties:
 *   - splitting the quoted line by the Windows rules (the C runtime's and
 *     CommandLineToArgvW's, for the arguments after the program name) gives
 *     the vector back exactly;
 *   - a call with size 0 measures the line (the length of the full line);
 *   - a call with a smaller buffer writes a NUL-terminated prefix of the
 *     full line and nothing past the buffer.
 * The splitter below follows the documented rules; it is this target's
 * own, independent of the quoting code.
 */
#include "fuzz.h"

#include "cmdline.h"

#define MAX_ARGS 64

typedef struct args {
  char *v[MAX_ARGS + 1];
  size_t n;
} args;

/* Splits line into arguments:
 *   - outside quotes, spaces and tabs separate arguments;
 *   - 2n backslashes then a quote: n backslashes, and the quote opens or
 *     closes quoting; 2n+1 backslashes then a quote: n backslashes and a
 *     literal quote; other backslashes are literal;
 *   - inside quotes, two quotes in a row give a literal quote;
 *   - "" outside quotes is an empty argument. */
static void split(const char *line, args *out) {
  const char *p = line;
  out->n = 0;
  for (;;) {
    char *arg, *d;
    int quoted = 0;
    while (*p == ' ' || *p == '\t') p++;
    if (!*p) break;
    arg = d = (char *)malloc(strlen(p) + 1);
    for (;;) {
      size_t slashes = 0;
      while (*p == '\\') {
        slashes++;
        p++;
      }
      if (*p == '"') {
        size_t k;
        for (k = 0; k < slashes / 2; k++) *d++ = '\\';
        if (slashes % 2) {
          *d++ = '"';
          p++;
        } else if (quoted && p[1] == '"') {
          *d++ = '"';
          p += 2;
        } else {
          quoted = !quoted;
          p++;
        }
        continue;
      }
      while (slashes--) *d++ = '\\';
      if (!*p || (!quoted && (*p == ' ' || *p == '\t'))) break;
      *d++ = *p++;
    }
    *d = '\0';
    if (out->n < MAX_ARGS)
      out->v[out->n++] = arg;
    else
      free(arg);
  }
}

static void free_args(args *a) {
  size_t i;
  for (i = 0; i < a->n; i++) free(a->v[i]);
  a->n = 0;
}

static void hresults(uint32_t hr) {
  unsigned e = rm_win_hresult_to_error(hr);
  if (!(hr & 0x80000000u))
    CHECK(e == 0, "success HRESULT %08x gave %u", hr, e);
  else if ((hr & 0xFFFF0000u) == 0x80070000u && (hr & 0xFFFFu))
    CHECK(e == (hr & 0xFFFFu), "HRESULT %08x gave %u", hr, e);
  else
    CHECK(e == WIN_ERROR_FUNCTION_FAILED, "HRESULT %08x gave %u", hr, e);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  args in, out;
  const char *v[MAX_ARGS];
  size_t i, len, len2, cut, at = 0;
  char *line, *part;
  uint32_t hr = 0;
  for (i = 0; i < 4 && i < size; i++) hr = hr << 8 | data[i];
  hresults(hr);
  /* the argument vector: the input split at NULs */
  in.n = 0;
  while (at < size && in.n < MAX_ARGS) {
    size_t n = 0;
    while (at + n < size && data[at + n] != 0) n++;
    in.v[in.n] = (char *)malloc(n + 1);
    memcpy(in.v[in.n], data + at, n);
    in.v[in.n][n] = '\0';
    v[in.n] = in.v[in.n];
    in.n++;
    at += n + 1;
  }
  len = rm_win_cmdline_quote(in.n, v, NULL, 0);
  line = (char *)malloc(len + 1);
  len2 = rm_win_cmdline_quote(in.n, v, line, len + 1);
  CHECK(len2 == len, "measured %zu, wrote %zu", len, len2);
  CHECK(strlen(line) == len, "line of %zu bytes has a NUL at %zu", len,
        strlen(line));
  /* a buffer too small: a terminated prefix, nothing written past it
   * (the buffer is allocated to its exact size for ASan) */
  cut = size ? data[size - 1] % (len + 1) : 0;
  part = (char *)malloc(cut + 1);
  CHECK(rm_win_cmdline_quote(in.n, v, part, cut + 1) == len,
        "a short buffer changed the measured length");
  CHECK(strlen(part) == cut && memcmp(part, line, cut) == 0,
        "the cut line is not a prefix of %zu bytes", cut);
  free(part);
  split(line, &out);
  CHECK(out.n == in.n, "%zu arguments came back as %zu from [%s]", in.n,
        out.n, line);
  for (i = 0; i < in.n; i++)
    CHECK(strcmp(in.v[i], out.v[i]) == 0,
          "argument %zu \"%s\" came back as \"%s\" from [%s]", i, in.v[i],
          out.v[i], line);
  free_args(&out);
  free_args(&in);
  free(line);
  return 0;
}
