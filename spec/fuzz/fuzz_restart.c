/*
 * Fuzz target: rm_native_parse_restart, the parser of restart registrations
 * (<store>/restart-<pid>-<start time>, which a root restart reads from
 * another user's store).
 *
 * Built with src/native/restartreg.c and the layers below it.
 *
 * First byte even: the rest is a raw registration. Whenever it parses,
 *   every string lies inside the buffer and is terminated there, the
 *   executable and working directory are absolute, argv starts with the
 *   executable and both vectors end with NULL.
 * First byte odd: a registration is written in the documented layout from
 *   arbitrary fields and parsed back; every field must come back exactly.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "restartreg.h"

#define RESTART_MAGIC "RMRESTART1" /* the format of restartreg.h */

#include "fuzz.h"

static int inside(const char *s, const char *buf, size_t len) {
  return s >= buf && s < buf + len && memchr(s, '\0', len - (size_t)(s - buf));
}

static void check_parsed(const rm_native_restart_reg *r, const char *buf, size_t len) {
  size_t i;
  CHECK(inside(r->exe, buf, len) && r->exe[0] == '/', "executable");
  CHECK(inside(r->cwd, buf, len) && r->cwd[0] == '/', "working directory");
  CHECK(r->argv && r->argv[0] == r->exe, "argv[0] is not the executable");
  for (i = 1; r->argv[i]; i++)
    CHECK(inside(r->argv[i], buf, len), "argument %zu outside", i);
  CHECK(r->envp != NULL, "no environment vector");
  for (i = 0; r->envp[i]; i++)
    CHECK(inside(r->envp[i], buf, len), "environment entry %zu outside", i);
}

static void raw(Reader *rd) {
  size_t n;
  uint8_t *bytes = rd_exact(rd, 1 << 16, &n);
  rm_native_restart_reg r;
  if (rm_native_parse_restart((char *)bytes, n, &r) == 0) {
    check_parsed(&r, (const char *)bytes, n);
    r.buf = NULL; /* not the parser's to free */
    rm_native_restart_free(&r);
  }
  free(bytes);
}

/* Appends s and its NUL. */
static void put(char **buf, size_t *len, const char *s) {
  size_t n = strlen(s) + 1;
  *buf = (char *)realloc(*buf, *len + n);
  memcpy(*buf + *len, s, n);
  *len += n;
}

static void structured(Reader *rd) {
  char *buf = NULL, num[32], *exe, *cwd, *argv[16], *envp[16];
  size_t len = 0, argc = rd_below(rd, 15), envc = rd_below(rd, 15), i;
  uint32_t flags = (uint32_t)rd_u64(rd, 4);
  rm_native_restart_reg r;
  char *x = rd_string(rd, 100, NULL), *y = rd_string(rd, 100, NULL);
  exe = (char *)malloc(strlen(x) + 2);
  cwd = (char *)malloc(strlen(y) + 2);
  sprintf(exe, "/%s", x);
  sprintf(cwd, "/%s", y);
  free(x);
  free(y);
  for (i = 0; i < argc; i++) argv[i] = rd_string(rd, 60, NULL);
  for (i = 0; i < envc; i++) envp[i] = rd_string(rd, 60, NULL);
  put(&buf, &len, RESTART_MAGIC);
  snprintf(num, sizeof num, "%lu", (unsigned long)flags);
  put(&buf, &len, num);
  put(&buf, &len, exe);
  put(&buf, &len, cwd);
  snprintf(num, sizeof num, "%zu", argc);
  put(&buf, &len, num);
  for (i = 0; i < argc; i++) put(&buf, &len, argv[i]);
  snprintf(num, sizeof num, "%zu", envc);
  put(&buf, &len, num);
  for (i = 0; i < envc; i++) put(&buf, &len, envp[i]);
  CHECK(rm_native_parse_restart(buf, len, &r) == 0, "written registration "
        "refused");
  check_parsed(&r, buf, len);
  CHECK(r.flags == flags, "flags %u read as %u", flags, r.flags);
  CHECK(strcmp(r.exe, exe) == 0, "executable \"%s\" read as \"%s\"", exe,
        r.exe);
  CHECK(strcmp(r.cwd, cwd) == 0, "directory \"%s\" read as \"%s\"", cwd,
        r.cwd);
  for (i = 0; i < argc; i++)
    CHECK(r.argv[i + 1] && strcmp(r.argv[i + 1], argv[i]) == 0,
          "argument %zu", i);
  CHECK(r.argv[argc + 1] == NULL, "more than %zu arguments", argc);
  for (i = 0; i < envc; i++)
    CHECK(r.envp[i] && strcmp(r.envp[i], envp[i]) == 0, "environment %zu",
          i);
  CHECK(r.envp[envc] == NULL, "more than %zu environment entries", envc);
  /* one byte less is a torn registration: refused */
  {
    rm_native_restart_reg t;
    CHECK(rm_native_parse_restart(buf, len - 1, &t) != 0,
          "a registration without its last byte was accepted");
  }
  r.buf = NULL;
  rm_native_restart_free(&r);
  for (i = 0; i < argc; i++) free(argv[i]);
  for (i = 0; i < envc; i++) free(envp[i]);
  free(exe);
  free(cwd);
  free(buf);
}

/* the first byte chooses: a structured case or raw bytes */
FUZZ_MAIN(structured, raw)
