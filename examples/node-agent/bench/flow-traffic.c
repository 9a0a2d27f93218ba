/*
 * Traffic for the flow records storm benchmark (bench/flows.ts), in C so that neither side of the
 * measurement spends its time in a language runtime (GC pauses, JIT, event loop):
 *
 *   flow-traffic storm HOST PORT PPS SECS
 *     Sends exactly PPS * SECS 32-byte UDP datagrams to HOST:PORT, paced on 1 ms ticks of the
 *     monotonic clock (absolute deadlines, so a late tick catches up: no drift), batched with
 *     sendmmsg(2). Prints {"sent":N,"failed":N,"ms":N}: `sent` is what the kernel took.
 *   flow-traffic server PORT
 *     Answers every TCP connection on PORT with "hi\n" and closes it. Prints "ready".
 *   flow-traffic client HOST PORT MS WINDOW_MS
 *     Opens TCP connections one after another for MS milliseconds (connect, wait for the first
 *     byte, close with a reset so no TIME_WAIT conntrack entry stays for 120 s), after 50 warm-up
 *     connections. Prints {"windows":[completed connections per WINDOW_MS window],
 *     "errors":N,"p50Us":N,"p99Us":N,"maxUs":N}.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define BATCH 64

static double now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static struct sockaddr_in addr_of(const char *host, const char *port) {
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_port = htons((unsigned short)atoi(port));
  if (inet_pton(AF_INET, host, &a.sin_addr) != 1) {
    fprintf(stderr, "flow-traffic: bad IPv4 address %s\n", host);
    exit(2);
  }
  return a;
}

static int storm(const char *host, const char *port, long pps, long secs) {
  struct sockaddr_in a = addr_of(host, port);
  /* unconnected: an ICMP error for one datagram is not reported on the next send */
  int s = socket(AF_INET, SOCK_DGRAM, 0);
  if (s < 0) {
    perror("flow-traffic storm: socket");
    return 1;
  }
  char payload[32];
  memset(payload, 'x', sizeof payload);
  struct iovec iov = {payload, sizeof payload};
  struct mmsghdr msgs[BATCH];
  memset(msgs, 0, sizeof msgs);
  for (int i = 0; i < BATCH; i++) {
    msgs[i].msg_hdr.msg_iov = &iov;
    msgs[i].msg_hdr.msg_iovlen = 1;
    msgs[i].msg_hdr.msg_name = &a;
    msgs[i].msg_hdr.msg_namelen = sizeof a;
  }
  const long total = pps * secs;
  long done = 0, sent = 0, failed = 0;
  struct timespec start, next;
  clock_gettime(CLOCK_MONOTONIC, &start);
  next = start;
  const double t0 = now_us();
  while (done < total) {
    long due = (long)((now_us() - t0) / 1e6 * pps);
    if (due > total) due = total;
    while (done < due) {
      long n = due - done;
      if (n > BATCH) n = BATCH;
      int r = sendmmsg(s, msgs, (unsigned)n, 0);
      if (r < 0) {
        /* one datagram the kernel refused (e.g. ENOBUFS): counted, not retried */
        failed++;
        done++;
      } else {
        sent += r;
        done += r;
      }
    }
    next.tv_nsec += 1000000;
    if (next.tv_nsec >= 1000000000) {
      next.tv_nsec -= 1000000000;
      next.tv_sec++;
    }
    clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL);
  }
  printf("{\"sent\":%ld,\"failed\":%ld,\"ms\":%.0f}\n", sent, failed, (now_us() - t0) / 1e3);
  return 0;
}

static int server(const char *port) {
  struct sockaddr_in a = addr_of("0.0.0.0", port);
  int one = 1;
  int l = socket(AF_INET, SOCK_STREAM, 0);
  setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof a) < 0 || listen(l, 4096) < 0) {
    perror("flow-traffic server");
    return 1;
  }
  printf("ready\n");
  fflush(stdout);
  for (;;) {
    int c = accept4(l, NULL, NULL, SOCK_CLOEXEC);
    if (c < 0) continue;
    (void)!write(c, "hi\n", 3);
    close(c);
  }
}

/* One connection: latency in microseconds, or -1 on failure. */
static double one_conn(const struct sockaddr_in *a) {
  const double t = now_us();
  int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (s < 0) return -1;
  struct timeval tv = {2, 0};
  setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  char buf[16];
  int ok = connect(s, (const struct sockaddr *)a, sizeof *a) == 0 && recv(s, buf, sizeof buf, 0) > 0;
  struct linger lg = {1, 0};
  setsockopt(s, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
  close(s);
  return ok ? now_us() - t : -1;
}

static int cmp_double(const void *x, const void *y) {
  double a = *(const double *)x, b = *(const double *)y;
  return a < b ? -1 : a > b;
}

static int client(const char *host, const char *port, long ms, long window_ms) {
  struct sockaddr_in a = addr_of(host, port);
  long nwin = ms / window_ms;
  if (nwin < 1) nwin = 1;
  long *counts = calloc((size_t)nwin, sizeof *counts);
  size_t cap = 1 << 16, n = 0;
  double *lat = malloc(cap * sizeof *lat);
  if (!counts || !lat) return 1;
  for (int i = 0; i < 50; i++) one_conn(&a);
  long errors = 0;
  const double t0 = now_us(), end = t0 + ms * 1e3;
  for (double t = t0; t < end; t = now_us()) {
    double l = one_conn(&a);
    if (l < 0) {
      errors++;
      continue;
    }
    long w = (long)((now_us() - t0) / (window_ms * 1e3));
    if (w < nwin) counts[w]++;
    if (n == cap) {
      cap *= 2;
      lat = realloc(lat, cap * sizeof *lat);
      if (!lat) return 1;
    }
    lat[n++] = l;
  }
  qsort(lat, n, sizeof *lat, cmp_double);
  printf("{\"windows\":[");
  for (long i = 0; i < nwin; i++) printf(i ? ",%ld" : "%ld", counts[i]);
  printf("],\"errors\":%ld,\"p50Us\":%.0f,\"p99Us\":%.0f,\"maxUs\":%.0f}\n", errors,
         n ? lat[n / 2] : 0, n ? lat[(size_t)(n * 0.99)] : 0, n ? lat[n - 1] : 0);
  return 0;
}

int main(int argc, char **argv) {
  if (argc == 6 && strcmp(argv[1], "storm") == 0)
    return storm(argv[2], argv[3], atol(argv[4]), atol(argv[5]));
  if (argc == 3 && strcmp(argv[1], "server") == 0) return server(argv[2]);
  if (argc == 6 && strcmp(argv[1], "client") == 0)
    return client(argv[2], argv[3], atol(argv[4]), atol(argv[5]));
  fprintf(stderr,
          "usage: flow-traffic storm HOST PORT PPS SECS | server PORT | client HOST PORT MS "
          "WINDOW_MS\n");
  return 2;
}
