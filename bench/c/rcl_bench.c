/*
 * rcl_bench: one process of an rcl-level publish->take benchmark.
 *
 *   rcl_bench --role pub --msg image --width 1920 --height 1080 --channels 3
 *             --rate 30 --count 300 --warmup 30 --subs 1 --out pub.json
 *   rcl_bench --role sub --msg image ... --take copy|loan --id 0
 *             --out sub0.json --lat-out sub0.lat
 *
 * Message kinds: string (std_msgs/String, --bytes), image (sensor_msgs/Image,
 * --width --height --channels), pointcloud2 (sensor_msgs/PointCloud2, --points,
 * x y z intensity float32), laserscan (sensor_msgs/LaserScan, --rays).
 *
 * Every message carries its sequence number and its send time
 * (CLOCK_MONOTONIC, one host): header.frame_id = decimal sequence number and
 * header.stamp = send time for the header types, a 32-hex-digit prefix
 * "<seq><send ns>" of the data for std_msgs/String. The payload is filled
 * with a pattern derived from the sequence number; the subscriber checks the
 * size and every byte of it, so a transport that drops, truncates or mixes up
 * data is counted as bad, never as fast.
 *
 * Sequence numbers 0..warmup-1 are warm-up (not measured). After the measured
 * messages the publisher sends an end marker (sequence END_FLAG | sent) a few
 * times; a subscriber stops at the end marker, at an idle timeout, or at the
 * global deadline (--timeout), whichever comes first. Nothing waits forever.
 *
 * Output: one line of JSON (--out, default stdout). The subscriber can also
 * write its measured latencies (uint64 nanoseconds, native endian) to
 * --lat-out so the driver can pool percentiles across processes.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <rcl/error_handling.h>
#include <rcl/rcl.h>
#include <rmw/rmw.h>
#include <rosidl_runtime_c/primitives_sequence_functions.h>
#include <rosidl_runtime_c/string_functions.h>
#include <sensor_msgs/msg/image.h>
#include <sensor_msgs/msg/laser_scan.h>
#include <sensor_msgs/msg/point_cloud2.h>
#include <sensor_msgs/msg/point_field.h>
#include <std_msgs/msg/string.h>

#define END_FLAG (UINT64_C(1) << 63)
#define STRING_PREFIX 32 /* 16 hex digits seq + 16 hex digits send ns */

enum kind { K_STRING, K_IMAGE, K_PCL, K_SCAN };

struct opts {
  const char *role;
  enum kind kind;
  const char *kind_name;
  size_t bytes;    /* string length */
  uint32_t width;  /* image */
  uint32_t height; /* image */
  uint32_t channels;
  uint32_t points; /* pointcloud2 */
  uint32_t rays;   /* laserscan */
  double rate;     /* Hz, 0 = as fast as possible */
  uint64_t count;  /* measured messages */
  uint64_t warmup; /* warm-up messages */
  double duration; /* max seconds of measured publishing */
  int subs;        /* publisher waits for this many matched subscriptions */
  bool loan;       /* subscriber: loaned take */
  int id;
  const char *topic;
  double timeout; /* global deadline, seconds */
  double idle;    /* subscriber: idle seconds after the last message */
  double discovery; /* publisher: seconds to wait for the subscribers */
  bool best_effort;
  size_t depth;
  const char *out;
  const char *lat_out;
};

static volatile sig_atomic_t g_stop = 0;
static void on_signal(int sig) {
  (void)sig;
  g_stop = 1;
}

static uint64_t mono_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static double cpu_s(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 +
         (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6;
}

/* CPU time of this thread: brackets the harness's own work (pattern fill,
 * payload check) so the driver can report the rmw's cost without it. */
static double thread_cpu_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Peak resident set of this process, KiB (Linux: ru_maxrss is in KiB). */
static long max_rss_kb(void) {
  struct rusage ru;
  if (getrusage(RUSAGE_SELF, &ru) != 0) return -1;
  return ru.ru_maxrss;
}

static void sleep_until(uint64_t t_ns) {
  struct timespec ts = {(time_t)(t_ns / 1000000000ull), (long)(t_ns % 1000000000ull)};
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR && !g_stop) {
  }
}

static void sleep_ms(unsigned ms) { sleep_until(mono_ns() + (uint64_t)ms * 1000000ull); }

/* ---- payload pattern ---------------------------------------------------- */

static inline uint64_t pat_word(uint64_t seq, uint64_t i) {
  return (seq * UINT64_C(0x9E3779B97F4A7C15)) ^ (i * UINT64_C(0xD6E8FEB86659FD93)) ^ i;
}

static void fill_bytes(uint8_t *p, size_t n, uint64_t seq) {
  size_t words = n / 8, i;
  for (i = 0; i < words; i++) {
    uint64_t w = pat_word(seq, i);
    memcpy(p + 8 * i, &w, 8);
  }
  if (n % 8) {
    uint64_t w = pat_word(seq, words);
    memcpy(p + 8 * words, &w, n % 8);
  }
}

