/* test_device.c: device update models (runtime/device.c, docs/devices.md).
 *
 * Without noise, one device's pulse response (1,000 up then 1,000 down
 * pulses) against each model's closed form, written here again from
 * docs/devices.md (or, for the exponential and power steps, their
 * one-pulse recurrence in double precision from aihwkit's formulas), within
 * 1e-4: the device keeps its weight in float, so 2,000 roundings of ~6e-8
 * each bound the drift.  NeuroSim's curve takes A from NeuroSim's own
 * getParamA table values (quoted below), not from device_neurosim_a.  With
 * noise: the mean update of a pulse train over 10,000 devices against its
 * expectation within 4 standard errors (a false failure about 1 in 16,000);
 * the device-to-device spread's mean and sigma likewise.  Same key, same
 * bits, however the pulses are grouped.  The preset files load to the
 * built-in presets. */
#include <criterion/criterion.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime/device.h"
#include "test_support.h"

enum { TRAIN = 1000, DEVICES = 10000 };
static const double TOL = 1e-4;

static DeviceModel plain(DeviceKind kind, double w_min, double w_max, double dw_min)
{
    return (DeviceModel){.kind = kind, .name = "test", .w_min = w_min, .w_max = w_max, .dw_min = dw_min};
}

/* Pulses one device TRAIN times up then TRAIN times down, one pulse a call,
 * checking w after each against expect(n) for n = 1 .. 2 TRAIN. */
typedef double (*Expected)(const void *context, int n);
static void check_response(const DeviceModel *m, double w0, Expected expect, const void *context)
{
    cr_assert_null(device_check(m), "%s", device_check(m));
    DeviceCell cell;
    device_init(m, 7, w0, &cell);
    cr_assert_float_eq(cell.w, expect(context, 0), TOL);
    for (int n = 1; n <= 2 * TRAIN; n++) {
        device_pulse(m, 7, &cell, n <= TRAIN ? 1 : -1, 1);
        double want = expect(context, n);
        cr_assert(fabs(cell.w - want) <= TOL, "%s pulse %d: w %.7f, expected %.7f", device_kind_name(m->kind), n,
                  cell.w, want);
    }
    cr_assert_eq(cell.pulses, 2 * TRAIN);
}

/* ---- constant step: w_n = min(w0 + n dw, w_max), then max(w_top - n dw, w_min) ---- */

typedef struct {
    double w0, lo, hi, dw;
} Constant;

static double constant_w(const void *context, int n)
{
    const Constant *c = context;
    double top = fmin(c->w0 + TRAIN * c->dw, c->hi);
    return n <= TRAIN ? fmin(c->w0 + n * c->dw, c->hi) : fmax(top - (n - TRAIN) * c->dw, c->lo);
}

Test(device, constant_step_closed_form)
{
    DeviceModel m = plain(DEVICE_CONSTANT, -1, 1, 0.002);
    Constant c = {-0.5, -1, 1, 0.002};    /* reaches w_max at pulse 750, w_min at 1,000 down */
    check_response(&m, c.w0, constant_w, &c);
}

/* ---- linear step: up s (1 - g_up w / w_max), down s (1 - g_down w / w_min):
 * fixed points w_max / g_up and w_min / g_down, approached geometrically ---- */

typedef struct {
    double w0, lo, hi, s, g_up, g_down;
} Linear;

static double linear_w(const void *context, int n)
{
    const Linear *c = context;
    double fix_up = c->hi / c->g_up, fix_down = c->lo / c->g_down;
    double up = fmin(fix_up - (fix_up - c->w0) * pow(1 - c->s * c->g_up / c->hi, fmin(n, TRAIN)), c->hi);
    if (n <= TRAIN)
        return up;
    return fmax(fix_down + (up - fix_down) * pow(1 - c->s * c->g_down / -c->lo, n - TRAIN), c->lo);
}

Test(device, soft_bounds_closed_form)
{
    /* gamma 1: w_n = w_max - (w_max - w0) (1 - dw / w_max)^n, and its mirror down */
    DeviceModel m = plain(DEVICE_LINEAR, -0.75, 1.25, 0.004);
    m.gamma_up = m.gamma_down = 1;
    Linear c = {0.1, -0.75, 1.25, 0.004, 1, 1};
    check_response(&m, c.w0, linear_w, &c);
}

