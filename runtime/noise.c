/* noise.c: device and converter non-idealities (docs/noise.md).
 *
 * The model of one cell, in the order the effects happen to it: the target
 * conductance of its level, G = G_min + level * dG; a stuck-at fault (G_min or
 * G_max, for good); else the programming variation, G += sigma(G) * z, clamped
 * at 0; then, at the inference time, drift by ((t + t0) / t0)^-nu with the
 * device's own nu; and the first-order IR drop of its position.  Every draw
 * comes from one hash of the cell's key (seed, tile, row, column; see
 * cell_hash), so programming a chip gives the same cells in any order; the
 * simulator programs a row at a time (noise_cell_row), with the sigma of
 * each level computed once (Noise.sigma).  The
 * simulator (runtime/sim_mvm.c) turns conductances back into level units,
 * (G - G_min) / dG, as the periphery subtracting the nominal G_min leakage
 * would; read noise and the ADC errors are applied there, from the keys and
 * the normal table kept here.
 *
 * libm is used when a chip is made (the normal table, the drift exponent),
 * never per read. */
#include "runtime/noise.h"
#include "runtime/wires.h"

#include <cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- normal quantiles ---- */

/* Acklam's rational approximation of the inverse normal CDF (relative error
 * 1.15e-9), polished by one Halley step on erfc: accurate to double rounding. */
