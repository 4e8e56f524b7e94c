/* bench_kernels.c - throughput of the ternary GEMM kernels, 1 and 2 threads.
 *
 * For the BitNet-2B matrix shapes (M x K = 2560x2560, 640x2560, 6912x2560,
 * 2560x6912) and batch widths N in {1,2,4,...,128}, times the Vec-LUT and the
 * multiply-add kernels on every SIMD ISA this CPU supports (the scalar
 * reference only for N <= 8 on one shape), with 1 and 2 threads (rows split
 * as the forward pass splits them), reports the median of --reps runs
 * as GMAC/s (weight x token products per second) and ns per token, the LUT/MAD
 * crossover N per shape, and the LUT figures as a fraction of a rough ceiling:
 * one 512-bit lookup-add (or two 256-bit ones) per cycle covers VLUT_G * 32 =
 * 128 products, i.e. 128 * f GMAC/s at f GHz. The weights of one shape (up to
 * 4.4 MB packed) fit this machine's L3, so these are cache-warm figures, not
 * memory-bound ones.
 *
 * Then the LM head's int8 block GEMM (q8.h) at SMALL's shape, 32000 x 1024,
 * one thread, for the same widths: the AVX-512 VNNI kernel and, where the
 * CPU has AMX, the AMX one, run alternately in this process (3 x --reps runs
 * each) so that a noisy machine slows both alike; medians and their ratio.
 * On a CPU without AVX-512, the AVX2 kernel alone.
 * Unlike the ternary shapes, its 33 MB of weights stream from memory.
 *
 *   build/bench_kernels [--reps N] [--json FILE] [--quick] [--no-head]
 */
#include "engine/status.h"
#include "kernels/kernels.h"
#include "kernels/q8.h"
#include "kernels/threadpool.h"
#include "kernels/vlut.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct shape {
    const char *name;
    int64_t M, K;
};

static const struct shape shapes[] = {
    {"attn_qo 2560x2560", 2560, 2560},
    {"attn_kv 640x2560", 640, 2560},
    {"ffn_up 6912x2560", 6912, 2560},
    {"ffn_down 2560x6912", 2560, 6912},
};
#define N_SHAPES (int)(sizeof shapes / sizeof shapes[0])
static const int64_t widths[] = {1, 2, 4, 8, 16, 32, 64, 128};
#define N_WIDTHS (int)(sizeof widths / sizeof widths[0])
#define MAX_N 128

enum kernel { K_LUT, K_MAD };
static const char *const kernel_name[] = {"lut", "mad"};

struct result {
    int shape;
    int64_t N;
    int threads;
    enum kern_isa isa;
    enum kernel kernel;
    double median_s;
    double min_s;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void cpu_model(char *buf, size_t len)
{
    snprintf(buf, len, "unknown");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "model name", 10) == 0) {
            char *colon = strchr(line, ':');
            if (colon) {
                colon++;
                while (*colon == ' ' || *colon == '\t')
                    colon++;
                colon[strcspn(colon, "\n")] = 0;
                snprintf(buf, len, "%s", colon);
            }
            break;
        }
    }
    fclose(f);
}

static double gmacs(const struct result *r)
{
    const struct shape *s = &shapes[r->shape];
    return (double)s->M * (double)s->K * (double)r->N / r->median_s * 1e-9;
}

/* One timed call, split over the pool's threads by 16-row blocks (as the
 * forward pass splits its matrices), each thread with its own workspace. */
struct call {
    const struct vlut_weights *wts;
    const int8_t *x;
    int32_t *y;
    void **ws;
    size_t ws_size;
    int64_t N;
    enum kernel kernel;
};

static void call_worker(void *ctx, int ith, int nth)
{
    const struct call *c = ctx;
    int64_t m0, m1;
    tpool_split_aligned(c->wts->rows, 16, ith, nth, &m0, &m1);
    if (m0 >= m1) return;
    if (c->kernel == K_LUT)
        vlut_gemm_lut(c->wts, c->x, c->N, c->y, m0, m1, c->ws[ith], c->ws_size);
    else
        vlut_gemm_mad(c->wts, c->x, c->N, c->y, m0, m1, c->ws[ith], c->ws_size);
}

/* Run r's kernel at r's N reps times after one warm-up; fill median and min. */
static void time_kernel(struct tpool *pool, const struct vlut_weights *wts, const int8_t *x,
                        int32_t *y, void **ws, size_t ws_size, int reps, double *times,
                        struct result *r)
{
    struct call c = {wts, x, y, ws, ws_size, r->N, r->kernel};
    for (int rep = -1; rep < reps; rep++) {
        double t0 = now_s();
        tpool_run(pool, call_worker, &c);
        double t = now_s() - t0;
        if (rep >= 0) times[rep] = t;
    }
    qsort(times, (size_t)reps, sizeof *times, cmp_double);
    r->median_s = times[reps / 2];
    r->min_s = times[0];
}

