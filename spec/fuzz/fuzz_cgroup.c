/*
 * Fuzz target: rm_sd_parse_cgroup (the unit of a process from the text of
 * /proc/PID/cgroup) and the service names (rm_sd_parse_name,
 * rm_sd_format_name).
 *
 * First byte even: the rest is a raw cgroup file (at most 8 KiB, as read).
 *   Whatever the parse gives is a unit the rules allow: a name that is
 *   NUL-terminated, ends in .service or .scope, and is one component; app-*
 *   units belong to a user's manager, session-*.scope to the system's.
 *   The same bytes as a service name: when they parse, the canonical form
 *   parses again to the same unit.
 * First byte odd: a cgroup file is built from slices, an optional
 *   user@UID.service and a unit, among noise lines; the parse must give
 *   back that unit and that manager.
 */
#include "fuzz.h"

#include "systemd.h"

static int ends_with(const char *s, const char *suffix) {
  size_t n = strlen(s), k = strlen(suffix);
  return n >= k && strcmp(s + n - k, suffix) == 0;
}

static void check_unit(const rm_sd_unit *u) {
  CHECK(memchr(u->name, '\0', sizeof u->name) != NULL, "name unterminated");
  if (u->kind == RM_SD_NONE) return;
  CHECK(u->kind >= RM_SD_SERVICE && u->kind <= RM_SD_OTHER, "kind %d", u->kind);
  CHECK(u->name[0] && !strchr(u->name, '/'), "name \"%s\"", u->name);
  CHECK(ends_with(u->name, ".service") || ends_with(u->name, ".scope"),
        "\"%s\" is no service or scope", u->name);
  if (u->kind == RM_SD_APP)
    CHECK(u->uid >= 0 && strncmp(u->name, "app-", 4) == 0,
          "app \"%s\" of manager %ld", u->name, u->uid);
  if (u->kind == RM_SD_SESSION)
    CHECK(u->uid == RM_SD_SYSTEM && strncmp(u->name, "session-", 8) == 0,
          "session \"%s\" of manager %ld", u->name, u->uid);
}

static void check_name(const char *text) {
  rm_sd_unit u, again;
  char canon[RM_SD_UNIT_SIZE + 32];
  if (strncmp(text, "user:", 5) == 0 &&
      strspn(text + 5, "0123456789") != strcspn(text + 5, ":"))
    return; /* a user name: the answer depends on the machine's users */
  if (rm_sd_parse_name(text, &u) != 0) return;
  CHECK(u.kind == RM_SD_SERVICE && ends_with(u.name, ".service"),
        "\"%s\" gave \"%s\"", text, u.name);
  if (rm_sd_format_name(&u, canon, sizeof canon) != 0) return;
  CHECK(rm_sd_parse_name(canon, &again) == 0, "\"%s\" does not parse", canon);
  CHECK(again.uid == u.uid && strcmp(again.name, u.name) == 0,
        "\"%s\" parses to another unit", canon);
  CHECK(rm_sd_names_unit(text, &u), "\"%s\" does not name its unit", text);
}

static void raw(Reader *r) {
  size_t n;
  uint8_t *bytes = rd_exact(r, 8192, &n);
  char *text = (char *)malloc(n + 1);
  rm_sd_unit u;
  memcpy(text, bytes, n);
  text[n] = '\0';
  memset(&u, 0xA5, sizeof u);
  rm_sd_parse_cgroup(text, n, &u);
  check_unit(&u);
  check_name(text);
  free(text);
  free(bytes);
}

/* A component of [a-z0-9-] (no '.', '/', ':' or newline). */
static void word(Reader *r, char *buf, size_t max) {
  static const char chars[] = "abcdefghijklmnopqrstuvwxyz0123456789-";
  size_t n = 1 + rd_below(r, (unsigned)max - 1), i;
  for (i = 0; i < n; i++) buf[i] = chars[rd_below(r, sizeof chars - 1)];
  buf[n] = '\0';
}

static void structured(Reader *r) {
  char text[4096], path[2048], unit[80], w[40];
  size_t len = 0, plen = 0, i, nslices = rd_below(r, 4);
  long uid = rd_byte(r) & 1 ? (long)rd_u64(r, 2) : RM_SD_SYSTEM;
  int scope = rd_byte(r) & 1, hybrid = rd_byte(r) & 1;
  rm_sd_unit u;
  for (i = 0; i < nslices; i++) {
    word(r, w, 20);
    plen += (size_t)snprintf(path + plen, sizeof path - plen, "/%s.slice", w);
  }
  if (uid != RM_SD_SYSTEM)
    plen += (size_t)snprintf(path + plen, sizeof path - plen,
                             "/user@%ld.service/app.slice", uid);
  word(r, w, 30);
  /* a name that begins as systemd's escaped ones would is left out */
  snprintf(unit, sizeof unit, "u%s%s", w, scope ? ".scope" : ".service");
  plen += (size_t)snprintf(path + plen, sizeof path - plen, "/%s", unit);
  if (rd_byte(r) & 1) {
    word(r, w, 20);
    plen += (size_t)snprintf(path + plen, sizeof path - plen, "/%s", w);
  }
  (void)plen;
  len += (size_t)snprintf(text + len, sizeof text - len, "12:pids:/\n");
  if (hybrid)
    len += (size_t)snprintf(text + len, sizeof text - len,
                            "1:name=systemd:%s\n0::/\n", path);
  else
    len += (size_t)snprintf(text + len, sizeof text - len, "0::%s\n", path);
  rm_sd_parse_cgroup(text, len, &u);
  check_unit(&u);
  CHECK(strcmp(u.name, unit) == 0, "\"%s\" instead of \"%s\" in\n%s", u.name,
        unit, text);
  CHECK(u.uid == uid, "manager %ld instead of %ld in\n%s", u.uid, uid, text);
  CHECK(u.kind == (scope ? RM_SD_OTHER : RM_SD_SERVICE), "kind %d for %s",
        u.kind, unit);
}

FUZZ_MAIN(structured, raw)