Test(device, linear_step_closed_form)
{
    /* gamma < 1: the fixed point lies beyond the bound, which clips */
    DeviceModel m = plain(DEVICE_LINEAR, -1, 1, 0.003);
    m.gamma_up = 0.5;
    m.gamma_down = 0.8;
    Linear c = {-0.2, -1, 1, 0.003, 0.5, 0.8};
    check_response(&m, c.w0, linear_w, &c);
}

/* ---- exponential step (aihwkit ExpStepDevice): the recurrence ---- */

static double exp_w(const void *context, int n)
{
    const DeviceModel *m = context;
    double w = 0;
    for (int i = 1; i <= n; i++) {
        double z = 2 * m->a * w / (m->w_max - m->w_min) + m->b;
        if (i <= TRAIN)
            w += m->dw_min * (1 + m->up_down) * fmax(1 - m->a_up * exp(m->gamma_up * z), 0);
        else
            w -= m->dw_min * (1 - m->up_down) * fmax(1 - m->a_down * exp(-m->gamma_down * z), 0);
        w = fmin(fmax(w, m->w_min), m->w_max);
    }
    return w;
}

Test(device, exp_step_recurrence)
{
    DeviceModel m;      /* the reram preset's shape, no noise */
    cr_assert(device_preset(&m, "reram"));
    DeviceModel q = plain(DEVICE_EXP, m.w_min, m.w_max, m.dw_min);
    q.up_down = m.up_down;
    q.a = m.a, q.b = m.b, q.a_up = m.a_up, q.a_down = m.a_down, q.gamma_up = m.gamma_up, q.gamma_down = m.gamma_down;
    check_response(&q, 0, exp_w, &q);
}

/* ---- power step (aihwkit PowStepDevice) ---- */

static double pow1_w(const void *context, int n)
{
    /* gamma 1: omega_n = omega_0 (1 - s / range)^n up; (1 - omega) likewise down */
    const DeviceModel *m = context;
    double range = m->w_max - m->w_min, k = 1 - m->dw_min / range;
    double up = m->w_max - (m->w_max - 0.0) * pow(k, fmin(n, TRAIN));
    return n <= TRAIN ? up : m->w_min + (up - m->w_min) * pow(k, n - TRAIN);
}

static double pow2_w(const void *context, int n)
{
    const DeviceModel *m = context;
    double w = 0, range = m->w_max - m->w_min;
    for (int i = 1; i <= n; i++) {
        double omega = (m->w_max - w) / range;
        if (i <= TRAIN)
            w += m->dw_min * pow(omega, m->pow_gamma * (1 + m->pow_up_down));
        else
            w -= m->dw_min * pow(1 - omega, m->pow_gamma * (1 - m->pow_up_down));
        w = fmin(fmax(w, m->w_min), m->w_max);
    }
    return w;
}

Test(device, pow_step)
{
    DeviceModel m = plain(DEVICE_POW, -1, 1, 0.006);
    m.pow_gamma = 1;
    check_response(&m, 0, pow1_w, &m);
    m.pow_gamma = 2;
    m.pow_up_down = 0.25;
    check_response(&m, 0, pow2_w, &m);
}

/* ---- piecewise: a linear table is a soft bound: up s 2 (w_max - w) / range ---- */

static double piecewise_w(const void *context, int n)
{
    const DeviceModel *m = context;
    double range = m->w_max - m->w_min, k = 1 - 2 * m->dw_min / range;
    double up = m->w_max - (m->w_max - 0.0) * pow(k, fmin(n, TRAIN));
    return n <= TRAIN ? up : m->w_min + (up - m->w_min) * pow(k, n - TRAIN);
}

Test(device, piecewise_closed_form)
{
    DeviceModel m = plain(DEVICE_PIECEWISE, -1, 1, 0.003);
    m.n_points = 5;
    for (int i = 0; i < 5; i++) {
        m.points_up[i] = 2 - 0.5 * i;   /* 2 at w_min .. 0 at w_max */
        m.points_down[i] = 0.5 * i;
    }
    check_response(&m, 0, piecewise_w, &m);
}