static bool check_bytes(const uint8_t *p, size_t n, uint64_t seq) {
  size_t words = n / 8, i;
  uint64_t diff = 0;
  for (i = 0; i < words; i++) {
    uint64_t w;
    memcpy(&w, p + 8 * i, 8);
    diff |= w ^ pat_word(seq, i);
  }
  if (n % 8) {
    uint8_t want[8];
    uint64_t w = pat_word(seq, words);
    memcpy(want, &w, 8);
    for (i = 0; i < n % 8; i++) diff |= (uint64_t)(p[8 * words + i] ^ want[i]);
  }
  return diff == 0;
}

/* Floats: finite, exactly reproducible values (compared bit for bit). */
static inline float pat_float(uint64_t seq, uint64_t i, uint32_t salt) {
  return (float)((seq * 7u + i * 13u + salt) % 100000u) * 0.001f;
}

static void fill_floats(float *p, size_t n, uint64_t seq, uint32_t salt) {
  for (size_t i = 0; i < n; i++) p[i] = pat_float(seq, i, salt);
}

static bool check_floats(const float *p, size_t n, uint64_t seq, uint32_t salt) {
  uint32_t diff = 0;
  for (size_t i = 0; i < n; i++) {
    float want = pat_float(seq, i, salt);
    uint32_t a, b;
    memcpy(&a, &p[i], 4);
    memcpy(&b, &want, 4);
    diff |= a ^ b;
  }
  return diff == 0;
}

static void fill_string_body(char *p, size_t n, uint64_t seq) {
  for (size_t i = STRING_PREFIX; i < n; i++) p[i] = (char)('a' + (seq + i) % 26);
}

static bool check_string_body(const char *p, size_t n, uint64_t seq) {
  for (size_t i = STRING_PREFIX; i < n; i++)
    if (p[i] != (char)('a' + (seq + i) % 26)) return false;
  return true;
}

/* ---- messages ----------------------------------------------------------- */

union msg {
  std_msgs__msg__String str;
  sensor_msgs__msg__Image img;
  sensor_msgs__msg__PointCloud2 pcl;
  sensor_msgs__msg__LaserScan scan;
};

static const rosidl_message_type_support_t *type_support(enum kind k) {
  switch (k) {
    case K_STRING: return ROSIDL_GET_MSG_TYPE_SUPPORT(std_msgs, msg, String);
    case K_IMAGE: return ROSIDL_GET_MSG_TYPE_SUPPORT(sensor_msgs, msg, Image);
    case K_PCL: return ROSIDL_GET_MSG_TYPE_SUPPORT(sensor_msgs, msg, PointCloud2);
    case K_SCAN: return ROSIDL_GET_MSG_TYPE_SUPPORT(sensor_msgs, msg, LaserScan);
  }
  return NULL;
}

static bool msg_init(enum kind k, union msg *m) {
  switch (k) {
    case K_STRING: return std_msgs__msg__String__init(&m->str);
    case K_IMAGE: return sensor_msgs__msg__Image__init(&m->img);
    case K_PCL: return sensor_msgs__msg__PointCloud2__init(&m->pcl);
    case K_SCAN: return sensor_msgs__msg__LaserScan__init(&m->scan);
  }
  return false;
}

static void msg_fini(enum kind k, union msg *m) {
  switch (k) {
    case K_STRING: std_msgs__msg__String__fini(&m->str); break;
    case K_IMAGE: sensor_msgs__msg__Image__fini(&m->img); break;
    case K_PCL: sensor_msgs__msg__PointCloud2__fini(&m->pcl); break;
    case K_SCAN: sensor_msgs__msg__LaserScan__fini(&m->scan); break;
  }
}

/* Payload bytes of one message as configured (the bulk arrays). */
static size_t payload_bytes(const struct opts *o) {
  switch (o->kind) {
    case K_STRING: return o->bytes;
    case K_IMAGE: return (size_t)o->width * o->height * o->channels;
    case K_PCL: return (size_t)o->points * 16u;
    case K_SCAN: return (size_t)o->rays * 8u;
  }
  return 0;
}

