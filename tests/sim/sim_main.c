/* sim_main.c - runs the simulator over many seeds (3, 5 and 7 replicas in
 * turn) or replays one, and prints one summary line:
 *
 *   sim: S steps, N seeds, F faults, V violations
 *
 * Exit status 0 when no invariant was violated (or, with --expect-violation,
 * for the mutant check, when one was), 1 otherwise, 2 on bad arguments. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sim.h"

static void usage(void)
{
    fprintf(stderr,
            "usage: sim [--seed S] [--replicas N] [--steps-per-seed K] [--total-steps T]\n"
            "           [--first-seed S] [--max-seconds X] [--expect-violation]\n"
            "  --seed S           replay one seed (with --replicas as printed on failure)\n"
            "  --total-steps T    run seeds first-seed, first-seed+1, ... until T steps\n"
            "  --max-seconds X    stop starting seeds after X seconds (then exit 1 unless\n"
            "                     T steps were reached)\n");
    exit(2);
}

static double seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static uint64_t arg_u64(int argc, char **argv, int *i)
{
    if (*i + 1 >= argc)
        usage();
    char *end;
    unsigned long long v = strtoull(argv[++*i], &end, 10);
    if (*end || end == argv[*i])
        usage();
    return v;
}

int main(int argc, char **argv)
{
    uint64_t seed = 0, first = 1, per_seed = 20000, total = 1000000, max_s = 0;
    int one = 0, replicas = 0, expect = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--seed")) {
            seed = arg_u64(argc, argv, &i);
            one = 1;
        } else if (!strcmp(argv[i], "--replicas")) {
            replicas = (int)arg_u64(argc, argv, &i);
        } else if (!strcmp(argv[i], "--steps-per-seed")) {
            per_seed = arg_u64(argc, argv, &i);
        } else if (!strcmp(argv[i], "--total-steps")) {
            total = arg_u64(argc, argv, &i);
        } else if (!strcmp(argv[i], "--first-seed")) {
            first = arg_u64(argc, argv, &i);
        } else if (!strcmp(argv[i], "--max-seconds")) {
            max_s = arg_u64(argc, argv, &i);
        } else if (!strcmp(argv[i], "--expect-violation")) {
            expect = 1;
        } else {
            usage();
        }
    }
    if ((replicas && (replicas < 3 || replicas > SIM_MAX_N || replicas % 2 == 0)) || !per_seed)
        usage();
    static const int turn[] = {3, 5, 7};
    sim_stats st = {0};
    uint64_t seeds = 0;
    double t0 = seconds();
    int timed_out = 0;
    for (uint64_t s = one ? seed : first;; s++) {
        sim_params p = {.seed = s, .n = replicas ? replicas : turn[s % 3], .steps = per_seed};
        sim_run(&p, &st);
        seeds++;
        if (one || st.violations || st.steps >= total)
            break;
        if (max_s && seconds() - t0 > (double)max_s) {
            timed_out = 1;
            break;
        }
    }
    printf("sim: faults by kind:");
    for (int k = 0; k < 16; k++)
        if (sim_fault_names[k])
            printf(" %s %llu", sim_fault_names[k], (unsigned long long)st.by_kind[k]);
    printf("\nsim: %llu acknowledged writes, %llu reads served by replicas and %llu by the "
           "cache (%llu refused, %llu of them "
           "for a change not yet known safe), %llu elections (%llu after a handover), %llu snapshots "
           "installed, %.1f s\n",
           (unsigned long long)st.acked, (unsigned long long)st.reads,
           (unsigned long long)st.cache_hits,
           (unsigned long long)st.refused_reads, (unsigned long long)st.refused_unsafe, (unsigned long long)st.elections,
           (unsigned long long)st.handovers, (unsigned long long)st.snapshots, seconds() - t0);
    printf("sim: %llu steps, %llu seeds, %llu faults, %d violations\n",
           (unsigned long long)st.steps, (unsigned long long)seeds,
           (unsigned long long)st.faults, st.violations);
    if (timed_out)
        printf("sim: stopped after %llu s with %llu of %llu steps\n", (unsigned long long)max_s,
               (unsigned long long)st.steps, (unsigned long long)total);
    if (expect)
        return st.violations ? 0 : 1;
    return st.violations || timed_out ? 1 : 0;
}