/* ---- NeuroSim: w(P) = B (1 - exp(-P / A)) + w_min, P clipped to 0 .. pulses ---- */

typedef struct {
    double lo, hi, a_up, a_down;    /* A in pulses */
    int pulses;
} Curve;

static double curve(double lo, double hi, double a, int pulses, double p)
{
    double b = (hi - lo) / (1 - exp(-pulses / a));
    return b * (1 - exp(-p / a)) + lo;
}

static double neurosim_w(const void *context, int n)
{
    const Curve *c = context;
    if (n <= TRAIN)
        return curve(c->lo, c->hi, c->a_up, c->pulses, fmin(n, c->pulses));
    return curve(c->lo, c->hi, c->a_down, c->pulses, fmax(c->pulses - (n - TRAIN), 0));
}

/* NeuroSim's getParamA table (MLP_NeuroSim V3, formula.cpp): A / maxNumLevel at
 * labels 0.01, 0.3, 0.5, 1.0, 9.0. */
static const double neurosim_table[][2] = {
    {0.01, 126.268958}, {0.3, 4.205668}, {0.5, 2.519877}, {1.0, 1.251653}, {9.0, 0.022810},
};

Test(device, neurosim_a_is_neurosims_table)
{
    for (size_t i = 0; i < sizeof neurosim_table / sizeof neurosim_table[0]; i++) {
        double nl = neurosim_table[i][0], a = neurosim_table[i][1];
        cr_assert(fabs(device_neurosim_a(nl) / a - 1) < 2e-5, "NL %g: %.7g against %.7g", nl,
                  device_neurosim_a(nl), a);
        cr_assert(fabs(device_neurosim_a(-nl) / -a - 1) < 2e-5);
    }
}

Test(device, neurosim_curve)
{
    DeviceModel m = plain(DEVICE_NEUROSIM, -1, 1, 2.0 / 400);
    m.pulses = 400;
    m.nonlinearity_up = 1.0;
    m.nonlinearity_down = -0.5;
    Curve c = {-1, 1, 1.251653 * 400, -2.519877 * 400, 400};
    check_response(&m, -1, neurosim_w, &c);
    /* NL 0: a straight line of 400 steps */
    m.nonlinearity_up = m.nonlinearity_down = 0;
    Constant line = {-1, -1, 1, 2.0 / 400};
    check_response(&m, -1, constant_w, &line);
}

/* ---- noise ---- */


/* Each preset without its device-to-device spread: one pulse each way from
 * w0 on 10,000 devices, the mean step against device_mean_step. */
Test(device, mean_step_is_expectation)
{
    const char *names[] = {"reram", "pcm", "ecram", "capacitor"};
    const double w0[] = {0.0, 1.0, 0.2, -0.3};
    for (int p = 0; p < 4; p++)
        for (int dir = -1; dir <= 1; dir += 2) {
            DeviceModel m;
            cr_assert(device_preset(&m, names[p]));
            m.dw_min_dtod = m.up_down_dtod = m.w_min_dtod = m.w_max_dtod = m.gamma_up_dtod = m.gamma_down_dtod = 0;
            Moments steps = {0};
            double expected = 0;
            for (int i = 0; i < DEVICES; i++) {
                DeviceCell cell;
                uint64_t key = device_key(3, (uint64_t)i);
                device_init(&m, key, w0[p], &cell);
                expected = device_mean_step(&m, &cell, dir);
                double before = cell.w;
                device_pulse(&m, key, &cell, dir, 1);
                moments_add(&steps, cell.w - before);
            }
            double se = moments_sd(&steps) / sqrt(DEVICES);
            cr_assert(fabs(moments_mean(&steps) - expected) < 4 * se, "%s dir %d: mean step %g, expected %g (se %g)",
                      names[p], dir, moments_mean(&steps), expected, se);
        }
}

/* Soft bounds with multiplicative noise: E[w_{n+1}] = E[w_n] + s (1 - E[w_n] / w_max)
 * exactly (the noise has mean 0 and is independent of w_n), far from the bound. */
