/*
 * @podnet/ipam optional native helper (Node-API, no dependencies):
 * - tryLockExclusive(fd): a non-blocking exclusive flock(2), so the common uncontended lock needs
 *   no child process;
 * - readRecords(dir): every entry of a store directory with the text of each small address file,
 *   in one call instead of three file system calls per file from JavaScript.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <node_api.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#define RECORD_MAX 4096

static napi_value try_lock_exclusive(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int32_t fd = -1;
  napi_value out;
  int rc;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1 ||
      napi_get_value_int32(env, argv[0], &fd) != napi_ok) {
    napi_throw_type_error(env, NULL, "tryLockExclusive(fd): fd must be an integer");
    return NULL;
  }
  do {
    rc = flock(fd, LOCK_EX | LOCK_NB);
  } while (rc != 0 && errno == EINTR);
  napi_create_int32(env, rc == 0 ? 0 : errno, &out);
  return out;
}

/* only names made of address characters can be address files; others are not opened */
static int address_like(const char *name) {
  for (const char *p = name; *p; p++) {
    char c = *p;
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == '.' ||
          c == ':'))
      return 0;
  }
  return 1;
}

/* the whole file when it is shorter than RECORD_MAX bytes, else -1 */
static ssize_t read_record(int dir_fd, const char *name, char *buf) {
  int fd;
  ssize_t n;
  do {
    fd = openat(dir_fd, name, O_RDONLY | O_CLOEXEC | O_NOCTTY);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) return -1;
  do {
    n = read(fd, buf, RECORD_MAX);
  } while (n < 0 && errno == EINTR);
  close(fd);
  return n >= 0 && n < RECORD_MAX ? n : -1;
}

/*
 * readRecords(dir) -> [name, text | null, ...] for every entry but "." and "..": the text of an
 * address-like name holding a readable file under 4 KiB, else null (the caller reads it itself).
 * An errno number when the directory cannot be opened.
 */
static napi_value read_records(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  char path[4096];
  size_t len = 0;
  char buf[RECORD_MAX];
  napi_value out, value, null_value;
  uint32_t at = 0;
  DIR *dir;
  struct dirent *entry;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1 ||
      napi_get_value_string_utf8(env, argv[0], path, sizeof path, &len) != napi_ok ||
      len >= sizeof path - 1) {
    napi_throw_type_error(env, NULL, "readRecords(dir): dir must be a path string");
    return NULL;
  }
  dir = opendir(path);
  if (!dir) {
    napi_create_int32(env, errno, &out);
    return out;
  }
  napi_get_null(env, &null_value);
  napi_create_array(env, &out);
  while ((errno = 0, entry = readdir(dir)) != NULL) {
    const char *name = entry->d_name;
    ssize_t n = -1;
    if (name[0] == '.' && (name[1] == 0 || (name[1] == '.' && name[2] == 0))) continue;
    napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &value);
    napi_set_element(env, out, at++, value);
    if (address_like(name)) n = read_record(dirfd(dir), name, buf);
    if (n >= 0) napi_create_string_utf8(env, buf, (size_t)n, &value);
    napi_set_element(env, out, at++, n >= 0 ? value : null_value);
  }
  if (errno != 0) {
    int err = errno;
    closedir(dir);
    napi_create_int32(env, err, &out);
    return out;
  }
  closedir(dir);
  return out;
}

NAPI_MODULE_INIT() {
  napi_value fn;
  napi_create_function(env, "tryLockExclusive", NAPI_AUTO_LENGTH, try_lock_exclusive, NULL, &fn);
  napi_set_named_property(env, exports, "tryLockExclusive", fn);
  napi_create_function(env, "readRecords", NAPI_AUTO_LENGTH, read_records, NULL, &fn);
  napi_set_named_property(env, exports, "readRecords", fn);
  return exports;
}
