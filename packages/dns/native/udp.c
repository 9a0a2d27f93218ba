/*
 * @podnet/dns optional native UDP fast path (Node-API, no dependencies).
 *
 * One non-blocking UDP socket watched by a libuv poll handle on Node's own event loop. When it
 * is readable, recvmmsg(2) drains up to `batch` datagrams into one shared input buffer (never
 * waiting for more: MSG_DONTWAIT), JavaScript is called once for the whole batch, writes each
 * answer into one shared output buffer and its offset/length into a shared table, and the
 * answers go out with one sendmmsg(2). All DNS logic stays in JavaScript.
 *
 * Safe to load in several threads (worker_threads) at once: the module is context-aware
 * (NAPI_MODULE_INIT), keeps no global state, and each socket belongs to the environment (thread)
 * that opened it, on that thread's event loop, closed by its cleanup hook when the thread ends.
 *
 * Shared layout (per datagram i of a batch):
 *   input  [i * IN_SLOT, +IN_SLOT)   the datagram (longer ones are dropped: length -1)
 *   peers  [i * PEER_BYTES, +28)     the sender's sockaddr_in / sockaddr_in6
 *   meta   Int32 [i * 4 + 0]         received length, or -1 (truncated: drop)
 *          Int32 [i * 4 + 1]         answer offset in output (set by JavaScript)
 *          Int32 [i * 4 + 2]         answer length, or -1 for no answer (set by JavaScript)
 *   stats  Float64 [0..5]            datagrams, batches, largest batch, sent, send errors,
 *                                    truncated drops
 *
 * It also carries releasePages(), madvise(MADV_DONTNEED) for src/working-set.ts, which has no
 * other way to reach madvise(2) from JavaScript.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <node_api.h>
#include <poll.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#define MAX_BATCH 1024
#define IN_SLOT 4096
#define PEER_BYTES 28
#define ROUNDS_PER_WAKEUP 16
#define STAT_DATAGRAMS 0
#define STAT_BATCHES 1
#define STAT_MAX_BATCH 2
#define STAT_SENT 3
#define STAT_SEND_ERRORS 4
#define STAT_TRUNCATED 5
#define STAT_COUNT 6

typedef struct {
  napi_env env;
  int fd;
  int batch;
  int closing;
  int owners;   /* the libuv handle and the JavaScript external: freed when both let go */
  int released; /* references deleted (on close or at environment teardown) */
  uv_poll_t poll;
  napi_ref callback;
  napi_ref buffers[5];
  napi_async_context async;
  uint8_t *in;
  uint8_t *out;
  size_t out_size;
  int32_t *meta;
  uint8_t *peers;
  double *stats;
  struct mmsghdr *rmsgs;
  struct iovec *riov;
  struct mmsghdr *smsgs;
  struct iovec *siov;
} udp_t;

static void throw_errno(napi_env env, const char *what, int err) {
  char msg[256];
  snprintf(msg, sizeof msg, "%s: %s", what, strerror(err));
  napi_value code, text, error;
  napi_create_string_utf8(env, err == EADDRINUSE ? "EADDRINUSE" : "ENATIVE", NAPI_AUTO_LENGTH,
                          &code);
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &text);
  napi_create_error(env, code, text, &error);
  napi_value errnum;
  napi_create_int32(env, err, &errnum);
  napi_set_named_property(env, error, "errno", errnum);
  napi_throw(env, error);
}

static void release_refs(udp_t *u) {
  if (u->released) return;
  u->released = 1;
  for (int i = 0; i < 5; i++)
    if (u->buffers[i]) napi_delete_reference(u->env, u->buffers[i]);
  if (u->callback) napi_delete_reference(u->env, u->callback);
  if (u->async) napi_async_destroy(u->env, u->async);
}

static void free_memory(udp_t *u) {
  free(u->rmsgs);
  free(u->riov);
  free(u->smsgs);
  free(u->siov);
  free(u);
}

static void drop_owner(udp_t *u) {
  if (--u->owners == 0) free_memory(u);
}

