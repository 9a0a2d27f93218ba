/*
 * @podnet/ipam optional native helper (Node-API, no dependencies):
 * - openLock(path), tryLockExclusive(fd): a lock file opened for flock(2), and a non-blocking
 *   exclusive flock, so the common uncontended lock needs no child process;
 * - readRecords(dir): every entry of a store directory with the text of each small address file,
 *   in one call instead of three file system calls per file from JavaScript;
 * - createRecord(dir, name, text): an address file written aside and hard-linked into place;
 * - overwrite(path, text): a small file rewritten in place;
 * - readFile(path), write(fd, text): whole-file read and whole-string write, for the exec'd
 *   plugin's own start (its code cache) and answer, without Node's file system layer.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <node_api.h>
#include <poll.h>
#include <string.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
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
    fd = openat(dir_fd, name, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) return -1;
  do {
    n = read(fd, buf, RECORD_MAX);
  } while (n < 0 && errno == EINTR);
  close(fd);
  return n >= 0 && n < RECORD_MAX ? n : -1;
}

/*
 * A string argument into buf (NUL-terminated): 1 when it fits, 0 when it is too long (the caller
 * answers ENAMETOOLONG and the JavaScript path does the work), -1 when it is not a string.
 */
static int string_arg(napi_env env, napi_value value, char *buf, size_t size, size_t *len) {
  if (napi_get_value_string_utf8(env, value, buf, size, len) != napi_ok) return -1;
  return *len < size - 1;
}

static napi_value errno_value(napi_env env, int err) {
  napi_value out;
  napi_create_int32(env, err, &out);
  return out;
}

static int write_all(int fd, const char *text, size_t len) {
  size_t done = 0;
  while (done < len) {
    ssize_t n = pwrite(fd, text + done, len - done, (off_t)done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return n < 0 ? errno : EIO;
    done += (size_t)n;
  }
  return 0;
}

/*
 * createRecord(dir, name, text) -> 0, or an errno (EEXIST when name is taken): text is written
 * to a new ".podnet-tmp-*" file that is hard-linked to dir/name and then removed, so name never
 * holds a partial record.
 */
static napi_value create_record(napi_env env, napi_callback_info info) {
  static unsigned counter;
  size_t argc = 3, len, name_len, text_len;
  napi_value argv[3];
  char dir[4096], name[256], text[RECORD_MAX], tmp[128];
  struct timespec now;
  int dir_fd, fd = -1, err = 0;
  int fits[3];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 3 ||
      (fits[0] = string_arg(env, argv[0], dir, sizeof dir, &len)) < 0 ||
      (fits[1] = string_arg(env, argv[1], name, sizeof name, &name_len)) < 0 ||
      (fits[2] = string_arg(env, argv[2], text, sizeof text, &text_len)) < 0) {
    napi_throw_type_error(env, NULL, "createRecord(dir, name, text): strings expected");
    return NULL;
  }
  if (!fits[0] || !fits[1] || !fits[2]) return errno_value(env, ENAMETOOLONG);
  dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd < 0) return errno_value(env, errno);
  clock_gettime(CLOCK_REALTIME, &now);
  for (int attempt = 0; attempt < 8 && fd < 0; attempt++) {
    snprintf(tmp, sizeof tmp, ".podnet-tmp-%d-%lld%09ld-n%u", (int)getpid(), (long long)now.tv_sec,
             now.tv_nsec, counter++);
    fd = openat(dir_fd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0 && errno != EEXIST && errno != EINTR) break;
  }
  if (fd < 0) {
    err = errno;
    close(dir_fd);
    return errno_value(env, err);
  }
  err = write_all(fd, text, text_len);
  if (close(fd) != 0 && err == 0 && errno != EINTR) err = errno;
  if (err == 0 && linkat(dir_fd, tmp, dir_fd, name, 0) != 0) err = errno;
  unlinkat(dir_fd, tmp, 0);
  close(dir_fd);
  return errno_value(env, err);
}

