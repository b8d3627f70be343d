/* device.h: how a memristive device's weight answers write pulses
 * (runtime/device.c, docs/devices.md): the update models of in-memory
 * training (`xbarc train`, docs/train.md).
 *
 * A device holds a weight w in device units, bounded by [w_min, w_max]
 * (aihwkit's normalized convention: a bipolar device spans about -1 .. 1; a
 * differential pair's weight is the difference of two devices).  A pulse
 * moves w up or down by a step that the model makes depend on w (constant,
 * linear with soft bounds, exponential, power, a piecewise table, or
 * NeuroSim's exponential pulse curve w(P)).  Each device draws its own
 * spread of step, asymmetry and bounds once (device-to-device), and each
 * pulse its own step noise (cycle-to-cycle); a write leaves the weight read
 * back off by the write noise until the next write.
 *
 * Every draw is a pure function of a key (runtime/noise.h): the device's
 * key (the caller's, e.g. noise_hash(layer key, weight index)) for the
 * device-to-device spread, extended by the device's pulse count for each
 * pulse.  So the same seed gives the same devices and the same pulse
 * responses whatever the order of the updates or the threads. */
#ifndef XBARC_DEVICE_H
#define XBARC_DEVICE_H

#include "ir/ir.h"

typedef enum {
    DEVICE_CONSTANT,    /* dw = +-dw_min, clipped at the bounds */
    DEVICE_LINEAR,      /* up dw_min (1 - gamma_up w / w_max), down dw_min (1 - gamma_down w / w_min): soft bounds at gamma 1 */
    DEVICE_EXP,         /* exponential step (aihwkit ExpStepDevice): dw_min max(1 - A_d exp(+-gamma_d z), 0) */
    DEVICE_POW,         /* power step (aihwkit PowStepDevice): dw_min omega^pow_gamma, omega the distance to the bound */
    DEVICE_PIECEWISE,   /* the step scaled by a table of points over [w_min, w_max] */
    DEVICE_NEUROSIM,    /* NeuroSim's w(P) = B (1 - exp(-P / A)) + w_min, A from the nonlinearity */
    DEVICE_KIND_COUNT
} DeviceKind;

enum { DEVICE_MAX_POINTS = 64 };    /* entries of a piecewise table */

typedef struct {
    DeviceKind kind;
    const char *name, *description, *source;   /* strings of the preset or the file */
    /* the mean device */
    double w_min, w_max;        /* bounds, device units (w_min < 0 < w_max) */
    double dw_min;              /* step of one pulse (at w = 0 for state-dependent models; neurosim:
                                   (w_max - w_min) / pulses, set by the preset or the file) */
    double up_down;             /* asymmetry: up steps dw_min (1 + up_down), down dw_min (1 - up_down) */
    /* device-to-device spread: drawn once per device */
    double dw_min_dtod;         /* relative sigma of the step */
    double up_down_dtod;        /* sigma of up_down */
    double w_min_dtod, w_max_dtod;  /* relative sigmas of the bounds */
    /* cycle-to-cycle and write noise */
    double dw_min_std;          /* each pulse's step times (1 + dw_min_std N(0, 1)) */
    double write_noise_std;     /* the weight read back is w + write_noise_std N(0, 1), drawn at each write
                                   (absolute: aihwkit's write_noise_std times its dw_min) */
    double dw_min_std_add, dw_min_std_slope;    /* nonzero: aihwkit's "complex" noise, the step's sigma
                                                   dw_min_std (|dw| + add + slope |w|), additive */
    /* model parameters (docs/devices.md gives each model's formula) */
    double gamma_up, gamma_down;        /* DEVICE_LINEAR: slopes (1, 1: soft bounds); DEVICE_EXP: exponents */
    double gamma_up_dtod, gamma_down_dtod;  /* DEVICE_LINEAR: sigmas of the slopes */
    bool mult_noise;                    /* DEVICE_LINEAR: the step noise scales with the step (else additive) */
    double a_up, a_down, a, b;          /* DEVICE_EXP: aihwkit's A_up, A_down, a, b; z = 2 a w / (w_max - w_min) + b */
    double pow_gamma;                   /* DEVICE_POW: dw ~ ((w_max - w) / (w_max - w_min))^pow_gamma */
    double pow_gamma_dtod;              /* DEVICE_POW: relative sigma of the exponent */
    double pow_up_down;                 /* DEVICE_POW: exponents pow_gamma (1 +- pow_up_down) up and down */
    int n_points;                       /* DEVICE_PIECEWISE: table entries (2 .. DEVICE_MAX_POINTS) */
    double points_up[DEVICE_MAX_POINTS], points_down[DEVICE_MAX_POINTS];
    double nonlinearity_up, nonlinearity_down;  /* DEVICE_NEUROSIM: NeuroSim's NL labels (-9 .. 9; NeuroSim's
                                                   signs: up > 0 and down < 0 saturate towards the bound) */
    double nonlinearity_dtod;           /* DEVICE_NEUROSIM: sigma of the labels (NeuroSim's sigmaDtoD) */
    int pulses;                         /* DEVICE_NEUROSIM: pulses from w_min to w_max (maxNumLevel) */
    /* what a pulse costs and how many the device takes */
    double pulse_pj;            /* energy of one write pulse on one device */
    double pulse_ns;            /* duration of one pulse (one update slot) */
    double endurance;           /* write cycles the device survives */
} DeviceModel;

