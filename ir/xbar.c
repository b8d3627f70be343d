/* xbar.c: the crossbar op's shape rule and attribute checks (docs/crossbar.md).
 *
 * An xbar op is a layer as a matrix product: x (x's layout depends on `form`)
 * times a constant w[G, K, N], plus an optional bias[G*N].  Form "conv" reads x
 * as [batch, G*C, in...] through im2col windows (kernel, strides, pads,
 * dilations; K = C * prod(kernel)) and gives [batch, G*N, out...]; form
 * "matmul" reads x as [..., K] (G = 1) and gives [..., N].  read_geom() is the
 * one place that derives this geometry, for shape inference, the verifier and
 * the executors (xbar_geom).
 *
 * The crossbar passes add attributes step by step; the verifier checks those
 * present against one table (kind, and how many values a list holds: per
 * spatial axis, per weight column, per block...) and then the few rules a table
 * cannot say (splits increasing from 0 to K or N, a quantized op has every
 * quantization attribute). */
#include "ir.h"

#include <math.h>
#include <string.h>

/* ---- geometry ---- */

static const char *fmt_type(Diags *diags, const Type *t)
{
    return diags ? type_format(diags->arena, t) : "";
}

/* `count` ints of attribute `name`, or dflt repeated when it is absent. */
static bool ints_or(const Op *op, Diags *diags, const char *name, int count, int64_t dflt, int64_t *out)
{
    const int64_t *v;
    int n = ir_attr_ints(op, name, &v);
    if (n < 0 && ir_attr(op, name))
        return ir_op_error(op, diags, "attribute '%s' must be a list of ints", name);
    if (n >= 0 && n != count)
        return ir_op_error(op, diags, "attribute '%s' has %d values, expected %d", name, n, count);
    for (int i = 0; i < count; i++)
        out[i] = n < 0 ? dflt : v[i];
    return true;
}

static bool read_conv(const Op *op, Diags *diags, XbarGeom *geo)
{
    const Type *x = &op->inputs[0]->type;
    if (x->rank < 3)
        return ir_op_error(op, diags, "conv form needs x as N x C x D1... (rank 3 or more), not %s",
                    fmt_type(diags, x));
    int s = geo->spatial = x->rank - 2;
    if (!ir_attr(op, "kernel"))
        return ir_op_error(op, diags, "conv form needs the attribute 'kernel'");
    if (!ints_or(op, diags, "kernel", s, 1, geo->kernel) || !ints_or(op, diags, "strides", s, 1, geo->strides) ||
        !ints_or(op, diags, "dilations", s, 1, geo->dilations) || !ints_or(op, diags, "pads", 2 * s, 0, geo->pads))
        return false;
    if (x->dims[1] % geo->groups != 0)
        return ir_op_error(op, diags, "x %s has %lld channels, not a multiple of the %lld groups of w",
                    fmt_type(diags, x), (long long)x->dims[1], (long long)geo->groups);
    geo->batch = x->dims[0];
    geo->channels = x->dims[1] / geo->groups;
    int64_t window = 1, k;
    for (int i = 0; i < s; i++) {
        if (geo->kernel[i] < 1 || geo->strides[i] < 1 || geo->dilations[i] < 1 || geo->pads[i] < 0 ||
            geo->pads[s + i] < 0)
            return ir_op_error(op, diags, "kernel, strides and dilations must be positive and pads not negative");
        if (!i64_mul(window, geo->kernel[i], &window) || window > IR_MAX_NUMEL)
            return ir_op_error(op, diags, "the kernel has more than %lld positions", (long long)IR_MAX_NUMEL);
    }
    if (!i64_mul(geo->channels, window, &k))
        k = -1;
    if (k != geo->k)
        return ir_op_error(op, diags, "w has K = %lld rows but %lld channels per group x %lld window positions "
                    "make %lld", (long long)geo->k, (long long)geo->channels, (long long)window, (long long)k);
    geo->pixels = 1;
    for (int i = 0; i < s; i++) {
        geo->in[i] = x->dims[2 + i];
        geo->out[i] = ir_window_out(geo->in[i], geo->pads[i], geo->pads[s + i], geo->kernel[i], geo->strides[i],
                                    geo->dilations[i], false);
        if (geo->out[i] < 0)
            return ir_op_error(op, diags, "kernel, strides, dilations and pads must be at most %lld",
                        (long long)IR_MAX_NUMEL);
        if (geo->out[i] == 0)
            return ir_op_error(op, diags, "window of %lld (dilation %lld) does not fit spatial axis %d of size %lld",
                        (long long)geo->kernel[i], (long long)geo->dilations[i], i, (long long)geo->in[i]);
        if (!i64_mul(geo->pixels, geo->out[i], &geo->pixels) || geo->pixels > IR_MAX_NUMEL)
            return ir_op_error(op, diags, "the result has more than %lld pixels", (long long)IR_MAX_NUMEL);
    }
    if (!i64_mul(geo->batch, geo->pixels, &geo->rows) || geo->rows > IR_MAX_NUMEL)
        return ir_op_error(op, diags, "the result has more than %lld pixels", (long long)IR_MAX_NUMEL);
    return true;
}

