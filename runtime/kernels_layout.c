/* kernels_layout.c: transposed convolution, zero insertion, resizing, slicing,
 * tiling and the reflect / edge pads (kernels.h).  The spatial kernels view a
 * 1-D or 2-D problem as a 3-D one with leading axes of 1; the others walk the
 * output in row-major order with an index vector (an odometer) and compute
 * where each element comes from. */
#include "kernels.h"

#include <math.h>
#include <string.h>

/* Row-major strides of dims. */
static void strides_of(int rank, const int64_t *dims, int64_t *strides)
{
    int64_t s = 1;
    for (int i = rank - 1; i >= 0; i--) {
        strides[i] = s;
        s *= dims[i];
    }
}

/* Advances idx (row-major, over dims) by one; false past the end. */
static bool odometer_next(int rank, const int64_t *dims, int64_t *idx)
{
    for (int i = rank - 1; i >= 0; i--) {
        if (++idx[i] < dims[i])
            return true;
        idx[i] = 0;
    }
    return false;
}

static int64_t numel_of(int rank, const int64_t *dims)
{
    int64_t n = 1;
    for (int i = 0; i < rank; i++)
        n *= dims[i];
    return n;
}

/* ---- transposed convolution and zero insertion ---- */

/* The 3-D view of a conv geometry: spatial axes padded in front with size 1. */
typedef struct {
    int64_t in[3], out[3], kernel[3], strides[3], dilations[3], pad_begin[3];
} Geom3;

static Geom3 geom3(const ConvParams *p)
{
    Geom3 g;
    int off = 3 - p->spatial;
    for (int i = 0; i < 3; i++) {
        int a = i - off;
        g.in[i] = a >= 0 ? p->in[a] : 1;
        g.out[i] = a >= 0 ? p->out[a] : 1;
        g.kernel[i] = a >= 0 ? p->kernel[a] : 1;
        g.strides[i] = a >= 0 ? p->strides[a] : 1;
        g.dilations[i] = a >= 0 ? p->dilations[a] : 1;
        g.pad_begin[i] = a >= 0 ? p->pads[a] : 0;
    }
    return g;
}

void kernel_convtranspose(const ConvParams *p, const float *x, const float *w, const float *bias, float *y)
{
    Geom3 g = geom3(p);
    int64_t c_all = p->in_channels, m_all = p->out_channels, cg = c_all / p->group, mg = m_all / p->group;
    int64_t in_px = g.in[0] * g.in[1] * g.in[2], out_px = g.out[0] * g.out[1] * g.out[2];
    int64_t taps = g.kernel[0] * g.kernel[1] * g.kernel[2];
    for (int64_t n = 0; n < p->batch; n++)
        for (int64_t m = 0; m < m_all; m++)
            for (int64_t o = 0; o < out_px; o++)
                y[(n * m_all + m) * out_px + o] = bias ? bias[m] : 0.0f;
    /* Each input pixel scatters its value times the kernel into the output. */
    for (int64_t n = 0; n < p->batch; n++)
        for (int64_t gi = 0; gi < p->group; gi++)
            for (int64_t c = 0; c < cg; c++)
                for (int64_t m = 0; m < mg; m++) {
                    const float *xc = x + (n * c_all + gi * cg + c) * in_px;
                    const float *wk = w + ((gi * cg + c) * mg + m) * taps;
                    float *ym = y + (n * m_all + gi * mg + m) * out_px;
                    for (int64_t i0 = 0; i0 < g.in[0]; i0++)
                        for (int64_t i1 = 0; i1 < g.in[1]; i1++)
                            for (int64_t i2 = 0; i2 < g.in[2]; i2++) {
                                float v = xc[(i0 * g.in[1] + i1) * g.in[2] + i2];
                                for (int64_t t0 = 0; t0 < g.kernel[0]; t0++) {
                                    int64_t o0 = i0 * g.strides[0] + t0 * g.dilations[0] - g.pad_begin[0];
                                    if (o0 < 0 || o0 >= g.out[0])
                                        continue;
                                    for (int64_t t1 = 0; t1 < g.kernel[1]; t1++) {
                                        int64_t o1 = i1 * g.strides[1] + t1 * g.dilations[1] - g.pad_begin[1];
                                        if (o1 < 0 || o1 >= g.out[1])
                                            continue;
                                        for (int64_t t2 = 0; t2 < g.kernel[2]; t2++) {
                                            int64_t o2 = i2 * g.strides[2] + t2 * g.dilations[2] - g.pad_begin[2];
                                            if (o2 < 0 || o2 >= g.out[2])
                                                continue;
                                            ym[(o0 * g.out[1] + o1) * g.out[2] + o2] +=
                                                v * wk[(t0 * g.kernel[1] + t1) * g.kernel[2] + t2];
                                        }
                                    }
                                }
                            }
                }
}