Test(device, pulse_train_mean)
{
    DeviceModel m = plain(DEVICE_LINEAR, -1, 1, 0.01);
    m.gamma_up = m.gamma_down = 1;
    m.mult_noise = true;
    m.dw_min_std = 0.5;
    Moments w = {0};
    for (int i = 0; i < DEVICES; i++) {
        DeviceCell cell;
        uint64_t key = device_key(5, (uint64_t)i);
        device_init(&m, key, 0, &cell);
        device_pulse(&m, key, &cell, 1, 20);
        moments_add(&w, cell.w);
    }
    double expected = 1 - pow(1 - 0.01, 20), se = moments_sd(&w) / sqrt(DEVICES);
    cr_assert(fabs(moments_mean(&w) - expected) < 4 * se, "mean %g, expected %g (se %g)", moments_mean(&w), expected, se);
    cr_assert(moments_sd(&w) > 0.01, "the noise must spread the weights");
}

Test(device, device_to_device_spread)
{
    DeviceModel m = plain(DEVICE_CONSTANT, -1, 1, 0.002);
    m.dw_min_dtod = 0.3;
    m.up_down = 0.1;
    m.w_max_dtod = 0.2;
    Moments up = {0}, down = {0}, hi = {0};
    for (int i = 0; i < DEVICES; i++) {
        DeviceCell cell;
        device_init(&m, device_key(9, (uint64_t)i), 0, &cell);
        moments_add(&up, cell.scale_up);
        moments_add(&down, cell.scale_down);
        moments_add(&hi, cell.w_max);
    }
    struct {
        const Moments *m;
        double mu, sigma;
        const char *what;
    } checks[] = {
        {&up, 0.002 * 1.1, 0.002 * 1.1 * 0.3, "scale_up"},
        {&down, 0.002 * 0.9, 0.002 * 0.9 * 0.3, "scale_down"},
        {&hi, 1, 0.2, "w_max"},
    };
    for (int c = 0; c < 3; c++) {
        double se_mean = checks[c].sigma / sqrt(DEVICES), se_sd = checks[c].sigma / sqrt(2.0 * DEVICES);
        cr_assert(fabs(moments_mean(checks[c].m) - checks[c].mu) < 4 * se_mean, "%s mean %g, expected %g", checks[c].what,
                  moments_mean(checks[c].m), checks[c].mu);
        cr_assert(fabs(moments_sd(checks[c].m) - checks[c].sigma) < 4 * se_sd, "%s sigma %g, expected %g", checks[c].what,
                  moments_sd(checks[c].m), checks[c].sigma);
    }
}

Test(device, write_noise)
{
    DeviceModel m;
    cr_assert(device_preset(&m, "reram"));
    Moments e = {0};
    for (int i = 0; i < DEVICES; i++) {
        DeviceCell cell;
        uint64_t key = device_key(11, (uint64_t)i);
        device_init(&m, key, 0, &cell);
        device_pulse(&m, key, &cell, 1, 3);
        moments_add(&e, cell.w_read - cell.w);
    }
    double sigma = m.write_noise_std;
    cr_assert(fabs(moments_mean(&e)) < 4 * sigma / sqrt(DEVICES));
    cr_assert(fabs(moments_sd(&e) - sigma) < 4 * sigma / sqrt(2.0 * DEVICES), "write noise sigma %g, expected %g", moments_sd(&e),
              sigma);
}

/* ---- the symmetry point: where the mean up and down steps are equal ---- */

/* Soft bounds with asymmetry: s_u (1 - w / w_max) = s_d (1 - w / w_min) at
 * w = (s_u - s_d) / (s_u / w_max - s_d / w_min); a symmetric constant step
 * keeps its nominal zero; an asymmetric one drifts to the bound of its larger step. */