/* Prepare the publisher's message once: sizes, fields, metadata. */
static bool msg_prepare(const struct opts *o, union msg *m) {
  switch (o->kind) {
    case K_STRING: {
      if (o->bytes < STRING_PREFIX) return false;
      char *tmp = malloc(o->bytes + 1);
      if (!tmp) return false;
      memset(tmp, 'x', o->bytes);
      tmp[o->bytes] = 0;
      bool ok = rosidl_runtime_c__String__assign(&m->str.data, tmp);
      free(tmp);
      return ok;
    }
    case K_IMAGE: {
      sensor_msgs__msg__Image *im = &m->img;
      im->width = o->width;
      im->height = o->height;
      im->step = o->width * o->channels;
      im->is_bigendian = 0;
      if (!rosidl_runtime_c__String__assign(&im->encoding, o->channels == 3 ? "rgb8" : "mono8"))
        return false;
      return rosidl_runtime_c__uint8__Sequence__init(&im->data, payload_bytes(o));
    }
    case K_PCL: {
      sensor_msgs__msg__PointCloud2 *pc = &m->pcl;
      static const char *names[4] = {"x", "y", "z", "intensity"};
      pc->height = 1;
      pc->width = o->points;
      pc->point_step = 16;
      pc->row_step = 16u * o->points;
      pc->is_bigendian = false;
      pc->is_dense = true;
      if (!sensor_msgs__msg__PointField__Sequence__init(&pc->fields, 4)) return false;
      for (int i = 0; i < 4; i++) {
        sensor_msgs__msg__PointField *f = &pc->fields.data[i];
        if (!rosidl_runtime_c__String__assign(&f->name, names[i])) return false;
        f->offset = (uint32_t)(4 * i);
        f->datatype = sensor_msgs__msg__PointField__FLOAT32;
        f->count = 1;
      }
      return rosidl_runtime_c__uint8__Sequence__init(&pc->data, payload_bytes(o));
    }
    case K_SCAN: {
      sensor_msgs__msg__LaserScan *s = &m->scan;
      s->angle_min = -3.14159265f;
      s->angle_max = 3.14159265f;
      s->angle_increment = 6.2831853f / (float)o->rays;
      s->time_increment = 0.0f;
      s->scan_time = 0.1f;
      s->range_min = 0.05f;
      s->range_max = 100.0f;
      return rosidl_runtime_c__float__Sequence__init(&s->ranges, o->rays) &&
             rosidl_runtime_c__float__Sequence__init(&s->intensities, o->rays);
    }
  }
  return false;
}

static std_msgs__msg__Header *msg_header(enum kind k, union msg *m) {
  switch (k) {
    case K_STRING: return NULL;
    case K_IMAGE: return &m->img.header;
    case K_PCL: return &m->pcl.header;
    case K_SCAN: return &m->scan.header;
  }
  return NULL;
}

/* Fill the payload for `seq` (before the stamp is taken). */
static void msg_fill(const struct opts *o, union msg *m, uint64_t seq) {
  switch (o->kind) {
    case K_STRING: fill_string_body(m->str.data.data, m->str.data.size, seq); break;
    case K_IMAGE: fill_bytes(m->img.data.data, m->img.data.size, seq); break;
    case K_PCL: fill_bytes(m->pcl.data.data, m->pcl.data.size, seq); break;
    case K_SCAN:
      fill_floats(m->scan.ranges.data, m->scan.ranges.size, seq, 1);
      fill_floats(m->scan.intensities.data, m->scan.intensities.size, seq, 2);
      break;
  }
}

/* Write sequence number and send time into the message. */
static bool msg_stamp(const struct opts *o, union msg *m, uint64_t seq, uint64_t t_ns) {
  std_msgs__msg__Header *h = msg_header(o->kind, m);
  if (!h) {
    char pre[STRING_PREFIX + 1];
    snprintf(pre, sizeof pre, "%016" PRIx64 "%016" PRIx64, seq, t_ns);
    memcpy(m->str.data.data, pre, STRING_PREFIX);
    return true;
  }
  char id[24];
  snprintf(id, sizeof id, "%" PRIu64, seq);
  h->stamp.sec = (int32_t)(t_ns / 1000000000ull);
  h->stamp.nanosec = (uint32_t)(t_ns % 1000000000ull);
  return rosidl_runtime_c__String__assign(&h->frame_id, id);
}

static bool parse_hex16(const char *p, uint64_t *out) {
  uint64_t v = 0;
  for (int i = 0; i < 16; i++) {
    char c = p[i];
    int d;
    if (c >= '0' && c <= '9') d = c - '0';
    else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
    else return false;
    v = (v << 4) | (uint64_t)d;
  }
  *out = v;
  return true;
}

/* Read seq and send time; false if the metadata itself is malformed. */
static bool msg_meta(const struct opts *o, const union msg *m, uint64_t *seq, uint64_t *t_ns) {
  if (o->kind == K_STRING) {
    const rosidl_runtime_c__String *s = &m->str.data;
    if (!s->data || s->size < STRING_PREFIX) return false;
    return parse_hex16(s->data, seq) && parse_hex16(s->data + 16, t_ns);
  }
  const std_msgs__msg__Header *h = msg_header(o->kind, (union msg *)m);
  if (!h->frame_id.data || h->frame_id.size == 0 || h->frame_id.size > 20) return false;
  char *end = NULL;
  errno = 0;
  unsigned long long v = strtoull(h->frame_id.data, &end, 10);
  if (errno || !end || *end) return false;
  *seq = (uint64_t)v;
  *t_ns = (uint64_t)h->stamp.sec * 1000000000ull + h->stamp.nanosec;
  return true;
}