static void on_closed(uv_handle_t *h) {
  udp_t *u = (udp_t *)h->data;
  release_refs(u);
  drop_owner(u);
}

static void on_env_teardown(void *arg);

static void stop_udp(udp_t *u) {
  if (u->closing) return;
  u->closing = 1;
  napi_remove_env_cleanup_hook(u->env, on_env_teardown, u);
  uv_poll_stop(&u->poll);
  close(u->fd);
  u->fd = -1;
  uv_close((uv_handle_t *)&u->poll, on_closed);
}

/* a worker thread's environment going away while the socket is open */
static void on_env_teardown(void *arg) {
  udp_t *u = (udp_t *)arg;
  release_refs(u);
  if (u->closing) return;
  u->closing = 1;
  uv_poll_stop(&u->poll);
  close(u->fd);
  u->fd = -1;
  uv_close((uv_handle_t *)&u->poll, on_closed);
}

static void on_external_gone(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  drop_owner((udp_t *)data);
}

static void send_batch(udp_t *u, int n) {
  int m = 0;
  for (int i = 0; i < n; i++) {
    int32_t off = u->meta[i * 4 + 1];
    int32_t len = u->meta[i * 4 + 2];
    if (len < 0 || off < 0 || (size_t)off + (size_t)len > u->out_size) continue;
    u->siov[m].iov_base = u->out + off;
    u->siov[m].iov_len = (size_t)len;
    memset(&u->smsgs[m].msg_hdr, 0, sizeof(struct msghdr));
    u->smsgs[m].msg_hdr.msg_name = u->peers + (size_t)i * PEER_BYTES;
    u->smsgs[m].msg_hdr.msg_namelen = u->rmsgs[i].msg_hdr.msg_namelen;
    u->smsgs[m].msg_hdr.msg_iov = &u->siov[m];
    u->smsgs[m].msg_hdr.msg_iovlen = 1;
    m++;
  }
  int done = 0;
  int waited = 0;
  while (done < m) {
    int r = sendmmsg(u->fd, u->smsgs + done, (unsigned)(m - done), MSG_DONTWAIT);
    if (r > 0) {
      done += r;
      u->stats[STAT_SENT] += r;
      continue;
    }
    if (r < 0 && errno == EINTR) continue;
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS) && !waited) {
      /* the send buffer is full: give the kernel a moment once, then drop what is left */
      struct pollfd p = {.fd = u->fd, .events = POLLOUT};
      poll(&p, 1, 10);
      waited = 1;
      continue;
    }
    /* this datagram cannot be sent (full buffer, unreachable peer): skip it */
    u->stats[STAT_SEND_ERRORS] += 1;
    done++;
  }
}

static int call_js(udp_t *u, int n) {
  napi_env env = u->env;
  napi_handle_scope scope;
  napi_value fn, recv, argv[1], result;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return -1;
  napi_get_reference_value(env, u->callback, &fn);
  napi_get_global(env, &recv);
  napi_create_int32(env, n, &argv[0]);
  napi_status s = napi_make_callback(env, u->async, recv, fn, 1, argv, &result);
  if (s != napi_ok) {
    bool pending = false;
    napi_is_exception_pending(env, &pending);
    if (pending) {
      napi_value ignored;
      napi_get_and_clear_last_exception(env, &ignored);
    }
  }
  napi_close_handle_scope(env, scope);
  return s == napi_ok ? 0 : -1;
}

