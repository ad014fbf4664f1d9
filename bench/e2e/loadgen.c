/*
 * loadgen — end-to-end load generator for Gregor (and librdkafka's mock
 * cluster as the reference peer), built on librdkafka.
 *
 *   cc -O2 -o bench/e2e/.build/loadgen bench/e2e/loadgen.c -lrdkafka
 *
 * Modes (one JSON line of results on stdout, diagnostics on stderr):
 *
 *   loadgen create     -b HOST:PORT -t TOPIC -p PARTITIONS
 *       CreateTopics through the Admin API (TOPIC_ALREADY_EXISTS is fine).
 *
 *   loadgen delete     -b HOST:PORT -t TOPIC
 *       DeleteTopics through the Admin API.
 *
 *   loadgen produce    -b HOST:PORT -t TOPIC -p P -n RECORDS -s BYTES -a 1|all
 *       Throughput: N records of S bytes, spread over P partitions in runs of
 *       -c records (default 500). Time runs from the first send to the last
 *       delivery report.
 *
 *   loadgen latency    -b ... -t TOPIC -p P -s BYTES -a 1|all -r MB_PER_S -d SECONDS
 *       Fixed-rate produce paced by a token bucket; per-record latency from
 *       send to delivery report (the send time travels in the message
 *       opaque). The first -w seconds (default 1) are warm-up and are not
 *       recorded. Reports p50/p99/p99.9/max. -T FILE writes, per 10 ms of send
 *       time, the sample count and the worst latency (to find stalls).
 *
 *   loadgen consume    -b ... -t TOPIC -p P -n RECORDS [-L]
 *       Reads all partitions from the beginning with the legacy (group-less)
 *       consumer API until N records or the high watermarks are reached.
 *       With -L it re-reads from the beginning of each partition on EOF until
 *       N records were read (needed for the mock, which keeps only ~5 MB per
 *       partition). -V checks every record: offsets contiguous from the low
 *       watermark, length and payload equal to what produce sends.
 *
 *   loadgen mock-serve [-t TOPIC -p P]
 *       Starts librdkafka's in-memory mock cluster with one broker, prints
 *       "BOOTSTRAP <host:port>" on stdout and stays up. Reads commands from
 *       stdin: "create TOPIC PARTITIONS" (answers "ok TOPIC" / "err ...");
 *       EOF or "quit" stops it.
 *
 * Common options:
 *   -X key=value   extra librdkafka property (repeatable; applied last)
 *   -q             less chatter on stderr
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#define MAX_X 64

static struct {
        const char *mode;
        const char *bootstrap;
        const char *topic;
        int partitions;
        long long records;
        int size;
        const char *acks;
        double rate_mbps;
        double duration;
        double warmup;
        int chunk;
        int loop;
        int verify;
        int quiet;
        const char *trace;
        const char *xs[MAX_X];
        int nx;
} opt = {
    .bootstrap = "127.0.0.1:9092",
    .partitions = 4,
    .records = 1000000,
    .size = 1024,
    .acks = "1",
    .rate_mbps = 50,
    .duration = 10,
    .warmup = 1,
    .chunk = -1,
};

static volatile sig_atomic_t stop_flag = 0;
static void on_signal(int sig) {
        (void)sig;
        stop_flag = 1;
}

static inline int64_t now_ns(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
#include <stdarg.h>
static void die(const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        fprintf(stderr, "loadgen: ");
        vfprintf(stderr, fmt, ap);
        fprintf(stderr, "\n");
        va_end(ap);
        exit(1);
}

static void set(rd_kafka_conf_t *conf, const char *k, const char *v) {
        char err[512];
        if (rd_kafka_conf_set(conf, k, v, err, sizeof(err)) != RD_KAFKA_CONF_OK)
                die("config %s=%s: %s", k, v, err);
}

static void apply_x(rd_kafka_conf_t *conf) {
        for (int i = 0; i < opt.nx; i++) {
                char buf[1024];
                snprintf(buf, sizeof(buf), "%s", opt.xs[i]);
                char *eq = strchr(buf, '=');
                if (!eq)
                        die("-X expects key=value, got %s", opt.xs[i]);
                *eq = 0;
                set(conf, buf, eq + 1);
        }
}

static void log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf) {
        (void)rk;
        if (!opt.quiet || level <= 3)
                fprintf(stderr, "rdkafka %d %s: %s\n", level, fac, buf);
}

static rd_kafka_conf_t *base_conf(void) {
        rd_kafka_conf_t *conf = rd_kafka_conf_new();
        set(conf, "bootstrap.servers", opt.bootstrap);
        set(conf, "client.id", "gregor-e2e-loadgen");
        set(conf, "log_level", opt.quiet ? "3" : "5");
        rd_kafka_conf_set_log_cb(conf, log_cb);
        return conf;
}

static double cpu_secs(void) {
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec +
               ru.ru_stime.tv_usec / 1e6;
}

/* Wait until metadata for the topic shows the expected partitions with a
 * leader, so that connection setup is not part of any measurement. */
