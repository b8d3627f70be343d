/* device.c: device update models (runtime/device.h, docs/devices.md): the
 * presets, each device's own spread (device_init) and the pulses.
 *
 * A pulse's mean step is the cell's scale (its dw_min with its spread and
 * asymmetry) times the model's shape at the current weight; the shape's
 * per-device constants are drawn or derived once in device_init, so that a
 * pulse costs at most one exp or pow (exp and pow models) and one table
 * look-up for its normal draw.  The device files are read in
 * runtime/device_file.c. */
#include "runtime/device.h"
#include "runtime/noise.h"

#include <math.h>
#include <pthread.h>
#include <string.h>

static const char *const kind_names[DEVICE_KIND_COUNT] = {
    "constant", "linear", "exp", "pow", "piecewise", "neurosim",
};

const char *device_kind_name(DeviceKind kind)
{
    return kind >= 0 && kind < DEVICE_KIND_COUNT ? kind_names[kind] : "?";
}

/* ---- presets (docs/devices.md 3: each constant's source) ---- */

const char *const device_preset_names[] = {"idealized", "reram", "pcm", "ecram", "capacitor", NULL};

static DeviceModel preset_idealized(void)
{
    return (DeviceModel){
        .kind = DEVICE_CONSTANT, .name = "idealized",
        .description = "a constant step of 1/1000 of the range, no noise",
        .source = "aihwkit's IdealizedPresetDevice (Gokmen and Vlasov, Front. Neurosci. 2016) without its noise",
        .w_min = -1, .w_max = 1, .dw_min = 0.002,
        .pulse_pj = 1, .pulse_ns = 10, .endurance = 1e12,
    };
}

static DeviceModel preset_reram(void)
{
    return (DeviceModel){
        .kind = DEVICE_EXP, .name = "reram",
        .description = "HfO2 ReRAM, exponential step, asymmetric and noisy (aihwkit ReRamESPresetDevice)",
        .source = "aihwkit ReRamESPresetDevice, a fit to Gong et al., Nat. Commun. 9, 2102 (2018); pulse and "
                  "endurance: Wong et al., Proc. IEEE 100, 1951 (2012)",
        .w_min = -1, .w_max = 1, .dw_min = 0.00135, .up_down = 0.259359,
        .dw_min_dtod = 0.2, .up_down_dtod = 0.05, .w_min_dtod = 0.3, .w_max_dtod = 0.3,
        .dw_min_std = 5.0, .write_noise_std = 0.10125,   /* aihwkit's 75 dw_min */
        .a = -0.5, .b = -0.5, .gamma_up = 5, .gamma_down = 5, .a_up = -1.18445, .a_down = -0.081404,
        .pulse_pj = 1, .pulse_ns = 50, .endurance = 1e9,
    };
}

static DeviceModel preset_pcm(void)
{
    return (DeviceModel){
        .kind = DEVICE_EXP, .name = "pcm",
        .description = "GST phase-change memory: gradual SET steps, abrupt RESET (aihwkit PCMPresetDevice), "
                       "one-sided: w_min = 0",
        .source = "aihwkit PCMPresetDevice, a fit to Nandakumar et al., Front. Neurosci. 14, 406 (2020); pulse "
                  "and endurance: Burr et al., J. Vac. Sci. Technol. B 28, 223 (2010)",
        .w_min = 0, .w_max = 2, .dw_min = 0.01,
        .dw_min_dtod = 0.2, .up_down_dtod = 0.05, .w_max_dtod = 0.1,
        .dw_min_std = 0.6, .dw_min_std_add = 0.042, .dw_min_std_slope = 0.108,
        .a = -1, .b = 0, .gamma_up = 2.5, .gamma_down = 2.5, .a_up = -27.235, .a_down = -2.235,
        .pulse_pj = 10, .pulse_ns = 50, .endurance = 1e8,
    };
}

