/*
 * Fuzz target: the session store's registration records
 * (rm_native_records_each, rm_native_parse_payload).
 *
 * First byte even: the rest is a raw records file. Every entry delivered
 *   is well formed and lies inside the buffer: files have a known kind and
 *   an absolute path, services a name; the same bytes always give the same
 *   entries.
 * First byte odd: the real writer (rm_native_records_append, in a session of a
 *   private store) appends one to four records of arbitrary files, processes and
 *   services; then the file is damaged the way a killed writer or a full
 *   disk leaves it, or not at all:
 *     0  no damage
 *     1  cut inside or after some record, then one more record appended
 *        (a writer killed mid-record, then a later writer)
 *     2  one byte of some record changed (never into a NUL: a NUL planted
 *        before a path that embeds a record's text makes that text a
 *        record, and no store format guards against crafted corruption;
 *        what it guards against is a writer that stops part-way)
 *     3  bytes without a NUL inserted between two records
 *   Reading back must give exactly the entries of the undamaged records, in
 *   order: a record the writer produced is read back exactly, and a torn or
 *   changed record never yields an entry.
 *   Paths may embed the text of a whole record (header, hash and all), so
 *   that a reader which resynchronises inside a torn record would find it.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz.h"

#include "records.h"
#include "store.h"

#define MAX_RECORDS 5
#define MAX_ENTRIES 64

typedef struct entry {
  int type; /* 'F', 'P', 'S' */
  int kind;
  uint64_t dev, ino, pid, start;
  char *text;
} entry;

typedef struct entries {
  entry e[MAX_RECORDS * MAX_ENTRIES];
  size_t n;
  int bad; /* a callback saw something malformed */
} entries;

/* the session of a private store: its directory and lock */
static int storefd = -1, sessionfd = -1, lockfd = -1;
static char session_key[RM_KEY_LEN + 1];
static char *cwd;

static void collect(void *ctx, int type, const rm_native_entry *ne) {
  entries *es = (entries *)ctx;
  entry *e;
  if (es->n == sizeof es->e / sizeof es->e[0]) {
    es->bad = 1;
    return;
  }
  e = &es->e[es->n++];
  memset(e, 0, sizeof *e);
  e->type = type;
  if (type == 'F') {
    e->kind = ne->kind;
    e->dev = ne->dev;
    e->ino = ne->ino;
    e->text = strdup(ne->text);
  } else if (type == 'P') {
    e->pid = ne->proc.pid;
    e->start = ne->proc.start_time;
  } else if (type == 'S') {
    e->text = strdup(ne->text);
  } else {
    es->bad = 1;
  }
}

static void free_entries(entries *es) {
  size_t i;
  for (i = 0; i < es->n; i++) free(es->e[i].text);
  es->n = 0;
  es->bad = 0;
}

/* ---- raw ---------------------------------------------------------- */

typedef struct bounds {
  const char *buf;
  size_t len;
} bounds;

static int in_buf(const bounds *b, const char *s) {
  return s >= b->buf && s < b->buf + b->len &&
         memchr(s, '\0', b->len - (size_t)(s - b->buf)) != NULL;
}

static void check_entry(void *ctx, int type, const rm_native_entry *e) {
  const bounds *b = (const bounds *)ctx;
  if (type == 'F') {
    CHECK(e->kind == 'f' || e->kind == 'd' || e->kind == 'n' || e->kind == 'u',
          "kind %d",
          e->kind);
    CHECK(in_buf(b, e->text) && e->text[0] == '/', "file path");
  } else if (type == 'S') {
    CHECK(in_buf(b, e->text) && e->text[0] != '\0', "service name");
  } else {
    CHECK(type == 'P', "entry type %d", type);
  }
}

