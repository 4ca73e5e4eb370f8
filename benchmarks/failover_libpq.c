/* benchmarks/failover_libpq CONNINFO CONTROL DELAY_MS: libpq through the
 * failover failover_pgcoro sees, with the same multi-host conninfo: one
 * connection writing in a loop, reconnecting after every failure at once
 * (DELAY_MS 0, the common loop) or after a fixed pause. Prints the same
 * JSON line (CPU time of the writing thread). */
#define _GNU_SOURCE /* RUSAGE_THREAD */
#include <libpq-fe.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

static const char* control;
static atomic_int crashed, promoted;
static struct timespec promoted_at;

static double now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static double thread_cpu_ms(void) {
    struct rusage u;
    getrusage(RUSAGE_THREAD, &u);
    return (u.ru_utime.tv_sec + u.ru_stime.tv_sec) * 1e3 + (u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e3;
}

static void run(const char* action) {
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "%s %s", control, action);
    if (system(cmd) != 0) abort();
}

static void* conduct(void* unused) {
    (void)unused;
    sleep(1);
    atomic_store(&crashed, 1);
    run("stop 0");
    sleep(1);
    run("promote 1");
    clock_gettime(CLOCK_MONOTONIC, &promoted_at);
    atomic_store(&promoted, 1);
    return NULL;
}

int main(int argc, char** argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: failover_libpq CONNINFO CONTROL DELAY_MS\n");
        return 2;
    }
    char conninfo[4096];
    snprintf(conninfo, sizeof conninfo, "%s target_session_attrs=read-write", argv[1]);
    control = argv[2];
    const int delay_ms = atoi(argv[3]);
    pthread_t conductor;
    pthread_create(&conductor, NULL, conduct, NULL);

    PGconn* conn = NULL;
    long attempts = 0, attempts_at_crash = -1;
    double cpu_at_crash = 0;
    char value[32];
    for (int k = 1;; ++k) {
        if (attempts_at_crash < 0 && atomic_load(&crashed)) {
            attempts_at_crash = attempts;
            cpu_at_crash = thread_cpu_ms();
        }
        if (!conn) {
            ++attempts;
            conn = PQconnectdb(conninfo);
            if (PQstatus(conn) != CONNECTION_OK) {
                PQfinish(conn);
                conn = NULL;
                if (delay_ms > 0) usleep(delay_ms * 1000);
                continue;
            }
        }
        snprintf(value, sizeof value, "%d", k);
        const char* params[1] = {value};
        PGresult* r = PQexecParams(conn, "INSERT INTO writes VALUES ($1)", 1, NULL, params, NULL, NULL, 0);
        const int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
        PQclear(r);
        if (!ok) {
            PQfinish(conn);
            conn = NULL;
            continue;
        }
        if (atomic_load(&promoted)) break;
    }
    const double first_write = now_ms();
    const double cpu = thread_cpu_ms() - cpu_at_crash;
    pthread_join(conductor, NULL);
    const double promotion = promoted_at.tv_sec * 1e3 + promoted_at.tv_nsec / 1e6;
    printf("{\"client\":\"libpq loop (%s)\",\"promotion_to_first_write_ms\":%.0f,\"connect_attempts\":%ld,"
           "\"client_cpu_ms\":%.1f}\n",
           delay_ms > 0 ? "fixed pause" : "no pause", first_write - promotion, attempts - attempts_at_crash, cpu);
    PQfinish(conn);
    return 0;
}