/* Check size, metadata and every payload byte. */
static bool msg_check(const struct opts *o, const union msg *m, uint64_t seq) {
  switch (o->kind) {
    case K_STRING:
      return m->str.data.size == o->bytes &&
             check_string_body(m->str.data.data, m->str.data.size, seq);
    case K_IMAGE: {
      const sensor_msgs__msg__Image *im = &m->img;
      return im->width == o->width && im->height == o->height &&
             im->step == o->width * o->channels && im->data.size == payload_bytes(o) &&
             check_bytes(im->data.data, im->data.size, seq);
    }
    case K_PCL: {
      const sensor_msgs__msg__PointCloud2 *pc = &m->pcl;
      return pc->width == o->points && pc->point_step == 16 && pc->fields.size == 4 &&
             pc->data.size == payload_bytes(o) && check_bytes(pc->data.data, pc->data.size, seq);
    }
    case K_SCAN: {
      const sensor_msgs__msg__LaserScan *s = &m->scan;
      return s->ranges.size == o->rays && s->intensities.size == o->rays &&
             check_floats(s->ranges.data, s->ranges.size, seq, 1) &&
             check_floats(s->intensities.data, s->intensities.size, seq, 2);
    }
  }
  return false;
}

/* ---- output ------------------------------------------------------------- */

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return (x > y) - (x < y);
}

static double pct_us(const uint64_t *sorted, size_t n, double q) {
  if (n == 0) return -1.0;
  size_t i = (size_t)(q * (double)(n - 1) + 0.5);
  if (i >= n) i = n - 1;
  return (double)sorted[i] / 1000.0;
}

static void json_escape(FILE *f, const char *s) {
  fputc('"', f);
  for (; s && *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\') fprintf(f, "\\%c", c);
    else if (c < 0x20) fprintf(f, "\\u%04x", c);
    else fputc(c, f);
  }
  fputc('"', f);
}

struct result {
  const char *status; /* ok | n/a | error */
  char error[256];
  const char *rmw;
  const char *take; /* copy | loan | n/a */
  uint64_t sent;     /* pub: measured messages published */
  uint64_t received; /* sub: measured messages received (unique) */
  uint64_t lost, bad, dup, warmup_seen;
  bool end_seen;
  uint64_t expected;
  double window_s;
  double cpu_s;
  double harness_s; /* part of cpu_s spent filling / checking payloads */
  long rss_kb;
  uint64_t *lat; /* ns, sorted before output */
  size_t nlat;
  uint64_t *take_ns; /* sub: duration of the take call of each measured message, ns */
  size_t ntake;
};

static FILE *open_out(const char *path) {
  if (!path || strcmp(path, "-") == 0) return stdout;
  FILE *f = fopen(path, "w");
  return f ? f : stdout;
}

static void write_result(const struct opts *o, struct result *r) {
  qsort(r->lat, r->nlat, sizeof r->lat[0], cmp_u64);
  if (r->take_ns) qsort(r->take_ns, r->ntake, sizeof r->take_ns[0], cmp_u64);
  FILE *f = open_out(o->out);
  double mean = 0.0;
  for (size_t i = 0; i < r->nlat; i++) mean += (double)r->lat[i];
  mean = r->nlat ? mean / (double)r->nlat / 1000.0 : -1.0;
  /* The publisher's window spans n send periods; a subscriber's runs from
   * its first to its last measured message, n - 1 periods. */
  bool is_pub = strcmp(o->role, "pub") == 0;
  uint64_t n = is_pub ? r->sent : (r->received > 0 ? r->received - 1 : 0);
  double rate = r->window_s > 0 ? (double)n / r->window_s : 0.0;
  fprintf(f, "{\"role\":\"%s\",\"id\":%d,\"status\":", o->role, o->id);
  json_escape(f, r->status);
  fprintf(f, ",\"error\":");
  json_escape(f, r->error);
  fprintf(f, ",\"rmw\":");
  json_escape(f, r->rmw);
  fprintf(f,
          ",\"msg\":\"%s\",\"payload_bytes\":%zu,\"rate_hz\":%.3f,\"take\":\"%s\","
          "\"warmup\":%" PRIu64 ",\"count\":%" PRIu64 ",\"sent\":%" PRIu64
          ",\"received\":%" PRIu64 ",\"expected\":%" PRIu64 ",\"lost\":%" PRIu64
          ",\"bad\":%" PRIu64 ",\"dup\":%" PRIu64 ",\"end_seen\":%s,\"window_s\":%.6f,"
          "\"msgs_per_s\":%.3f,\"mb_per_s\":%.3f,\"cpu_s\":%.6f,\"harness_s\":%.6f,\"cpu_pct\":%.2f,"
          "\"rss_kb\":%ld,\"lat_n\":%zu,\"lat_us\":{\"min\":%.3f,\"p50\":%.3f,\"p90\":%.3f,"
          "\"p99\":%.3f,\"max\":%.3f,\"mean\":%.3f},"
          "\"take_call_us\":{\"n\":%zu,\"p50\":%.3f,\"p99\":%.3f}}\n",
          o->kind_name, payload_bytes(o), o->rate, r->take, o->warmup, o->count, r->sent,
          r->received, r->expected, r->lost, r->bad, r->dup, r->end_seen ? "true" : "false",
          r->window_s, rate, rate * (double)payload_bytes(o) / 1e6, r->cpu_s, r->harness_s,
          r->window_s > 0 ? 100.0 * r->cpu_s / r->window_s : 0.0, r->rss_kb, r->nlat,
          r->nlat ? (double)r->lat[0] / 1000.0 : -1.0, pct_us(r->lat, r->nlat, 0.50),
          pct_us(r->lat, r->nlat, 0.90), pct_us(r->lat, r->nlat, 0.99),
          r->nlat ? (double)r->lat[r->nlat - 1] / 1000.0 : -1.0, mean, r->ntake,
          pct_us(r->take_ns, r->ntake, 0.50), pct_us(r->take_ns, r->ntake, 0.99));
  if (f != stdout) fclose(f);
  else fflush(f);
  if (o->lat_out && r->nlat) {
    FILE *lf = fopen(o->lat_out, "wb");
    if (lf) {
      fwrite(r->lat, sizeof r->lat[0], r->nlat, lf);
      fclose(lf);
    }
  }
}