/* overwrite(path, text) -> 0 or an errno: the file (created if missing) holds exactly text */
static napi_value overwrite(napi_env env, napi_callback_info info) {
  size_t argc = 2, len, text_len;
  napi_value argv[2];
  char path[4096], text[RECORD_MAX];
  int fd, err;
  int fits[2];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 2 ||
      (fits[0] = string_arg(env, argv[0], path, sizeof path, &len)) < 0 ||
      (fits[1] = string_arg(env, argv[1], text, sizeof text, &text_len)) < 0) {
    napi_throw_type_error(env, NULL, "overwrite(path, text): strings expected");
    return NULL;
  }
  if (!fits[0] || !fits[1]) return errno_value(env, ENAMETOOLONG);
  do {
    fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) return errno_value(env, errno);
  err = write_all(fd, text, text_len);
  if (err == 0 && ftruncate(fd, (off_t)text_len) != 0) err = errno;
  close(fd);
  return errno_value(env, err);
}

/* a strict dotted quad (four decimal octets, no leading zeros), as ipv4Value in @podnet/cni-spec */
static int canonical_ipv4(const char *name) {
  int octet = 0, digits = 0, dots = 0;
  for (const char *p = name; *p; p++) {
    if (*p == '.') {
      if (digits == 0 || dots == 3) return 0;
      octet = 0;
      digits = 0;
      dots++;
    } else if (*p >= '0' && *p <= '9') {
      if (digits > 0 && octet == 0) return 0;
      octet = octet * 10 + (*p - '0');
      if (octet > 255) return 0;
      digits++;
    } else {
      return 0;
    }
  }
  return dots == 3 && digits > 0;
}

static int ascii_space(char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

/* [from, to) without the ASCII white space at either end (String.prototype.trim on ASCII) */
static void trim(const char *buf, size_t *from, size_t *to) {
  while (*from < *to && ascii_space(buf[*from])) (*from)++;
  while (*to > *from && ascii_space(buf[*to - 1])) (*to)--;
}

/*
 * A host-local record "<container id>\r\n<ifname>" (or an ID alone), trimmed as the JavaScript
 * reader trims it; 0 when the text is not plain ASCII (the caller parses it).
 */
static int parse_record(const char *buf, size_t n, size_t id[2], size_t ifname[2]) {
  size_t from = 0, to = n;
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)buf[i] >= 0x80) return 0;
  trim(buf, &from, &to);
  for (size_t i = from; i + 1 < to; i++) {
    if (buf[i] == '\r' && buf[i + 1] == '\n') {
      id[0] = from, id[1] = i, ifname[0] = i + 2, ifname[1] = to;
      trim(buf, &id[0], &id[1]);
      trim(buf, &ifname[0], &ifname[1]);
      return 1;
    }
  }
  id[0] = from, id[1] = to, ifname[0] = ifname[1] = to;
  return 1;
}

/*
 * readRecords(dir) -> [name, a, b, ...], three elements for every entry but "." and "..":
 * - a record of a canonical dotted-quad name: name, container ID, ifname (parsed and trimmed);
 * - another address-like name holding a readable file under 4 KiB: name, its text, null;
 * - anything else: name, null, null (the caller reads it itself if it wants it).
 * An errno number when the directory cannot be opened or read.
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
  int fits;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1 ||
      (fits = string_arg(env, argv[0], path, sizeof path, &len)) < 0) {
    napi_throw_type_error(env, NULL, "readRecords(dir): dir must be a path string");
    return NULL;
  }
  if (!fits) return errno_value(env, ENAMETOOLONG);
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
    size_t id[2], ifname[2];
    napi_value a = null_value, b = null_value;
    if (name[0] == '.' && (name[1] == 0 || (name[1] == '.' && name[2] == 0))) continue;
    napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &value);
    /* regular files (and links to them) only: a FIFO or a device is left to the caller */
    if (address_like(name) &&
        (entry->d_type == DT_REG || entry->d_type == DT_LNK || entry->d_type == DT_UNKNOWN))
      n = read_record(dirfd(dir), name, buf);
    if (n >= 0 && canonical_ipv4(name) && parse_record(buf, (size_t)n, id, ifname)) {
      napi_create_string_utf8(env, buf + id[0], id[1] - id[0], &a);
      napi_create_string_utf8(env, buf + ifname[0], ifname[1] - ifname[0], &b);
    } else if (n >= 0) {
      napi_create_string_utf8(env, buf, (size_t)n, &a);
    }
    napi_set_element(env, out, at++, value);
    napi_set_element(env, out, at++, a);
    napi_set_element(env, out, at++, b);
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