static int wait_topic(rd_kafka_t *rk, const char *topic, int want_parts, int timeout_ms) {
        int64_t deadline = now_ns() + (int64_t)timeout_ms * 1000000;
        rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
        int got = -1;
        while (now_ns() < deadline) {
                const struct rd_kafka_metadata *md = NULL;
                if (rd_kafka_metadata(rk, 0, rkt, &md, 5000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
                        got = -1;
                        if (md->topic_cnt == 1 && md->topics[0].err == 0) {
                                got = md->topics[0].partition_cnt;
                                for (int i = 0; i < md->topics[0].partition_cnt; i++)
                                        if (md->topics[0].partitions[i].leader < 0)
                                                got = -1;
                        }
                        rd_kafka_metadata_destroy(md);
                        if (got >= want_parts)
                                break;
                }
                usleep(50000);
        }
        rd_kafka_topic_destroy(rkt);
        return got;
}

/* ------------------------------------------------------------------ create */

static int mode_create(void) {
        rd_kafka_conf_t *conf = base_conf();
        apply_x(conf);
        char err[512];
        rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
        if (!rk)
                die("rd_kafka_new: %s", err);
        rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(opt.topic, opt.partitions, 1, err, sizeof(err));
        if (!nt)
                die("NewTopic: %s", err);
        rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
        rd_kafka_CreateTopics(rk, &nt, 1, NULL, q);
        rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 30000);
        if (!ev)
                die("CreateTopics: timeout");
        if (rd_kafka_event_error(ev))
                die("CreateTopics: %s", rd_kafka_event_error_string(ev));
        const rd_kafka_CreateTopics_result_t *res = rd_kafka_event_CreateTopics_result(ev);
        size_t cnt;
        const rd_kafka_topic_result_t **tr = rd_kafka_CreateTopics_result_topics(res, &cnt);
        int rc = 0;
        for (size_t i = 0; i < cnt; i++) {
                rd_kafka_resp_err_t e = rd_kafka_topic_result_error(tr[i]);
                if (e && e != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
                        fprintf(stderr, "loadgen: create %s: %s\n", rd_kafka_topic_result_name(tr[i]),
                                rd_kafka_err2str(e));
                        rc = 1;
                }
        }
        rd_kafka_event_destroy(ev);
        rd_kafka_NewTopic_destroy(nt);
        if (!rc && wait_topic(rk, opt.topic, opt.partitions, 15000) < opt.partitions) {
                fprintf(stderr, "loadgen: topic %s not visible with %d partitions\n", opt.topic, opt.partitions);
                rc = 1;
        }
        rd_kafka_queue_destroy(q);
        rd_kafka_destroy(rk);
        if (!rc)
                printf("{\"mode\":\"create\",\"topic\":\"%s\",\"partitions\":%d}\n", opt.topic, opt.partitions);
        return rc;
}

/* DeleteTopics through the Admin API (used between runs to keep the page cache
 * small; UNKNOWN_TOPIC_OR_PART is fine). */
static int mode_delete(void) {
        rd_kafka_conf_t *conf = base_conf();
        apply_x(conf);
        char err[512];
        rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
        if (!rk)
                die("rd_kafka_new: %s", err);
        rd_kafka_DeleteTopic_t *dt = rd_kafka_DeleteTopic_new(opt.topic);
        rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
        rd_kafka_DeleteTopics(rk, &dt, 1, NULL, q);
        rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 60000);
        if (!ev)
                die("DeleteTopics: timeout");
        if (rd_kafka_event_error(ev))
                die("DeleteTopics: %s", rd_kafka_event_error_string(ev));
        size_t cnt;
        const rd_kafka_topic_result_t **tr =
            rd_kafka_DeleteTopics_result_topics(rd_kafka_event_DeleteTopics_result(ev), &cnt);
        int rc = 0;
        for (size_t i = 0; i < cnt; i++) {
                rd_kafka_resp_err_t e = rd_kafka_topic_result_error(tr[i]);
                if (e && e != RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) {
                        fprintf(stderr, "loadgen: delete %s: %s\n", rd_kafka_topic_result_name(tr[i]), rd_kafka_err2str(e));
                        rc = 1;
                }
        }
        rd_kafka_event_destroy(ev);
        rd_kafka_DeleteTopic_destroy(dt);
        rd_kafka_queue_destroy(q);
        rd_kafka_destroy(rk);
        if (!rc)
                printf("{\"mode\":\"delete\",\"topic\":\"%s\"}\n", opt.topic);
        return rc;
}

/* ----------------------------------------------------------------- produce */