/* The LM head section (see the top): medians in ms, VNNI then AMX, per N
 * (on a CPU without AVX-512, the AVX2 kernel). */
static void bench_head(int reps, int64_t only_n)
{
    char err[LF_ERRMSG_LEN];
    const enum kern_isa isa = kern_isa_supported(KERN_ISA_AVX512) ? KERN_ISA_AVX512 : KERN_ISA_AVX2;
    if (!kern_isa_supported(isa)) {
        printf("\nLM head: no AVX2 on this CPU, skipped\n");
        return;
    }
    const bool amx = isa == KERN_ISA_AVX512 && kern_amx_usable();
    const int64_t M = 32000, K = 1024, nb = q8_blocks(K), P = q8_panels(M);
    int8_t *wq = aligned_alloc(64, (size_t)(P * Q8_PANEL * nb * Q8_BLOCK));
    float *wd = aligned_alloc(64, (size_t)(P * Q8_PANEL * nb) * sizeof(float));
    int8_t *xq = aligned_alloc(64, (size_t)(MAX_N * nb * Q8_BLOCK));
    float *xd = malloc((size_t)(MAX_N * nb) * sizeof(float));
    int32_t *xs = calloc((size_t)(MAX_N * nb), sizeof(int32_t));
    float *y = malloc((size_t)(MAX_N * M) * sizeof(float));
    const int runs = 3 * reps;
    double *t[2] = {calloc((size_t)runs, sizeof(double)), calloc((size_t)runs, sizeof(double))};
    if (!wq || !wd || !xq || !xd || !xs || !y || !t[0] || !t[1]) exit(1);
    uint64_t r = 0x2545F4914F6CDD1DULL;
    for (int64_t i = 0; i < P * Q8_PANEL * nb * Q8_BLOCK; i++) {
        r = r * 6364136223846793005ULL + 1442695040888963407ULL;
        wq[i] = (int8_t)((int)((r >> 33) % 255) - 127);
    }
    for (int64_t i = 0; i < P * Q8_PANEL * nb; i++)
        wd[i] = 0.01f;
    for (int64_t i = 0; i < MAX_N * nb * Q8_BLOCK; i++) {
        r = r * 6364136223846793005ULL + 1442695040888963407ULL;
        xq[i] = (int8_t)((int)((r >> 33) % 255) - 127);
    }
    for (int64_t i = 0; i < MAX_N * nb; i++)
        xd[i] = 0.02f;
    const struct q8_matrix w = {M, K, wq, wd};
    printf("\nLM head (int8 blocks) %lldx%lld, 1 thread, medians of %d alternating runs (ms):\n",
           (long long)M, (long long)K, runs);
    printf("%5s %10s %10s %8s\n", "N", isa == KERN_ISA_AVX512 ? "vnni" : "avx2", amx ? "amx" : "-",
           amx ? "vnni/amx" : "");
    for (int wi = 0; wi < N_WIDTHS; wi++) {
        const int64_t N = widths[wi];
        if (only_n > 0 && N != only_n) continue;
        for (int run = -1; run < runs; run++)
            for (int v = 0; v < 1 + amx; v++) {
                /* v = 0: VNNI (AMX off), v = 1: AMX (from Q8_AMX_MIN_TOKENS) */
                if (v == 0) setenv("LUTFUSE_AMX", "0", 1);
                if (kern_set_isa(isa, err, sizeof err) < 0) exit(1);
                unsetenv("LUTFUSE_AMX");
                const double t0 = now_s();
                q8_gemm(&w, xq, xd, xs, N, y, M, 0, M);
                if (run >= 0) t[v][run] = now_s() - t0;
            }
        double med[2] = {0, 0};
        for (int v = 0; v < 1 + amx; v++) {
            qsort(t[v], (size_t)runs, sizeof(double), cmp_double);
            med[v] = t[v][runs / 2] * 1e3;
        }
        if (amx)
            printf("%5lld %10.3f %10.3f %8.2f%s\n", (long long)N, med[0], med[1], med[0] / med[1],
                   N < Q8_AMX_MIN_TOKENS ? "  (AMX kernel not used below 16)" : "");
        else
            printf("%5lld %10.3f\n", (long long)N, med[0]);
        fflush(stdout);
    }
    free(t[0]), free(t[1]);
    free(y), free(xs), free(xd), free(xq), free(wd), free(wq);
}

