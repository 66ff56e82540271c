/*
 * minGRU / minLSTM on the CPU: gates + linear recurrence in one pass, forward and backward.
 *
 * The same mathematics as rnnkit/functional/minrnn.py (read that first); this file only fuses
 * it so every element of k is read once per direction instead of ~15 times by separate torch
 * ops. Loaded with ctypes by rnnkit/functional/_ckernel.py, which compiles it on first use.
 *
 * Layout (all contiguous, row-major):
 *   k     (T, B, G*H)  gate logits x W_ih^T + b_ih; blocks z|h (G = 2) or i|f|h (G = 3)
 *   h     (T, B, H)    the state after every step (forward output, backward input)
 *   h0    (B, H)       initial state
 *   valid (T, B)       1 at real steps, 0 at padding (a = 1, b = 0: the state carries), or NULL
 *   dh    (T, B, H)    dL/dh from above;  dk (T, B, G*H): dL/dk out
 *   delta (B, H)       the adjoint carried backwards in time, in and out (ends as dL/dh0)
 * Each call handles batch rows [b0, b1), so callers may split the batch over threads, and the
 * backward runs on a block of steps, so callers may walk time in blocks (last block first).
 *
 * Recurrence h_t = a_t h_{t-1} + b_t with b_t = w_t g(k_h), a_t = 1 - w_t:
 *   minGRU   w = sigmoid(k_z)
 *   minLSTM  w = i / (i + f),  i = sigmoid(k_i), f = sigmoid(k_f)
 *   g(x) = x + 0.5 (x >= 0), sigmoid(x) (x < 0)
 * Every exponential below has a non-positive argument, so nothing overflows.
 */
#include <math.h>
#include <stddef.h>