static struct {
        long long delivered;
        long long failed;
        int64_t last_dr_ns;
        rd_kafka_resp_err_t first_err;
        /* latency mode */
        int64_t record_from_ns; /* record latencies of messages sent at/after this */
        int64_t record_until_ns;
        uint32_t *lat_us;
        uint32_t *sent_ms; /* -T: send time of each sample (ms since start) */
        size_t lat_n, lat_cap;
        int64_t t0;
} dr;

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
        (void)rk;
        (void)opaque;
        int64_t t = now_ns();
        if (m->err) {
                if (!dr.failed)
                        dr.first_err = m->err;
                dr.failed++;
        } else {
                dr.delivered++;
        }
        dr.last_dr_ns = t;
        if (dr.lat_us) {
                int64_t sent = dr.t0 + (int64_t)(intptr_t)m->_private;
                if (!m->err && sent >= dr.record_from_ns && sent < dr.record_until_ns &&
                    dr.lat_n < dr.lat_cap) {
                        int64_t us = (t - sent) / 1000;
                        if (dr.sent_ms)
                                dr.sent_ms[dr.lat_n] = (uint32_t)((sent - dr.t0) / 1000000);
                        dr.lat_us[dr.lat_n++] = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
                }
        }
}

static rd_kafka_t *new_producer(int latency_mode) {
        rd_kafka_conf_t *conf = base_conf();
        char buf[64];
        set(conf, "acks", opt.acks);
        set(conf, "compression.codec", "none");
        set(conf, "linger.ms", latency_mode ? "1" : "5");
        set(conf, "batch.size", "1000000");
        set(conf, "batch.num.messages", "1000000");
        set(conf, "queue.buffering.max.messages", "10000000");
        set(conf, "queue.buffering.max.kbytes", "2097151");
        set(conf, "message.timeout.ms", "120000");
        snprintf(buf, sizeof(buf), "%d", 1000000);
        set(conf, "message.max.bytes", buf);
        set(conf, "socket.send.buffer.bytes", "4194304");
        set(conf, "socket.receive.buffer.bytes", "4194304");
        rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
        apply_x(conf);
        char err[512];
        rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
        if (!rk)
                die("rd_kafka_new: %s", err);
        return rk;
}

static char *make_payload(int size) {
        char *p = malloc(size > 0 ? size : 1);
        uint32_t x = 2463534242u;
        for (int i = 0; i < size; i++) { /* incompressible-ish, not all zeros */
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                p[i] = (char)('a' + x % 26);
        }
        return p;
}

static inline rd_kafka_resp_err_t send_one(rd_kafka_t *rk, rd_kafka_topic_t *rkt, int32_t part,
                                           char *payload, int64_t opaque) {
        for (;;) {
                /* msgflags 0: librdkafka neither copies nor frees the payload */
                if (rd_kafka_produce(rkt, part, 0, payload, (size_t)opt.size, NULL, 0,
                                     (void *)(intptr_t)opaque) == 0)
                        return 0;
                rd_kafka_resp_err_t e = rd_kafka_last_error();
                if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL)
                        return e;
                rd_kafka_poll(rk, 1);
        }
}

static int mode_produce(void) {
        rd_kafka_t *rk = new_producer(0);
        rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, opt.topic, NULL);
        int parts = wait_topic(rk, opt.topic, opt.partitions, 30000);
        if (parts < opt.partitions)
                die("topic %s has %d partitions, want %d", opt.topic, parts, opt.partitions);
        char *payload = make_payload(opt.size);
        int chunk = opt.chunk > 0 ? opt.chunk : 500;
        double cpu0 = cpu_secs();
        int64_t t0 = now_ns();
        long long n = opt.records;
        for (long long i = 0; i < n; i++) {
                int32_t part = (int32_t)((i / chunk) % opt.partitions);
                rd_kafka_resp_err_t e = send_one(rk, rkt, part, payload, 0);
                if (e)
                        die("produce: %s", rd_kafka_err2str(e));
                if ((i & 1023) == 0)
                        rd_kafka_poll(rk, 0);
        }
        int64_t t_sent = now_ns();
        while (dr.delivered + dr.failed < n && !stop_flag)
                rd_kafka_poll(rk, 100);
        double cpu1 = cpu_secs();
        double secs = (dr.last_dr_ns - t0) / 1e9;
        double bytes = (double)dr.delivered * opt.size;
        printf("{\"mode\":\"produce\",\"topic\":\"%s\",\"partitions\":%d,\"size\":%d,\"acks\":\"%s\","
               "\"records\":%lld,\"failed\":%lld,\"first_error\":\"%s\",\"secs\":%.4f,\"send_secs\":%.4f,"
               "\"rec_per_s\":%.0f,\"mb_per_s\":%.2f,\"client_cpu_s\":%.3f}\n",
               opt.topic, opt.partitions, opt.size, opt.acks, dr.delivered, dr.failed,
               dr.failed ? rd_kafka_err2name(dr.first_err) : "", secs, (t_sent - t0) / 1e9,
               dr.delivered / secs, bytes / secs / 1e6, cpu1 - cpu0);
        fflush(stdout);
        rd_kafka_topic_destroy(rkt);
        rd_kafka_destroy(rk);
        free(payload);
        return dr.failed ? 2 : 0;
}

static int cmp_u32(const void *a, const void *b) {
        uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
        return x < y ? -1 : x > y;
}

static double pct(const uint32_t *v, size_t n, double p) {
        if (!n)
                return -1;
        size_t i = (size_t)(p / 100.0 * (double)n);
        if (i >= n)
                i = n - 1;
        return v[i] / 1000.0; /* ms */
}