int main(int argc, char **argv)
{
    int reps = 5;
    char err[LF_ERRMSG_LEN];
    const char *json_path = NULL;
    int quick = 0;
    int only_shape = -1;
    int64_t only_n = 0;
    int only_isa = -1;
    int sweep = 0, head = 1;
    int thread_list[2] = {1, 2}, n_tc = 2;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc) {
            reps = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--json") == 0 && i + 1 < argc) {
            json_path = argv[++i];
        } else if (strcmp(argv[i], "--quick") == 0) {
            quick = 1;
        } else if (strcmp(argv[i], "--no-head") == 0) {
            head = 0;
        } else if (strcmp(argv[i], "--sweep") == 0) {
            sweep = 1;
        } else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) {
            thread_list[0] = atoi(argv[++i]);
            n_tc = 1;
        } else if (strcmp(argv[i], "--shape") == 0 && i + 1 < argc) {
            only_shape = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--n") == 0 && i + 1 < argc) {
            only_n = atoll(argv[++i]);
        } else if (strcmp(argv[i], "--isa") == 0 && i + 1 < argc) {
            enum kern_isa parsed;
            if (kern_isa_parse(argv[++i], &parsed, err, sizeof err) < 0) {
                fprintf(stderr, "%s\n", err);
                return 2;
            }
            only_isa = (int)parsed;
        } else {
            fprintf(stderr,
                    "usage: %s [--reps N] [--json FILE] [--quick] [--shape 0..%d] [--n N] "
                    "[--isa ref|avx2|avx512] [--sweep] [--threads T] [--no-head]\n",
                    argv[0], N_SHAPES - 1);
            return 2;
        }
    }
    if (reps < 1) reps = 1;
    if (kern_init(err, sizeof err) < 0) {
        fprintf(stderr, "kern_init: %s\n", err);
        return 1;
    }
    const enum kern_isa best = kern_isa();
    char model[256];
    cpu_model(model, sizeof model);
    struct tpool *pools[2] = {NULL, NULL};
    /* Largest pool first: creating a pool pins this thread, and hwloc (and
     * new threads) would then see only that one core. */
    for (int tc = n_tc - 1; tc >= 0; tc--)
        if (thread_list[tc] < 1 || tpool_new(thread_list[tc], &pools[tc], err, sizeof err) < 0) {
            fprintf(stderr, "thread pool of %d: %s\n", thread_list[tc], err);
            return 1;
        }
    printf("machine: %s, %ld cores; best ISA %s; median of %d runs\n", model,
           sysconf(_SC_NPROCESSORS_ONLN), kern_isa_name(best), reps);
    if (kern_amx_usable())
        printf("avx512-mad runs batches of %d+ tokens on AMX tiles (LUTFUSE_AMX=0: VNNI)\n",
               VLUT_AMX_MIN_TOKENS);
    for (int tc = 0; tc < n_tc; tc++)
        printf("threads: %s\n", tpool_binding(pools[tc]));
    printf("VLUT_KT=%d groups, VLUT_SUB=%d, VLUT_LANES=%d, crossover on %s: %d\n", VLUT_KT,
           VLUT_SUB, VLUT_LANES, kern_isa_name(best), kern_ops()->vlut_crossover);

    struct result *results = calloc(N_SHAPES * N_WIDTHS * KERN_ISA_COUNT * 2 * 2, sizeof *results);
    int n_results = 0;
    double *times = calloc((size_t)reps, sizeof *times);
    if (!results || !times) return 1;

    for (int si = 0; si < N_SHAPES; si++) {
        if (only_shape >= 0 && si != only_shape) continue;
        const struct shape *s = &shapes[si];
        const int64_t M = s->M, K = s->K;
        int8_t *w = malloc((size_t)(M * K));
        int8_t *x = malloc((size_t)(MAX_N * K));
        uint8_t *lut = malloc((size_t)(M * vlut_lut_row_bytes(K)));
        uint8_t *mad = malloc((size_t)(M * vlut_mad_row_bytes(K)));
        uint8_t *panel = aligned_alloc(64, (size_t)vlut_panel_bytes(M, K));
        int32_t *y = malloc((size_t)(MAX_N * M) * sizeof(int32_t));
        size_t ws_size = (vlut_workspace_size(MAX_N, K, M) + 63) & ~(size_t)63;
        void *ws[2] = {aligned_alloc(64, ws_size), aligned_alloc(64, ws_size)};
        if (!w || !x || !lut || !mad || !panel || !y || !ws[0] || !ws[1]) return 1;
        vlut_fill_random(w, M * K, x, MAX_N * K, 0x9E3779B97F4A7C15ULL + (uint64_t)si);
        if (vlut_pack(w, M, K, lut, mad) < 0 || vlut_pack_panels(w, M, K, panel) < 0) return 1;
        /* "mad" is the multiply-add kernel a model loaded on that ISA runs:
         * over PANELs where the ISA has that kernel (AVX-512), else rows. */
        const struct vlut_weights rows_w = {.rows = M, .cols = K, .lut = lut, .mad = mad};
        const struct vlut_weights panel_w = {.rows = M, .cols = K, .lut = lut, .panel = panel};

        for (int isa = 0; isa < KERN_ISA_COUNT; isa++) {
            if (!kern_isa_supported((enum kern_isa)isa)) continue;
            if (only_isa >= 0 && isa != only_isa) continue;
            if (kern_set_isa((enum kern_isa)isa, err, sizeof err) < 0) return 1;
            const struct vlut_weights *wts = kern_ops()->vlut_panels ? &panel_w : &rows_w;
            for (int wi = 0; wi < N_WIDTHS; wi++) {
                const int64_t N = widths[wi];
                if (isa == KERN_ISA_REF && (si != 1 || N > 8 || quick)) continue;
                if (quick && si != 0) continue;
                if (only_n > 0 && N != only_n) continue;
                for (int k = K_LUT; k <= K_MAD; k++)
                    for (int tc = 0; tc < n_tc; tc++) {
                        if (isa == KERN_ISA_REF && thread_list[tc] > 1) continue;
                        struct result *res = &results[n_results++];
                        *res = (struct result){.shape = si,
                                               .N = N,
                                               .threads = thread_list[tc],
                                               .isa = (enum kern_isa)isa,
                                               .kernel = (enum kernel)k};
                        time_kernel(pools[tc], wts, x, y, ws, ws_size, reps, times, res);
                        printf(
                            "%-20s N=%-4lld %dT %-6s %-3s %9.2f GMAC/s %12.0f ns/token  (best run "
                            "%.2f GMAC/s)\n",
                            s->name, (long long)N, thread_list[tc],
                            kern_isa_name((enum kern_isa)isa), kernel_name[k], gmacs(res),
                            res->median_s * 1e9 / (double)N,
                            gmacs(res) * res->median_s / res->min_s);
                        fflush(stdout);
                    }
            }
        }
        if (sweep) {
            /* Fine crossover sweep on the best ISA: N = 8, 10, ..., 40. */
            kern_set_isa(best, err, sizeof err);
            const struct vlut_weights *wts = kern_ops()->vlut_panels ? &panel_w : &rows_w;
            printf("crossover sweep %s on %s:\n", s->name, kern_isa_name(best));
            for (int64_t N = 8; N <= 40; N += 2) {
                struct result l = {
                    .shape = si, .N = N, .threads = thread_list[0], .isa = best, .kernel = K_LUT};
                struct result m = {
                    .shape = si, .N = N, .threads = thread_list[0], .isa = best, .kernel = K_MAD};
                time_kernel(pools[0], wts, x, y, ws, ws_size, reps, times, &l);
                time_kernel(pools[0], wts, x, y, ws, ws_size, reps, times, &m);
                printf("  N=%-3lld lut %7.2f  mad %7.2f GMAC/s (medians)  %s\n", (long long)N,
                       gmacs(&l), gmacs(&m), l.median_s < m.median_s ? "lut faster" : "mad faster");
                fflush(stdout);
            }
        }
        free(ws[0]);
        free(ws[1]);
        free(y);
        free(panel);
        free(mad);
        free(lut);
        free(x);
        free(w);
    }
    if (head && !quick && (only_isa < 0 || only_isa >= KERN_ISA_AVX2)) bench_head(reps, only_n);
    kern_set_isa(best, err, sizeof err);

    /* Per thread count: a table of GMAC/s per shape and N (columns
     * isa/kernel), and the LUT/MAD crossover on the best ISA. */
    for (int tc = 0; tc < n_tc; tc++) {
        const int T = thread_list[tc];
        printf("\nGMAC/s, %d thread%s\n%-20s %5s", T, T > 1 ? "s" : "", "shape", "N");
        for (int isa = 0; isa < KERN_ISA_COUNT; isa++)
            for (int k = 0; k < 2; k++)
                printf(" %7s-%s", kern_isa_name((enum kern_isa)isa), kernel_name[k]);
        printf("\n");
        for (int si = 0; si < N_SHAPES; si++)
            for (int wi = 0; wi < N_WIDTHS; wi++) {
                int any = 0;
                for (int i = 0; i < n_results; i++)
                    any |= results[i].shape == si && results[i].N == widths[wi] &&
                           results[i].threads == T;
                if (!any) continue;
                printf("%-20s %5lld", shapes[si].name, (long long)widths[wi]);
                for (int isa = 0; isa < KERN_ISA_COUNT; isa++)
                    for (int k = 0; k < 2; k++) {
                        const struct result *hit = NULL;
                        for (int i = 0; i < n_results; i++)
                            if (results[i].shape == si && results[i].N == widths[wi] &&
                                results[i].threads == T && results[i].isa == (enum kern_isa)isa &&
                                results[i].kernel == (enum kernel)k)
                                hit = &results[i];
                        if (hit)
                            printf(" %11.2f", gmacs(hit));
                        else
                            printf(" %11s", "-");
                    }
                printf("\n");
            }
        printf("\nLUT/MAD crossover on %s, %d thread%s (smallest N of the list above where LUT is "
               "faster; --sweep steps N by 2):\n",
               kern_isa_name(best), T, T > 1 ? "s" : "");
        for (int si = 0; si < N_SHAPES; si++) {
            int64_t cross = -1;
            int seen = 0;
            for (int wi = 0; wi < N_WIDTHS && cross < 0; wi++) {
                const struct result *l = NULL, *m = NULL;
                for (int i = 0; i < n_results; i++) {
                    const struct result *q = &results[i];
                    if (q->shape != si || q->N != widths[wi] || q->isa != best || q->threads != T)
                        continue;
                    if (q->kernel == K_LUT) l = q;
                    if (q->kernel == K_MAD) m = q;
                }
                seen |= l && m;
                if (l && m && l->median_s < m->median_s) cross = widths[wi];
            }
            if (!seen) continue;
            if (cross > 0)
                printf("  %-20s N >= %lld\n", shapes[si].name, (long long)cross);
            else
                printf("  %-20s none in the sweep\n", shapes[si].name);
        }
    }

    /* Fraction of the lookup-add ceiling (128 products/cycle) for LUT at N >= 32. */
    printf("\nLUT vs ceiling of %d products/cycle (%.0f..%.0f GMAC/s at 2.6..3.7 GHz):\n",
           VLUT_G * 32, VLUT_G * 32 * 2.6, VLUT_G * 32 * 3.7);
    for (int i = 0; i < n_results; i++) {
        const struct result *q = &results[i];
        if (q->kernel != K_LUT || q->N < 32 || q->isa == KERN_ISA_REF) continue;
        printf("  %-20s N=%-4lld %dT %-6s %7.2f GMAC/s = %4.1f%%..%4.1f%% (per thread)\n",
               shapes[q->shape].name, (long long)q->N, q->threads, kern_isa_name(q->isa), gmacs(q),
               100.0 * gmacs(q) / q->threads / (VLUT_G * 32 * 3.7),
               100.0 * gmacs(q) / q->threads / (VLUT_G * 32 * 2.6));
    }

    if (json_path) {
        FILE *f = fopen(json_path, "w");
        if (!f) {
            fprintf(stderr, "cannot write %s\n", json_path);
            return 1;
        }
        fprintf(f,
                "{\n  \"machine\": \"%s\",\n  \"best_isa\": \"%s\",\n"
                "  \"amx\": %s,\n"
                "  \"reps\": %d,\n  \"vlut_kt\": %d,\n  \"crossover_n\": %d,\n  \"results\": [\n",
                model, kern_isa_name(best), kern_amx_usable() ? "true" : "false", reps, VLUT_KT,
                kern_ops()->vlut_crossover);
        for (int i = 0; i < n_results; i++) {
            const struct result *q = &results[i];
            fprintf(f,
                    "    {\"shape\": \"%s\", \"M\": %lld, \"K\": %lld, \"N\": %lld, \"threads\": "
                    "%d, \"isa\": \"%s\", "
                    "\"kernel\": \"%s\", \"median_ns\": %.0f, \"gmac_per_s\": %.3f, "
                    "\"ns_per_token\": %.0f}%s\n",
                    shapes[q->shape].name, (long long)shapes[q->shape].M,
                    (long long)shapes[q->shape].K, (long long)q->N, q->threads,
                    kern_isa_name(q->isa), kernel_name[q->kernel], q->median_s * 1e9, gmacs(q),
                    q->median_s * 1e9 / (double)q->N, i + 1 < n_results ? "," : "");
        }
        fprintf(f, "  ]\n}\n");
        fclose(f);
        printf("\nwrote %s\n", json_path);
    }
    free(times);
    free(results);
    for (int tc = 0; tc < n_tc; tc++)
        tpool_free(pools[tc]);
    return 0;
}