static void raw(Reader *r) {
  size_t n, k1, k2, i;
  uint8_t *bytes = rd_exact(r, 1 << 16, &n);
  bounds b = {(const char *)bytes, n};
  static entries a, c;
  k1 = rm_native_records_each((const char *)bytes, n, check_entry, &b);
  CHECK(k1 <= n, "skipped %zu records of %zu bytes", k1, n);
  rm_native_records_each((const char *)bytes, n, collect, &a);
  k2 = rm_native_records_each((const char *)bytes, n, collect, &c);
  CHECK(k1 == k2 && a.n == c.n, "two reads of the same bytes differ");
  for (i = 0; i < a.n; i++)
    CHECK(a.e[i].type == c.e[i].type && a.e[i].pid == c.e[i].pid &&
              a.e[i].start == c.e[i].start,
          "two reads of the same bytes differ at entry %zu", i);
  free_entries(&a);
  free_entries(&c);
  (void)rm_native_parse_payload((const char *)bytes, n, check_entry, &b);
  free(bytes);
}

/* ---- writer round trip -------------------------------------------- */

static uint64_t fnv1a(const char *p, size_t n) {
  uint64_t h = 0xcbf29ce484222325ull;
  size_t i;
  for (i = 0; i < n; i++) {
    h ^= (unsigned char)p[i];
    h *= 0x100000001b3ull;
  }
  return h;
}

/* A path that carries the text of a whole record, "RMR1 <length> <hash>\n"
 * and a service entry, whose NUL is the one the writer ends the path with.
 */
static char *embedding_path(Reader *r) {
  char name[40], *p;
  size_t n, i;
  unsigned len = 1 + rd_below(r, 12);
  for (i = 0; i < len; i++) name[i] = (char)('a' + rd_below(r, 25));
  name[len] = '\0';
  {
    char payload[48];
    int plen = snprintf(payload, sizeof payload, "S%s", name) + 1;
    n = strlen(name) + 80;
    p = (char *)malloc(n);
    snprintf(p, n, "/tmp/x%sRMR1 %d %016llx\nS%s",
             (rd_byte(r) & 1) ? "\n" : "", plen,
             (unsigned long long)fnv1a(payload, (size_t)plen), name);
  }
  return p;
}

static char *file_path(Reader *r) {
  static const char *const known[] = {"/", "/etc/hostname", "/proc/self",
                                      "/dev/null", "relative/path", "."};
  unsigned how = rd_byte(r) % 8;
  char *s;
  if (how < 6) return strdup(known[how]);
  if (how == 6) return embedding_path(r);
  s = rd_string(r, 200, NULL);
  if (s[0] == '\0') {
    free(s);
    s = strdup("/empty");
  }
  return s;
}

typedef struct batch {
  char *files[8];
  rm_unique_process procs[4];
  char *svcs[4];
  size_t nf, np, ns;
} batch;

static void make_batch(Reader *r, batch *b) {
  size_t i;
  b->nf = rd_below(r, 8);
  b->np = rd_below(r, 4);
  b->ns = rd_below(r, 4);
  if (b->nf + b->np + b->ns == 0) b->nf = 1;
  for (i = 0; i < b->nf; i++) b->files[i] = file_path(r);
  for (i = 0; i < b->np; i++) {
    b->procs[i].pid = (uint32_t)rd_u64(r, 4);
    b->procs[i].start_time = rd_u64(r, rd_below(r, 8));
  }
  for (i = 0; i < b->ns; i++) {
    b->svcs[i] = rd_string(r, 100, NULL);
    if (b->svcs[i][0] == '\0') {
      free(b->svcs[i]);
      b->svcs[i] = strdup("svc");
    }
  }
}

static void free_batch(batch *b) {
  size_t i;
  for (i = 0; i < b->nf; i++) free(b->files[i]);
  for (i = 0; i < b->ns; i++) free(b->svcs[i]);
}

/* What the reader must give for b: the writer's order (files, processes,
 * services), paths made absolute, files identified as they are now. */