static bool read_matmul(const Op *op, Diags *diags, XbarGeom *geo)
{
    const Type *x = &op->inputs[0]->type;
    if (geo->groups != 1)
        return ir_op_error(op, diags, "matmul form needs w with one group, not %lld", (long long)geo->groups);
    if (x->rank < 1 || x->dims[x->rank - 1] != geo->k)
        return ir_op_error(op, diags, "x %s must end in K = %lld (the rows of w)", fmt_type(diags, x),
                    (long long)geo->k);
    geo->rows = type_numel(x) / geo->k;
    return true;
}

static bool read_geom(const Op *op, Diags *diags, XbarGeom *geo)
{
    memset(geo, 0, sizeof *geo);
    const Type *w = &op->inputs[1]->type;
    if (w->rank != 3)
        return ir_op_error(op, diags, "w must be [G, K, N], not %s", fmt_type(diags, w));
    geo->groups = w->dims[0];
    geo->k = w->dims[1];
    geo->n = w->dims[2];
    if (geo->groups < 1 || geo->k < 1 || geo->n < 1)
        return ir_op_error(op, diags, "w %s has an empty dimension", fmt_type(diags, w));
    if (op->n_inputs == 3) {
        const Type *b = &op->inputs[2]->type;
        if (b->rank != 1 || b->dims[0] != geo->groups * geo->n)
            return ir_op_error(op, diags, "bias %s must be f32[%lld] (G * N)", fmt_type(diags, b),
                        (long long)(geo->groups * geo->n));
    }
    const Attr *form = ir_attr(op, "form");
    if (!form || form->kind != ATTR_STRING)
        return ir_op_error(op, diags, "needs the string attribute 'form' (\"conv\" or \"matmul\")");
    if (strcmp(form->s, "conv") == 0) {
        geo->conv = true;
        return read_conv(op, diags, geo);
    }
    if (strcmp(form->s, "matmul") == 0)
        return read_matmul(op, diags, geo);
    return ir_op_error(op, diags, "form must be \"conv\" or \"matmul\", not \"%s\"", form->s);
}

bool xbar_geom(const Op *op, XbarGeom *geom)
{
    return op->kind == OP_XBAR && op->n_inputs >= 2 && read_geom(op, NULL, geom);
}

bool xbar_infer_type(const Op *op, Type *result, Diags *diags)
{
    XbarGeom geo;
    if (!read_geom(op, diags, &geo))
        return false;
    const Type *x = &op->inputs[0]->type;
    *result = *x;
    if (geo.conv) {
        result->dims[1] = geo.groups * geo.n;
        for (int i = 0; i < geo.spatial; i++)
            result->dims[2 + i] = geo.out[i];
    } else {
        result->dims[x->rank - 1] = geo.n;
    }
    return true;
}

/* ---- attribute checks ---- */

/* How many values a list attribute holds. */
typedef enum { ANY, PER_AXIS, PER_PAD, PER_COLUMN, PER_BLOCK, PER_BLOCK3 } Count;

static const struct {
    const char *name;
    AttrKind kind;
    Count count;            /* lists only */
} xbar_attrs[] = {
    {"act_clipped", ATTR_INT, ANY},     /* calibration values beyond the range (percentile and mse ranges) */
    {"act_max", ATTR_FLOAT, ANY},       {"act_min", ATTR_FLOAT, ANY},
    {"adc_bits", ATTR_INTS, PER_BLOCK}, {"adc_max", ATTR_FLOATS, PER_BLOCK},
    {"cell_bits", ATTR_INT, ANY},       {"col_splits", ATTR_INTS, ANY},
    {"dilations", ATTR_INTS, PER_AXIS}, {"form", ATTR_STRING, ANY},
    {"in_bits", ATTR_INT, ANY},         {"in_scale", ATTR_FLOAT, ANY},
    {"in_signed", ATTR_INT, ANY},       {"kernel", ATTR_INTS, PER_AXIS},
    {"pads", ATTR_INTS, PER_PAD},       {"place", ATTR_INTS, PER_BLOCK3},
    {"replicas", ATTR_INT, ANY},        /* copies: per-block lists hold every copy's blocks */
    {"row_splits", ATTR_INTS, ANY},     {"sign", ATTR_STRING, ANY},
    {"slices", ATTR_INT, ANY},          {"strides", ATTR_INTS, PER_AXIS},
    {"w_bits", ATTR_INT, ANY},          {"w_scale", ATTR_FLOATS, PER_COLUMN},
};