Test(device, symmetry_point_soft_bounds_and_constant)
{
    DeviceModel m = plain(DEVICE_LINEAR, -0.75, 1.25, 0.004);
    m.gamma_up = m.gamma_down = 1;
    m.up_down = 0.1;
    DeviceCell cell;
    device_init(&m, 3, 0, &cell);
    double s_u = 0.004 * 1.1, s_d = 0.004 * 0.9, want = (s_u - s_d) / (s_u / 1.25 - s_d / -0.75);
    cr_assert_float_eq(device_symmetry_point(&m, &cell), want, 1e-6, "soft bounds: %g, expected %g",
                       device_symmetry_point(&m, &cell), want);
    DeviceModel c = plain(DEVICE_CONSTANT, -1, 1, 0.002);
    device_init(&c, 3, 0.5, &cell);
    cr_assert_float_eq(device_symmetry_point(&c, &cell), 0, 1e-12);
    c.up_down = 0.05;
    device_init(&c, 3, 0.5, &cell);
    cr_assert_float_eq(device_symmetry_point(&c, &cell), 1, 1e-12);
    c.up_down = -0.05;
    device_init(&c, 3, 0.5, &cell);
    cr_assert_float_eq(device_symmetry_point(&c, &cell), -1, 1e-12);
}

/* The exponential step (the reram preset's shape, no spread): with u =
 * exp(gamma z), s_u (1 - A_u u) = s_d (1 - A_d / u) is the quadratic
 * s_u A_u u^2 + (s_d - s_u) u - s_d A_d = 0, whose positive root gives
 * z = ln(u) / gamma and w = (z - b) (w_max - w_min) / (2 a). */
Test(device, symmetry_point_exp_closed_form)
{
    DeviceModel m;
    cr_assert(device_preset(&m, "reram"));
    DeviceModel q = plain(DEVICE_EXP, m.w_min, m.w_max, m.dw_min);
    q.up_down = m.up_down;
    q.a = m.a, q.b = m.b, q.a_up = m.a_up, q.a_down = m.a_down, q.gamma_up = q.gamma_down = m.gamma_up;
    DeviceCell cell;
    device_init(&q, 5, 0, &cell);
    double s_u = q.dw_min * (1 + q.up_down), s_d = q.dw_min * (1 - q.up_down);
    double qa = s_u * q.a_up, qb = s_d - s_u, qc = -s_d * q.a_down;
    double u = (-qb - sqrt(qb * qb - 4 * qa * qc)) / (2 * qa);     /* qa < 0 < qc: this root is the positive one */
    cr_assert(u > 0);
    double want = (log(u) / q.gamma_up - q.b) * (q.w_max - q.w_min) / (2 * q.a);
    /* within 1e-6: the cell keeps its steps and shape in float */
    cr_assert_float_eq(device_symmetry_point(&q, &cell), want, 1e-6, "exp: %.9f, expected %.9f",
                       device_symmetry_point(&q, &cell), want);
}

/* Kim et al.'s procedure: alternating up and down pulses drive a device to
 * its symmetry point.  The reram preset with its device-to-device spread
 * (each device its own point) but no cycle-to-cycle or write noise: after
 * 6,000 pulse pairs from w = 0.3 each device sits within two steps of the
 * point device_symmetry_point finds; and from the point, the mean change
 * over a pair on 10,000 devices with the preset's full noise is zero within
 * four standard errors. */
Test(device, alternating_pulses_reach_the_symmetry_point)
{
    DeviceModel m;
    cr_assert(device_preset(&m, "reram"));
    DeviceModel quiet = m;
    quiet.dw_min_std = quiet.write_noise_std = 0;
    for (int i = 0; i < 50; i++) {
        DeviceCell cell;
        uint64_t key = device_key(17, (uint64_t)i);
        device_init(&quiet, key, 0.3, &cell);
        for (int p = 0; p < 6000; p++) {
            device_pulse(&quiet, key, &cell, 1, 1);
            device_pulse(&quiet, key, &cell, -1, 1);
        }
        double sp = device_symmetry_point(&quiet, &cell), step = device_mean_step(&quiet, &cell, 1);
        cr_expect(fabs(cell.w - sp) < 2 * step, "device %d: w %g after alternating pulses, symmetry point %g", i,
                  cell.w, sp);
        cr_expect(fabs(sp) < 0.5);
    }
    Moments drift = {0};
    for (int i = 0; i < DEVICES; i++) {
        DeviceCell cell;
        uint64_t key = device_key(19, (uint64_t)i);
        device_init(&m, key, 0, &cell);
        device_program(&m, key, &cell, device_symmetry_point(&m, &cell));
        double before = cell.w;
        device_pulse(&m, key, &cell, 1, 1);
        device_pulse(&m, key, &cell, -1, 1);
        moments_add(&drift, cell.w - before);
    }
    double se = moments_sd(&drift) / sqrt(DEVICES);
    cr_assert(fabs(moments_mean(&drift)) < 4 * se, "mean drift over a pair %g (se %g)", moments_mean(&drift), se);
}