/* readFile(path) -> Uint8Array of the whole file (at most 64 MiB), or an errno */
static napi_value read_file(napi_env env, napi_callback_info info) {
  size_t argc = 1, len, done = 0;
  napi_value argv[1], buffer, out;
  char path[4096];
  struct stat st;
  void *data;
  int fd, fits, err = 0;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1 ||
      (fits = string_arg(env, argv[0], path, sizeof path, &len)) < 0) {
    napi_throw_type_error(env, NULL, "readFile(path): path must be a string");
    return NULL;
  }
  if (!fits) return errno_value(env, ENAMETOOLONG);
  do {
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) return errno_value(env, errno);
  if (fstat(fd, &st) != 0) err = errno;
  else if (!S_ISREG(st.st_mode) || st.st_size > (64 << 20)) err = EINVAL;
  if (err == 0 && napi_create_arraybuffer(env, (size_t)st.st_size, &data, &buffer) != napi_ok)
    err = ENOMEM;
  while (err == 0 && done < (size_t)st.st_size) {
    ssize_t n = read(fd, (char *)data + done, (size_t)st.st_size - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) err = n < 0 ? errno : EIO;
    else done += (size_t)n;
  }
  close(fd);
  if (err != 0) return errno_value(env, err);
  napi_create_typedarray(env, napi_uint8_array, done, buffer, 0, &out);
  return out;
}

/* write(fd, text) -> 0 or an errno: all of text (UTF-8) written to fd */
static napi_value write_text(napi_env env, napi_callback_info info) {
  size_t argc = 2, len = 0, done = 0;
  napi_value argv[2];
  int32_t fd = -1;
  char stack[RECORD_MAX], *text = stack;
  int err = 0;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 2 ||
      napi_get_value_int32(env, argv[0], &fd) != napi_ok ||
      napi_get_value_string_utf8(env, argv[1], NULL, 0, &len) != napi_ok) {
    napi_throw_type_error(env, NULL, "write(fd, text): an integer and a string expected");
    return NULL;
  }
  if (len >= sizeof stack && !(text = malloc(len + 1))) return errno_value(env, ENOMEM);
  napi_get_value_string_utf8(env, argv[1], text, len + 1, &len);
  while (done < len) {
    ssize_t n = write(fd, text + done, len - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) {
      /* a non-blocking pipe that is full: wait until it drains */
      struct pollfd pfd = {.fd = fd, .events = POLLOUT};
      if (poll(&pfd, 1, -1) >= 0 || errno == EINTR) continue;
    }
    if (n <= 0) {
      err = n < 0 ? errno : EIO;
      break;
    }
    done += (size_t)n;
  }
  if (text != stack) free(text);
  return errno_value(env, err);
}

/* openLock(path) -> a descriptor of path (created 0600 if missing), or -errno */
static napi_value open_lock(napi_env env, napi_callback_info info) {
  size_t argc = 1, len;
  napi_value argv[1];
  char path[4096];
  int fd, fits;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1 ||
      (fits = string_arg(env, argv[0], path, sizeof path, &len)) < 0) {
    napi_throw_type_error(env, NULL, "openLock(path): path must be a string");
    return NULL;
  }
  if (!fits) return errno_value(env, -ENAMETOOLONG);
  do {
    fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  } while (fd < 0 && errno == EINTR);
  return errno_value(env, fd < 0 ? -errno : fd);
}

NAPI_MODULE_INIT() {
  static const napi_property_descriptor methods[] = {
      {"tryLockExclusive", NULL, try_lock_exclusive, NULL, NULL, NULL, napi_enumerable, NULL},
      {"openLock", NULL, open_lock, NULL, NULL, NULL, napi_enumerable, NULL},
      {"readRecords", NULL, read_records, NULL, NULL, NULL, napi_enumerable, NULL},
      {"createRecord", NULL, create_record, NULL, NULL, NULL, napi_enumerable, NULL},
      {"overwrite", NULL, overwrite, NULL, NULL, NULL, napi_enumerable, NULL},
      {"readFile", NULL, read_file, NULL, NULL, NULL, napi_enumerable, NULL},
      {"write", NULL, write_text, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  napi_define_properties(env, exports, sizeof methods / sizeof methods[0], methods);
  return exports;
}
