/* test_kernels_windows.c: im2col and pooling against naive references.
 *
 * kernel_im2col copies the windows of pixels that lie inside the input
 * through a table of tap offsets and tests bounds only at the borders;
 * pooling computes its innermost windows once per call.  Both are checked
 * here, bit for bit (they only copy and compare values), against direct
 * loops over every output, tap and bound, written from the definitions:
 * im2col row (n, pixel), column c * taps + tap holds x[n, c, pixel * stride
 * - pad + tap * dilation], or 0 outside the input; max pooling takes the
 * largest input of the window inside the input. */
#include <criterion/criterion.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/kernels.h"
#include "test_support.h"

/* The output extent of one axis (floor mode). */
static int64_t out_extent(int64_t in, int64_t kernel, int64_t stride, int64_t dilation, int64_t pad_begin,
                          int64_t pad_end)
{
    return (in + pad_begin + pad_end - dilation * (kernel - 1) - 1) / stride + 1;
}

/* 3-D index helpers: a 1-D or 2-D problem has leading extents of 1. */
typedef struct {
    int64_t in[3], kernel[3], out[3], stride[3], dilation[3], pad[3];
} Geometry;

static Geometry geometry(int spatial, const int64_t *in, const int64_t *kernel, const int64_t *out,
                         const int64_t *strides, const int64_t *dilations, const int64_t *pads)
{
    Geometry g;
    for (int i = 0; i < 3; i++) {
        int j = i - (3 - spatial);
        bool real = j >= 0;
        g.in[i] = real ? in[j] : 1;
        g.kernel[i] = real ? kernel[j] : 1;
        g.out[i] = real ? out[j] : 1;
        g.stride[i] = real ? strides[j] : 1;
        g.dilation[i] = real && dilations ? dilations[j] : 1;
        g.pad[i] = real ? pads[j] : 0;
    }
    return g;
}

static void naive_im2col(const ConvParams *p, const float *x, float *cols)
{
    Geometry g = geometry(p->spatial, p->in, p->kernel, p->out, p->strides, p->dilations, p->pads);
    int64_t taps = g.kernel[0] * g.kernel[1] * g.kernel[2];
    int64_t plane = g.in[0] * g.in[1] * g.in[2];
    int64_t width = p->in_channels * taps, row = 0;
    for (int64_t n = 0; n < p->batch; n++)
        for (int64_t o0 = 0; o0 < g.out[0]; o0++)
            for (int64_t o1 = 0; o1 < g.out[1]; o1++)
                for (int64_t o2 = 0; o2 < g.out[2]; o2++, row++)
                    for (int64_t c = 0; c < p->in_channels; c++)
                        for (int64_t t = 0; t < taps; t++) {
                            int64_t k[3] = {t / (g.kernel[1] * g.kernel[2]), t / g.kernel[2] % g.kernel[1],
                                            t % g.kernel[2]};
                            int64_t o[3] = {o0, o1, o2}, at[3];
                            bool inside = true;
                            for (int i = 0; i < 3; i++) {
                                at[i] = o[i] * g.stride[i] - g.pad[i] + k[i] * g.dilation[i];
                                inside = inside && at[i] >= 0 && at[i] < g.in[i];
                            }
                            cols[row * width + c * taps + t] =
                                inside ? x[(n * p->in_channels + c) * plane + (at[0] * g.in[1] + at[1]) * g.in[2] +
                                           at[2]]
                                       : 0.0f;
                        }
}

static void check_im2col(ConvParams p)
{
    for (int i = 0; i < p.spatial; i++)
        p.out[i] = out_extent(p.in[i], p.kernel[i], p.strides[i], p.dilations[i], p.pads[i], p.pads[p.spatial + i]);
    int64_t pixels = p.batch, taps = 1, plane = 1;
    for (int i = 0; i < p.spatial; i++) {
        pixels *= p.out[i];
        taps *= p.kernel[i];
        plane *= p.in[i];
    }
    size_t n_x = (size_t)(p.batch * p.in_channels * plane), n_cols = (size_t)(pixels * p.in_channels * taps);
    float *x = malloc(n_x * sizeof *x), *got = malloc(n_cols * sizeof *got), *want = malloc(n_cols * sizeof *want);
    test_fill(x, (int64_t)n_x, -128.0f, 128.0f);
    for (size_t i = 0; i < n_cols; i++)
        got[i] = NAN;
    kernel_im2col(&p, x, got);
    naive_im2col(&p, x, want);
    size_t wrong = 0;
    for (size_t i = 0; i < n_cols; i++)
        wrong += got[i] != want[i];
    cr_expect_eq(wrong, 0, "%zu of %zu im2col entries differ", wrong, n_cols);
    free(x);
    free(got);
    free(want);
}

Test(im2col, resnet_like_3x3_and_7x7_convs)
{
    /* interior pixels and every border: pads 1 around a 3x3, a strided 7x7 */
    check_im2col((ConvParams){.spatial = 2, .batch = 2, .in_channels = 5, .group = 1, .in = {9, 11},
                              .kernel = {3, 3}, .strides = {1, 1}, .dilations = {1, 1}, .pads = {1, 1, 1, 1}});
    check_im2col((ConvParams){.spatial = 2, .batch = 1, .in_channels = 3, .group = 1, .in = {20, 17},
                              .kernel = {7, 7}, .strides = {2, 2}, .dilations = {1, 1}, .pads = {3, 3, 3, 3}});
    check_im2col((ConvParams){.spatial = 2, .batch = 1, .in_channels = 4, .group = 1, .in = {8, 8},
                              .kernel = {1, 1}, .strides = {2, 2}, .dilations = {1, 1}, .pads = {0, 0, 0, 0}});
}