static int mode_latency(void) {
        rd_kafka_t *rk = new_producer(1);
        rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, opt.topic, NULL);
        int parts = wait_topic(rk, opt.topic, opt.partitions, 30000);
        if (parts < opt.partitions)
                die("topic %s has %d partitions, want %d", opt.topic, parts, opt.partitions);
        char *payload = make_payload(opt.size);
        int chunk = opt.chunk > 0 ? opt.chunk : 50;
        double rate = opt.rate_mbps * 1e6 / opt.size; /* records per second */
        double total_s = opt.warmup + opt.duration;
        dr.lat_cap = (size_t)(rate * opt.duration * 1.1) + 1024;
        dr.lat_us = malloc(dr.lat_cap * sizeof(uint32_t));
        if (opt.trace)
                dr.sent_ms = malloc(dr.lat_cap * sizeof(uint32_t));
        double cpu0 = cpu_secs();
        int64_t t0 = now_ns();
        dr.t0 = t0;
        dr.record_from_ns = t0 + (int64_t)(opt.warmup * 1e9);
        dr.record_until_ns = t0 + (int64_t)(total_s * 1e9);
        long long sent = 0, behind_max = 0;
        int64_t end = dr.record_until_ns;
        for (;;) {
                int64_t t = now_ns();
                if (t >= end || stop_flag)
                        break;
                long long due = (long long)((t - t0) / 1e9 * rate) + 1;
                if (due - sent > behind_max)
                        behind_max = due - sent;
                /* token bucket: send what is due (burst bounded to 10 ms worth) */
                long long burst_cap = (long long)(rate / 100) + 1;
                if (due - sent > burst_cap)
                        sent = due - burst_cap; /* drop tokens we could not use: keep the rate, note it */
                while (sent < due) {
                        int64_t ts = now_ns();
                        int32_t part = (int32_t)((sent / chunk) % opt.partitions);
                        rd_kafka_resp_err_t e = send_one(rk, rkt, part, payload, ts - t0);
                        if (e)
                                die("produce: %s", rd_kafka_err2str(e));
                        sent++;
                }
                rd_kafka_poll(rk, 0);
                /* Tokens are handed out on a 1 ms tick: sleep to the next tick
                 * (or to the next token if the rate is below 1000/s) instead of
                 * spinning, so the client leaves the CPU to the broker. */
                int64_t next = t0 + (int64_t)((double)(sent) / rate * 1e9);
                int64_t tick = now_ns() + 1000000;
                if (next < tick)
                        next = tick;
                struct timespec ts = {next / 1000000000LL, next % 1000000000LL};
                clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
        }
        long long produced = dr.delivered + dr.failed;
        (void)produced;
        int64_t drain_deadline = now_ns() + 60 * 1000000000LL;
        rd_kafka_flush(rk, 0);
        while (rd_kafka_outq_len(rk) > 0 && now_ns() < drain_deadline)
                rd_kafka_poll(rk, 50);
        double cpu1 = cpu_secs();
        if (opt.trace) { /* per 10 ms of send time: samples and max latency */
                FILE *f = fopen(opt.trace, "w");
                if (!f)
                        die("cannot write %s", opt.trace);
                uint32_t slots = (uint32_t)(total_s * 100) + 2, *mx = calloc(slots, 4), *cnt = calloc(slots, 4);
                for (size_t i = 0; i < dr.lat_n; i++) {
                        uint32_t k = dr.sent_ms[i] / 10;
                        if (k < slots) {
                                cnt[k]++;
                                if (dr.lat_us[i] > mx[k])
                                        mx[k] = dr.lat_us[i];
                        }
                }
                fprintf(f, "send_ms\tsamples\tmax_latency_ms\n");
                for (uint32_t k = 0; k < slots; k++)
                        if (cnt[k])
                                fprintf(f, "%u\t%u\t%.3f\n", k * 10, cnt[k], mx[k] / 1000.0);
                fclose(f);
                free(mx);
                free(cnt);
                free(dr.sent_ms);
        }
        qsort(dr.lat_us, dr.lat_n, sizeof(uint32_t), cmp_u32);
        double sum = 0;
        for (size_t i = 0; i < dr.lat_n; i++)
                sum += dr.lat_us[i];
        double achieved = dr.lat_n * (double)opt.size / opt.duration / 1e6;
        printf("{\"mode\":\"latency\",\"topic\":\"%s\",\"partitions\":%d,\"size\":%d,\"acks\":\"%s\","
               "\"target_mb_per_s\":%.1f,\"measured_mb_per_s\":%.2f,\"samples\":%zu,\"failed\":%lld,"
               "\"first_error\":\"%s\",\"max_backlog\":%lld,"
               "\"p50_ms\":%.3f,\"p90_ms\":%.3f,\"p99_ms\":%.3f,\"p999_ms\":%.3f,\"max_ms\":%.3f,\"mean_ms\":%.3f,"
               "\"client_cpu_s\":%.3f}\n",
               opt.topic, opt.partitions, opt.size, opt.acks, opt.rate_mbps, achieved, dr.lat_n, dr.failed,
               dr.failed ? rd_kafka_err2name(dr.first_err) : "", behind_max, pct(dr.lat_us, dr.lat_n, 50),
               pct(dr.lat_us, dr.lat_n, 90), pct(dr.lat_us, dr.lat_n, 99), pct(dr.lat_us, dr.lat_n, 99.9),
               dr.lat_n ? dr.lat_us[dr.lat_n - 1] / 1000.0 : -1, dr.lat_n ? sum / dr.lat_n / 1000.0 : -1,
               cpu1 - cpu0);
        fflush(stdout);
        rd_kafka_topic_destroy(rkt);
        rd_kafka_destroy(rk);
        free(payload);
        free(dr.lat_us);
        return dr.failed ? 2 : 0;
}