static double inverse_normal(double p)
{
    static const double a[] = {-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02,
                               1.383577518672690e+02, -3.066479806614716e+01, 2.506628277459239e+00};
    static const double b[] = {-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02,
                               6.680131188771972e+01, -1.328068155288572e+01};
    static const double c[] = {-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00,
                               -2.549732539343734e+00, 4.374664141464968e+00, 2.938163982698783e+00};
    static const double d[] = {7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00,
                               3.754408661907416e+00};
    double x;
    if (p < 0.02425 || p > 1 - 0.02425) {
        double q = sqrt(-2 * log(p < 0.5 ? p : 1 - p));
        x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
            ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
        if (p > 0.5)
            x = -x;
    } else {
        double q = p - 0.5, r = q * q;
        x = (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
            (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
    }
    double e = 0.5 * erfc(-x / sqrt(2.0)) - p;
    double u = e * 2.5066282746310002 * exp(x * x / 2);     /* sqrt(2 pi) */
    return x - u / (1 + x * u / 2);
}

void noise_normal_table(float *table)
{
    int n = 1 << NOISE_TABLE_BITS;
    double sum_sq = 0;
    for (int i = 0; i < n / 2; i++) {
        double z = inverse_normal((i + 0.5) / n);
        sum_sq += 2 * z * z;
        table[i] = (float)z;
        table[n - 1 - i] = (float)-z;       /* exactly symmetric: mean 0 */
    }
    /* The discrete distribution's variance is a little under 1 (its tails are
     * cut at 3.97): rescale so that sigma means sigma. */
    double scale = 1 / sqrt(sum_sq / n);
    for (int i = 0; i < n; i++)
        table[i] = (float)(table[i] * scale);
}

/* ---- the chip ---- */

static bool drifts(const Arch *a)
{
    return (a->drift_nu_mean > 0 || a->drift_nu_sigma > 0 || a->drift_nu_pcm) && a->drift_time_s > 0;
}

bool noise_enabled(const Arch *a)
{
    return (a->prog_model != PROG_NONE && a->prog_sigma > 0) || a->sa0_fraction > 0 || a->sa1_fraction > 0 ||
           a->read_sigma > 0 || drifts(a) || a->ir_drop > 0 || a->adc_offset_sigma > 0 || a->adc_gain_sigma > 0 ||
           a->read_1f_scale > 0 || a->out_noise > 0 || a->inp_noise > 0 || wires_enabled(a) ||
           a->adc_inl_lsb > 0;
}

/* The drift exponent's distribution of a cell programmed to g_target. */
static void level_nu(const Arch *a, double g_target, double *mean, double *sigma)
{
    if (a->drift_nu_pcm) {
        noise_pcm_nu(g_target / a->g_max_us, mean, sigma);
    } else {
        *mean = a->drift_nu_mean;
        *sigma = a->drift_nu_sigma;
    }
}

Noise *noise_new(Arena *arena, const Arch *arch, uint64_t seed)
{
    if (!noise_enabled(arch))
        return NULL;
    Noise *n = arena_alloc(arena, sizeof *n);
    n->arch = *arch;
    n->seed = seed;
    n->level_us = (arch->g_max_us - arch->g_min_us) / (ldexp(1.0, arch->cell_bits) - 1);
    bool drift = drifts(arch);
    n->drift_log = drift ? log((arch->drift_time_s + arch->drift_t0_s) / arch->drift_t0_s) : 0;
    /* aihwkit's t is the inference time plus t0: the 1/f noise is there at
     * --time 0 too (t = t0), as in aihwkit's drift_analog_weights(0) */
    double t = arch->drift_time_s + arch->drift_t0_s;
    n->one_f = arch->read_1f_scale > 0
                   ? arch->read_1f_scale * sqrt(log((t + NOISE_PCM_T_READ_S) / (2 * NOISE_PCM_T_READ_S)))
                   : 0;
    n->cells = (arch->prog_model != PROG_NONE && arch->prog_sigma > 0) || arch->sa0_fraction > 0 ||
               arch->sa1_fraction > 0 || drift || arch->ir_drop > 0 || n->one_f > 0 || wires_enabled(arch);
    n->reads = arch->read_sigma > 0 || arch->out_noise > 0;
    n->adc = arch->adc_offset_sigma > 0 || arch->adc_gain_sigma > 0 || arch->adc_inl_lsb > 0;
    n->stuck = arch->sa0_fraction > 0 || arch->sa1_fraction > 0;
    n->prog = arch->prog_model != PROG_NONE && arch->prog_sigma > 0;
    n->cell_key = noise_key(seed, NOISE_CELL);
    n->nu_key = noise_key(seed, NOISE_NU);
    n->gain_key = noise_key(seed, NOISE_ADC_GAIN);
    n->offset_key = noise_key(seed, NOISE_ADC_OFFSET);
    n->read_key = noise_key(seed, NOISE_READ);
    uint64_t time_bits;
    memcpy(&time_bits, &arch->drift_time_s, sizeof time_bits);
    n->one_f_key = noise_hash(noise_key(seed, NOISE_READ_1F), time_bits);    /* drawn anew at each time */
    n->calibration_key = noise_key(seed, NOISE_CALIBRATION);
    n->input_key = noise_key(seed, NOISE_INPUT);
    noise_normal_table(n->normal);
    for (int k = 0; k < 256; k++) {
        n->target[k] = arch->g_min_us + k * n->level_us;
        n->sigma[k] = n->prog ? noise_prog_sigma(arch, n->target[k]) : 0;
        level_nu(arch, n->target[k], &n->nu_mean[k], &n->nu_sigma[k]);
    }
    return n;
}

double noise_prog_sigma(const Arch *a, double g_target)
{
    switch (a->prog_model) {
    case PROG_STATE_INDEPENDENT:
        return a->prog_sigma * a->g_max_us;
    case PROG_PROPORTIONAL:
        return a->prog_sigma * g_target;
    case PROG_PCM: {
        /* aihwkit's PCMLikeNoiseModel: the polynomial in g = G / G_max, in
         * microsiemens for G_max = 25 uS, scaled with G_max. */
        double g = g_target / a->g_max_us;
        double sigma = 0.26348 + 1.9650 * g - 1.1731 * g * g;
        return a->prog_sigma * sigma * a->g_max_us / 25.0;
    }
    case PROG_RRAM_WAN: {
        /* Wan et al. 2022 (NeuRRAM), Extended Data Fig. 3 at t = 1 s: CrossSim's
         * cubic fit, in microsiemens of the absolute conductance (no scaling) */
        double g = g_target, sigma = 1.536e-4 * g * g * g - 1.167e-2 * g * g + 2.374e-1 * g + 1.053;
        return a->prog_sigma * (sigma > 0 ? sigma : 0);
    }
    case PROG_NONE:
    default:
        return 0;
    }
}

static double clip(double x, double lo, double hi)
{
    return x < lo ? lo : x > hi ? hi : x;
}

void noise_pcm_nu(double g, double *mean, double *sigma)
{
    double ln_g = log(clip(fabs(g), 1e-7, INFINITY));     /* aihwkit clips g at 1e-7 */
    *mean = clip(-0.0155 * ln_g + 0.0244, 0.049, 0.1);
    *sigma = clip(-0.0125 * ln_g - 0.0059, 0.008, 0.045);
}

double noise_pcm_q(double g)
{
    return clip(0.0088 / clip(pow(fabs(g), 0.65), 1e-3, INFINITY), 0, 0.2);
}

double noise_drift_factor(double t, double t0, double nu)
{
    return t > 0 ? pow((t + t0) / t0, -nu) : 1.0;
}

uint64_t noise_cell_row_key(const Noise *n, int tile, int row)
{
    return noise_hash(noise_hash(n->cell_key, (uint64_t)(uint32_t)tile), (uint64_t)(uint32_t)row);
}

/* One hash per cell: splitmix64's own step from the row's key.  Its top
 * NOISE_TABLE_BITS bits pick the programming normal, its low 50 bits the
 * uniform of the stuck-at draw (independent bits of one well-mixed word);
 * the drift exponent, when there is drift, takes a second hash. */
static inline uint64_t cell_hash(uint64_t row_key, int col)
{
    return noise_mix(row_key + ((uint64_t)(uint32_t)col + 1) * 0x9e3779b97f4a7c15u);
}

/* A tile rewritten `writes` times since its first programming (Tile.writes,
 * hybrid fine-tuning) draws its programming normal anew from a hash of the
 * cell's and the write count; its stuck-at draw (the low bits of h) and drift
 * exponent stay the device's own.  writes 0 is the first programming. */
static inline uint64_t write_hash(uint64_t h, uint32_t writes)
{
    return writes ? noise_hash(h, writes) : h;
}

static void cell_at(const Noise *n, uint64_t h, uint32_t writes, int row, int col, int level, int tile_rows,
                    int tile_cols, double *g_prog, double *g_now)
{
    const Arch *a = &n->arch;
    double g = level >= 0 && level < 256 ? n->target[level] : a->g_min_us + level * n->level_us;
    bool stuck = false;
    if (n->stuck) {
        double u = (double)(h & ((UINT64_C(1) << 50) - 1)) * 0x1p-50;
        stuck = u < a->sa0_fraction + a->sa1_fraction;
        if (stuck)
            g = u < a->sa0_fraction ? a->g_min_us : a->g_max_us;
    }
    if (!stuck && n->prog) {
        double sigma = level >= 0 && level < 256 ? n->sigma[level] : noise_prog_sigma(a, g);
        g += sigma * noise_normal(n, write_hash(h, writes));
        g = g > 0 ? g : 0;
    }
    double programmed = g;
    if (a->ir_drop > 0)     /* the same at every read: part of what programming gave */
        g /= 1 + a->ir_drop * (row + col) / (double)(tile_rows + tile_cols);
    *g_prog = g;
    if (!stuck && n->drift_log > 0) {
        /* |N(mean, sigma)|, as aihwkit draws it: drift never raises G */
        double mean, sigma;
        if (level >= 0 && level < 256)
            mean = n->nu_mean[level], sigma = n->nu_sigma[level];
        else
            level_nu(a, a->g_min_us + level * n->level_us, &mean, &sigma);
        double nu = fabs(mean + sigma * noise_normal(n, noise_hash(n->nu_key, h)));
        g *= exp(-nu * n->drift_log);
    }
    if (!stuck && n->one_f > 0) {
        /* aihwkit: the 1/f noise accumulated up to the inference time, relative
         * to the drifted G, its amplitude from the programmed G; one draw per
         * chip and time (one_f_key) */
        double q = noise_pcm_q(programmed / a->g_max_us);
        g += fabs(g) * q * n->one_f * noise_normal(n, noise_hash(n->one_f_key, h));
        g = g > 0 ? g : 0;
    }
    *g_now = g;
}

void noise_cell(const Noise *n, int tile, int row, int col, int level, int tile_rows, int tile_cols,
                double *g_prog, double *g_now)
{
    noise_cell_rewritten(n, tile, 0, row, col, level, tile_rows, tile_cols, g_prog, g_now);
}

void noise_cell_rewritten(const Noise *n, int tile, uint32_t writes, int row, int col, int level, int tile_rows,
                          int tile_cols, double *g_prog, double *g_now)
{
    cell_at(n, cell_hash(noise_cell_row_key(n, tile, row), col), writes, row, col, level, tile_rows, tile_cols,
            g_prog, g_now);
}

/* cell_at for a row of cells without drift or IR drop, without branches:
 * the same operations on the same values (a cell without variation adds
 * sigma 0 times its normal). */
static void static_cells(const Noise *n, uint64_t row_key, uint32_t writes, int col0, int count,
                         const uint8_t *restrict levels, double *restrict g_prog, double *restrict g_now)
{
    const Arch *a = &n->arch;
    const double *restrict target = n->target, *restrict sigma = n->sigma;
    const float *restrict normal = n->normal;
    double sa0 = a->sa0_fraction, stuck_below = n->stuck ? a->sa0_fraction + a->sa1_fraction : -1;
    double g_min = a->g_min_us, g_max = a->g_max_us, floor = n->prog ? 0 : -INFINITY;
    for (int i = 0; i < count; i++) {
        uint64_t h = cell_hash(row_key, col0 + i);
        double u = (double)(h & ((UINT64_C(1) << 50) - 1)) * 0x1p-50;
        double varied = sigma[levels[i]] * (double)normal[write_hash(h, writes) >> (64 - NOISE_TABLE_BITS)];
        double g = target[levels[i]] + varied;
        g = g > floor ? g : 0;      /* no variation: g >= G_min >= 0 stays */
        double stuck_at = u < sa0 ? g_min : g_max;
        g = u < stuck_below ? stuck_at : g;
        g_prog[i] = g;
        g_now[i] = g;
    }
}

void noise_cell_row(const Noise *n, int tile, uint32_t writes, int row, int col0, int count, const uint8_t *levels,
                    int tile_rows, int tile_cols, double *g_prog, double *g_now)
{
    uint64_t row_key = noise_cell_row_key(n, tile, row);
    if (n->drift_log == 0 && n->one_f == 0 && n->arch.ir_drop == 0) {
        static_cells(n, row_key, writes, col0, count, levels, g_prog, g_now);
        return;
    }
    for (int i = 0; i < count; i++)
        cell_at(n, cell_hash(row_key, col0 + i), writes, row, col0 + i, levels[i], tile_rows, tile_cols,
                &g_prog[i], &g_now[i]);
}

void noise_adc(const Noise *n, int tile, int adc, double *gain, double *offset)
{
    uint64_t at = noise_hash((uint64_t)(uint32_t)tile, (uint64_t)(uint32_t)adc);
    *gain = 1 + n->arch.adc_gain_sigma * noise_normal(n, noise_hash(n->gain_key, at));
    *offset = n->arch.adc_offset_sigma * noise_normal(n, noise_hash(n->offset_key, at));
}

/* ---- presets and options ---- */

const char *noise_describe(Arena *arena, const Arch *arch)
{
    Arch ideal = arch_default();
    const char *text = "";
    for (int f = arch_field_count(); f < arch_field_count_all(); f++) {
        const char *value = arch_field_format(arena, arch, f);
        if (strcmp(value, arch_field_format(arena, &ideal, f)) == 0)
            continue;
        size_t n = strlen(value);
        if (n >= 2 && value[0] == '"')          /* a name, written bare as --set takes it */
            value = arena_printf(arena, "%.*s", (int)n - 2, value + 1);
        text = arena_printf(arena, "%s%s%s=%s", text, *text ? " " : "", arch_field_name(f), value);
    }
    return text;
}

bool noise_preset(Arch *arch, const char *name)
{
    Arch ideal = arch_default();
    Arch c = *arch;
    c.prog_model = ideal.prog_model, c.prog_sigma = ideal.prog_sigma;
    c.sa0_fraction = ideal.sa0_fraction, c.sa1_fraction = ideal.sa1_fraction;
    c.read_sigma = ideal.read_sigma;
    c.drift_nu_mean = ideal.drift_nu_mean, c.drift_nu_sigma = ideal.drift_nu_sigma;
    c.drift_t0_s = ideal.drift_t0_s, c.drift_time_s = ideal.drift_time_s;
    c.drift_compensation = ideal.drift_compensation;
    c.ir_drop = ideal.ir_drop;
    c.wire_r_ohm = ideal.wire_r_ohm, c.wire_r_row_ohm = ideal.wire_r_row_ohm, c.wire_r_col_ohm = ideal.wire_r_col_ohm;
    c.wire_sense_far = ideal.wire_sense_far, c.wire_split_pairs = ideal.wire_split_pairs;
    c.adc_offset_sigma = ideal.adc_offset_sigma, c.adc_gain_sigma = ideal.adc_gain_sigma;
    c.drift_nu_pcm = ideal.drift_nu_pcm, c.read_1f_scale = ideal.read_1f_scale;
    c.out_noise = ideal.out_noise, c.inp_noise = ideal.inp_noise;
    c.adc_inl_lsb = ideal.adc_inl_lsb;
    if (strcmp(name, "rram") == 0) {
        /* MNSIM's 0.1% / 0.1% stuck-at default; 3% write-verify variation
         * and 1% read noise, within the ranges of docs/background.md 9
         * (docs/noise.md 9) */
        c.prog_model = PROG_PROPORTIONAL, c.prog_sigma = 0.03;
        c.sa0_fraction = 0.001, c.sa1_fraction = 0.001;
        c.read_sigma = 0.01;
    } else if (strcmp(name, "pcm") == 0) {
        /* aihwkit 0.9's InferenceRPUConfig defaults: PCMLikeNoiseModel (the
         * programming polynomial, nu and 1/f noise fitted against G, t0 =
         * 20 s), GlobalDriftCompensation, and the forward pass's out_noise
         * 0.06 of its out_bound 12 (docs/noise.md 9) */
        c.prog_model = PROG_PCM, c.prog_sigma = 1.0;
        c.drift_nu_pcm = 1, c.drift_t0_s = 20.0, c.read_1f_scale = 1.0;
        c.drift_compensation = 1;
        c.out_noise = 0.06 / 12.0;
    } else if (strcmp(name, "neurram") == 0) {
        /* Wan et al. 2022's measured RRAM programming error (CrossSim's
         * RRAMWan fit), over the fit's conductance range */
        c.prog_model = PROG_RRAM_WAN, c.prog_sigma = 1.0;
        c.g_max_us = 39.26;
    } else if (strcmp(name, "ideal") != 0) {
        return false;
    }
    *arch = c;
    return true;
}

/* What --set and a chip file may name: the chip fields, G_min and G_max. */
static const char *settable(int field, const char *name)
{
    if (field < 0)
        return "is not a chip field (docs/noise.md)";
    if (field < arch_field_count() && strcmp(name, "g_min_us") != 0 && strcmp(name, "g_max_us") != 0)
        return "is fixed by the compiled program: recompile with --arch to change it";
    return NULL;
}

const char *noise_set(Arch *arch, const char *assignment)
{
    const char *eq = strchr(assignment, '=');
    if (!eq || eq == assignment)
        return "must be FIELD=VALUE";
    char name[64];
    size_t len = (size_t)(eq - assignment);
    if (len >= sizeof name)
        return "is not an architecture field";
    memcpy(name, assignment, len);
    name[len] = 0;
    int field = arch_field_find(name);
    if (field < 0)
        return "is not an architecture field (see docs/noise.md and docs/arch.md)";
    const char *wrong = settable(field, name);
    if (wrong)
        return wrong;
    const char *value = eq + 1;
    char *end;
    (void)strtod(value, &end);
    bool is_number = *value && !*end;
    return arch_field_parse(arch, field, value, !is_number);
}

const char *noise_read_chip(Arch *arch, const char *path, Arena *arena)
{
    char *text;
    size_t length;
    const char *unread = file_read_text(path, 1 << 20, arena, &text, &length);
    if (unread)     /* "cannot open the chip file: ...", "cannot read the chip file: is a directory" */
        return arena_printf(arena, "%s: %s the chip file%s", path,
                            strncmp(unread, "cannot open", 11) == 0 ? "cannot open" : "cannot read",
                            strchr(unread, ':') ? strchr(unread, ':') : arena_printf(arena, ": %s", unread));
    cJSON *root = cJSON_ParseWithLength(text, length);
    if (!root || !cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return arena_printf(arena, "%s: a chip file must be a JSON object {\"FIELD\": VALUE, ...}", path);
    }
    Arch chip = *arch;
    const char *why = NULL;
    for (const cJSON *item = root->child; item && !why; item = item->next) {
        const char *name = item->string;
        if (strcmp(name, "description") == 0 || strcmp(name, "source") == 0) {   /* documentation */
            if (!cJSON_IsString(item))
                why = arena_printf(arena, "%s: field '%s' must be a string", path, name);
            continue;
        }
        int field = arch_field_find(name);
        const char *wrong = settable(field, name);
        for (const cJSON *before = root->child; !wrong && before != item; before = before->next)
            if (strcmp(before->string, name) == 0)
                wrong = "appears twice";
        if (!wrong && cJSON_IsString(item))
            wrong = arch_field_parse(&chip, field, item->valuestring, true);
        else if (!wrong && cJSON_IsNumber(item))
            wrong = arch_field_parse(&chip, field, arena_printf(arena, "%.17g", item->valuedouble), false);
        else if (!wrong)
            wrong = "must be a number or a name";
        if (wrong)
            why = arena_printf(arena, "%s: field '%s' %s", path, name, wrong);
    }
    cJSON_Delete(root);
    if (why)
        return why;
    Diags diags;
    diags_init(&diags, arena);
    if (!arch_validate(&chip, path, &diags))
        return diags.first->text + (strncmp(diags.first->text, "error: ", 7) ? 0 : 7);
    *arch = chip;
    return NULL;
}

bool noise_parse_time(const char *text, double *seconds)
{
    static const struct {
        char suffix;
        double seconds;
    } units[] = {{'s', 1}, {'m', 60}, {'h', 3600}, {'d', 86400}, {'w', 7 * 86400}, {'y', 365 * 86400.0}};
    char *end;
    double v = strtod(text, &end);
    if (end == text || !isfinite(v) || v < 0)
        return false;
    double unit = 1;
    if (*end) {
        unit = 0;
        for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
            if (end[0] == units[i].suffix && end[1] == 0)
                unit = units[i].seconds;
        if (unit == 0)
            return false;
    }
    *seconds = v * unit;
    return true;
}