Test(im2col, dilated_uneven_pads_1d_3d_and_no_interior)
{
    check_im2col((ConvParams){.spatial = 2, .batch = 1, .in_channels = 2, .group = 1, .in = {10, 9},
                              .kernel = {3, 2}, .strides = {2, 3}, .dilations = {2, 1}, .pads = {1, 0, 2, 1}});
    check_im2col((ConvParams){.spatial = 1, .batch = 3, .in_channels = 2, .group = 1, .in = {13},
                              .kernel = {4}, .strides = {1}, .dilations = {3}, .pads = {2, 5}});
    check_im2col((ConvParams){.spatial = 3, .batch = 1, .in_channels = 2, .group = 1, .in = {4, 5, 6},
                              .kernel = {2, 3, 3}, .strides = {1, 2, 1}, .dilations = {1, 1, 2},
                              .pads = {1, 1, 0, 0, 2, 1}});
    /* a kernel as large as the padded input: no pixel is inside */
    check_im2col((ConvParams){.spatial = 2, .batch = 1, .in_channels = 1, .group = 1, .in = {3, 3},
                              .kernel = {5, 5}, .strides = {1, 1}, .dilations = {1, 1}, .pads = {1, 1, 1, 1}});
}

static void naive_maxpool(const PoolParams *p, const float *x, float *y)
{
    Geometry g = geometry(p->spatial, p->in, p->kernel, p->out, p->strides, p->dilations, p->pads);
    int64_t plane = g.in[0] * g.in[1] * g.in[2];
    for (int64_t c = 0; c < p->planes; c++)
        for (int64_t o0 = 0; o0 < g.out[0]; o0++)
            for (int64_t o1 = 0; o1 < g.out[1]; o1++)
                for (int64_t o2 = 0; o2 < g.out[2]; o2++) {
                    float best = -INFINITY;
                    for (int64_t k0 = 0; k0 < g.kernel[0]; k0++)
                        for (int64_t k1 = 0; k1 < g.kernel[1]; k1++)
                            for (int64_t k2 = 0; k2 < g.kernel[2]; k2++) {
                                int64_t a0 = o0 * g.stride[0] - g.pad[0] + k0 * g.dilation[0];
                                int64_t a1 = o1 * g.stride[1] - g.pad[1] + k1 * g.dilation[1];
                                int64_t a2 = o2 * g.stride[2] - g.pad[2] + k2 * g.dilation[2];
                                if (a0 < 0 || a0 >= g.in[0] || a1 < 0 || a1 >= g.in[1] || a2 < 0 || a2 >= g.in[2])
                                    continue;
                                float v = x[c * plane + (a0 * g.in[1] + a1) * g.in[2] + a2];
                                best = v > best ? v : best;
                            }
                    *y++ = best;
                }
}

static void check_maxpool(PoolParams p)
{
    int64_t outputs = p.planes, plane = 1;
    for (int i = 0; i < p.spatial; i++) {
        p.out[i] = out_extent(p.in[i], p.kernel[i], p.strides[i], p.dilations[i], p.pads[i], p.pads[p.spatial + i]);
        outputs *= p.out[i];
        plane *= p.in[i];
    }
    size_t n_x = (size_t)(p.planes * plane);
    float *x = malloc(n_x * sizeof *x), *got = malloc((size_t)outputs * sizeof *got);
    float *want = malloc((size_t)outputs * sizeof *want);
    test_fill(x, (int64_t)n_x, -128.0f, 128.0f);
    for (size_t i = 0; i < n_x; i++)    /* NaNs (never taken) and zeros of both signs (the first one kept) */
        x[i] = i % 7 == 3 ? NAN : i % 5 == 1 ? -0.0f : i % 5 == 2 ? 0.0f : x[i];
    kernel_maxpool(&p, x, got);
    naive_maxpool(&p, x, want);
    int64_t wrong = 0;
    for (int64_t i = 0; i < outputs; i++)
        wrong += memcmp(&got[i], &want[i], sizeof got[i]) != 0;
    cr_expect_eq(wrong, 0, "%lld of %lld pooled values differ", (long long)wrong, (long long)outputs);
    free(x);
    free(got);
    free(want);
}

Test(pool, maxpool_matches_naive_windows)
{
    /* ResNet's stem pool, dilated ones with uneven pads, a 1-D and a 3-D one */
    check_maxpool((PoolParams){.spatial = 2, .planes = 3, .in = {15, 12}, .kernel = {3, 3}, .strides = {2, 2},
                               .dilations = {1, 1}, .pads = {1, 1, 1, 1}});
    check_maxpool((PoolParams){.spatial = 2, .planes = 2, .in = {11, 9}, .kernel = {2, 3}, .strides = {1, 2},
                               .dilations = {2, 1}, .pads = {1, 0, 0, 2}});
    check_maxpool((PoolParams){.spatial = 1, .planes = 4, .in = {17}, .kernel = {4}, .strides = {3},
                               .dilations = {1}, .pads = {2, 1}});
    check_maxpool((PoolParams){.spatial = 2, .planes = 2, .in = {13, 19}, .kernel = {3, 3}, .strides = {1, 2},
                               .dilations = {1, 2}, .pads = {0, 2, 1, 0}});
    check_maxpool((PoolParams){.spatial = 3, .planes = 1, .in = {5, 6, 7}, .kernel = {2, 2, 3},
                               .strides = {1, 2, 2}, .dilations = {1, 1, 1}, .pads = {0, 1, 1, 1, 0, 1}});
}