/* ----------------------------------------------------------------- consume */

static struct {
        long long want, got, bytes, laps, errors, bad;
        int64_t t_first, t_last;
        int parts;
        char *eof;
        int64_t *next; /* -V: expected next offset per partition */
        const char *payload;
} cs;

static void consume_cb(rd_kafka_message_t *m, void *opaque) {
        (void)opaque;
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                if (m->partition >= 0 && m->partition < cs.parts)
                        cs.eof[m->partition] = 1;
        } else if (m->err) {
                if (cs.errors++ < 5)
                        fprintf(stderr, "loadgen: consume error: %s\n", rd_kafka_message_errstr(m));
        } else if (cs.got < cs.want) {
                if (!cs.t_first)
                        cs.t_first = now_ns();
                cs.got++;
                cs.bytes += (long long)m->len;
                if (cs.next) {
                        int32_t p = m->partition;
                        if (p < 0 || p >= cs.parts || m->offset != cs.next[p] || m->len != (size_t)opt.size ||
                            memcmp(m->payload, cs.payload, (size_t)opt.size) != 0) {
                                if (cs.bad++ < 5)
                                        fprintf(stderr,
                                                "loadgen: verify: partition %d offset %" PRId64 " (expected %" PRId64
                                                ") length %zu (expected %d)%s\n",
                                                p, m->offset, (p >= 0 && p < cs.parts) ? cs.next[p] : -1, m->len,
                                                opt.size,
                                                m->len == (size_t)opt.size && memcmp(m->payload, cs.payload, (size_t)opt.size)
                                                    ? ", payload differs"
                                                    : "");
                        }
                        if (p >= 0 && p < cs.parts)
                                cs.next[p] = m->offset + 1;
                }
                if (cs.got == cs.want)
                        cs.t_last = now_ns();
        }
}

