/* kernels_index.c: casts and the indexing kernels (argmax/argmin, gather,
 * gatherelements, scatternd, scatterelements, topk, trilu, cumsum) of kernels.h.  Indices arrive as float32
 * storage (exact integers within +-2^24, ir.h); an index out of range is
 * returned to the caller, which names the op. */
#include "kernels.h"

#include <math.h>

void kernel_cast(int64_t n, CastMode mode, const float *x, float *y)
{
    for (int64_t i = 0; i < n; i++)
        y[i] = mode == CAST_BOOL ? (x[i] != 0.0f ? 1.0f : 0.0f) : mode == CAST_INT ? truncf(x[i]) : x[i];
}

void kernel_argextreme(int64_t outer, int64_t len, int64_t inner, bool max, bool last, const float *x, float *y)
{
    for (int64_t o = 0; o < outer; o++)
        for (int64_t i = 0; i < inner; i++) {
            const float *row = x + o * len * inner + i;
            int64_t best = 0;
            for (int64_t k = 1; k < len; k++) {
                float v = row[k * inner], b = row[best * inner];
                if (isnan(b))
                    break;          /* the first NaN wins, as numpy's argmax */
                bool better = isnan(v) || (max ? v > b : v < b) || (last && v == b);
                if (better)
                    best = k;
            }
            y[o * inner + i] = (float)best;
        }
}

/* An index as a position in [0, len), or -1 when out of [-len, len). */
static int64_t wrap_index(float f, int64_t len)
{
    if (!(f >= (float)-len && f < (float)len))
        return -1;
    int64_t k = (int64_t)f;
    return k < 0 ? k + len : k;
}

int64_t kernel_gather(int64_t outer, int64_t len, int64_t inner, const float *data, int64_t n_idx,
                      const float *idx, float *y)
{
    for (int64_t j = 0; j < n_idx; j++)
        if (wrap_index(idx[j], len) < 0)
            return j;
    for (int64_t o = 0; o < outer; o++)
        for (int64_t j = 0; j < n_idx; j++) {
            const float *src = data + (o * len + wrap_index(idx[j], len)) * inner;
            float *dst = y + (o * n_idx + j) * inner;
            for (int64_t i = 0; i < inner; i++)
                dst[i] = src[i];
        }
    return -1;
}

/* The flat position in data (data_dims) of the element at pos, coordinates
 * over idx_dims, with its axis coordinate replaced by k; pos then steps to
 * the next element (GatherElements, ScatterElements). */
static int64_t axis_replaced(int rank, const int64_t *data_dims, const int64_t *idx_dims, int axis, int64_t k,
                             int64_t *pos)
{
    int64_t at = 0;
    for (int d = 0; d < rank; d++)
        at = at * data_dims[d] + (d == axis ? k : pos[d]);
    for (int d = rank - 1; d >= 0 && ++pos[d] == idx_dims[d]; d--)
        pos[d] = 0;
    return at;
}

int64_t kernel_gather_elements(int rank, const int64_t *data_dims, const float *data, const int64_t *idx_dims,
                               const float *idx, int axis, float *y)
{
    int64_t n = 1, pos[KERNEL_MAX_RANK] = {0};
    for (int d = 0; d < rank; d++)
        n *= idx_dims[d];
    for (int64_t f = 0; f < n; f++) {
        int64_t k = wrap_index(idx[f], data_dims[axis]);
        if (k < 0)
            return f;
        y[f] = data[axis_replaced(rank, data_dims, idx_dims, axis, k, pos)];
    }
    return -1;
}

/* An update combined with the element it lands on (ScatterReduction's order:
 * replace, add, multiply, max, min; max and min as fmaxf and fminf). */
static float scatter_combine(int reduction, float old, float update)
{
    switch (reduction) {
    case 1: return old + update;
    case 2: return old * update;
    case 3: return fmaxf(old, update);
    case 4: return fminf(old, update);
    default: return update;
    }
}

