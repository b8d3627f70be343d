/* kernels_linear.c: Gemm and numpy-style MatMul.
 *
 * The workhorse is the row update y[i,:] += a[i,k] * b[k,:]: its inner loop is
 * contiguous in both y and b, so it vectorizes.  Gemm with transB (the layout
 * of every PyTorch Linear layer) reads b by rows instead, so there the inner
 * loop is a dot product, kept in four partial sums for instruction-level
 * parallelism. */
#include "kernels.h"

/* Sum of x[i * x_stride] * w[i] for i < n; w is contiguous. */
static float dot(int64_t n, const float *x, int64_t x_stride, const float *w)
{
    float s0 = 0.0f, s1 = 0.0f, s2 = 0.0f, s3 = 0.0f;
    int64_t i = 0;
    if (x_stride == 1) {
        for (; i + 4 <= n; i += 4) {
            s0 += x[i] * w[i];
            s1 += x[i + 1] * w[i + 1];
            s2 += x[i + 2] * w[i + 2];
            s3 += x[i + 3] * w[i + 3];
        }
    }
    for (; i < n; i++)
        s0 += x[i * x_stride] * w[i];
    return (s0 + s1) + (s2 + s3);
}

void kernel_gemm(const GemmParams *p, const float *a, const float *b, const float *c, float *y)
{
    int64_t m = p->m, n = p->n, k = p->k;
    /* op(a)[i,kk] lives at a[i * a_row + kk * a_col]. */
    int64_t a_row = p->trans_a ? 1 : k, a_col = p->trans_a ? m : 1;

    for (int64_t i = 0; i < m; i++) {
        float *yr = y + i * n;
        if (c) {
            const float *cr = c + (p->c_rows == 1 ? 0 : i) * p->c_cols;
            int64_t cj = p->c_cols == 1 ? 0 : 1;
            for (int64_t j = 0; j < n; j++)
                yr[j] = p->beta * cr[j * cj];
        } else {
            for (int64_t j = 0; j < n; j++)
                yr[j] = 0.0f;
        }
        const float *ar = a + i * a_row;
        if (p->trans_b) {
            for (int64_t j = 0; j < n; j++)
                yr[j] += p->alpha * dot(k, ar, a_col, b + j * k);
        } else {
            for (int64_t kk = 0; kk < k; kk++) {
                float av = p->alpha * ar[kk * a_col];
                const float *br = b + kk * n;
                for (int64_t j = 0; j < n; j++)
                    yr[j] += av * br[j];
            }
        }
    }
}

void kernel_matmul2d(int64_t m, int64_t k, int64_t n, const float *a, const float *b, float *y)
{
    kernel_product(m, n, k, a, k, 1, b, n, y, n);
}

void kernel_matmul(const float *a, int a_rank, const int64_t *a_dims,
                   const float *b, int b_rank, const int64_t *b_dims, float *y)
{
    /* A 1-D a is a row [1,k], a 1-D b a column [k,1]; either way the matrix
     * is laid out the same as the vector. */
    int64_t m = a_rank == 1 ? 1 : a_dims[a_rank - 2];
    int64_t k = a_dims[a_rank - 1];
    int64_t n = b_rank == 1 ? 1 : b_dims[b_rank - 1];
    int a_batch = a_rank > 2 ? a_rank - 2 : 0, b_batch = b_rank > 2 ? b_rank - 2 : 0;
    int rank = a_batch > b_batch ? a_batch : b_batch;

    /* Batch dims aligned at the right; a stride of 0 repeats a broadcast operand. */
    int64_t dims[KERNEL_MAX_RANK], a_stride[KERNEL_MAX_RANK], b_stride[KERNEL_MAX_RANK];
    int64_t a_step = m * k, b_step = k * n;
    int64_t count = 1;
    for (int i = rank - 1; i >= 0; i--) {
        int ai = i - (rank - a_batch), bi = i - (rank - b_batch);
        int64_t ad = ai >= 0 ? a_dims[ai] : 1, bd = bi >= 0 ? b_dims[bi] : 1;
        dims[i] = ad == 1 ? bd : ad;
        a_stride[i] = ad == 1 ? 0 : a_step;
        b_stride[i] = bd == 1 ? 0 : b_step;
        a_step *= ad;
        b_step *= bd;
        count *= dims[i];
    }

    int64_t idx[KERNEL_MAX_RANK] = {0};
    int64_t a_off = 0, b_off = 0;
    for (int64_t t = 0; t < count; t++) {
        kernel_matmul2d(m, k, n, a + a_off, b + b_off, y + t * m * n);
        /* Advance the batch index like an odometer. */
        for (int i = rank - 1; i >= 0; i--) {
            a_off += a_stride[i];
            b_off += b_stride[i];
            if (++idx[i] < dims[i])
                break;
            a_off -= a_stride[i] * dims[i];
            b_off -= b_stride[i] * dims[i];
            idx[i] = 0;
        }
    }
}