void kernel_dilate(const ConvParams *p, const float *x, float *y)
{
    Geom3 g = geom3(p);
    int64_t planes = p->batch * p->in_channels;
    int64_t in_px = g.in[0] * g.in[1] * g.in[2], out_px = g.out[0] * g.out[1] * g.out[2];
    memset(y, 0, (size_t)(planes * out_px) * sizeof *y);
    for (int64_t pl = 0; pl < planes; pl++)
        for (int64_t i0 = 0; i0 < g.in[0]; i0++)
            for (int64_t i1 = 0; i1 < g.in[1]; i1++)
                for (int64_t i2 = 0; i2 < g.in[2]; i2++)
                    y[pl * out_px + (i0 * g.strides[0] * g.out[1] + i1 * g.strides[1]) * g.out[2] + i2 * g.strides[2]] =
                        x[pl * in_px + (i0 * g.in[1] + i1) * g.in[2] + i2];
}

/* ---- resize ---- */

/* Where output coordinate o of an axis lies in the input (ONNX's
 * coordinate_transformation_mode), in double as ONNX's reference computes it. */
static double source_coord(ResizeCoord mode, int64_t o, double scale, int64_t in, int64_t out, double start,
                           double end)
{
    /* ONNX's resized length is in * scale, unrounded (a downsampling by 0.6 of
     * 4 is 2.4 long); when that is out but for the float rounding of a scale
     * computed from sizes, out itself. */
    double length = (double)in * scale;
    if (fabs(length - (double)out) <= 1e-5 * (double)out)
        length = (double)out;
    switch (mode) {
    case RESIZE_HALF_PIXEL: return ((double)o + 0.5) / scale - 0.5;
    case RESIZE_PYTORCH_HALF_PIXEL: return length > 1 ? ((double)o + 0.5) / scale - 0.5 : 0.0;
    case RESIZE_ALIGN_CORNERS: return length > 1 ? (double)o * (double)(in - 1) / (length - 1) : 0.0;
    case RESIZE_ASYMMETRIC: return (double)o / scale;
    case RESIZE_TF_HALF_PIXEL_FOR_NN: return ((double)o + 0.5) / scale;
    case RESIZE_TF_CROP_AND_RESIZE:
        return out > 1 ? start * (double)(in - 1) + (double)o * (end - start) * (double)(in - 1) / (double)(out - 1)
                       : 0.5 * (start + end) * (double)(in - 1);
    }
    return 0.0;
}

static int64_t clamp_index(int64_t i, int64_t n)
{
    return i < 0 ? 0 : i >= n ? n - 1 : i;
}

static int64_t nearest_index(ResizeNearest mode, double c)
{
    double f = floor(c);
    switch (mode) {
    case RESIZE_FLOOR: return (int64_t)f;
    case RESIZE_CEIL: return (int64_t)ceil(c);
    case RESIZE_ROUND_PREFER_FLOOR: return (int64_t)(c - f == 0.5 ? f : round(c));
    case RESIZE_ROUND_PREFER_CEIL: return (int64_t)(c - f == 0.5 ? f + 1 : round(c));
    }
    return (int64_t)f;
}

/* Keys' cubic convolution weights of the taps floor(c) - 1 .. floor(c) + 2
 * for the fraction r = c - floor(c), as ONNX's reference writes them. */
static void cubic_weights(double r, double a, double *w)
{
    double s = 1.0 - r;
    w[0] = ((a * (r + 1) - 5 * a) * (r + 1) + 8 * a) * (r + 1) - 4 * a;
    w[1] = ((a + 2) * r - (a + 3)) * r * r + 1;
    w[2] = ((a + 2) * s - (a + 3)) * s * s + 1;
    w[3] = ((a * (s + 1) - 5 * a) * (s + 1) + 8 * a) * (s + 1) - 4 * a;
}

/* The taps of one axis at source coordinate c: offsets (times the axis'
 * stride) from the base element and their weights; returns how many (1 when
 * the coordinate hits an element: nothing to interpolate). */
static int resize_taps(const ResizeParams *p, double c, int64_t in, int64_t stride, int64_t *base, int64_t *at,
                       double *w)
{
    double f = floor(c);
    if (!p->linear && !p->cubic) {
        *base = clamp_index(nearest_index(p->nearest, c), in) * stride;
        return 1;
    }
    int64_t i0 = clamp_index((int64_t)f, in);
    *base = i0 * stride;
    if (c == f && (int64_t)f == i0)
        return 1;
    if (p->linear) {
        int64_t i1 = clamp_index((int64_t)f + 1, in);
        if (c == f || i1 == i0)
            return 1;
        at[0] = 0, at[1] = (i1 - i0) * stride;
        w[0] = 1.0 - (c - f), w[1] = c - f;
        return 2;
    }
    cubic_weights(c - f, p->cubic_a, w);
    double total = 0.0;
    for (int k = 0; k < 4; k++) {
        int64_t i = (int64_t)f - 1 + k;
        if (p->exclude_outside && (i < 0 || i >= in))
            w[k] = 0.0;
        total += w[k];
        at[k] = (clamp_index(i, in) - i0) * stride;
    }
    for (int k = 0; p->exclude_outside && total != 0.0 && k < 4; k++)
        w[k] /= total;
    return 4;
}