static DeviceModel preset_ecram(void)
{
    return (DeviceModel){
        .kind = DEVICE_LINEAR, .name = "ecram",
        .description = "Li-ion ECRAM, linear step (aihwkit EcRamPresetDevice), range shifted to its symmetry point",
        .source = "aihwkit EcRamPresetDevice, a fit to Tang et al., IEDM 2018 (ECRAM as scalable synaptic cell)",
        .w_min = -0.8276, .w_max = 1.1724, .dw_min = 0.002,
        .dw_min_dtod = 0.1, .up_down_dtod = 0.01, .w_min_dtod = 0.05, .w_max_dtod = 0.05,
        .dw_min_std = 0.3, .mult_noise = true,
        .gamma_up = 0.1153, .gamma_down = 0.5085, .gamma_up_dtod = 0.05, .gamma_down_dtod = 0.05,
        .pulse_pj = 0.01, .pulse_ns = 5, .endurance = 1e7,
    };
}

static DeviceModel preset_capacitor(void)
{
    return (DeviceModel){
        .kind = DEVICE_LINEAR, .name = "capacitor",
        .description = "CMOS capacitor cell, linear step, additive noise (aihwkit CapacitorPresetDevice), no leakage",
        .source = "aihwkit CapacitorPresetDevice, a fit to Li et al., VLSI Technology 2018 (capacitor-based "
                  "cross-point array)",
        .w_min = -1, .w_max = 1, .dw_min = 0.005,
        .dw_min_dtod = 0.1, .up_down_dtod = 0.06, .w_min_dtod = 0.07, .w_max_dtod = 0.07,
        .dw_min_std = 0.3, .mult_noise = false,
        .gamma_up = 0.05, .gamma_down = 0.05, .gamma_up_dtod = 0.01, .gamma_down_dtod = 0.01,
        .pulse_pj = 0.1, .pulse_ns = 10, .endurance = 1e15,
    };
}

bool device_preset(DeviceModel *model, const char *name)
{
    static DeviceModel (*const makers[])(void) = {preset_idealized, preset_reram, preset_pcm, preset_ecram,
                                                  preset_capacitor};
    for (int i = 0; device_preset_names[i]; i++)
        if (strcmp(name, device_preset_names[i]) == 0) {
            *model = makers[i]();
            return true;
        }
    return false;
}

/* ---- draws ---- */

static float normal_table[1 << NOISE_TABLE_BITS];
static pthread_once_t normal_once = PTHREAD_ONCE_INIT;

static void fill_normal_table(void)
{
    noise_normal_table(normal_table);
}

/* A standard normal from the top bits of h (runtime/noise.h's table). */
static inline double normal(uint64_t h)
{
    return normal_table[h >> (64 - NOISE_TABLE_BITS)];
}

/* Draw numbers of a device's key: its spread below PULSE_DRAWS, its pulses from there on. */
enum { DRAW_SPREAD, DRAW_ASYM, DRAW_W_MIN, DRAW_W_MAX, DRAW_PROGRAM, DRAW_SHAPE_UP, DRAW_SHAPE_DOWN, PULSE_DRAWS = 16 };

uint64_t device_key(uint64_t seed, uint64_t index)
{
    return noise_hash(noise_key(seed, (NoiseStream)0x64657669), index);
}

/* ---- NeuroSim's nonlinearity ---- */

/* The largest distance above the diagonal of the normalized curve
 * y(x) = (1 - exp(-x / a)) / (1 - exp(-1 / a)), x in [0, 1]: at y' = 1,
 * dev = B - a + a ln(a / B) with B = 1 / (1 - exp(-1 / a)). */
static double neurosim_dev(double a)
{
    double big_b = -1 / expm1(-1 / a);
    return big_b - a + a * log(a / big_b);
}

double device_neurosim_a(double nl)
{
    double target = 0.07 * sqrt(2.0) * fabs(nl);
    if (fabs(nl) < 0.01)    /* dev = 1 / (8 a) + O(1 / a^3): the closed form, no cancellation */
        return nl == 0 ? INFINITY : copysign(1 / (8 * target), nl);
    double lo = log(1e-3), hi = log(200.0);     /* |nl| 0.01 .. 9: a 126 .. 0.023 */
    for (int i = 0; i < 45; i++) {      /* 12.2 / 2^45: a to 1e-13 */
        double mid = 0.5 * (lo + hi);
        if (neurosim_dev(exp(mid)) > target)
            lo = mid;
        else
            hi = mid;
    }
    return copysign(exp(0.5 * (lo + hi)), nl);
}

/* The curve of label nl over `pulses` pulses and the range [lo, hi] as a
 * step linear in w: up (direction > 0) from w, the next point of
 * w(P) = B (1 - exp(-P / A)) + lo; down, the previous one.  Step magnitude
 * = scale (1 + shape w). */