static const char *const kind_names[] = {
    [ATTR_INT] = "an int", [ATTR_FLOAT] = "a float", [ATTR_INTS] = "a list of ints",
    [ATTR_FLOATS] = "a list of floats", [ATTR_STRING] = "a string",
};

/* Boundaries of splits over [0, limit]: 0 first, limit last, increasing. */
static bool check_splits(const Op *op, Diags *diags, const char *name, int64_t limit, int *parts)
{
    const int64_t *v;
    int n = ir_attr_ints(op, name, &v);
    *parts = 1;
    if (n < 0)
        return true;
    bool ok = n >= 2 && v[0] == 0 && v[n - 1] == limit;
    for (int i = 1; ok && i < n; i++)
        ok = v[i] > v[i - 1];
    if (!ok)
        return ir_op_error(op, diags, "%s must increase from 0 to %lld", name, (long long)limit);
    *parts = n - 1;
    return true;
}

static bool in_range_int(const Op *op, Diags *diags, const char *name, int64_t lo, int64_t hi)
{
    const Attr *a = ir_attr(op, name);
    if (!a || a->kind != ATTR_INT || (a->i >= lo && a->i <= hi))
        return true;
    return ir_op_error(op, diags, "%s must be %lld to %lld, not %lld", name, (long long)lo, (long long)hi,
                (long long)a->i);
}

/* The rules beyond kinds and counts. */
static bool check_values(const Op *op, Diags *diags)
{
    bool ok = in_range_int(op, diags, "w_bits", 2, 16) && in_range_int(op, diags, "in_bits", 1, 16) &&
              in_range_int(op, diags, "in_signed", 0, 1) && in_range_int(op, diags, "cell_bits", 1, 8) &&
              in_range_int(op, diags, "slices", 1, CELL_MAX_SLICES);
    const Attr *sign = ir_attr(op, "sign");
    SignMapping mapping;
    if (sign && sign->kind == ATTR_STRING && !sign_mapping_from_name(sign->s, &mapping))
        ok = ir_op_error(op, diags, "sign must be \"pair-analog\", \"pair-digital\" or \"offset\", not \"%s\"", sign->s);
    const Attr *scale = ir_attr(op, "in_scale");
    if (scale && scale->kind == ATTR_FLOAT && !(scale->f > 0 && isfinite(scale->f)))
        ok = ir_op_error(op, diags, "in_scale must be positive and finite, not %g", scale->f);
    const Attr *ws = ir_attr(op, "w_scale");
    for (int i = 0; ws && ws->kind == ATTR_FLOATS && i < ws->count; i++) {
        if (!(ws->floats[i] > 0 && isfinite(ws->floats[i]))) {
            ok = ir_op_error(op, diags, "w_scale[%d] must be positive and finite, not %g", i, ws->floats[i]);
            break;
        }
    }
    /* Quantized weights are integers of w_bits bits: the integer reference
     * converts them to int64 as they are. */
    const Attr *w_bits = ir_attr(op, "w_bits");
    if (w_bits && w_bits->kind == ATTR_INT && w_bits->i >= 2 && w_bits->i <= 16 &&
        op->inputs[1]->checked_w_bits != w_bits->i) {
        Value *w = op->inputs[1];
        float qmax = (float)((1 << (w_bits->i - 1)) - 1);
        int64_t n = type_numel(&w->type);
        /* A branch-free pass first (it runs once per new constant, over every
         * weight); the element is looked for only when one is wrong.  It works
         * on the bits, which compilers vectorize (float comparisons may trap,
         * which stops them): |v| <= qmax compares the magnitude bits as
         * integers (a NaN's are larger), and v is an integer when converting
         * it to int32 and back gives its magnitude again (-0 is fine). */
        int32_t limit, bad = 0;
        memcpy(&limit, &qmax, sizeof limit);
        for (int64_t i = 0; i < n; i++) {
            int32_t u;
            memcpy(&u, &w->data[i], sizeof u);
            int32_t outside = -((u & 0x7fffffff) > limit);
            int32_t inside = u & ~outside;          /* 0 when outside: converts safely */
            float v, back;
            memcpy(&v, &inside, sizeof v);
            back = (float)(int32_t)v;
            int32_t b;
            memcpy(&b, &back, sizeof b);
            bad |= outside | ((b ^ inside) & 0x7fffffff);
        }
        for (int64_t i = 0; bad && i < n; i++) {
            float v = w->data[i];
            if (!(v >= -qmax && v <= qmax && v == (float)(int32_t)v)) {
                ok = ir_op_error(op, diags, "quantized weight %%%s[%lld] = %g is not an integer within +-%g "
                          "(w_bits %lld)", ir_name_text(diags->arena, w->name), (long long)i, v, qmax,
                          (long long)w_bits->i);
                break;
            }
        }
        if (!bad)
            w->checked_w_bits = (int)w_bits->i;
    }
    /* Quantized means all of it: the executors read every one of these. */
    static const char *const quant_attrs[] = {"w_bits", "w_scale", "in_bits", "in_scale", "in_signed"};
    int present = 0;
    for (int i = 0; i < 5; i++)
        present += ir_attr(op, quant_attrs[i]) != NULL;
    if (present != 0 && present != 5) {
        for (int i = 0; i < 5; i++)
            if (!ir_attr(op, quant_attrs[i]))
                ok = ir_op_error(op, diags, "quantized op lacks '%s' (w_bits, w_scale, in_bits, in_scale and "
                          "in_signed go together)", quant_attrs[i]);
    }
    return ok;
}