void kernel_resize(const ResizeParams *p, const float *x, float *y)
{
    int rank = p->rank;
    int64_t xs[KERNEL_MAX_RANK], idx[KERNEL_MAX_RANK] = {0};
    strides_of(rank, p->in, xs);
    if (numel_of(rank, p->out) == 0)
        return;
    do {
        /* Per axis that interpolates: its taps around the base element. */
        int64_t base = 0, at[KERNEL_MAX_RANK][4];
        double w[KERNEL_MAX_RANK][4];
        int taps[KERNEL_MAX_RANK], active = 0;
        bool outside = false;       /* tf_crop_and_resize: a source beyond the input on some axis */
        for (int a = 0; a < rank; a++) {
            double c = source_coord(p->coord, idx[a], p->scales[a], p->in[a], p->out[a], p->roi[a], p->roi[rank + a]);
            outside |= p->coord == RESIZE_TF_CROP_AND_RESIZE && (c < 0.0 || c > (double)(p->in[a] - 1));
            int64_t axis_base;
            taps[active] = resize_taps(p, c, p->in[a], xs[a], &axis_base, at[active], w[active]);
            base += axis_base;
            active += taps[active] > 1;
        }
        if (outside) {
            *y++ = p->extrapolation;
            continue;           /* to the do-while's condition: the next output element */
        }
        double sum = 0.0;
        int tap[KERNEL_MAX_RANK] = {0};
        for (;;) {
            double weight = 1.0;
            int64_t offset = base;
            for (int k = 0; k < active; k++) {
                weight *= w[k][tap[k]];
                offset += at[k][tap[k]];
            }
            sum += weight * x[offset];
            int k = 0;
            while (k < active && ++tap[k] == taps[k])
                tap[k++] = 0;
            if (k == active)
                break;
        }
        *y++ = (float)sum;
    } while (odometer_next(rank, p->out, idx));
}

/* ---- grid sampling ---- */

/* Reflects v into [lo, hi] by the nearer border until it is inside. */
static double grid_reflect(double v, double lo, double hi)
{
    double range = hi - lo;
    if (range <= 0.0)
        return lo;
    if (v < lo || v > hi) {         /* in double throughout: any finite v, however far */
        double d = v < lo ? lo - v : v - hi;
        double flips = floor(d / range);
        double r = d - flips * range;
        bool near_lo = (v < lo) == (fmod(flips, 2.0) == 0.0);
        v = near_lo ? lo + r : hi - r;
    }
    return v;
}

/* The pixel at (row, col) of one plane, outside it as the padding says. */
static float grid_pixel(const float *plane, int64_t h, int64_t w, int64_t row, int64_t col, GridPadding padding,
                        const double *border)
{
    if (padding == GRID_ZEROS)
        return row >= 0 && row < h && col >= 0 && col < w ? plane[row * w + col] : 0.0f;
    if (padding == GRID_REFLECTION) {
        col = (int64_t)grid_reflect((double)col, border[0], border[2]);
        row = (int64_t)grid_reflect((double)row, border[1], border[3]);
    }
    return plane[clamp_index(row, h) * w + clamp_index(col, w)];
}

