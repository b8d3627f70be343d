/* kernels_conv.c: N-d convolution and pooling, direct loops without im2col.
 *
 * 1-D and 2-D problems are run as 3-D ones with leading extents of 1, so there
 * is one loop nest per op.  Convolution is organised "per tap": for each
 * output channel, input channel and kernel position (a tap), the weight is a
 * scalar and the whole valid region of the output accumulates weight * input.
 * The range of outputs a tap touches is computed once, so the innermost loop
 * runs over a contiguous output row with no bounds tests: with stride 1 it is a
 * plain axpy the compiler vectorizes.  Pooling windows are small, so pooling
 * loops over each window's valid part directly. */
#include "kernels.h"

#include <math.h>
#include <string.h>

void kernel_axes(int spatial, const int64_t *in, const int64_t *kernel, const int64_t *out, const int64_t *strides,
                 const int64_t *dilations, const int64_t *pads, KernelAxis ax[3])
{
    int lead = 3 - spatial;
    for (int i = 0; i < 3; i++)
        ax[i] = (KernelAxis){1, 1, 1, 1, 1, 0, 0};
    for (int j = 0; j < spatial; j++) {
        KernelAxis *a = &ax[lead + j];
        a->in = in[j];
        a->kernel = kernel[j];
        a->out = out[j];
        a->stride = strides[j];
        a->dilation = dilations ? dilations[j] : 1;
        a->pad_begin = pads[j];
        a->pad_end = pads[spatial + j];
    }
}

/* The outputs o in [*lo, *hi) whose input index o * stride + offset lies
 * inside [0, in). */
static void valid_outputs(const KernelAxis *a, int64_t offset, int64_t *lo, int64_t *hi)
{
    int64_t s = a->stride;
    *lo = offset >= 0 ? 0 : (-offset + s - 1) / s;
    int64_t last = a->in - 1 - offset;
    *hi = last < 0 ? 0 : last / s + 1;
    if (*hi > a->out)
        *hi = a->out;
    if (*lo > *hi)
        *lo = *hi;
}

/* The kernel positions k in [*lo, *hi) whose input index start + k * dilation
 * lies inside [0, in). */
static void valid_taps(const KernelAxis *a, int64_t start, int64_t *lo, int64_t *hi)
{
    int64_t d = a->dilation;
    *lo = start >= 0 ? 0 : (-start + d - 1) / d;
    int64_t last = a->in - 1 - start;
    *hi = last < 0 ? 0 : last / d + 1;
    if (*hi > a->kernel)
        *hi = a->kernel;
    if (*lo > *hi)
        *lo = *hi;
}

/* The outputs a kernel position along one axis touches, and the input index
 * offset it reads at: output o reads input o * stride + offset. */
typedef struct {
    int64_t lo, hi, offset;
} TapRange;

enum { CACHED_TAPS = 32 };   /* kernel extents up to this get ranges precomputed */

static TapRange tap_range(const KernelAxis *a, int64_t k)
{
    TapRange r = {.offset = k * a->dilation - a->pad_begin};
    valid_outputs(a, r.offset, &r.lo, &r.hi);
    return r;
}

/* y[plane of outputs] += wv * x[plane of inputs] at one tap. */
static void conv_tap(const KernelAxis ax[3], const TapRange *rd, const TapRange *rh, const TapRange *rw,
                     float wv, const float *restrict x, float *restrict y)
{
    if (rd->lo == rd->hi || rh->lo == rh->hi || rw->lo == rw->hi)
        return;
    int64_t ih_n = ax[1].in, iw_n = ax[2].in, oh_n = ax[1].out, ow_n = ax[2].out;
    int64_t sw = ax[2].stride, base = rw->offset, w_lo = rw->lo, w_hi = rw->hi;
    for (int64_t od = rd->lo; od < rd->hi; od++) {
        int64_t id = od * ax[0].stride + rd->offset;
        for (int64_t oh = rh->lo; oh < rh->hi; oh++) {
            int64_t ih = oh * ax[1].stride + rh->offset;
            const float *restrict xr = x + (id * ih_n + ih) * iw_n;
            float *restrict yr = y + (od * oh_n + oh) * ow_n;
            if (sw == 1) {
                for (int64_t ow = w_lo; ow < w_hi; ow++)
                    yr[ow] += wv * xr[ow + base];
            } else {
                for (int64_t ow = w_lo; ow < w_hi; ow++)
                    yr[ow] += wv * xr[ow * sw + base];
            }
        }
    }
}