int64_t kernel_scatter_nd(int rank, const int64_t *data_dims, const float *data, int64_t tuples, int k,
                          const float *idx, const float *updates, int reduction, float *y)
{
    int64_t numel = 1, slice = 1;
    for (int d = 0; d < rank; d++)
        numel *= data_dims[d];
    for (int d = k; d < rank; d++)
        slice *= data_dims[d];
    for (int64_t j = 0; j < numel; j++)
        y[j] = data[j];
    for (int64_t t = 0; t < tuples; t++) {
        int64_t at = 0;
        for (int d = 0; d < k; d++) {
            int64_t i = wrap_index(idx[t * k + d], data_dims[d]);
            if (i < 0)
                return t * k + d;
            at = at * data_dims[d] + i;
        }
        for (int64_t e = 0; e < slice; e++)
            y[at * slice + e] = scatter_combine(reduction, y[at * slice + e], updates[t * slice + e]);
    }
    return -1;
}

int64_t kernel_scatter_elements(int rank, const int64_t *data_dims, const float *data, const int64_t *idx_dims,
                                const float *idx, const float *updates, int axis, int reduction, float *y)
{
    int64_t numel = 1, n = 1, pos[KERNEL_MAX_RANK] = {0};
    for (int d = 0; d < rank; d++)
        numel *= data_dims[d], n *= idx_dims[d];
    for (int64_t j = 0; j < numel; j++)
        y[j] = data[j];
    for (int64_t f = 0; f < n; f++) {
        int64_t k = wrap_index(idx[f], data_dims[axis]);
        if (k < 0)
            return f;
        int64_t at = axis_replaced(rank, data_dims, idx_dims, axis, k, pos);
        y[at] = scatter_combine(reduction, y[at], updates[f]);
    }
    return -1;
}

/* Whether u ranks before v: larger (smaller) first, NaN above every number. */
static bool ranks_before(float u, float v, bool largest)
{
    if (isnan(u) || isnan(v))
        return isnan(u) && !isnan(v) && largest;
    return largest ? u > v : u < v;
}

void kernel_topk(int64_t outer, int64_t len, int64_t inner, int64_t k, bool largest, const float *x, float *y)
{
    /* an insertion into the sorted k best so far: stable, so among equals the earlier index stays first */
    for (int64_t o = 0; o < outer; o++)
        for (int64_t i = 0; i < inner; i++) {
            const float *row = x + o * len * inner + i;
            float *best = y + o * k * inner + i;
            int64_t kept = 0;
            for (int64_t j = 0; j < len; j++) {
                int64_t at = kept;
                while (at > 0 && ranks_before(row[j * inner], row[(int64_t)best[(at - 1) * inner] * inner], largest))
                    at--;
                if (at >= k)
                    continue;
                for (int64_t m = (kept < k ? kept : k - 1); m > at; m--)
                    best[m * inner] = best[(m - 1) * inner];
                best[at * inner] = (float)j;
                if (kept < k)
                    kept++;
            }
        }
}

void kernel_trilu(int64_t batch, int64_t rows, int64_t cols, bool upper, int64_t k, const float *x, float *y)
{
    for (int64_t b = 0; b < batch; b++)
        for (int64_t i = 0; i < rows; i++)
            for (int64_t j = 0; j < cols; j++) {
                int64_t at = (b * rows + i) * cols + j;
                bool keep = upper ? j - i >= k : j - i <= k;
                y[at] = keep ? x[at] : 0.0f;
            }
}

void kernel_cumsum(int64_t outer, int64_t len, int64_t inner, bool exclusive, bool reverse, const float *x,
                   float *y)
{
    for (int64_t o = 0; o < outer; o++)
        for (int64_t i = 0; i < inner; i++) {
            double sum = 0.0;
            for (int64_t step = 0; step < len; step++) {
                int64_t k = reverse ? len - 1 - step : step;
                int64_t at = (o * len + k) * inner + i;
                double v = x[at];
                if (!exclusive)
                    sum += v;
                y[at] = (float)sum;
                if (exclusive)
                    sum += v;
            }
        }
}
