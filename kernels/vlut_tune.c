/* vlut_tune.c - measure, once at start, whether wide batches should go to
 * the Vec-LUT kernel or the multiply-add kernel on this CPU (vlut.h).
 *
 * The two kernels give the same integers; only their speed differs, and it
 * differs by machine more than by ISA: on the Xeons measured here the
 * AVX-512 multiply-add kernel (two vpdpbusd per cycle) beat the LUT at every
 * width, while a core that retires one 512-bit multiply-add per cycle but
 * two 512-bit adds may not. So the commands that run a model time both
 * kernels on one matrix before loading it, and the LUT takes wide batches
 * only where it measured clearly faster. */
#include "kernels/vlut.h"

#include "engine/status.h"
#include "kernels/kernels.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The matrix timed: K as deep as BitNet-2B's attention rows, enough rows
 * that each tile's tables serve many of them, as in the forward pass. */
#define TUNE_M 1024
#define TUNE_K 2048
#define TUNE_REPS 4 /* timed calls per kernel and width, the fastest kept */

static const int tune_widths[VLUT_TUNE_WIDTHS] = {64, 128, 256};

void vlut_fill_random(int8_t *w, int64_t nw, int8_t *x, int64_t nx, uint64_t seed)
{
    uint64_t r = seed; /* 64-bit LCG (Knuth's MMIX constants) */
    for (int64_t i = 0; i < nw; i++) {
        r = r * 6364136223846793005ULL + 1442695040888963407ULL;
        w[i] = (int8_t)((int)(r >> 33) % 3 - 1);
    }
    for (int64_t i = 0; i < nx; i++) {
        r = r * 6364136223846793005ULL + 1442695040888963407ULL;
        x[i] = (int8_t)(r >> 56);
    }
}

int vlut_tune_decide(const int *widths, const double *lut_s, const double *mad_s, int n)
{
    int min = VLUT_LUT_NEVER;
    for (int i = n - 1; i >= 0; i--) {
        if (!(lut_s[i] <= VLUT_TUNE_MARGIN * mad_s[i])) break;
        min = widths[i];
    }
    return min;
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* Fastest of TUNE_REPS calls (after one untimed call) of each kernel at
 * width N, alternating so that a slow moment of the machine hits both. */
static void time_pair(const struct vlut_weights *lut, const struct vlut_weights *mad,
                      const int8_t *x, int64_t N, int32_t *y, void *ws, size_t ws_size,
                      double *lut_s, double *mad_s)
{
    *lut_s = *mad_s = 1e30;
    for (int r = -1; r < TUNE_REPS; r++)
        for (int k = 0; k < 2; k++) {
            const double t0 = now_s();
            vlut_gemm(k ? mad : lut, x, N, y, 0, TUNE_M, ws, ws_size);
            const double dt = now_s() - t0;
            double *best = k ? mad_s : lut_s;
            if (r >= 0 && dt < *best) *best = dt;
        }
}

int vlut_tune_measure(struct vlut_tune *t, char *err, size_t err_len)
{
    const int64_t M = TUNE_M, K = TUNE_K, NMAX = tune_widths[VLUT_TUNE_WIDTHS - 1];
    const size_t ws_size = (vlut_workspace_size(NMAX, K, M) + 63) & ~(size_t)63;
    const size_t panel_bytes = ((size_t)vlut_panel_bytes(M, K) + 63) & ~(size_t)63;
    int8_t *w = malloc((size_t)(M * K));
    int8_t *x = malloc((size_t)(NMAX * K));
    uint8_t *lut = malloc((size_t)(M * vlut_lut_row_bytes(K)));
    uint8_t *panel = aligned_alloc(64, panel_bytes);
    int32_t *y = malloc((size_t)(NMAX * M) * sizeof(int32_t));
    void *ws = aligned_alloc(64, ws_size);
    int rc = 0;
    if (!w || !x || !lut || !panel || !y || !ws) {
        rc = lf_errf(err, err_len, LF_ERR_NOMEM, "kernel tuning: out of memory");
        goto out;
    }
    vlut_fill_random(w, M * K, x, NMAX * K, 0x9E3779B97F4A7C15ULL);
    if (vlut_pack(w, M, K, lut, NULL) < 0 || vlut_pack_panels(w, M, K, panel) < 0) {
        rc = lf_errf(err, err_len, LF_ERR_INVALID, "kernel tuning: packing failed");
        goto out;
    }
    /* One layout each: vlut_gemm then sends every token to that kernel. */
    const struct vlut_weights wl = {.rows = M, .cols = K, .lut = lut};
    const struct vlut_weights wm = {.rows = M, .cols = K, .panel = panel};
    double lut_s[VLUT_TUNE_WIDTHS], mad_s[VLUT_TUNE_WIDTHS];
    memset(t, 0, sizeof *t);
    t->rows = M, t->cols = K;
    for (int i = 0; i < VLUT_TUNE_WIDTHS; i++) {
        const int64_t N = tune_widths[i];
        time_pair(&wl, &wm, x, N, y, ws, ws_size, &lut_s[i], &mad_s[i]);
        const double macs = (double)N * (double)M * (double)K;
        t->widths[i] = (int)N;
        t->lut_gmacs[i] = macs / lut_s[i] * 1e-9;
        t->mad_gmacs[i] = macs / mad_s[i] * 1e-9;
    }
    t->lut_min = vlut_tune_decide(t->widths, lut_s, mad_s, VLUT_TUNE_WIDTHS);
out:
    free(w), free(x), free(lut), free(panel), free(y), free(ws);
    return rc;
}