void kernel_conv(const ConvParams *p, const float *x, const float *w, const float *bias, float *y)
{
    KernelAxis ax[3];
    kernel_axes(p->spatial, p->in, p->kernel, p->out, p->strides, p->dilations, p->pads, ax);
    int64_t in_plane = ax[0].in * ax[1].in * ax[2].in;
    int64_t out_plane = ax[0].out * ax[1].out * ax[2].out;
    int64_t taps = ax[0].kernel * ax[1].kernel * ax[2].kernel;
    int64_t cin_g = p->in_channels / p->group, cout_g = p->out_channels / p->group;

    /* The ranges depend on the tap only: work them out once (the divisions in
     * them would otherwise cost as much as a small tap's arithmetic). */
    TapRange cache[3][CACHED_TAPS];
    bool cached = true;
    for (int i = 0; i < 3; i++) {
        cached = cached && ax[i].kernel <= CACHED_TAPS;
        for (int64_t k = 0; cached && k < ax[i].kernel; k++)
            cache[i][k] = tap_range(&ax[i], k);
    }

    for (int64_t n = 0; n < p->batch; n++) {
        for (int64_t oc = 0; oc < p->out_channels; oc++) {
            int64_t g = oc / cout_g;
            float *yp = y + (n * p->out_channels + oc) * out_plane;
            float b0 = bias ? bias[oc] : 0.0f;
            for (int64_t i = 0; i < out_plane; i++)
                yp[i] = b0;
            for (int64_t ic = 0; ic < cin_g; ic++) {
                const float *xp = x + (n * p->in_channels + g * cin_g + ic) * in_plane;
                const float *wp = w + (oc * cin_g + ic) * taps;
                for (int64_t kd = 0; kd < ax[0].kernel; kd++) {
                    TapRange rd = cached ? cache[0][kd] : tap_range(&ax[0], kd);
                    for (int64_t kh = 0; kh < ax[1].kernel; kh++) {
                        TapRange rh = cached ? cache[1][kh] : tap_range(&ax[1], kh);
                        for (int64_t kw = 0; kw < ax[2].kernel; kw++) {
                            TapRange rw = cached ? cache[2][kw] : tap_range(&ax[2], kw);
                            conv_tap(ax, &rd, &rh, &rw, *wp++, xp, yp);
                        }
                    }
                }
            }
        }
    }
}

/* ---- pooling ---- */

/* The window of output o along one axis. */
typedef struct {
    int64_t start;          /* input index of kernel position 0 (may be negative) */
    int64_t lo, hi;         /* valid kernel positions */
    int64_t padded;         /* window elements inside input + pads */
} AxisWindow;

static AxisWindow axis_window(const KernelAxis *a, int64_t o)
{
    AxisWindow w;
    w.start = o * a->stride - a->pad_begin;
    valid_taps(a, w.start, &w.lo, &w.hi);
    /* The window clipped to the padded input [-pad_begin, in + pad_end). */
    int64_t end = w.start + (a->kernel - 1) * a->dilation + 1;
    if (end > a->in + a->pad_end)
        end = a->in + a->pad_end;
    w.padded = end - w.start > 0 ? end - w.start : 0;
    return w;
}

/* Windows along the innermost axis are computed once per call (their
 * divisions cost more than a small window's reads). */
enum { CACHED_WINDOWS = 512 };

enum { WHOLE_ROWS = 64 };       /* window rows max_whole_windows takes */

/* A max pool's outputs o2, o2 + 1, ... of one line while their windows
 * along it lie whole inside the input (cache: the line's windows): the window's rows
 * listed once, three taps unrolled.  The same comparisons in the same order
 * as pool's loop (v > best keeps the first of equal values, never a NaN),
 * so the same bits; ResNet-18's 3 x 3 stride-2 pool was 2.4% of an ideal
 * run.  Returns the first output not written (y advanced past those
 * written). */
static int64_t max_whole_windows(const float *xp, const KernelAxis *a2, const AxisWindow *cache, int64_t o2,
                                 const AxisWindow *w0, const AxisWindow *w1, int64_t ih_n, int64_t iw_n, int64_t d0,
                                 int64_t d1, float **y)
{
    int64_t rows[WHOLE_ROWS], n_rows = 0;
    if ((w0->hi - w0->lo) * (w1->hi - w1->lo) > WHOLE_ROWS)
        return o2;
    for (int64_t kd = w0->lo; kd < w0->hi; kd++)
        for (int64_t kh = w1->lo; kh < w1->hi; kh++)
            rows[n_rows++] = ((w0->start + kd * d0) * ih_n + w1->start + kh * d1) * iw_n;
    int64_t taps = a2->kernel, d2 = a2->dilation;
    float *out = *y;
    int64_t end = o2;
    while (end < a2->out && cache[end].lo == 0 && cache[end].hi == taps)
        end++;
    if (taps == 3 && d2 == 1 && a2->stride == 2) {
        /* ResNet's stem pool: a row at a time over the whole run, the
         * outputs side by side (GCC vectorizes the stride-2 loads) */
        const float *at = xp + cache[o2].start;
        int64_t count = end - o2;
        for (int64_t o = 0; o < count; o++)
            out[o] = -INFINITY;
        for (int64_t r = 0; r < n_rows; r++) {
            const float *v = at + rows[r];
            for (int64_t o = 0; o < count; o++) {
                float best = out[o];
                best = v[2 * o] > best ? v[2 * o] : best;
                best = v[2 * o + 1] > best ? v[2 * o + 1] : best;
                best = v[2 * o + 2] > best ? v[2 * o + 2] : best;
                out[o] = best;
            }
        }
        *y = out + count;
        return end;
    }
    for (; o2 < end; o2++) {
        const float *at = xp + cache[o2].start;
        float best = -INFINITY;
        for (int64_t r = 0; r < n_rows; r++) {
            const float *v = at + rows[r];
            if (taps == 3 && d2 == 1) {
                best = v[0] > best ? v[0] : best;
                best = v[1] > best ? v[1] : best;
                best = v[2] > best ? v[2] : best;
            } else {
                for (int64_t kw = 0; kw < taps; kw++)
                    best = v[kw * d2] > best ? v[kw * d2] : best;
            }
        }
        *out++ = best;
    }
    *y = out;
    return o2;
}