static void on_readable(uv_poll_t *h, int status, int events) {
  udp_t *u = (udp_t *)h->data;
  (void)events;
  if (status < 0 || u->closing) return;
  for (int round = 0; round < ROUNDS_PER_WAKEUP && !u->closing; round++) {
    for (int i = 0; i < u->batch; i++) {
      u->rmsgs[i].msg_hdr.msg_namelen = PEER_BYTES;
      u->rmsgs[i].msg_hdr.msg_flags = 0;
      u->rmsgs[i].msg_len = 0;
    }
    int n = recvmmsg(u->fd, u->rmsgs, (unsigned)u->batch, MSG_DONTWAIT, NULL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (n == 0) return;
    for (int i = 0; i < n; i++) {
      int truncated = (u->rmsgs[i].msg_hdr.msg_flags & MSG_TRUNC) != 0;
      if (truncated) u->stats[STAT_TRUNCATED] += 1;
      u->meta[i * 4 + 0] = truncated ? -1 : (int32_t)u->rmsgs[i].msg_len;
      u->meta[i * 4 + 1] = 0;
      u->meta[i * 4 + 2] = -1;
    }
    u->stats[STAT_DATAGRAMS] += n;
    u->stats[STAT_BATCHES] += 1;
    if (n > u->stats[STAT_MAX_BATCH]) u->stats[STAT_MAX_BATCH] = n;
    if (call_js(u, n) != 0) {
      for (int i = 0; i < n; i++) u->meta[i * 4 + 2] = -1;
    }
    if (u->closing) return;
    send_batch(u, n);
    if (n < u->batch) return;
  }
}

static udp_t *get_udp(napi_env env, napi_value v) {
  void *p = NULL;
  if (napi_get_value_external(env, v, &p) != napi_ok || p == NULL) {
    napi_throw_type_error(env, NULL, "expected a native UDP handle");
    return NULL;
  }
  return (udp_t *)p;
}

static napi_value make_buffer(napi_env env, udp_t *u, int slot, size_t size, void **data) {
  napi_value ab;
  if (napi_create_arraybuffer(env, size, data, &ab) != napi_ok) return NULL;
  memset(*data, 0, size);
  napi_create_reference(env, ab, 1, &u->buffers[slot]);
  return ab;
}

/*
 * open(ipv6, address, port, batch, outBytes, recvBufBytes, sendBufBytes, onBatch[, reusePort])
 * reusePort sets SO_REUSEPORT before bind: several sockets (one per worker thread) then share
 * address:port and the kernel spreads datagrams over them by a hash of the sender's address.
 */
static napi_value js_open(napi_env env, napi_callback_info info) {
  size_t argc = 9;
  napi_value argv[9];
  bool ipv6 = false;
  bool reuse_port = false;
  char address[64];
  size_t alen = 0;
  int32_t port, batch, out_bytes, rcvbuf, sndbuf;
  napi_valuetype fntype;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 8 ||
      napi_get_value_bool(env, argv[0], &ipv6) != napi_ok ||
      napi_get_value_string_utf8(env, argv[1], address, sizeof address, &alen) != napi_ok ||
      napi_get_value_int32(env, argv[2], &port) != napi_ok ||
      napi_get_value_int32(env, argv[3], &batch) != napi_ok ||
      napi_get_value_int32(env, argv[4], &out_bytes) != napi_ok ||
      napi_get_value_int32(env, argv[5], &rcvbuf) != napi_ok ||
      napi_get_value_int32(env, argv[6], &sndbuf) != napi_ok ||
      napi_typeof(env, argv[7], &fntype) != napi_ok || fntype != napi_function) {
    napi_throw_type_error(
        env, NULL, "open(ipv6, address, port, batch, outBytes, rcvbuf, sndbuf, onBatch, reusePort)");
    return NULL;
  }
  if (argc >= 9 && napi_get_value_bool(env, argv[8], &reuse_port) != napi_ok) {
    napi_throw_type_error(env, NULL, "reusePort must be a boolean");
    return NULL;
  }
  if (port < 0 || port > 65535 || batch < 1 || batch > MAX_BATCH || out_bytes < 512) {
    napi_throw_range_error(env, NULL, "port, batch or outBytes out of range");
    return NULL;
  }
  struct sockaddr_storage sa;
  socklen_t salen;
  memset(&sa, 0, sizeof sa);
  if (ipv6) {
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&sa;
    s6->sin6_family = AF_INET6;
    s6->sin6_port = htons((uint16_t)port);
    if (inet_pton(AF_INET6, address, &s6->sin6_addr) != 1) {
      napi_throw_type_error(env, NULL, "address is not an IPv6 address");
      return NULL;
    }
    salen = sizeof *s6;
  } else {
    struct sockaddr_in *s4 = (struct sockaddr_in *)&sa;
    s4->sin_family = AF_INET;
    s4->sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, address, &s4->sin_addr) != 1) {
      napi_throw_type_error(env, NULL, "address is not an IPv4 address");
      return NULL;
    }
    salen = sizeof *s4;
  }
  int fd = socket(ipv6 ? AF_INET6 : AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    throw_errno(env, "socket", errno);
    return NULL;
  }
  if (reuse_port) {
    int one = 1;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) {
      int err = errno;
      close(fd);
      throw_errno(env, "setsockopt(SO_REUSEPORT)", err);
      return NULL;
    }
  }
  if (rcvbuf > 0) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  if (sndbuf > 0) setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
  if (bind(fd, (struct sockaddr *)&sa, salen) != 0) {
    int err = errno;
    close(fd);
    throw_errno(env, "bind", err);
    return NULL;
  }
  struct sockaddr_storage bound;
  socklen_t blen = sizeof bound;
  getsockname(fd, (struct sockaddr *)&bound, &blen);
  int bound_port = ntohs(ipv6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
                              : ((struct sockaddr_in *)&bound)->sin_port);

  uv_loop_t *loop = NULL;
  udp_t *u = calloc(1, sizeof *u);
  if (!u || napi_get_uv_event_loop(env, &loop) != napi_ok) {
    close(fd);
    free(u);
    napi_throw_error(env, NULL, "cannot get the event loop");
    return NULL;
  }
  u->env = env;
  u->fd = fd;
  u->batch = batch;
  u->rmsgs = calloc((size_t)batch, sizeof(struct mmsghdr));
  u->riov = calloc((size_t)batch, sizeof(struct iovec));
  u->smsgs = calloc((size_t)batch, sizeof(struct mmsghdr));
  u->siov = calloc((size_t)batch, sizeof(struct iovec));
  napi_value result, input, output, meta, peers, stats, ext, name, portv;
  if (!u->rmsgs || !u->riov || !u->smsgs || !u->siov ||
      !(input = make_buffer(env, u, 0, (size_t)batch * IN_SLOT, (void **)&u->in)) ||
      !(output = make_buffer(env, u, 1, (size_t)out_bytes, (void **)&u->out)) ||
      !(meta = make_buffer(env, u, 2, (size_t)batch * 4 * sizeof(int32_t), (void **)&u->meta)) ||
      !(peers = make_buffer(env, u, 3, (size_t)batch * PEER_BYTES, (void **)&u->peers)) ||
      !(stats = make_buffer(env, u, 4, STAT_COUNT * sizeof(double), (void **)&u->stats))) {
    close(fd);
    release_refs(u);
    free_memory(u);
    napi_throw_error(env, NULL, "out of memory");
    return NULL;
  }
  u->out_size = (size_t)out_bytes;
  for (int i = 0; i < batch; i++) {
    u->riov[i].iov_base = u->in + (size_t)i * IN_SLOT;
    u->riov[i].iov_len = IN_SLOT;
    u->rmsgs[i].msg_hdr.msg_name = u->peers + (size_t)i * PEER_BYTES;
    u->rmsgs[i].msg_hdr.msg_iov = &u->riov[i];
    u->rmsgs[i].msg_hdr.msg_iovlen = 1;
  }
  napi_create_reference(env, argv[7], 1, &u->callback);
  napi_create_string_utf8(env, "podnet-dns-udp", NAPI_AUTO_LENGTH, &name);
  napi_async_init(env, NULL, name, &u->async);
  if (uv_poll_init(loop, &u->poll, fd) != 0) {
    close(fd);
    release_refs(u);
    free_memory(u);
    napi_throw_error(env, NULL, "uv_poll_init failed");
    return NULL;
  }
  u->poll.data = u;
  u->owners = 2;
  uv_poll_start(&u->poll, UV_READABLE, on_readable);
  napi_add_env_cleanup_hook(env, on_env_teardown, u);

  napi_create_external(env, u, on_external_gone, NULL, &ext);
  napi_create_int32(env, bound_port, &portv);
  napi_create_object(env, &result);
  napi_set_named_property(env, result, "handle", ext);
  napi_set_named_property(env, result, "port", portv);
  napi_set_named_property(env, result, "input", input);
  napi_set_named_property(env, result, "output", output);
  napi_set_named_property(env, result, "meta", meta);
  napi_set_named_property(env, result, "peers", peers);
  napi_set_named_property(env, result, "stats", stats);
  return result;
}