static void expect_batch(const batch *b, entries *es) {
  size_t i;
  for (i = 0; i < b->nf; i++) {
    entry *e = &es->e[es->n++];
    struct stat st;
    const char *f = b->files[i];
    memset(e, 0, sizeof *e);
    e->type = 'F';
    if (f[0] == '/') {
      e->text = strdup(f);
    } else {
      e->text = (char *)malloc(strlen(cwd) + strlen(f) + 2);
      sprintf(e->text, "%s/%s", cwd, f);
    }
    if (stat(f, &st) == 0) {
      e->kind = S_ISDIR(st.st_mode) ? 'd' : 'f';
      e->dev = (uint64_t)st.st_dev;
      e->ino = (uint64_t)st.st_ino;
    } else {
      e->kind = 'n';
    }
  }
  for (i = 0; i < b->np; i++) {
    entry *e = &es->e[es->n++];
    memset(e, 0, sizeof *e);
    e->type = 'P';
    e->pid = b->procs[i].pid;
    e->start = b->procs[i].start_time;
  }
  for (i = 0; i < b->ns; i++) {
    entry *e = &es->e[es->n++];
    memset(e, 0, sizeof *e);
    e->type = 'S';
    e->text = strdup(b->svcs[i]);
  }
}

static off_t file_size(void) {
  struct stat st;
  int fd = openat(sessionfd, "records", O_RDONLY);
  off_t n = -1;
  if (fd >= 0 && fstat(fd, &st) == 0) n = st.st_size;
  if (fd >= 0) close(fd);
  return n;
}

static void write_batch(const batch *b) {
  unsigned rc = rm_native_records_append(
      sessionfd, b->nf, (const char *const *)b->files, b->np, b->procs, b->ns,
      (const char *const *)b->svcs);
  CHECK(rc == RM_OK, "the writer failed: %u", rc);
}

/* Replaces the records file's bytes [at, at + cut) with ins[0..nins). */
static void insert_at(off_t at, off_t cut, const char *ins, size_t nins) {
  off_t size = file_size();
  char *buf = (char *)malloc((size_t)size + nins + 1);
  int fd = openat(sessionfd, "records", O_RDWR);
  ssize_t got;
  CHECK(fd >= 0 && buf, "records file");
  got = pread(fd, buf, (size_t)size, 0);
  CHECK(got == size, "read %zd of %lld", got, (long long)size);
  memmove(buf + at + nins, buf + at + cut, (size_t)(size - at - cut));
  memcpy(buf + at, ins, nins);
  CHECK(ftruncate(fd, 0) == 0, "truncate");
  CHECK(pwrite(fd, buf, (size_t)(size - cut) + nins, 0) ==
            (ssize_t)((size_t)(size - cut) + nins),
        "write");
  close(fd);
  free(buf);
}