/* One device's state: its own spread, drawn once, and its weight. */
typedef struct {
    float w;                    /* the weight the pulses move */
    float w_read;               /* the weight reads see: w plus the last write's noise */
    float w_min, w_max;         /* its bounds */
    float scale_up, scale_down; /* its mean up and down steps (at w = 0) */
    float shape_up, shape_down; /* its own model shape: linear and neurosim slopes, pow exponents, exp's 2 a / range */
    uint32_t pulses;            /* pulses it has taken (its write count; keys its draws) */
} DeviceCell;

/* The built-in presets (docs/devices.md): "idealized", "reram", "pcm",
 * "ecram", "capacitor"; false for another name. */
bool device_preset(DeviceModel *model, const char *name);
/* NAME of a preset, or a device file (a JSON object of DeviceModel's
 * fields by name, "model" naming the kind: docs/devices.md): NULL, or what is
 * wrong, naming the file and the field. */
const char *device_load(DeviceModel *model, const char *name_or_path, Arena *arena);
/* The same from a device file's bytes in memory (`path` names it in messages). */
const char *device_parse(DeviceModel *model, const char *path, const char *text, size_t length, Arena *arena);
/* NULL when the model's fields are in range, else what is wrong. */
const char *device_check(const DeviceModel *model);
const char *device_kind_name(DeviceKind kind);

/* Draws device `key`'s spread and sets its weight to w0 (clipped to its
 * bounds), with no pulse counted. */
void device_init(const DeviceModel *model, uint64_t key, double w0, DeviceCell *cell);
/* `count` pulses in one direction (+1 up, -1 down) on device `key`: each
 * one's step from the model at the current weight, times its own
 * cycle-to-cycle draw, clipped at the bounds; then the write noise. */
void device_pulse(const DeviceModel *model, uint64_t key, DeviceCell *cell, int direction, int count);
/* The mean step of one pulse at the device's current weight (no noise):
 * positive up, negative down; 0 at a bound. */
double device_mean_step(const DeviceModel *model, const DeviceCell *cell, int direction);
/* The device's symmetry point: the weight where its mean up and down steps
 * are equal, to which alternating up and down pulses drive it (Kim et al.,
 * arXiv:1907.10228, 2019); a bound where one step is larger everywhere, 0
 * (clipped to its bounds) where they are equal everywhere. */
double device_symmetry_point(const DeviceModel *model, const DeviceCell *cell);
/* Programs the device to `target` by write-and-verify (initialization, not
 * training): w = target clipped to the bounds, then the write noise; counts
 * no pulses. */
void device_program(const DeviceModel *model, uint64_t key, DeviceCell *cell, double target);

/* The key of device `index` under `seed` (`xbarc device`, tests; training
 * keys its devices from its own layer keys). */
uint64_t device_key(uint64_t seed, uint64_t index);
/* NeuroSim's normalized nonlinearity A / pulses for label nl (negative for
 * nl < 0; docs/devices.md 6). */
double device_neurosim_a(double nl);
/* The model's fields as "model=KIND field=value ...": the common fields and
 * those of its kind, numbers with `digits` significant digits (17: exact),
 * for `xbarc device` and tests. */
const char *device_describe(const DeviceModel *model, int digits, Arena *arena);
/* The names of the built-in presets, NULL-terminated. */
extern const char *const device_preset_names[];

#endif