static void pool(const PoolParams *p, bool is_max, const float *x, float *y)
{
    KernelAxis ax[3];
    kernel_axes(p->spatial, p->in, p->kernel, p->out, p->strides, is_max ? p->dilations : NULL,
              p->pads, ax);
    int64_t in_plane = ax[0].in * ax[1].in * ax[2].in;
    int64_t ih_n = ax[1].in, iw_n = ax[2].in;
    int64_t d0 = ax[0].dilation, d1 = ax[1].dilation, d2 = ax[2].dilation;
    AxisWindow cache[CACHED_WINDOWS];
    bool cached = ax[2].out <= CACHED_WINDOWS;
    for (int64_t o = 0; cached && o < ax[2].out; o++)
        cache[o] = axis_window(&ax[2], o);

    for (int64_t plane = 0; plane < p->planes; plane++) {
        const float *xp = x + plane * in_plane;
        for (int64_t o0 = 0; o0 < ax[0].out; o0++) {
            AxisWindow w0 = axis_window(&ax[0], o0);
            for (int64_t o1 = 0; o1 < ax[1].out; o1++) {
                AxisWindow w1 = axis_window(&ax[1], o1);
                for (int64_t o2 = 0; o2 < ax[2].out; o2++) {
                    if (is_max && cached && cache[o2].lo == 0 && cache[o2].hi == ax[2].kernel) {
                        o2 = max_whole_windows(xp, &ax[2], cache, o2, &w0, &w1, ih_n, iw_n, d0, d1, &y);
                        if (o2 == ax[2].out)
                            break;
                    }
                    AxisWindow w2 = cached ? cache[o2] : axis_window(&ax[2], o2);
                    float best = -INFINITY, sum = 0.0f;
                    for (int64_t kd = w0.lo; kd < w0.hi; kd++) {
                        int64_t id = w0.start + kd * d0;
                        for (int64_t kh = w1.lo; kh < w1.hi; kh++) {
                            /* an index, not a pointer: w2.start may lie far outside the input */
                            int64_t row = (id * ih_n + w1.start + kh * d1) * iw_n;
                            if (is_max)
                                for (int64_t kw = w2.lo; kw < w2.hi; kw++) {
                                    float v = xp[row + w2.start + kw * d2];
                                    best = v > best ? v : best;
                                }
                            else
                                for (int64_t kw = w2.lo; kw < w2.hi; kw++)
                                    sum += xp[row + w2.start + kw * d2];
                        }
                    }
                    if (is_max) {
                        *y++ = best;
                        continue;
                    }
                    /* in double: padded windows may hold more than 2^63 elements */
                    double count = p->count_include_pad
                                       ? (double)w0.padded * (double)w1.padded * (double)w2.padded
                                       : (double)(w0.hi - w0.lo) * (double)(w1.hi - w1.lo) * (double)(w2.hi - w2.lo);
                    *y++ = count > 0 ? sum / (float)count : NAN;
                }
            }
        }
    }
}

void kernel_maxpool(const PoolParams *p, const float *x, float *y)
{
    pool(p, true, x, y);
}

void kernel_avgpool(const PoolParams *p, const float *x, float *y)
{
    pool(p, false, x, y);
}

void kernel_global_avgpool(int64_t planes, int64_t size, const float *x, float *y)
{
    for (int64_t c = 0; c < planes; c++) {
        const float *xp = x + c * size;
        double sum = 0.0;
        for (int64_t i = 0; i < size; i++)
            sum += xp[i];
        y[c] = (float)(sum / (double)size);
    }
}

