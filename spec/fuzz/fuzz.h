/*
 * Shared by the fuzz targets in this directory (libFuzzer, built by
 * `make fuzz` with clang -fsanitize=fuzzer,address,undefined).
 *
 * A target checks properties of what it parses, not only that nothing
 * crashes: CHECK aborts with a message, which libFuzzer reports as a crash
 * and saves the input that caused it.
 *
 * The Reader hands out the fuzzer's bytes as small numbers and strings;
 * once the input is used up it answers zeros, so every input is a complete
 * test case.
 */
#ifndef RM_FUZZ_H
#define RM_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond, ...)                                              \
  do {                                                                \
    if (!(cond)) {                                                    \
      fprintf(stderr, "property failed at %s:%d: %s\n  ", __FILE__,   \
              __LINE__, #cond);                                       \
      fprintf(stderr, __VA_ARGS__);                                   \
      fputc('\n', stderr);                                            \
      abort();                                                        \
    }                                                                 \
  } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* The entry point of a target whose first byte chooses between a
 * structured case and raw bytes: both functions take the Reader. */
#define FUZZ_MAIN(structured_fn, raw_fn)                             \
  int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {    \
    Reader r = {data, size};                                        \
    if (rd_byte(&r) & 1)                                            \
      structured_fn(&r);                                            \
    else                                                            \
      raw_fn(&r);                                                   \
    return 0;                                                       \
  }

typedef struct Reader {
  const uint8_t *p;
  size_t n;
} Reader;

static inline unsigned rd_byte(Reader *r) {
  if (r->n == 0) return 0;
  r->n--;
  return *r->p++;
}

static inline uint64_t rd_u64(Reader *r, unsigned bytes) {
  uint64_t v = 0;
  unsigned i;
  for (i = 0; i < bytes; i++) v = v << 8 | rd_byte(r);
  return v;
}

/* A number from 0 to max (inclusive). */
static inline unsigned rd_below(Reader *r, unsigned max) {
  return max ? rd_byte(r) % (max + 1) : 0;
}

/* Up to max bytes without NUL (a NUL in the input ends the string) into a
 * malloc'd NUL-terminated string; *len gets its length. */
static inline char *rd_string(Reader *r, size_t max, size_t *len) {
  size_t want = rd_byte(r), i = 0;
  char *s;
  if (want > max) want = max;
  s = (char *)malloc(want + 1);
  if (!s) abort();
  while (i < want && r->n > 0) {
    uint8_t c = *r->p;
    r->p++;
    r->n--;
    if (c == 0) break;
    s[i++] = (char)c;
  }
  s[i] = '\0';
  if (len) *len = i;
  return s;
}

/* Exactly n bytes of the rest of the input (fewer when it runs out) as a
 * malloc'd buffer of that size, with no terminator, so that ASan sees any
 * read past its end. */
static inline uint8_t *rd_exact(Reader *r, size_t n, size_t *got) {
  uint8_t *b;
  if (n > r->n) n = r->n;
  b = (uint8_t *)malloc(n ? n : 1);
  if (!b) abort();
  memcpy(b, r->p, n);
  r->p += n;
  r->n -= n;
  *got = n;
  return b;
}

#endif