/* Cleanup calls whose failure changes nothing for the result. */
static void ignore(rcl_ret_t ret) { (void)ret; }

static void set_error(struct result *r, const char *what) {
  r->status = "error";
  snprintf(r->error, sizeof r->error, "%.60s: %.180s", what, rcl_get_error_string().str);
  rcl_reset_error();
}

/* ---- roles -------------------------------------------------------------- */

struct ros {
  rcl_context_t context;
  rcl_node_t node;
  bool ctx_ok, node_ok;
};

static bool ros_up(struct ros *ros, const char *node_name, struct result *r) {
  rcl_allocator_t alloc = rcl_get_default_allocator();
  rcl_init_options_t io = rcl_get_zero_initialized_init_options();
  ros->context = rcl_get_zero_initialized_context();
  ros->node = rcl_get_zero_initialized_node();
  if (rcl_init_options_init(&io, alloc) != RCL_RET_OK) {
    set_error(r, "rcl_init_options_init");
    return false;
  }
  if (rcl_init(0, NULL, &io, &ros->context) != RCL_RET_OK) {
    set_error(r, "rcl_init");
    ignore(rcl_init_options_fini(&io));
    return false;
  }
  ignore(rcl_init_options_fini(&io));
  ros->ctx_ok = true;
  rcl_node_options_t no = rcl_node_get_default_options();
  if (rcl_node_init(&ros->node, node_name, "", &ros->context, &no) != RCL_RET_OK) {
    set_error(r, "rcl_node_init");
    return false;
  }
  ros->node_ok = true;
  const rmw_node_t *rn = rcl_node_get_rmw_handle(&ros->node);
  r->rmw = rn && rn->implementation_identifier ? rn->implementation_identifier : "?";
  return true;
}

static void ros_down(struct ros *ros) {
  if (ros->node_ok) ignore(rcl_node_fini(&ros->node));
  if (ros->ctx_ok) {
    ignore(rcl_shutdown(&ros->context));
    ignore(rcl_context_fini(&ros->context));
  }
  rcl_reset_error();
}

static rmw_qos_profile_t qos_of(const struct opts *o) {
  rmw_qos_profile_t q = rmw_qos_profile_default;
  q.depth = o->depth;
  if (o->best_effort) q.reliability = RMW_QOS_POLICY_RELIABILITY_BEST_EFFORT;
  return q;
}