/* send(handle, bytes, peer): one datagram now (answers that were not ready in their batch) */
static napi_value js_send(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3], out;
  void *data = NULL, *peer = NULL;
  size_t len = 0, plen = 0;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 3) {
    napi_throw_type_error(env, NULL, "send(handle, bytes, peer)");
    return NULL;
  }
  udp_t *u = get_udp(env, argv[0]);
  if (!u) return NULL;
  if (napi_get_typedarray_info(env, argv[1], NULL, &len, &data, NULL, NULL) != napi_ok ||
      napi_get_typedarray_info(env, argv[2], NULL, &plen, &peer, NULL, NULL) != napi_ok ||
      plen < PEER_BYTES) {
    napi_throw_type_error(env, NULL, "send(handle, bytes: Uint8Array, peer: Uint8Array(28))");
    return NULL;
  }
  int rc = 0;
  if (u->closing) {
    rc = EBADF;
  } else {
    sa_family_t family = ((struct sockaddr *)peer)->sa_family;
    socklen_t salen =
        family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
    ssize_t r;
    do {
      r = sendto(u->fd, data, len, MSG_DONTWAIT, (struct sockaddr *)peer, salen);
    } while (r < 0 && errno == EINTR);
    if (r < 0) {
      rc = errno;
      u->stats[STAT_SEND_ERRORS] += 1;
    } else {
      u->stats[STAT_SENT] += 1;
    }
  }
  napi_create_int32(env, rc, &out);
  return out;
}