static void neurosim_step(double nl, int pulses, double lo, double hi, int direction, double *scale, double *shape)
{
    double range = hi - lo, a = device_neurosim_a(nl) * pulses;
    if (isinf(a)) {     /* NL 0: a straight line */
        *scale = range / pulses;
        *shape = 0;
        return;
    }
    double big_b = range / -expm1(-pulses / a);
    /* up: dw = (B - (w - lo)) (1 - exp(-1 / A)); down: -(B - (w - lo)) (1 - exp(1 / A)) */
    double rate = direction > 0 ? -expm1(-1 / a) : expm1(1 / a);
    double top = big_b + lo;    /* w where the step would vanish (the curve's asymptote) */
    *scale = rate * top;
    *shape = -1 / top;
}

/* ---- a device ---- */

void device_init(const DeviceModel *m, uint64_t key, double w0, DeviceCell *cell)
{
    pthread_once(&normal_once, fill_normal_table);
    double spread = 1 + m->dw_min_dtod * normal(noise_hash(key, DRAW_SPREAD));
    double asym = m->up_down + m->up_down_dtod * normal(noise_hash(key, DRAW_ASYM));
    double up = fabs(m->dw_min * spread * (1 + asym)), down = fabs(m->dw_min * spread * (1 - asym));
    double lo = m->w_min * (1 + m->w_min_dtod * normal(noise_hash(key, DRAW_W_MIN)));
    double hi = m->w_max * (1 + m->w_max_dtod * normal(noise_hash(key, DRAW_W_MAX)));
    if (lo > hi) {      /* aihwkit's enforce_consistency */
        double t = lo;
        lo = hi;
        hi = t;
    }
    double z_up = normal(noise_hash(key, DRAW_SHAPE_UP)), z_down = normal(noise_hash(key, DRAW_SHAPE_DOWN));
    double shape_up = 0, shape_down = 0;
    switch (m->kind) {
    case DEVICE_LINEAR:     /* slopes against the mean bounds (aihwkit's mean_bound_reference) */
        shape_up = -fabs(m->gamma_up + m->gamma_up_dtod * z_up) / m->w_max;
        shape_down = fabs(m->gamma_down + m->gamma_down_dtod * z_down) / -m->w_min;
        break;
    case DEVICE_EXP:
        shape_up = hi > lo ? 2 * m->a / (hi - lo) : 0;
        break;
    case DEVICE_POW:
        shape_up = fmax(m->pow_gamma * (1 + m->pow_up_down + m->pow_gamma_dtod * z_up), 0);
        shape_down = fmax(m->pow_gamma * (1 - m->pow_up_down + m->pow_gamma_dtod * z_up), 0);
        break;
    case DEVICE_NEUROSIM: {
        double scale;
        neurosim_step(m->nonlinearity_up + m->nonlinearity_dtod * z_up, m->pulses, lo, hi, 1, &scale, &shape_up);
        up = fabs(scale * spread * (1 + asym));
        neurosim_step(m->nonlinearity_down + m->nonlinearity_dtod * z_down, m->pulses, lo, hi, -1, &scale,
                      &shape_down);
        down = fabs(scale * spread * (1 - asym));
        break;
    }
    default:
        break;
    }
    cell->scale_up = (float)up;
    cell->scale_down = (float)down;
    cell->shape_up = (float)shape_up;
    cell->shape_down = (float)shape_down;
    cell->w_min = (float)lo;
    cell->w_max = (float)hi;
    cell->w = (float)fmin(fmax(w0, lo), hi);
    cell->w_read = cell->w;
    cell->pulses = 0;
}