static int run_pub(const struct opts *o, uint64_t deadline) {
  struct result r = {.status = "ok", .rmw = "?", .take = "n/a"};
  struct ros ros = {0};
  union msg m;
  memset(&m, 0, sizeof m);
  rcl_publisher_t pub = rcl_get_zero_initialized_publisher();
  bool pub_ok = false, msg_ok = false;
  r.lat = calloc(o->count + 1, sizeof(uint64_t)); /* rcl_publish call durations */

  if (!r.lat) {
    r.status = "error";
    snprintf(r.error, sizeof r.error, "out of memory");
    goto out;
  }
  if (!ros_up(&ros, "renoir_bench_pub", &r)) goto out;
  rcl_publisher_options_t po = rcl_publisher_get_default_options();
  po.qos = qos_of(o);
  if (rcl_publisher_init(&pub, &ros.node, type_support(o->kind), o->topic, &po) != RCL_RET_OK) {
    set_error(&r, "rcl_publisher_init");
    goto out;
  }
  pub_ok = true;
  if (!msg_init(o->kind, &m) || !msg_prepare(o, &m)) {
    r.status = "error";
    snprintf(r.error, sizeof r.error, "message init failed");
    goto out;
  }
  msg_ok = true;

  /* Discovery: wait (bounded) until every subscriber has matched. */
  uint64_t disc_deadline = mono_ns() + (uint64_t)(o->discovery * 1e9);
  if (disc_deadline > deadline) disc_deadline = deadline;
  for (;;) {
    size_t n = 0;
    if (rcl_publisher_get_subscription_count(&pub, &n) != RCL_RET_OK) {
      set_error(&r, "rcl_publisher_get_subscription_count");
      goto out;
    }
    if ((int)n >= o->subs) break;
    if (g_stop || mono_ns() > disc_deadline) {
      r.status = "error";
      snprintf(r.error, sizeof r.error, "discovery timeout: %zu of %d subscribers matched", n,
               o->subs);
      goto out;
    }
    sleep_ms(10);
  }
  sleep_ms(300); /* let the subscribers' side of the match settle */

  uint64_t period = o->rate > 0 ? (uint64_t)(1e9 / o->rate) : 0;
  uint64_t total = o->warmup + o->count;
  uint64_t next = mono_ns();
  uint64_t t_start = 0, t_stop_measure = 0;
  double cpu0 = 0;
  uint64_t seq;
  for (seq = 0; seq < total && !g_stop; seq++) {
    if (seq == o->warmup) {
      t_start = mono_ns();
      cpu0 = cpu_s();
      t_stop_measure = t_start + (uint64_t)(o->duration * 1e9);
      next = t_start;
    }
    if (seq >= o->warmup && o->duration > 0 && mono_ns() > t_stop_measure) break;
    if (mono_ns() > deadline) {
      r.status = "error";
      snprintf(r.error, sizeof r.error, "deadline while publishing (seq %" PRIu64 ")", seq);
      break;
    }
    if (period) {
      sleep_until(next);
      next += period;
    }
    if (seq >= o->warmup) {
      double h0 = thread_cpu_s();
      msg_fill(o, &m, seq);
      r.harness_s += thread_cpu_s() - h0;
    } else {
      msg_fill(o, &m, seq);
    }
    uint64_t t0 = mono_ns();
    if (!msg_stamp(o, &m, seq, t0)) {
      r.status = "error";
      snprintf(r.error, sizeof r.error, "stamp failed");
      break;
    }
    if (rcl_publish(&pub, &m, NULL) != RCL_RET_OK) {
      set_error(&r, "rcl_publish");
      break;
    }
    if (seq >= o->warmup) r.lat[r.nlat++] = mono_ns() - t0;
  }
  bool interrupted = g_stop && seq < total;
  r.sent = seq > o->warmup ? seq - o->warmup : 0;
  if (t_start) {
    r.window_s = (double)(mono_ns() - t_start) / 1e9;
    r.cpu_s = cpu_s() - cpu0;
  }

  /* End marker, a few times (a subscriber may miss one under best effort). */
  for (int i = 0; i < 3 && !g_stop; i++) {
    uint64_t mark = END_FLAG | r.sent;
    msg_fill(o, &m, mark);
    if (!msg_stamp(o, &m, mark, mono_ns()) || rcl_publish(&pub, &m, NULL) != RCL_RET_OK) {
      rcl_reset_error();
      break;
    }
    sleep_ms(50);
  }
  /* Linger (bounded) until the subscribers are gone, so reliable data in
   * flight is not cut off by our own shutdown. */
  uint64_t linger = mono_ns() + 5000000000ull;
  while (!g_stop && mono_ns() < linger && mono_ns() < deadline) {
    size_t n = 0;
    if (rcl_publisher_get_subscription_count(&pub, &n) != RCL_RET_OK || n == 0) break;
    sleep_ms(20);
  }
  if (interrupted && strcmp(r.status, "ok") == 0) {
    r.status = "error";
    snprintf(r.error, sizeof r.error, "stopped by signal after %" PRIu64 " measured messages",
             r.sent);
  }

out:
  rcl_reset_error();
  r.rss_kb = max_rss_kb();
  write_result(o, &r);
  if (msg_ok) msg_fini(o->kind, &m);
  if (pub_ok) ignore(rcl_publisher_fini(&pub, &ros.node));
  ros_down(&ros);
  free(r.lat);
  return strcmp(r.status, "error") == 0 ? 2 : 0;
}