static int mode_consume(void) {
        rd_kafka_conf_t *conf = base_conf();
        /* Large, but under glibc's mmap threshold (32 MiB): librdkafka
         * allocates a buffer per fetch response, and a 64 MiB one is a fresh
         * mmap each time -- one page fault per 4 KiB received, which cost
         * this client ~3x the CPU (and half the throughput) in tests. */
        set(conf, "fetch.max.bytes", "16777216");
        set(conf, "max.partition.fetch.bytes", "4194304");
        set(conf, "receive.message.max.bytes", "33554432");
        set(conf, "fetch.wait.max.ms", "10");
        set(conf, "fetch.min.bytes", "1");
        set(conf, "queued.min.messages", "1000000");
        set(conf, "queued.max.messages.kbytes", "1048576");
        set(conf, "enable.partition.eof", "true");
        set(conf, "check.crcs", "false");
        set(conf, "socket.receive.buffer.bytes", "4194304");
        apply_x(conf);
        rd_kafka_topic_conf_t *tconf = rd_kafka_topic_conf_new();
        char err[512];
        if (rd_kafka_topic_conf_set(tconf, "auto.offset.reset", "earliest", err, sizeof(err)))
                die("%s", err);
        rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
        if (!rk)
                die("rd_kafka_new: %s", err);
        int parts = wait_topic(rk, opt.topic, opt.partitions, 30000);
        if (parts < opt.partitions)
                die("topic %s has %d partitions, want %d", opt.topic, parts, opt.partitions);
        rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, opt.topic, tconf);
        long long avail = 0;
        int64_t *lo = calloc(parts, sizeof(int64_t)), *hi = calloc(parts, sizeof(int64_t));
        for (int p = 0; p < parts; p++) {
                rd_kafka_resp_err_t e =
                    rd_kafka_query_watermark_offsets(rk, opt.topic, p, &lo[p], &hi[p], 10000);
                if (e)
                        die("watermarks %s/%d: %s", opt.topic, p, rd_kafka_err2str(e));
                avail += hi[p] - lo[p];
        }
        long long want = opt.records;
        if (!opt.loop && want > avail)
                want = avail;
        if (want <= 0)
                die("nothing to consume (available %lld)", avail);
        rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
        double cpu0 = cpu_secs();
        int64_t t0 = now_ns();
        for (int p = 0; p < parts; p++)
                if (rd_kafka_consume_start_queue(rkt, p, lo[p], q) == -1)
                        die("consume_start %d: %s", p, rd_kafka_err2str(rd_kafka_last_error()));
        cs.want = want;
        cs.parts = parts;
        cs.eof = calloc(parts, 1);
        if (opt.verify) {
                if (opt.loop)
                        die("-V and -L do not go together");
                cs.next = calloc(parts, sizeof(int64_t));
                for (int p = 0; p < parts; p++)
                        cs.next[p] = lo[p];
                cs.payload = make_payload(opt.size);
        }
        int64_t deadline = t0 + 300LL * 1000000000LL;
        while (cs.got < want && !stop_flag && now_ns() < deadline) {
                if (rd_kafka_consume_callback_queue(q, 100, consume_cb, NULL) < 0)
                        die("consume: %s", rd_kafka_err2str(rd_kafka_last_error()));
                if (opt.loop)
                        for (int p = 0; p < parts; p++)
                                if (cs.eof[p]) {
                                        cs.eof[p] = 0;
                                        rd_kafka_seek(rkt, p, lo[p], 0);
                                        cs.laps++;
                                }
        }
        long long got = cs.got, bytes = cs.bytes, laps = cs.laps, errors = cs.errors;
        int64_t t_first = cs.t_first, t_last = cs.t_last;
        double cpu1 = cpu_secs();
        double secs = (t_last - t0) / 1e9;
        printf("{\"mode\":\"consume\",\"topic\":\"%s\",\"partitions\":%d,\"records\":%lld,\"wanted\":%lld,"
               "\"available\":%lld,\"bytes\":%lld,\"laps\":%lld,\"errors\":%lld,\"secs\":%.4f,"
               "\"first_record_after_s\":%.4f,\"rec_per_s\":%.0f,\"mb_per_s\":%.2f,\"steady_mb_per_s\":%.2f,"
               "\"client_cpu_s\":%.3f,\"verified\":%s,\"verify_errors\":%lld}\n",
               opt.topic, parts, got, want, avail, bytes, laps, errors, secs, (t_first - t0) / 1e9,
               got / secs, bytes / secs / 1e6, t_last > t_first ? bytes / ((t_last - t_first) / 1e9) / 1e6 : 0,
               cpu1 - cpu0, opt.verify ? "true" : "false", cs.bad);
        fflush(stdout);
        for (int p = 0; p < parts; p++)
                rd_kafka_consume_stop(rkt, p);
        free(cs.eof);
        rd_kafka_queue_destroy(q);
        rd_kafka_topic_destroy(rkt);
        rd_kafka_destroy(rk);
        return got < want ? 2 : 0;
}


/* ---------------------------------------------------------------- rawfetch */
/* A minimal Fetch v4 client on a plain socket: no decompression, no per-record
 * work, only the batch headers are walked to find the next fetch offset. It
 * shows what the broker can serve when the client costs almost nothing. */

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

static void wr16(uint8_t **p, int16_t v) { uint16_t x = htons((uint16_t)v); memcpy(*p, &x, 2); *p += 2; }
static void wr32(uint8_t **p, int32_t v) { uint32_t x = htonl((uint32_t)v); memcpy(*p, &x, 4); *p += 4; }
static void wr64(uint8_t **p, int64_t v) { wr32(p, (int32_t)((uint64_t)v >> 32)); wr32(p, (int32_t)(uint64_t)v); }
static void wrstr(uint8_t **p, const char *s) { int16_t n = (int16_t)strlen(s); wr16(p, n); memcpy(*p, s, n); *p += n; }
static int32_t rd32(const uint8_t *p) { uint32_t x; memcpy(&x, p, 4); return (int32_t)ntohl(x); }
static int16_t rd16(const uint8_t *p) { uint16_t x; memcpy(&x, p, 2); return (int16_t)ntohs(x); }
static int64_t rd64(const uint8_t *p) { return (int64_t)(((uint64_t)(uint32_t)rd32(p) << 32) | (uint32_t)rd32(p + 4)); }

static void read_full(int fd, uint8_t *buf, size_t n) {
        size_t got = 0;
        while (got < n) {
                ssize_t r = recv(fd, buf + got, n - got, 0);
                if (r <= 0)
                        die("rawfetch: recv: %s", r == 0 ? "connection closed" : strerror(errno));
                got += (size_t)r;
        }
}