static void round_trip(Reader *r) {
  batch batches[MAX_RECORDS];
  off_t ends[MAX_RECORDS + 1];
  size_t nrec = 1 + rd_below(r, 3), i, skip_from = (size_t)-1, skip_to = 0;
  unsigned damage = rd_byte(r) % 4;
  static entries want, got;
  char *buf;
  size_t len;
  unsigned rc;
  (void)unlinkat(sessionfd, "records", 0);
  ends[0] = 0;
  for (i = 0; i < nrec; i++) {
    make_batch(r, &batches[i]);
    write_batch(&batches[i]);
    ends[i + 1] = file_size();
    CHECK(ends[i + 1] > ends[i], "record %zu added nothing", i);
  }
  if (damage == 1) {
    /* cut at some byte of record k (or exactly at its end) */
    size_t k = rd_below(r, (unsigned)nrec - 1);
    off_t span = ends[k + 1] - ends[k];
    off_t at = ends[k] + (off_t)(rd_u64(r, 3) % (uint64_t)(span + 1));
    int fd = openat(sessionfd, "records", O_RDWR);
    CHECK(fd >= 0 && ftruncate(fd, at) == 0, "truncate");
    close(fd);
    skip_from = at == ends[k + 1] ? k + 1 : k;
    skip_to = nrec; /* everything after the cut is gone */
    make_batch(r, &batches[nrec]);
    write_batch(&batches[nrec]);
    nrec++;
  } else if (damage == 2) {
    size_t k = rd_below(r, (unsigned)nrec - 1);
    off_t span = ends[k + 1] - ends[k];
    off_t at = ends[k] + (off_t)(rd_u64(r, 3) % (uint64_t)span);
    unsigned char c, nc;
    int fd = openat(sessionfd, "records", O_RDWR);
    CHECK(fd >= 0 && pread(fd, &c, 1, at) == 1, "read");
    nc = (unsigned char)(c ^ (1 + rd_below(r, 254)));
    if (nc == 0) nc = c == 1 ? 2 : 1; /* see the note on damage 2 above */
    CHECK(pwrite(fd, &nc, 1, at) == 1, "write");
    close(fd);
    skip_from = k;
    skip_to = k + 1;
  } else if (damage == 3) {
    size_t k = rd_below(r, (unsigned)nrec), n;
    char *junk = rd_string(r, 200, &n);
    if (n == 0) {
      free(junk);
      junk = strdup("RMR1 5 0000000000000000\nSjunk");
      n = strlen(junk);
    }
    insert_at(ends[k], 0, junk, n);
    free(junk);
  }
  for (i = 0; i < nrec; i++)
    if (i < skip_from || i >= skip_to) expect_batch(&batches[i], &want);
  rc = rm_native_records_load(sessionfd, &buf, &len);
  CHECK(rc == RM_OK, "load: %u", rc);
  rm_native_records_each(buf, len, collect, &got);
  free(buf);
  CHECK(!got.bad, "malformed entry delivered");
  CHECK(got.n == want.n, "read back %zu entries, wrote %zu whole ones "
        "(damage %u)", got.n, want.n, damage);
  for (i = 0; i < want.n; i++) {
    const entry *w = &want.e[i], *g = &got.e[i];
    CHECK(w->type == g->type, "entry %zu: type %c read as %c", i, w->type,
          g->type);
    if (w->type == 'F')
      CHECK(w->kind == g->kind && w->dev == g->dev && w->ino == g->ino &&
                strcmp(w->text, g->text) == 0,
            "entry %zu: file %c %s read as %c %s", i, w->kind, w->text,
            g->kind, g->text);
    else if (w->type == 'P')
      CHECK(w->pid == g->pid && w->start == g->start,
            "entry %zu: process %llu/%llu read as %llu/%llu", i,
            (unsigned long long)w->pid, (unsigned long long)w->start,
            (unsigned long long)g->pid, (unsigned long long)g->start);
    else
      CHECK(strcmp(w->text, g->text) == 0, "entry %zu: service %s read as %s",
            i, w->text, g->text);
  }
  free_entries(&want);
  free_entries(&got);
  for (i = 0; i < nrec; i++) free_batch(&batches[i]);
}

static char store_dir[] = "/tmp/rm-fuzz-records-XXXXXX";

static void cleanup(void) {
  char path[sizeof store_dir + 32];
  if (sessionfd >= 0) {
    rm_native_store_remove(storefd, session_key);
    close(sessionfd);
    close(lockfd);
    close(storefd);
  }
  sessionfd = -1;
  snprintf(path, sizeof path, "%s/restartmanager", store_dir);
  (void)rmdir(path);
  (void)rmdir(store_dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  char *dir = store_dir;
  unsigned rc = RM_OK;
  (void)argc;
  (void)argv;
  if (!mkdtemp(dir)) abort();
  setenv("XDG_RUNTIME_DIR", dir, 1);
  storefd = rm_native_store_open(&rc);
  if (storefd >= 0)
    rc = rm_native_store_create(storefd, session_key, &sessionfd, &lockfd, NULL,
                                NULL);
  if (rc != RM_OK) {
    fprintf(stderr, "cannot start a session: %u\n", rc);
    abort();
  }
  cwd = getcwd(NULL, 0);
  atexit(cleanup);
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  Reader r = {data, size};
  if (rd_byte(&r) & 1)
    round_trip(&r);
  else
    raw(&r);
  return 0;
}