static int run_sub(const struct opts *o, uint64_t deadline) {
  struct result r = {.status = "ok", .rmw = "?", .take = o->loan ? "loan" : "copy"};
  struct ros ros = {0};
  union msg m;
  memset(&m, 0, sizeof m);
  rcl_subscription_t sub = rcl_get_zero_initialized_subscription();
  rcl_wait_set_t ws = rcl_get_zero_initialized_wait_set();
  bool sub_ok = false, ws_ok = false, msg_ok = false;
  size_t cap = o->count + 16;
  uint8_t *seen = calloc(o->count + 1, 1);
  r.lat = calloc(cap, sizeof(uint64_t));
  r.take_ns = calloc(cap, sizeof(uint64_t));
  char node_name[64];
  snprintf(node_name, sizeof node_name, "renoir_bench_sub_%d", o->id);

  if (!r.lat || !r.take_ns || !seen) {
    r.status = "error";
    snprintf(r.error, sizeof r.error, "out of memory");
    goto out;
  }
  if (!ros_up(&ros, node_name, &r)) goto out;
  rcl_subscription_options_t so = rcl_subscription_get_default_options();
  so.qos = qos_of(o);
  if (rcl_subscription_init(&sub, &ros.node, type_support(o->kind), o->topic, &so) !=
      RCL_RET_OK) {
    set_error(&r, "rcl_subscription_init");
    goto out;
  }
  sub_ok = true;
  if (o->loan && !rcl_subscription_can_loan_messages(&sub)) {
    r.status = "n/a";
    r.take = "n/a";
    /* Jazzy's rcl says no unless ROS_DISABLE_LOANED_MESSAGES=0 (the driver
     * sets it), whatever the rmw offers: name the variable's value. */
    const char *env = getenv("ROS_DISABLE_LOANED_MESSAGES");
    snprintf(r.error, sizeof r.error,
             "rcl_subscription_can_loan_messages is false (ROS_DISABLE_LOANED_MESSAGES=%s)",
             env ? env : "unset");
    goto out;
  }
  if (!msg_init(o->kind, &m)) {
    r.status = "error";
    snprintf(r.error, sizeof r.error, "message init failed");
    goto out;
  }
  msg_ok = true;
  if (rcl_wait_set_init(&ws, 1, 0, 0, 0, 0, 0, &ros.context, rcl_get_default_allocator()) !=
      RCL_RET_OK) {
    set_error(&r, "rcl_wait_set_init");
    goto out;
  }
  ws_ok = true;

  uint64_t t_first = 0, t_last = 0, last_msg = 0;
  double cpu0 = 0;
  uint64_t max_seq_plus1 = 0;
  bool done = false;
  while (!done && !g_stop) {
    uint64_t now = mono_ns();
    if (now > deadline) {
      r.status = "error";
      snprintf(r.error, sizeof r.error,
               r.received ? "deadline before the end marker" : "deadline: no message received");
      break;
    }
    if (last_msg && now - last_msg > (uint64_t)(o->idle * 1e9)) {
      snprintf(r.error, sizeof r.error, "idle timeout (no end marker)");
      break;
    }
    if (rcl_wait_set_clear(&ws) != RCL_RET_OK ||
        rcl_wait_set_add_subscription(&ws, &sub, NULL) != RCL_RET_OK) {
      set_error(&r, "rcl_wait_set_add_subscription");
      break;
    }
    rcl_ret_t wr = rcl_wait(&ws, RCL_MS_TO_NS(100));
    if (wr == RCL_RET_TIMEOUT) continue;
    if (wr != RCL_RET_OK) {
      set_error(&r, "rcl_wait");
      break;
    }
    for (;;) {
      rmw_message_info_t info = rmw_get_zero_initialized_message_info();
      void *loaned = NULL;
      const union msg *got;
      rcl_ret_t tr;
      uint64_t t_take = mono_ns();
      if (o->loan) {
        tr = rcl_take_loaned_message(&sub, &loaned, &info, NULL);
        got = loaned;
      } else {
        tr = rcl_take(&sub, &m, &info, NULL);
        got = &m;
      }
      if (tr == RCL_RET_SUBSCRIPTION_TAKE_FAILED) break;
      if (tr != RCL_RET_OK) {
        set_error(&r, o->loan ? "rcl_take_loaned_message" : "rcl_take");
        done = true;
        break;
      }
      uint64_t t_recv = mono_ns();
      last_msg = t_recv;
      uint64_t seq = 0, t_send = 0;
      if (!got || !msg_meta(o, got, &seq, &t_send)) {
        r.bad++;
      } else if (seq & END_FLAG) {
        r.end_seen = true;
        r.expected = seq & ~END_FLAG;
        if (!msg_check(o, got, seq)) r.bad++;
        done = true;
      } else if (seq < o->warmup) {
        r.warmup_seen++;
      } else if (seq - o->warmup >= o->count) {
        r.bad++; /* a sequence number that was never sent */
      } else {
        uint64_t k = seq - o->warmup;
        if (!t_first) {
          t_first = t_recv;
          cpu0 = cpu_s();
        }
        t_last = t_recv;
        double h0 = thread_cpu_s();
        bool good = !seen[k] && msg_check(o, got, seq);
        r.harness_s += thread_cpu_s() - h0;
        if (seen[k]) {
          r.dup++;
        } else if (!good) {
          r.bad++;
        } else {
          seen[k] = 1;
          r.received++;
          if (r.nlat < cap) r.lat[r.nlat++] = t_recv >= t_send ? t_recv - t_send : 0;
          if (r.ntake < cap) r.take_ns[r.ntake++] = t_recv - t_take;
          if (k + 1 > max_seq_plus1) max_seq_plus1 = k + 1;
        }
      }
      if (o->loan && loaned &&
          rcl_return_loaned_message_from_subscription(&sub, loaned) != RCL_RET_OK) {
        set_error(&r, "rcl_return_loaned_message_from_subscription");
        done = true;
        break;
      }
      if (done) break;
    }
  }
  if (t_first) {
    r.cpu_s = cpu_s() - cpu0;
    r.window_s = (double)(t_last - t_first) / 1e9;
  }
  if (g_stop && !r.end_seen && strcmp(r.status, "ok") == 0) {
    r.status = "error";
    snprintf(r.error, sizeof r.error, "stopped by signal before the end marker");
  }
  if (!r.end_seen) r.expected = max_seq_plus1 > 0 ? max_seq_plus1 : o->count;
  r.lost = r.expected > r.received ? r.expected - r.received : 0;
  if (strcmp(r.status, "ok") == 0 && r.received == 0) {
    r.status = "error";
    if (!r.error[0]) snprintf(r.error, sizeof r.error, "no measured message received");
  }

out:
  rcl_reset_error();
  r.rss_kb = max_rss_kb();
  write_result(o, &r);
  if (ws_ok) ignore(rcl_wait_set_fini(&ws));
  if (msg_ok) msg_fini(o->kind, &m);
  if (sub_ok) ignore(rcl_subscription_fini(&sub, &ros.node));
  ros_down(&ros);
  free(r.lat);
  free(r.take_ns);
  free(seen);
  return strcmp(r.status, "error") == 0 ? 2 : 0;
}

