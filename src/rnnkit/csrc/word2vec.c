/*
 * word2vec's batch SGD step on the CPU: skip-gram or CBOW with negative sampling, float32.
 *
 * The same mathematics and update rule as rnnkit/scratch/word2vec.py (read that first) and
 * the torch ops of rnnkit/embed/engine.py: every gradient of a batch is computed from the
 * weights before the batch, then all are applied. Loaded with ctypes by
 * rnnkit/embed/_w2v_kernel.py, which compiles it on first use.
 *
 * Layout (all contiguous, row-major; P examples, K negatives, E dimensions, C context slots):
 *   w_in, w_out (V, E)       the weights, updated in place
 *   inputs      (P,) or (P, C)  skip-gram: the input word; CBOW: the context words
 *   mask        (P, C) or NULL   CBOW: 1.0 at real context slots; NULL for skip-gram
 *   rows        (P, 1+K)     the target, then the negatives
 *   h           (P, E)       scratch: each example's input vector (before the batch)
 *   g           (P, 1+K)     scratch: sigma(s) - y, 0 for a negative equal to the target
 *   dh          (P, E)       scratch: dL/dh
 *
 * Two calls per batch, each split over threads by the caller:
 *   w2v_grad_f32  examples [p0, p1): h, g, dh and the loss of those examples (reads only);
 *   w2v_apply_f32 rows r with r % parts == part: all their updates, in example order, so
 *                 threads never write the same row and the result does not depend on the
 *                 number of threads.
 */
#include <math.h>
#include <stddef.h>

static inline float sigmoidf_(float x) {
    float e = expf(-fabsf(x)); /* e^{-|x|} never overflows */
    return x >= 0 ? 1.0f / (1.0f + e) : e / (1.0f + e);
}

static inline float softplusf_(float x) { /* log(1 + e^x), stably */
    return (x > 0 ? x : 0.0f) + log1pf(expf(-fabsf(x)));
}

double w2v_grad_f32(const float *w_in, const float *w_out, long dim, const long *inputs,
                    const float *mask, long ctx, const long *rows, long k1, float *h,
                    float *g, float *dh, long p0, long p1) {
    double loss = 0.0;
    for (long p = p0; p < p1; p++) {
        float *hp = h + p * dim, *dhp = dh + p * dim, *gp = g + p * k1;
        const long *rp = rows + p * k1;
        if (mask == NULL) {
            const float *src = w_in + inputs[p] * dim;
            for (long e = 0; e < dim; e++) hp[e] = src[e];
        } else { /* CBOW: the mean of the real context rows */
            float count = 0.0f;
            for (long e = 0; e < dim; e++) hp[e] = 0.0f;
            for (long c = 0; c < ctx; c++) {
                float m = mask[p * ctx + c];
                if (m == 0.0f) continue;
                const float *src = w_in + inputs[p * ctx + c] * dim;
                for (long e = 0; e < dim; e++) hp[e] += m * src[e];
                count += m;
            }
            for (long e = 0; e < dim; e++) hp[e] /= count;
        }
        for (long e = 0; e < dim; e++) dhp[e] = 0.0f;
        for (long j = 0; j < k1; j++) {
            if (j > 0 && rp[j] == rp[0]) { /* a negative equal to the target: skipped */
                gp[j] = 0.0f;
                continue;
            }
            const float *u = w_out + rp[j] * dim;
            float s = 0.0f;
            for (long e = 0; e < dim; e++) s += u[e] * hp[e];
            float gj = sigmoidf_(s) - (j == 0 ? 1.0f : 0.0f);
            gp[j] = gj;
            loss += softplusf_(j == 0 ? -s : s);
            for (long e = 0; e < dim; e++) dhp[e] += gj * u[e];
        }
    }
    return loss;
}

void w2v_apply_f32(float *w_in, float *w_out, long dim, const long *inputs, const float *mask,
                   long ctx, const long *rows, long k1, const float *h, const float *g,
                   const float *dh, long n, float alpha, long part, long parts) {
    for (long p = 0; p < n; p++) {
        const long *rp = rows + p * k1;
        const float *hp = h + p * dim, *dhp = dh + p * dim;
        for (long j = 0; j < k1; j++) { /* W_out[r] -= alpha g h */
            long r = rp[j];
            if (r % parts != part || g[p * k1 + j] == 0.0f) continue;
            float a = alpha * g[p * k1 + j];
            float *u = w_out + r * dim;
            for (long e = 0; e < dim; e++) u[e] -= a * hp[e];
        }
        long slots = mask == NULL ? 1 : ctx;
        for (long c = 0; c < slots; c++) { /* W_in[r] -= alpha dL/dh (each context: all of it) */
            long r = mask == NULL ? inputs[p] : inputs[p * ctx + c];
            if (r % parts != part || (mask != NULL && mask[p * ctx + c] == 0.0f)) continue;
            float a = mask == NULL ? alpha : alpha * mask[p * ctx + c];
            float *w = w_in + r * dim;
            for (long e = 0; e < dim; e++) w[e] -= a * dhp[e];
        }
    }
}
