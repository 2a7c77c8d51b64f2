/*
 * Fuzz target: rm_native_parse_stat, the parser of /proc/PID/stat lines.
 *
 * First byte even: the rest is a raw line (as read, at most 1023 bytes).
 *   Whenever the parse succeeds, comm is what lies between the first '('
 *   and the last ')', cut to 63 bytes.
 * First byte odd: a line is built the way the kernel writes it, with a
 *   command name of arbitrary bytes (spaces, parentheses, newlines) and
 *   arbitrary numbers; the parse must give back every field it reads.
 */
#include "fuzz.h"

#include "procfs.h"

#define LINE_MAX_READ 1024 /* longer than any stat line the kernel writes */

static void expect_comm(const char *line, const rm_native_stat *st) {
  const char *open = strchr(line, '('), *close = strrchr(line, ')');
  size_t n;
  CHECK(open && close && close > open, "parsed a line without (comm): %s",
        line);
  n = (size_t)(close - open - 1);
  if (n > sizeof st->comm - 1) n = sizeof st->comm - 1;
  CHECK(strlen(st->comm) == n && memcmp(st->comm, open + 1, n) == 0,
        "comm \"%s\" is not the %zu bytes after '('", st->comm, n);
}

static void raw(Reader *r) {
  size_t n;
  uint8_t *bytes = rd_exact(r, LINE_MAX_READ - 1, &n);
  char *line = (char *)malloc(n + 1);
  rm_native_stat st;
  memcpy(line, bytes, n);
  line[n] = '\0';
  memset(&st, 0xA5, sizeof st);
  if (rm_native_parse_stat(line, &st) == 0) {
    CHECK(memchr(st.comm, '\0', sizeof st.comm) != NULL, "comm unterminated");
    expect_comm(line, &st);
    CHECK(st.state != '\0' && st.state != ' ', "state is '%c'", st.state);
  }
  free(line);
  free(bytes);
}

static void structured(Reader *r) {
  static const char states[] = "RSDZTtWXxKPI";
  char line[4096], comm[80];
  size_t i, clen;
  long long f[53];
  rm_native_stat st;
  int n;
  char *c = rd_string(r, 70, &clen);
  char state = states[rd_byte(r) % (sizeof states - 1)];
  uint32_t pid = (uint32_t)rd_u64(r, 4);
  memcpy(comm, c, clen + 1);
  free(c);
  for (i = 4; i <= 52; i++) {
    uint64_t v = rd_u64(r, rd_below(r, 8));
    /* the kernel prints some fields signed (tty, tpgid, priority...) */
    f[i] = (rd_byte(r) & 1) ? -(long long)(v >> 1) : (long long)(v >> 1);
  }
  f[9] = (long long)(uint32_t)f[9];    /* flags: %u */
  f[22] = (long long)(f[22] & ~(1ll << 62)); /* starttime: %llu */
  n = snprintf(line, sizeof line, "%lu (%s) %c", (unsigned long)pid, comm,
               state);
  for (i = 4; i <= 52 && n > 0 && (size_t)n < sizeof line; i++) {
    if (i == 9)
      n += snprintf(line + n, sizeof line - (size_t)n, " %u",
                    (unsigned)f[i]);
    else
      n += snprintf(line + n, sizeof line - (size_t)n, " %lld", f[i]);
  }
  if (n > 0 && (size_t)n < sizeof line - 1) {
    line[n++] = '\n';
    line[n] = '\0';
  }
  /* lines are cut at 1023 bytes here: fields past 22 may be lost */
  if (strlen(line) >= LINE_MAX_READ) line[LINE_MAX_READ - 1] = '\0';
  memset(&st, 0, sizeof st);
  CHECK(rm_native_parse_stat(line, &st) == 0, "well-formed line refused: %s",
        line);
  expect_comm(line, &st);
  CHECK(st.state == state, "state '%c' read as '%c'", state, st.state);
  CHECK(st.session == f[6], "session %lld read as %lld", f[6], st.session);
  CHECK(st.tty == f[7], "tty %lld read as %lld", f[7], st.tty);
  CHECK(st.flags == (unsigned)f[9], "flags %u read as %u", (unsigned)f[9],
        st.flags);
  CHECK(st.threads == f[20], "threads %lld read as %lld", f[20], st.threads);
  CHECK(st.start_time == (uint64_t)f[22], "start time %llu read as %llu",
        (unsigned long long)f[22], (unsigned long long)st.start_time);
  if (strchr(line, '\n')) { /* whole: the environment's place too */
    CHECK(st.env_start == (uint64_t)f[50], "env_start %llu read as %llu",
          (unsigned long long)f[50], (unsigned long long)st.env_start);
    CHECK(st.env_end == (uint64_t)f[51], "env_end %llu read as %llu",
          (unsigned long long)f[51], (unsigned long long)st.env_end);
  }
}

/* the first byte chooses: a structured case or raw bytes */
FUZZ_MAIN(structured, raw)