static int mode_rawfetch(void) {
        /* watermarks through librdkafka */
        rd_kafka_conf_t *conf = base_conf();
        apply_x(conf);
        char err[512];
        rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
        if (!rk)
                die("rd_kafka_new: %s", err);
        int parts = wait_topic(rk, opt.topic, opt.partitions, 30000);
        if (parts < opt.partitions)
                die("topic %s has %d partitions, want %d", opt.topic, parts, opt.partitions);
        parts = opt.partitions;
        int64_t *lo = calloc(parts, 8), *hi = calloc(parts, 8), *off = calloc(parts, 8);
        long long avail = 0;
        for (int p = 0; p < parts; p++) {
                rd_kafka_resp_err_t e = rd_kafka_query_watermark_offsets(rk, opt.topic, p, &lo[p], &hi[p], 10000);
                if (e)
                        die("watermarks: %s", rd_kafka_err2str(e));
                off[p] = lo[p];
                avail += hi[p] - lo[p];
        }
        rd_kafka_destroy(rk);
        long long want = opt.records;
        if (!opt.loop && want > avail)
                want = avail;

        char host[256];
        snprintf(host, sizeof(host), "%s", opt.bootstrap);
        char *comma = strchr(host, ',');
        if (comma)
                *comma = 0;
        char *colon = strrchr(host, ':');
        if (!colon)
                die("rawfetch: -b must be host:port");
        *colon = 0;
        struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM}, *ai;
        if (getaddrinfo(host, colon + 1, &hints, &ai))
                die("rawfetch: cannot resolve %s", opt.bootstrap);
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        int one = 1, rcvbuf = 8 << 20;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
        if (connect(fd, ai->ai_addr, ai->ai_addrlen))
                die("rawfetch: connect: %s", strerror(errno));
        freeaddrinfo(ai);

        int32_t part_max = 16 << 20, max_bytes = 64 << 20;
        size_t cap = (size_t)max_bytes + (16 << 20);
        uint8_t *resp = malloc(cap);
        uint8_t req[65536];
        long long got = 0, bytes = 0, wire = 0, fetches = 0, laps = 0;
        int32_t corr = 0;
        double cpu0 = cpu_secs();
        int64_t t0 = now_ns();
        int64_t deadline = t0 + 300LL * 1000000000LL;
        while (got < want && !stop_flag && now_ns() < deadline) {
                uint8_t *p = req + 4;
                wr16(&p, 1); /* Fetch */
                wr16(&p, 4);
                wr32(&p, ++corr);
                wrstr(&p, "gregor-e2e-rawfetch");
                wr32(&p, -1);  /* replica id */
                wr32(&p, 10);  /* max wait ms */
                wr32(&p, 1);   /* min bytes */
                wr32(&p, max_bytes);
                *p++ = 0;      /* isolation level */
                wr32(&p, 1);   /* topics */
                wrstr(&p, opt.topic);
                wr32(&p, parts);
                for (int i = 0; i < parts; i++) {
                        wr32(&p, i);
                        wr64(&p, off[i]);
                        wr32(&p, part_max);
                }
                uint8_t *q = req;
                wr32(&q, (int32_t)(p - req - 4));
                if (send(fd, req, (size_t)(p - req), 0) != p - req)
                        die("rawfetch: send: %s", strerror(errno));
                uint8_t hdr[4];
                read_full(fd, hdr, 4);
                size_t n = (size_t)rd32(hdr);
                if (n > cap)
                        die("rawfetch: response of %zu bytes is larger than the %zu-byte buffer", n, cap);
                read_full(fd, resp, n);
                fetches++;
                wire += (long long)n + 4;
                const uint8_t *r = resp, *end = resp + n;
                if (rd32(r) != corr)
                        die("rawfetch: correlation id %d, expected %d", rd32(r), corr);
                r += 8; /* correlation id, throttle time */
                int32_t nt = rd32(r);
                r += 4;
                for (int32_t t = 0; t < nt; t++) {
                        r += 2 + rd16(r);
                        int32_t np = rd32(r);
                        r += 4;
                        for (int32_t k = 0; k < np; k++) {
                                int32_t pi = rd32(r);
                                int16_t ec = rd16(r + 4);
                                r += 4 + 2 + 8 + 8;
                                int32_t na = rd32(r);
                                r += 4 + (na > 0 ? na * 16 : 0);
                                int32_t rl = rd32(r);
                                r += 4;
                                if (ec)
                                        die("rawfetch: partition %d error %d", pi, ec);
                                if (rl < 0)
                                        rl = 0;
                                const uint8_t *b = r, *be = r + rl;
                                if (be > end)
                                        die("rawfetch: truncated response");
                                while (be - b >= 61) {
                                        int64_t base = rd64(b);
                                        int32_t blen = rd32(b + 8);
                                        if (be - b < 12 + blen)
                                                break; /* partial batch at the end */
                                        int32_t last_delta = rd32(b + 23);
                                        int32_t cnt = rd32(b + 57);
                                        if (pi >= 0 && pi < parts && base + last_delta >= off[pi]) {
                                                long long fresh = base + last_delta + 1 - (base > off[pi] ? base : off[pi]);
                                                if (fresh > cnt)
                                                        fresh = cnt;
                                                got += fresh;
                                                off[pi] = base + last_delta + 1;
                                        }
                                        b += 12 + blen;
                                }
                                if (opt.loop && pi >= 0 && pi < parts && off[pi] >= hi[pi]) {
                                        off[pi] = lo[pi];
                                        laps++;
                                }
                                r = be;
                        }
                }
        }
        int64_t t1 = now_ns();
        double cpu1 = cpu_secs();
        double secs = (t1 - t0) / 1e9;
        bytes = got * (long long)opt.size;
        printf("{\"mode\":\"rawfetch\",\"topic\":\"%s\",\"partitions\":%d,\"records\":%lld,\"wanted\":%lld,"
               "\"available\":%lld,\"fetches\":%lld,\"laps\":%lld,\"secs\":%.4f,\"rec_per_s\":%.0f,"
               "\"mb_per_s\":%.2f,\"wire_mb_per_s\":%.2f,\"client_cpu_s\":%.3f}\n",
               opt.topic, parts, got, want, avail, fetches, laps, secs, got / secs, bytes / secs / 1e6,
               wire / secs / 1e6, cpu1 - cpu0);
        fflush(stdout);
        close(fd);
        free(resp);
        return got < want ? 2 : 0;
}

