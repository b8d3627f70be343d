/* device.c: device update models (runtime/device.h, docs/devices.md).
 *
 * A first cut: the constant-step model and the idealized preset; the other
 * models, presets and device files follow. */
#include "runtime/device.h"
#include "runtime/noise.h"

#include <math.h>
#include <string.h>

static const char *const kind_names[DEVICE_KIND_COUNT] = {
    "constant", "linear", "exp", "pow", "piecewise", "neurosim",
};

const char *device_kind_name(DeviceKind kind)
{
    return kind >= 0 && kind < DEVICE_KIND_COUNT ? kind_names[kind] : "?";
}

bool device_preset(DeviceModel *model, const char *name)
{
    if (strcmp(name, "idealized") != 0)
        return false;
    *model = (DeviceModel){
        .kind = DEVICE_CONSTANT, .name = "idealized",
        .description = "a constant step of 1/1000 of the range, no noise",
        .source = "aihwkit's IdealizedPresetDevice (Gokmen and Vlasov 2016) without its noise",
        .w_min = -1, .w_max = 1, .dw_min = 0.002,
        .pulse_pj = 1, .pulse_ns = 10, .endurance = 1e12,
    };
    return true;
}

const char *device_check(const DeviceModel *m)
{
    if (!(m->w_min < 0 && m->w_max > 0))
        return "w_min must be below 0 and w_max above it";
    if (!(m->dw_min > 0 && m->dw_min < m->w_max - m->w_min))
        return "dw_min must be positive and below the range";
    return NULL;
}

const char *device_load(DeviceModel *model, const char *name_or_path, Arena *arena)
{
    (void)arena;
    if (device_preset(model, name_or_path))
        return NULL;
    return "no such device preset";
}

/* A standard normal from a hash (Box-Muller on two uniforms of it). */
static double hash_normal(uint64_t h)
{
    double u1 = ((double)(h >> 32) + 0.5) * 0x1p-32, u2 = (double)(h & 0xffffffffu) * 0x1p-32;
    return sqrt(-2 * log(u1)) * cos(6.283185307179586 * u2);
}

void device_init(const DeviceModel *m, uint64_t key, double w0, DeviceCell *cell)
{
    double spread = 1 + m->dw_min_dtod * hash_normal(noise_hash(key, 0));
    double asym = m->up_down + m->up_down_dtod * hash_normal(noise_hash(key, 1));
    cell->scale_up = (float)(m->dw_min * spread * (1 + asym));
    cell->scale_down = (float)(m->dw_min * spread * (1 - asym));
    cell->w_min = (float)(m->w_min * (1 + m->w_min_dtod * hash_normal(noise_hash(key, 2))));
    cell->w_max = (float)(m->w_max * (1 + m->w_max_dtod * hash_normal(noise_hash(key, 3))));
    cell->w = (float)fmin(fmax(w0, cell->w_min), cell->w_max);
    cell->w_read = cell->w;
    cell->pulses = 0;
}

double device_mean_step(const DeviceModel *m, const DeviceCell *cell, int direction)
{
    (void)m;
    if (direction > 0)
        return cell->w < cell->w_max ? fmin(cell->scale_up, cell->w_max - cell->w) : 0;
    return cell->w > cell->w_min ? -fmin(cell->scale_down, cell->w - cell->w_min) : 0;
}

void device_pulse(const DeviceModel *m, uint64_t key, DeviceCell *cell, int direction, int count)
{
    for (int i = 0; i < count; i++) {
        uint64_t h = noise_hash(key, (uint64_t)cell->pulses + 16);
        double step = direction > 0 ? cell->scale_up : -cell->scale_down;
        step *= 1 + m->dw_min_std * hash_normal(h);
        cell->w = (float)fmin(fmax(cell->w + step, cell->w_min), cell->w_max);
        cell->pulses++;
    }
    cell->w_read = cell->w;
    if (m->write_noise_std > 0 && count > 0)
        cell->w_read = (float)(cell->w + m->write_noise_std * hash_normal(noise_hash(key, ~(uint64_t)cell->pulses)));
}

void device_program(const DeviceModel *m, uint64_t key, DeviceCell *cell, double target)
{
    cell->w = (float)fmin(fmax(target, cell->w_min), cell->w_max);
    cell->w_read = cell->w;
    if (m->write_noise_std > 0)
        cell->w_read = (float)(cell->w + m->write_noise_std * hash_normal(noise_hash(key, 4)));
}