/* ---- main --------------------------------------------------------------- */

static void usage(void) {
  fprintf(stderr,
          "usage: rcl_bench --role pub|sub --msg string|image|pointcloud2|laserscan\n"
          "  [--bytes N] [--width W --height H --channels 1|3] [--points N] [--rays N]\n"
          "  [--rate HZ (0=max)] [--count N] [--warmup N] [--duration S] [--subs N]\n"
          "  [--take copy|loan] [--id N] [--topic T] [--timeout S] [--idle S] [--discovery S]\n"
          "  [--qos reliable|best_effort] [--depth N] [--out FILE] [--lat-out FILE]\n");
}

int main(int argc, char **argv) {
  struct opts o = {.role = NULL,
                   .kind = K_STRING,
                   .kind_name = "string",
                   .bytes = 64,
                   .width = 32,
                   .height = 32,
                   .channels = 1,
                   .points = 100000,
                   .rays = 1440,
                   .rate = 30,
                   .count = 100,
                   .warmup = 10,
                   .duration = 0,
                   .subs = 1,
                   .topic = "renoir_bench",
                   .timeout = 60,
                   .idle = 3,
                   .discovery = 15,
                   .depth = 10,
                   .out = "-"};
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!v) {
      usage();
      return 64;
    }
    i++;
    if (!strcmp(a, "--role")) o.role = v;
    else if (!strcmp(a, "--msg")) {
      o.kind_name = v;
      if (!strcmp(v, "string")) o.kind = K_STRING;
      else if (!strcmp(v, "image")) o.kind = K_IMAGE;
      else if (!strcmp(v, "pointcloud2")) o.kind = K_PCL;
      else if (!strcmp(v, "laserscan")) o.kind = K_SCAN;
      else {
        usage();
        return 64;
      }
    } else if (!strcmp(a, "--bytes")) o.bytes = strtoull(v, NULL, 10);
    else if (!strcmp(a, "--width")) o.width = (uint32_t)strtoul(v, NULL, 10);
    else if (!strcmp(a, "--height")) o.height = (uint32_t)strtoul(v, NULL, 10);
    else if (!strcmp(a, "--channels")) o.channels = (uint32_t)strtoul(v, NULL, 10);
    else if (!strcmp(a, "--points")) o.points = (uint32_t)strtoul(v, NULL, 10);
    else if (!strcmp(a, "--rays")) o.rays = (uint32_t)strtoul(v, NULL, 10);
    else if (!strcmp(a, "--rate")) o.rate = strtod(v, NULL);
    else if (!strcmp(a, "--count")) o.count = strtoull(v, NULL, 10);
    else if (!strcmp(a, "--warmup")) o.warmup = strtoull(v, NULL, 10);
    else if (!strcmp(a, "--duration")) o.duration = strtod(v, NULL);
    else if (!strcmp(a, "--subs")) o.subs = atoi(v);
    else if (!strcmp(a, "--take")) o.loan = !strcmp(v, "loan");
    else if (!strcmp(a, "--id")) o.id = atoi(v);
    else if (!strcmp(a, "--topic")) o.topic = v;
    else if (!strcmp(a, "--timeout")) o.timeout = strtod(v, NULL);
    else if (!strcmp(a, "--idle")) o.idle = strtod(v, NULL);
    else if (!strcmp(a, "--discovery")) o.discovery = strtod(v, NULL);
    else if (!strcmp(a, "--qos")) o.best_effort = !strcmp(v, "best_effort");
    else if (!strcmp(a, "--depth")) o.depth = strtoull(v, NULL, 10);
    else if (!strcmp(a, "--out")) o.out = v;
    else if (!strcmp(a, "--lat-out")) o.lat_out = v;
    else {
      usage();
      return 64;
    }
  }
  if (!o.role || (strcmp(o.role, "pub") && strcmp(o.role, "sub")) || o.count == 0 ||
      o.count > 10000000 || o.timeout <= 0 || (o.channels != 1 && o.channels != 3) ||
      (o.kind == K_STRING && o.bytes < STRING_PREFIX) || o.depth == 0 || o.rays == 0) {
    usage();
    return 64;
  }
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  uint64_t deadline = mono_ns() + (uint64_t)(o.timeout * 1e9);
  return !strcmp(o.role, "pub") ? run_pub(&o, deadline) : run_sub(&o, deadline);
}