Test(device, same_key_same_bits)
{
    const char *names[] = {"idealized", "reram", "pcm", "ecram", "capacitor"};
    for (int p = 0; p < 5; p++) {
        DeviceModel m;
        cr_assert(device_preset(&m, names[p]));
        DeviceCell a, b, c;
        device_init(&m, 42, 0.1, &a);
        device_init(&m, 42, 0.1, &b);
        device_init(&m, 43, 0.1, &c);
        device_pulse(&m, 42, &a, 1, 30);    /* one train of 30 */
        for (int i = 0; i < 30; i++)        /* against 30 trains of 1, with another device in between */
        {
            device_pulse(&m, 42, &b, 1, 1);
            device_pulse(&m, 43, &c, -1, 1);
        }
        cr_assert(memcmp(&a.w, &b.w, sizeof a.w) == 0 && memcmp(&a.w_read, &b.w_read, sizeof a.w) == 0, "%s",
                  names[p]);
        cr_assert_eq(a.pulses, 30);
    }
}

Test(device, preset_files_are_the_presets)
{
    Arena *arena = arena_new();
    for (int i = 0; device_preset_names[i]; i++) {
        const char *name = device_preset_names[i];
        DeviceModel preset, file;
        cr_assert(device_preset(&preset, name));
        cr_assert_null(device_check(&preset), "%s: %s", name, device_check(&preset));
        const char *path = test_source_path(arena, arena_printf(arena, "chips/devices/%s.json", name));
        const char *why = device_load(&file, path, arena);
        cr_assert_null(why, "%s", why);
        cr_assert_str_eq(device_describe(&file, 17, arena), device_describe(&preset, 17, arena), "%s", name);
        cr_assert_str_eq(file.name, preset.name);
        cr_assert_str_eq(file.description, preset.description);
        cr_assert_str_eq(file.source, preset.source);
    }
    arena_free(arena);
}

Test(device, bad_files)
{
    static const struct {
        const char *json, *error;
    } cases[] = {
        {"{\"model\": \"constant\", \"w_min\": -1, \"w_max\": 1, \"dw_min\": 0.01, \"dw_mim\": 1}",
         "field 'dw_mim' is not a device field"},
        {"{\"model\": \"constant\", \"w_min\": -1, \"w_max\": 1, \"dw_min\": 3}", "field 'dw_min' must be above 0"},
        {"{\"model\": \"linear\", \"w_min\": -1, \"w_max\": 1, \"dw_min\": 0.01, \"pow_gamma\": 1}",
         "field 'pow_gamma' is not a field of the linear model"},
        {"{\"w_min\": -1, \"w_max\": 1, \"dw_min\": 0.01}", "field 'model' is missing"},
        {"{\"model\": \"piecewise\", \"w_min\": -1, \"w_max\": 1, \"dw_min\": 0.01, \"points_up\": [1, 1], "
         "\"points_down\": [1, 1, 1]}",
         "must have as many entries"},
        {"{\"model\": \"neurosim\", \"w_min\": -1, \"w_max\": 1, \"pulses\": 100, \"nonlinearity_up\": 12}",
         "field 'nonlinearity_up' must be from -9 to 9, not 12"},
        {"{\"model\": \"constant\", \"w_min\": -1, \"w_min\": -1, \"w_max\": 1, \"dw_min\": 0.01}",
         "field 'w_min' appears twice"},
        {"[1, 2]", "must be a JSON object"},
    };
    Arena *arena = arena_new();
    char path[] = "/tmp/xbarc-device-XXXXXX";
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    close(fd);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        FILE *f = fopen(path, "w");
        fputs(cases[i].json, f);
        fclose(f);
        DeviceModel m;
        const char *why = device_load(&m, path, arena);
        cr_assert(why && strstr(why, cases[i].error) && strstr(why, path), "case %zu: %s", i, why ? why : "(null)");
    }
    unlink(path);
    arena_free(arena);
}