/* close(handle): stops polling and closes the socket now; memory is freed after libuv lets go */
static napi_value js_close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 1) {
    napi_throw_type_error(env, NULL, "close(handle)");
    return NULL;
  }
  udp_t *u = get_udp(env, argv[0]);
  if (u) stop_udp(u);
  return NULL;
}

/* releasePages(start, length): madvise(MADV_DONTNEED) over whole pages of a mapping the caller
 * found clean (private, read-only, file-backed, no copied-on-write page: see working-set.ts), so
 * the process stops counting them; a later access faults them in again from the page cache.
 * Returns 0 or the errno. */
static napi_value js_release_pages(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], out;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int64_t start = 0, length = 0;
  if (argc < 2 || napi_get_value_int64(env, argv[0], &start) != napi_ok ||
      napi_get_value_int64(env, argv[1], &length) != napi_ok) {
    napi_throw_type_error(env, NULL, "releasePages(start, length)");
    return NULL;
  }
  long page = sysconf(_SC_PAGESIZE);
  int rc = 0;
  if (start <= 0 || length <= 0 || start % page != 0 || length % page != 0)
    rc = EINVAL;
  else if (madvise((void *)(uintptr_t)start, (size_t)length, MADV_DONTNEED) != 0)
    rc = errno;
  napi_create_int32(env, rc, &out);
  return out;
}

NAPI_MODULE_INIT() {
  napi_property_descriptor props[] = {
      {"open", NULL, js_open, NULL, NULL, NULL, napi_default, NULL},
      {"send", NULL, js_send, NULL, NULL, NULL, napi_default, NULL},
      {"close", NULL, js_close, NULL, NULL, NULL, napi_default, NULL},
      {"releasePages", NULL, js_release_pages, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, 4, props);
  return exports;
}