void kernel_global_maxpool(int64_t planes, int64_t size, const float *x, float *y)
{
    for (int64_t c = 0; c < planes; c++) {
        const float *xp = x + c * size;
        float best = -INFINITY;
        for (int64_t i = 0; i < size; i++)
            best = xp[i] > best ? xp[i] : best;
        y[c] = best;
    }
}

/* ---- im2col ---- */

/* Column g * K + (c, kd, kh, kw) of a row is (g * C/group + c) * taps + tap:
 * within a row the columns simply run over all input channels in order, then
 * over the taps of each, so one loop nest serves every group.  A pixel whose
 * window lies inside the input on every axis (most of them) copies each
 * channel's taps through a table of their offsets, with no bounds tests. */
enum { IM2COL_TABLE_TAPS = 512 };

/* Pixels o in [*lo, *hi) of axis a whose whole window is inside the input. */
static void inside_outputs(const KernelAxis *a, int64_t *lo, int64_t *hi)
{
    int64_t first_lo, first_hi, last_lo, last_hi;
    valid_outputs(a, -a->pad_begin, &first_lo, &first_hi);
    valid_outputs(a, -a->pad_begin + (a->kernel - 1) * a->dilation, &last_lo, &last_hi);
    *lo = first_lo > last_lo ? first_lo : last_lo;
    *hi = first_hi < last_hi ? first_hi : last_hi;
    if (*lo > *hi)
        *lo = *hi;
}

void kernel_im2col(const ConvParams *p, const float *x, float *cols)
{
    KernelAxis ax[3];
    kernel_axes(p->spatial, p->in, p->kernel, p->out, p->strides, p->dilations, p->pads, ax);
    int64_t in_plane = ax[0].in * ax[1].in * ax[2].in;
    int64_t taps = ax[0].kernel * ax[1].kernel * ax[2].kernel;
    int64_t width = p->in_channels * taps;
    int64_t tap_offset[IM2COL_TABLE_TAPS], lo[3], hi[3];
    for (int i = 0; i < 3; i++)
        inside_outputs(&ax[i], &lo[i], &hi[i]);
    /* the table serves windows inside the input, whose offsets are inside it
     * too (those of a window that never is could overflow) */
    bool table = taps <= IM2COL_TABLE_TAPS && lo[0] < hi[0] && lo[1] < hi[1] && lo[2] < hi[2];
    for (int64_t kd = 0, t = 0; table && kd < ax[0].kernel; kd++)
        for (int64_t kh = 0; kh < ax[1].kernel; kh++)
            for (int64_t kw = 0; kw < ax[2].kernel; kw++)
                tap_offset[t++] = ((kd * ax[0].dilation) * ax[1].in + kh * ax[1].dilation) * ax[2].in +
                                  kw * ax[2].dilation;
    float *row = cols;

    for (int64_t n = 0; n < p->batch; n++) {
        const float *xn = x + n * p->in_channels * in_plane;
        for (int64_t od = 0; od < ax[0].out; od++)
        for (int64_t oh = 0; oh < ax[1].out; oh++)
        for (int64_t ow = 0; ow < ax[2].out; ow++) {
            if (table && od >= lo[0] && od < hi[0] && oh >= lo[1] && oh < hi[1] && ow >= lo[2] && ow < hi[2]) {
                int64_t origin = ((od * ax[0].stride - ax[0].pad_begin) * ax[1].in +
                                  oh * ax[1].stride - ax[1].pad_begin) * ax[2].in +
                                 ow * ax[2].stride - ax[2].pad_begin;
                float *out = row;
                for (int64_t ch = 0; ch < p->in_channels; ch++, out += taps) {
                    const float *xc = xn + ch * in_plane + origin;
                    for (int64_t t = 0; t < taps; t++)
                        out[t] = xc[tap_offset[t]];
                }
                row += width;
                continue;
            }
            for (int64_t ch = 0; ch < p->in_channels; ch++) {
                const float *xc = xn + ch * in_plane;
                float *out = row + ch * taps;
                for (int64_t kd = 0; kd < ax[0].kernel; kd++) {
                    int64_t id = od * ax[0].stride - ax[0].pad_begin + kd * ax[0].dilation;
                    bool d_in = id >= 0 && id < ax[0].in;
                    for (int64_t kh = 0; kh < ax[1].kernel; kh++) {
                        int64_t ih = oh * ax[1].stride - ax[1].pad_begin + kh * ax[1].dilation;
                        bool h_in = d_in && ih >= 0 && ih < ax[1].in;
                        for (int64_t kw = 0; kw < ax[2].kernel; kw++) {
                            int64_t iw = ow * ax[2].stride - ax[2].pad_begin + kw * ax[2].dilation;
                            bool inside = h_in && iw >= 0 && iw < ax[2].in;
                            *out++ = inside ? xc[(id * ax[1].in + ih) * ax[2].in + iw] : 0.0f;
                        }
                    }
                }
            }
            row += width;
        }
    }
}