/* The mean step's magnitude at w (no noise, no clipping). */
static inline double step_size(const DeviceModel *m, const DeviceCell *c, double w, int direction)
{
    double scale = direction > 0 ? c->scale_up : c->scale_down;
    switch (m->kind) {
    case DEVICE_CONSTANT:
        return scale;
    case DEVICE_LINEAR:
    case DEVICE_NEUROSIM:
        return fmax(scale * (1 + (direction > 0 ? c->shape_up : c->shape_down) * w), 0);
    case DEVICE_EXP: {
        double z = c->shape_up * w + m->b;
        double y = direction > 0 ? 1 - m->a_up * exp(m->gamma_up * z) : 1 - m->a_down * exp(-m->gamma_down * z);
        return scale * fmax(y, 0);
    }
    case DEVICE_POW: {
        double range = c->w_max - c->w_min;
        double omega = range > 0 ? fmin(fmax((c->w_max - w) / range, 0), 1) : 0;
        return direction > 0 ? scale * pow(omega, c->shape_up) : scale * pow(1 - omega, c->shape_down);
    }
    case DEVICE_PIECEWISE: {
        const double *v = direction > 0 ? m->points_up : m->points_down;
        double range = c->w_max - c->w_min;
        int sections = m->n_points - 1;
        double t = range > 0 ? fmax((w - c->w_min) / range * sections, 0) : 0;
        int i = t < sections ? (int)t : sections - 1;
        double q = fmin(t - i, 1);
        return scale * ((1 - q) * v[i] + q * v[i + 1]);
    }
    default:
        return 0;
    }
}

double device_mean_step(const DeviceModel *m, const DeviceCell *cell, int direction)
{
    double w = cell->w, step = step_size(m, cell, w, direction);
    if (direction > 0)
        return w < cell->w_max ? fmin(step, cell->w_max - w) : 0;
    return w > cell->w_min ? -fmin(step, w - cell->w_min) : 0;
}

void device_pulse(const DeviceModel *m, uint64_t key, DeviceCell *cell, int direction, int count)
{
    if (count <= 0)
        return;
    double sign = direction > 0 ? 1 : -1, sigma = m->dw_min_std;
    bool complex_noise = m->dw_min_std_add > 0 || m->dw_min_std_slope > 0;
    bool additive = m->kind == DEVICE_LINEAR && !m->mult_noise;
    double scale = direction > 0 ? cell->scale_up : cell->scale_down;
    double w = cell->w, lo = cell->w_min, hi = cell->w_max;
    for (int i = 0; i < count; i++) {
        double dw = step_size(m, cell, w, direction);
        if (sigma > 0) {
            double z = normal(noise_hash(key, (uint64_t)cell->pulses + PULSE_DRAWS));
            if (complex_noise)      /* aihwkit ExpStep's: sigma (|dw| + add + slope |w|) */
                dw += sign * sigma * (dw + m->dw_min_std_add + m->dw_min_std_slope * fabs(w)) * z;
            else if (additive)
                dw += sigma * scale * z;
            else
                dw *= 1 + sigma * z;
        }
        w = (float)fmin(fmax(w + sign * dw, lo), hi);  /* the float state after each pulse: any grouping, same bits */
        cell->pulses++;
    }
    cell->w = (float)w;
    cell->w_read = cell->w;
    if (m->write_noise_std > 0)
        cell->w_read = (float)(w + m->write_noise_std * normal(noise_hash(key, ~(uint64_t)cell->pulses)));
}

void device_program(const DeviceModel *m, uint64_t key, DeviceCell *cell, double target)
{
    pthread_once(&normal_once, fill_normal_table);
    cell->w = (float)fmin(fmax(target, cell->w_min), cell->w_max);
    cell->w_read = cell->w;
    if (m->write_noise_std > 0)
        cell->w_read = (float)(cell->w + m->write_noise_std *
                                        normal(noise_hash(noise_hash(key, DRAW_PROGRAM), cell->pulses)));
}

double device_symmetry_point(const DeviceModel *m, const DeviceCell *cell)
{
    /* f(w) = up step - down step; every model's f falls with w (its steps
       shrink towards the bound they move to), so the root is found by
       bisection; no root: the bound f pushes to */
    double lo = cell->w_min, hi = cell->w_max;
    double f_lo = step_size(m, cell, lo, 1) - step_size(m, cell, lo, -1);
    double f_hi = step_size(m, cell, hi, 1) - step_size(m, cell, hi, -1);
    if (f_lo == 0 && f_hi == 0)
        return fmin(fmax(0, lo), hi);   /* a symmetric constant step: every weight, the nominal zero */
    if (f_lo <= 0)
        return lo;
    if (f_hi >= 0)
        return hi;
    for (int i = 0; i < 60; i++) {
        double mid = 0.5 * (lo + hi);
        if (step_size(m, cell, mid, 1) - step_size(m, cell, mid, -1) > 0)
            lo = mid;
        else
            hi = mid;
    }
    return 0.5 * (lo + hi);
}
