/*
 * Fuzz target: rm_native_parse_maps_line, the parser of /proc/PID/maps lines.
 *
 * The scan hands the parser a pointer into the whole maps text, not a
 * terminated line, so:
 *
 * First byte even: the rest is raw text of one or more lines. The parse of
 *   the text must equal the parse of its first line alone (nothing after
 *   the first newline may change the result), and the end of the address
 *   range lies within that first line.
 * First byte odd: a line is built as the kernel writes it (any address
 *   range, permissions, offset, device, inode and a path of arbitrary
 *   bytes), followed by more text; the parse must give back the device and
 *   inode, and the range's end.
 */
#define _GNU_SOURCE
#include <sys/sysmacros.h>

#include "fuzz.h"

#include "scan.h"

typedef struct result {
  int rc;
  size_t range_len;
  uint64_t dev, ino;
} result;

static result parse(const char *line) {
  result res;
  const char *end = NULL;
  res.dev = res.ino = 0;
  res.rc = rm_native_parse_maps_line(line, &end, &res.dev, &res.ino);
  res.range_len = end ? (size_t)(end - line) : (size_t)-1;
  if (res.rc != 0) res.dev = res.ino = 0;
  return res;
}

static void raw(Reader *r) {
  size_t n, first;
  uint8_t *bytes = rd_exact(r, 4096, &n);
  char *text = (char *)malloc(n + 1), *line;
  const char *nl;
  result all, one;
  memcpy(text, bytes, n);
  text[n] = '\0';
  nl = strchr(text, '\n');
  first = nl ? (size_t)(nl - text) : strlen(text);
  line = (char *)malloc(first + 1);
  memcpy(line, text, first);
  line[first] = '\0';
  all = parse(text);
  one = parse(line);
  CHECK(all.range_len <= first, "range end %zu past the line's end %zu",
        all.range_len, first);
  CHECK(all.rc == one.rc && all.dev == one.dev && all.ino == one.ino &&
            all.range_len == one.range_len,
        "the text after the first line changed the parse (rc %d/%d, dev "
        "%llx/%llx, ino %llu/%llu)",
        all.rc, one.rc, (unsigned long long)all.dev,
        (unsigned long long)one.dev, (unsigned long long)all.ino,
        (unsigned long long)one.ino);
  free(line);
  free(text);
  free(bytes);
}

static void structured(Reader *r) {
  char line[8192], perms[5], *path, *rest;
  size_t plen, i;
  uint64_t start = rd_u64(r, 8), end = rd_u64(r, 8), off = rd_u64(r, 8);
  unsigned maj = (unsigned)rd_u64(r, 4), min = (unsigned)rd_u64(r, 4);
  uint64_t ino = rd_u64(r, 8);
  int n, range_len;
  result res;
  for (i = 0; i < 4; i++) {
    unsigned c = rd_byte(r);
    perms[i] = (char)(c <= ' ' || c == 0x7f ? '-' : c);
  }
  perms[4] = '\0';
  path = rd_string(r, 300, &plen);
  /* the kernel escapes a newline in a path as \012 */
  for (i = 0; i < plen; i++)
    if (path[i] == '\n') path[i] = '?';
  rest = rd_string(r, 300, NULL);
  range_len = snprintf(line, sizeof line, "%llx-%llx",
                       (unsigned long long)start, (unsigned long long)end);
  n = range_len + snprintf(line + range_len, sizeof line - (size_t)range_len,
                           " %s %08llx %02x:%02x %llu", perms,
                           (unsigned long long)off, maj, min,
                           (unsigned long long)ino);
  /* the path is padded to a column; an anonymous mapping has none */
  if (plen) n += snprintf(line + n, sizeof line - (size_t)n, "%*s%s",
                          (int)(1 + rd_below(r, 30)), "", path);
  snprintf(line + n, sizeof line - (size_t)n, "\n%s", rest);
  res = parse(line);
  CHECK(res.rc == 0, "well-formed line refused: %s", line);
  CHECK(major(res.dev) == maj && minor(res.dev) == min,
        "device %x:%x read as %x:%x", maj, min, major(res.dev),
        minor(res.dev));
  CHECK(res.ino == ino, "inode %llu read as %llu", (unsigned long long)ino,
        (unsigned long long)res.ino);
  CHECK(res.range_len == (size_t)range_len, "range end at %zu, not %d",
        res.range_len, range_len);
  free(path);
  free(rest);
}

/* the first byte chooses: a structured case or raw bytes */
FUZZ_MAIN(structured, raw)
