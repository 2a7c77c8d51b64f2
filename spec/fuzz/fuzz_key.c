/*
 * Fuzz target: session keys (rm_native_valid_key, and rm_backend_join's refusal).
 *
 * A key is valid exactly when it is 32 characters from 0-9a-f. The checker
 * never reads past the string's terminator (the copy handed to it is
 * allocated to its exact size). rm_backend_join refuses every other key with 1219
 * before it looks at any file: the store is placed where it cannot exist,
 * so any file access would give 29 instead, which is what a valid (but
 * unknown) key gets.
 */
#include "fuzz.h"

#include "native.h"

static int reference_valid(const char *k) {
  size_t i, n = strlen(k);
  if (n != RM_KEY_LEN) return 0;
  for (i = 0; i < n; i++)
    if (!strchr("0123456789abcdef", k[i]) || k[i] == '\0') return 0;
  return 1;
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  /* a store that cannot be created: any file access fails with 29 */
  setenv("XDG_RUNTIME_DIR", "/nonexistent-restartmanager-fuzz/run", 1);
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  size_t n = 0;
  char *key;
  rm_session *s = NULL;
  unsigned rc;
  int valid;
  while (n < size && data[n] != 0) n++;
  key = (char *)malloc(n + 1);
  memcpy(key, data, n);
  key[n] = '\0';
  valid = rm_native_valid_key(key);
  CHECK(valid == reference_valid(key), "key \"%s\" judged %s", key,
        valid ? "valid" : "invalid");
  rc = rm_backend_join(&s, key);
  CHECK(s == NULL, "joined with key \"%s\"", key);
  if (valid)
    CHECK(rc == RM_E_WRITE_FAULT, "valid key \"%s\": %u, not 29", key, rc);
  else
    CHECK(rc == RM_E_SESSION_CREDENTIAL_CONFLICT,
          "invalid key \"%s\": %u, not 1219 (a file was looked at?)", key,
          rc);
  free(key);
  return 0;
}