bool xbar_verify_attrs(const Op *op, Diags *diags)
{
    const Value *w = op->inputs[1];
    if (!w->data || w->def || w->is_input)
        return ir_op_error(op, diags, "w %%%s must be a constant", ir_name_text(diags->arena, w->name));
    XbarGeom geo;
    if (!read_geom(op, diags, &geo))
        return false;
    int row_parts, col_parts;
    bool ok = check_splits(op, diags, "row_splits", geo.k, &row_parts);
    ok &= check_splits(op, diags, "col_splits", geo.n, &col_parts);
    int64_t blocks = geo.groups * row_parts * col_parts;
    const Attr *replicas = ir_attr(op, "replicas");
    if (replicas && replicas->kind == ATTR_INT && replicas->i >= 1 && replicas->i <= 1000000)
        blocks *= replicas->i;
    else if (replicas && replicas->kind == ATTR_INT)
        ok = ir_op_error(op, diags, "replicas must be 1 to 1000000, not %lld", (long long)replicas->i);
    for (int i = 0; i < op->n_attrs; i++) {
        const Attr *a = &op->attrs[i];
        for (size_t t = 0; t < sizeof xbar_attrs / sizeof xbar_attrs[0]; t++) {
            if (strcmp(xbar_attrs[t].name, a->name) != 0)
                continue;
            if (a->kind != xbar_attrs[t].kind) {
                ok = ir_op_error(op, diags, "attribute '%s' must be %s, not %s", a->name,
                          kind_names[xbar_attrs[t].kind], kind_names[a->kind]);
                break;
            }
            int64_t want = -1;
            switch (xbar_attrs[t].count) {
            case ANY: break;
            case PER_AXIS: want = geo.conv ? geo.spatial : -1; break;
            case PER_PAD: want = geo.conv ? 2 * geo.spatial : -1; break;
            case PER_COLUMN: want = geo.groups * geo.n; break;
            case PER_BLOCK: want = blocks; break;
            case PER_BLOCK3: want = 3 * blocks; break;
            }
            if (want >= 0 && a->count != want)
                ok = ir_op_error(op, diags, "attribute '%s' has %d values, expected %lld", a->name, a->count,
                          (long long)want);
            break;
        }
    }
    return check_values(op, diags) && ok;
}

/* ---- the cell encoding (docs/crossbar.md 5) ---- */

int cell_polarities(SignMapping sign)
{
    return sign == SIGN_OFFSET ? 1 : 2;
}

int cell_ref_cols(SignMapping sign, int slices)
{
    return sign == SIGN_OFFSET ? slices : 0;
}

int cell_column(SignMapping sign, int slices, int n, int s, int polarity)
{
    return (n * slices + s) * cell_polarities(sign) + polarity;
}

int cell_slice_level(int64_t u, int s, int cell_bits)
{
    int shift = s * cell_bits;
    return shift < 63 ? (int)((u >> shift) & (((int64_t)1 << cell_bits) - 1)) : 0;
}

void cell_encode(SignMapping sign, int slices, int cell_bits, int64_t w, int64_t qmax, int *levels)
{
    for (int s = 0; s < slices; s++) {
        if (sign == SIGN_OFFSET) {
            levels[s] = cell_slice_level(w + qmax, s, cell_bits);
        } else {
            levels[2 * s] = cell_slice_level(w > 0 ? w : 0, s, cell_bits);
            levels[2 * s + 1] = cell_slice_level(w < 0 ? -w : 0, s, cell_bits);
        }
    }
}

double cell_decode(SignMapping sign, int slices, int cell_bits, const double *levels, const double *ref,
                   int64_t qmax)
{
    double v = 0;
    for (int s = 0; s < slices; s++) {
        double part = sign == SIGN_OFFSET ? levels[s] - (ref ? ref[s] : cell_slice_level(qmax, s, cell_bits))
                                          : levels[2 * s] - levels[2 * s + 1];
        v += ldexp(part, s * cell_bits);
    }
    return v;
}