void kernel_gridsample(int64_t batch, int64_t channels, int64_t h, int64_t w, int64_t h_out, int64_t w_out,
                       GridMode mode, GridPadding padding, bool align_corners, const float *x, const float *grid,
                       float *y)
{
    /* The borders a reflection mirrors at: the corner centres or outer edges. */
    double border[4] = {-0.5, -0.5, (double)w - 0.5, (double)h - 0.5};
    if (align_corners)
        border[0] = border[1] = 0.0, border[2] = (double)(w - 1), border[3] = (double)(h - 1);
    for (int64_t n = 0; n < batch; n++)
        for (int64_t c = 0; c < channels; c++) {
            const float *plane = x + (n * channels + c) * h * w;
            for (int64_t i = 0; i < h_out; i++)
                for (int64_t j = 0; j < w_out; j++) {
                    const float *g = grid + ((n * h_out + i) * w_out + j) * 2;
                    double gx = g[0], gy = g[1];
                    double px = align_corners ? (gx + 1) / 2 * (double)(w - 1) : ((gx + 1) * (double)w - 1) / 2;
                    double py = align_corners ? (gy + 1) / 2 * (double)(h - 1) : ((gy + 1) * (double)h - 1) / 2;
                    if (px < border[0] || px > border[2] || py < border[1] || py > border[3]) {
                        if (padding == GRID_BORDER) {
                            px = px < 0 ? 0 : px > (double)(w - 1) ? (double)(w - 1) : px;
                            py = py < 0 ? 0 : py > (double)(h - 1) ? (double)(h - 1) : py;
                        } else if (padding == GRID_REFLECTION) {
                            px = grid_reflect(px, border[0], border[2]);
                            py = grid_reflect(py, border[1], border[3]);
                        }
                    }
                    /* Beyond 3 pixels out every tap reads the zero padding; clamped there,
                     * the integer taps stay small.  A NaN coordinate gives NaN. */
                    bool nan_coord = isnan(px) || isnan(py);
                    px = fmin(fmax(px, -3.0), (double)w + 2.0);
                    py = fmin(fmax(py, -3.0), (double)h + 2.0);
                    double out;
                    if (nan_coord) {
                        out = NAN;
                    } else if (mode == GRID_NEAREST) {
                        out = grid_pixel(plane, h, w, (int64_t)nearbyint(py), (int64_t)nearbyint(px), padding, border);
                    } else if (mode == GRID_BILINEAR) {
                        int64_t x0 = (int64_t)floor(px), y0 = (int64_t)floor(py);
                        double fx = px - (double)x0, fy = py - (double)y0;
                        out = (1 - fy) * ((1 - fx) * grid_pixel(plane, h, w, y0, x0, padding, border) +
                                          fx * grid_pixel(plane, h, w, y0, x0 + 1, padding, border)) +
                              fy * ((1 - fx) * grid_pixel(plane, h, w, y0 + 1, x0, padding, border) +
                                    fx * grid_pixel(plane, h, w, y0 + 1, x0 + 1, padding, border));
                    } else {
                        int64_t x0 = (int64_t)floor(px) - 1, y0 = (int64_t)floor(py) - 1;
                        double cx[4], cy[4];
                        cubic_weights(px - (double)x0 - 1, -0.75, cx);     /* Keys' a as ONNX's reference */
                        cubic_weights(py - (double)y0 - 1, -0.75, cy);
                        out = 0.0;
                        for (int r = 0; r < 4; r++) {
                            double row = 0.0;
                            for (int k = 0; k < 4; k++)
                                row += cx[k] * grid_pixel(plane, h, w, y0 + r, x0 + k, padding, border);
                            out += cy[r] * row;
                        }
                    }
                    y[((n * channels + c) * h_out + i) * w_out + j] = (float)out;
                }
        }
}

/* ---- slice, tile, reflect and edge pads ---- */

void kernel_slice(const float *x, int rank, const int64_t *dims, const int64_t *starts, const int64_t *steps,
                  const int64_t *out, float *y)
{
    int64_t xs[KERNEL_MAX_RANK], idx[KERNEL_MAX_RANK] = {0};
    strides_of(rank, dims, xs);
    if (numel_of(rank, out) == 0)
        return;
    do {
        int64_t at = 0;
        for (int a = 0; a < rank; a++)
            at += (starts[a] + idx[a] * steps[a]) * xs[a];
        *y++ = x[at];
    } while (odometer_next(rank, out, idx));
}

void kernel_tile(const float *x, int rank, const int64_t *dims, const int64_t *out, float *y)
{
    int64_t xs[KERNEL_MAX_RANK], idx[KERNEL_MAX_RANK] = {0};
    strides_of(rank, dims, xs);
    if (numel_of(rank, out) == 0)
        return;
    do {
        int64_t at = 0;
        for (int a = 0; a < rank; a++)
            at += idx[a] % dims[a] * xs[a];
        *y++ = x[at];
    } while (odometer_next(rank, out, idx));
}

void kernel_pad_mode(const float *x, int rank, const int64_t *dims, const int64_t *pads, bool reflect, float *y)
{
    int64_t xs[KERNEL_MAX_RANK], out[KERNEL_MAX_RANK], idx[KERNEL_MAX_RANK] = {0};
    strides_of(rank, dims, xs);
    for (int a = 0; a < rank; a++)
        out[a] = dims[a] + pads[a] + pads[rank + a];
    if (numel_of(rank, out) == 0)
        return;
    do {
        int64_t at = 0;
        for (int a = 0; a < rank; a++) {
            int64_t i = idx[a] - pads[a];
            if (reflect)    /* mirrored about the first and last element (pads < dims) */
                i = i < 0 ? -i : i >= dims[a] ? 2 * (dims[a] - 1) - i : i;
            at += clamp_index(i, dims[a]) * xs[a];
        }
        *y++ = x[at];
    } while (odometer_next(rank, out, idx));
}