/* -------------------------------------------------------------- mock-serve */

static int mode_mock_serve(void) {
        rd_kafka_conf_t *conf = rd_kafka_conf_new();
        char err[512];
        set(conf, "log_level", "3");
        set(conf, "client.id", "gregor-e2e-mock");
        rd_kafka_conf_set_log_cb(conf, log_cb);
        apply_x(conf);
        /* A dummy producer handle hosts the mock cluster (see rdkafka_mock.h). */
        rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
        if (!rk)
                die("rd_kafka_new: %s", err);
        rd_kafka_mock_cluster_t *mc = rd_kafka_mock_cluster_new(rk, 1);
        if (!mc)
                die("rd_kafka_mock_cluster_new failed");
        if (opt.topic && opt.partitions > 0) {
                rd_kafka_resp_err_t e = rd_kafka_mock_topic_create(mc, opt.topic, opt.partitions, 1);
                if (e)
                        die("mock_topic_create: %s", rd_kafka_err2str(e));
        }
        printf("BOOTSTRAP %s\n", rd_kafka_mock_cluster_bootstraps(mc));
        fflush(stdout);
        char line[1024];
        while (!stop_flag && fgets(line, sizeof(line), stdin)) {
                char topic[512];
                int np;
                if (sscanf(line, "create %511s %d", topic, &np) == 2) {
                        rd_kafka_resp_err_t e = rd_kafka_mock_topic_create(mc, topic, np, 1);
                        if (e)
                                printf("err %s %s\n", topic, rd_kafka_err2str(e));
                        else
                                printf("ok %s\n", topic);
                } else if (!strncmp(line, "quit", 4)) {
                        break;
                } else {
                        printf("err unknown command\n");
                }
                fflush(stdout);
        }
        rd_kafka_mock_cluster_destroy(mc);
        rd_kafka_destroy(rk);
        return 0;
}

/* -------------------------------------------------------------------- main */

static void usage(void) {
        fprintf(stderr,
                "usage: loadgen create|delete|produce|latency|consume|rawfetch|mock-serve [-b bootstrap] [-t topic]\n"
                "       [-p partitions] [-n records] [-s size] [-a 1|all] [-r MB/s] [-d secs] [-w warmup]\n"
                "       [-c chunk] [-L] [-V] [-q] [-T tracefile] [-X key=value]...\n");
        exit(64);
}

int main(int argc, char **argv) {
        if (argc < 2)
                usage();
        opt.mode = argv[1];
        int c;
        optind = 2;
        while ((c = getopt(argc, argv, "b:t:p:n:s:a:r:d:w:c:LVqT:X:")) != -1) {
                switch (c) {
                case 'b': opt.bootstrap = optarg; break;
                case 't': opt.topic = optarg; break;
                case 'p': opt.partitions = atoi(optarg); break;
                case 'n': opt.records = atoll(optarg); break;
                case 's': opt.size = atoi(optarg); break;
                case 'a': opt.acks = optarg; break;
                case 'r': opt.rate_mbps = atof(optarg); break;
                case 'd': opt.duration = atof(optarg); break;
                case 'w': opt.warmup = atof(optarg); break;
                case 'c': opt.chunk = atoi(optarg); break;
                case 'L': opt.loop = 1; break;
                case 'V': opt.verify = 1; break;
                case 'q': opt.quiet = 1; break;
                case 'T': opt.trace = optarg; break;
                case 'X':
                        if (opt.nx >= MAX_X)
                                die("too many -X");
                        opt.xs[opt.nx++] = optarg;
                        break;
                default: usage();
                }
        }
        signal(SIGINT, on_signal);
        signal(SIGTERM, on_signal);
        signal(SIGPIPE, SIG_IGN);
        if (strcmp(opt.mode, "mock-serve") && !opt.topic)
                opt.topic = "bench";
        if (!strcmp(opt.mode, "create"))
                return mode_create();
        if (!strcmp(opt.mode, "delete"))
                return mode_delete();
        if (!strcmp(opt.mode, "produce"))
                return mode_produce();
        if (!strcmp(opt.mode, "latency"))
                return mode_latency();
        if (!strcmp(opt.mode, "consume"))
                return mode_consume();
        if (!strcmp(opt.mode, "rawfetch"))
                return mode_rawfetch();
        if (!strcmp(opt.mode, "mock-serve"))
                return mode_mock_serve();
        usage();
        return 64;
}
