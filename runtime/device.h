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
    DEVICE_LINEAR,      /* dw_up = dw_min (up) (1 - gamma_up w / w_max)...: linear step, soft bounds */
    DEVICE_EXP,         /* exponential step (aihwkit ExpStepDevice) */
    DEVICE_POW,         /* power step (aihwkit PowStepDevice) */
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
    double dw_min;              /* step of one pulse (at w = 0 for state-dependent models) */
    double up_down;             /* asymmetry: up steps dw_min (1 + up_down), down dw_min (1 - up_down) */
    /* device-to-device spread: drawn once per device */
    double dw_min_dtod;         /* relative sigma of the step */
    double up_down_dtod;        /* sigma of up_down */
    double w_min_dtod, w_max_dtod;  /* relative sigmas of the bounds */
    /* cycle-to-cycle and write noise */
    double dw_min_std;          /* each pulse's step times (1 + dw_min_std N(0, 1)) */
    double write_noise_std;     /* the weight read back is w + write_noise_std N(0, 1), drawn at each write */
    /* model parameters (docs/devices.md gives each model's formula) */
    double gamma_up, gamma_down;        /* DEVICE_LINEAR: slopes; 1, 1 with mult_noise: soft bounds */
    double a_up, a_down, a, b;          /* DEVICE_EXP: dw = dw_min max(1 - a_dir exp(a z + b), 0)... */
    double pow_gamma;                   /* DEVICE_POW: dw ~ ((w_max - w) / (w_max - w_min))^pow_gamma */
    int n_points;                       /* DEVICE_PIECEWISE: table entries (2 .. DEVICE_MAX_POINTS) */
    double points_up[DEVICE_MAX_POINTS], points_down[DEVICE_MAX_POINTS];
    double nonlinearity_up, nonlinearity_down;  /* DEVICE_NEUROSIM: NeuroSim's NL label (0 .. 9) */
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
    float scale_up, scale_down; /* its mean up and down steps */
    uint32_t pulses;            /* pulses it has taken (its write count; keys its draws) */
} DeviceCell;

/* The built-in presets (docs/devices.md): "idealized", "reram", "pcm",
 * "ecram", "capacitor"; false for another name. */
bool device_preset(DeviceModel *model, const char *name);
/* NAME of a preset, or a device file (a JSON object of DeviceModel's
 * fields by name, "model" naming the kind: docs/devices.md): NULL, or what is
 * wrong, naming the file and the field. */
const char *device_load(DeviceModel *model, const char *name_or_path, Arena *arena);
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
/* Programs the device to `target` by write-and-verify (initialization, not
 * training): w = target clipped to the bounds, then the write noise; counts
 * no pulses. */
void device_program(const DeviceModel *model, uint64_t key, DeviceCell *cell, double target);

#endif