#define DEFINE_KERNELS(real, EXP, SUFFIX)                                                       \
                                                                                                \
    /* g(x), g'(x), both branches computed so the loop vectorises */                            \
    static inline void g_and_dg_##SUFFIX(real x, real *g, real *dg) {                           \
        real e = EXP(x < 0 ? x : (real)0); /* e^{min(x, 0)} */                                  \
        real s = e / (1 + e);              /* sigmoid(x) for x < 0 */                           \
        *g = x >= 0 ? x + (real)0.5 : s;                                                        \
        *dg = x >= 0 ? (real)1 : s * (1 - s);                                                   \
    }                                                                                           \
                                                                                                \
    /* minGRU: w = sigmoid(kz) and a = 1 - w without cancellation */                            \
    static inline void gru_gate_##SUFFIX(real kz, real *w, real *a) {                           \
        real e = EXP(kz < 0 ? kz : -kz); /* e^{-|kz|} */                                        \
        real r = 1 / (1 + e);                                                                   \
        *w = kz >= 0 ? r : e * r;                                                               \
        *a = kz >= 0 ? e * r : r;                                                               \
    }                                                                                           \
                                                                                                \
    /* minLSTM: w = i/(i+f) and a = f/(i+f) from i = sigmoid(k_i), f = sigmoid(k_f), both       \
       scaled by (1 + e^{-k_i})(1 + e^{-k_f}) e^{-m}, m = max(0, -k_i, -k_f): one term of the   \
       denominator is 1, so it never underflows to 0/0. */                                      \
    static inline void lstm_gate_##SUFFIX(real ki, real kf, real *w, real *a) {                 \
        real m = -ki > -kf ? -ki : -kf;                                                         \
        m = m > 0 ? m : (real)0;                                                                \
        real e0 = EXP(-m), ei = EXP(-ki - m), ef = EXP(-kf - m);                                \
        real num_w = e0 + ef, num_a = e0 + ei, den = num_w + num_a;                             \
        *w = num_w / den;                                                                       \
        *a = num_a / den;                                                                       \
    }                                                                                           \
                                                                                                \
    /* sigmoid(-x) = 1 - sigmoid(x), stably */                                                  \
    static inline real sigmoid_neg_##SUFFIX(real x) {                                           \
        real e = EXP(x < 0 ? x : -x); /* e^{-|x|} */                                            \
        return x >= 0 ? e / (1 + e) : 1 / (1 + e);                                              \
    }                                                                                           \
                                                                                                \
    /* One (t, b) row of H features. Separate functions so that `restrict` reaches the          \
       vectoriser (it gives up on loops needing more than 10 run-time alias checks). */         \
    static void gru_row_fwd_##SUFFIX(const real *restrict kz, const real *restrict kh,          \
                                     const real *restrict hp, real *restrict hr, long H) {      \
        for (long j = 0; j < H; j++) {                                                          \
            real w, a, g, dg;                                                                   \
            gru_gate_##SUFFIX(kz[j], &w, &a);                                                   \
            g_and_dg_##SUFFIX(kh[j], &g, &dg);                                                  \
            hr[j] = a * hp[j] + w * g;                                                          \
        }                                                                                       \
    }                                                                                           \
                                                                                                \
    static void lstm_row_fwd_##SUFFIX(const real *restrict ki, const real *restrict kf,         \
                                      const real *restrict kh, const real *restrict hp,         \
                                      real *restrict hr, long H) {                              \
        for (long j = 0; j < H; j++) {                                                          \
            real w, a, g, dg;                                                                   \
            lstm_gate_##SUFFIX(ki[j], kf[j], &w, &a);                                           \
            g_and_dg_##SUFFIX(kh[j], &g, &dg);                                                  \
            hr[j] = a * hp[j] + w * g;                                                          \
        }                                                                                       \
    }                                                                                           \
                                                                                                \
    /* delta_t = dh_t + a_{t+1} delta_{t+1}; `dl` holds a_{t+1} delta_{t+1} on entry and        \
       a_t delta_t on exit. With b = w g, a = 1 - w: dL/dw = delta (g - h_{t-1}),               \
       dL/dk_h = delta w g'; and dw/d(logit) = w a. */                                          \
    static void gru_row_bwd_##SUFFIX(const real *restrict kz, const real *restrict kh,          \
                                     const real *restrict hp, const real *restrict dhr,         \
                                     real *restrict dkz, real *restrict dkh,                    \
                                     real *restrict dl, long H) {                               \
        for (long j = 0; j < H; j++) {                                                          \
            real w, a, g, dg;                                                                   \
            gru_gate_##SUFFIX(kz[j], &w, &a);                                                   \
            g_and_dg_##SUFFIX(kh[j], &g, &dg);                                                  \
            real d = dl[j] + dhr[j];                                                            \
            dkz[j] = d * (g - hp[j]) * w * a;                                                   \
            dkh[j] = d * w * dg;                                                                \
            dl[j] = a * d;                                                                      \
        }                                                                                       \
    }                                                                                           \
                                                                                                \
    /* As above, w = sigmoid(d), d = log i - log f: d(d)/dk_i = sigmoid(-k_i), -sigmoid(-k_f) */ \
    static void lstm_row_bwd_##SUFFIX(const real *restrict ki, const real *restrict kf,         \
                                      const real *restrict kh, const real *restrict hp,         \
                                      const real *restrict dhr, real *restrict dki,             \
                                      real *restrict dkf, real *restrict dkh,                   \
                                      real *restrict dl, long H) {                              \
        for (long j = 0; j < H; j++) {                                                          \
            real w, a, g, dg;                                                                   \
            lstm_gate_##SUFFIX(ki[j], kf[j], &w, &a);                                           \
            g_and_dg_##SUFFIX(kh[j], &g, &dg);                                                  \
            real d = dl[j] + dhr[j];                                                            \
            real dw = d * (g - hp[j]) * w * a;                                                  \
            dki[j] = dw * sigmoid_neg_##SUFFIX(ki[j]);                                          \
            dkf[j] = -dw * sigmoid_neg_##SUFFIX(kf[j]);                                         \
            dkh[j] = d * w * dg;                                                                \
            dl[j] = a * d;                                                                      \
        }                                                                                       \
    }                                                                                           \
                                                                                                \
    void minrnn_forward_##SUFFIX(long G, const real *k, const real *h0,                         \
                                 const unsigned char *valid, real *h, long T, long B, long H,   \
                                 long b0, long b1) {                                            \
        for (long t = 0; t < T; t++) {                                                          \
            for (long b = b0; b < b1; b++) {                                                    \
                const real *kr = k + (t * B + b) * G * H;                                       \
                const real *hp = t ? h + ((t - 1) * B + b) * H : h0 + b * H;                    \
                real *hr = h + (t * B + b) * H;                                                 \
                if (valid && !valid[t * B + b]) { /* padding: the state carries over */         \
                    for (long j = 0; j < H; j++) hr[j] = hp[j];                                 \
                } else if (G == 2) {                                                            \
                    gru_row_fwd_##SUFFIX(kr, kr + H, hp, hr, H);                                \
                } else {                                                                        \
                    lstm_row_fwd_##SUFFIX(kr, kr + H, kr + 2 * H, hp, hr, H);                   \
                }                                                                               \
            }                                                                                   \
        }                                                                                       \
    }                                                                                           \
                                                                                                \
    /* Steps T-1 .. 0 of a block of T steps (call blocks last to first). hp0 is the state       \
       before the block's first step; delta (B, H) carries a_{t+1} delta_{t+1} between blocks   \
       (zero before the last block; after the first block it is dL/dh0). */                     \
    void minrnn_backward_##SUFFIX(long G, const real *k, const real *hp0, const real *h,        \
                                  const unsigned char *valid, const real *dh, real *dk,         \
                                  real *delta, long T, long B, long H, long b0, long b1) {      \
        for (long t = T - 1; t >= 0; t--) {                                                     \
            for (long b = b0; b < b1; b++) {                                                    \
                const real *kr = k + (t * B + b) * G * H;                                       \
                const real *hp = t ? h + ((t - 1) * B + b) * H : hp0 + b * H;                   \
                const real *dhr = dh + (t * B + b) * H;                                         \
                real *dkr = dk + (t * B + b) * G * H, *dl = delta + b * H;                      \
                if (valid && !valid[t * B + b]) { /* padding: no gates, delta passes */         \
                    for (long j = 0; j < G * H; j++) dkr[j] = 0;                                \
                    for (long j = 0; j < H; j++) dl[j] += dhr[j];                               \
                } else if (G == 2) {                                                            \
                    gru_row_bwd_##SUFFIX(kr, kr + H, hp, dhr, dkr, dkr + H, dl, H);             \
                } else {                                                                        \
                    lstm_row_bwd_##SUFFIX(kr, kr + H, kr + 2 * H, hp, dhr, dkr, dkr + H,        \
                                          dkr + 2 * H, dl, H);                                  \
                }                                                                               \
            }                                                                                   \
        }                                                                                       \
    }

DEFINE_KERNELS(float, expf, f32)
DEFINE_KERNELS(double, exp, f64)
