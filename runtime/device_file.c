/* device_file.c: device models by name or from a file (runtime/device.h,
 * docs/devices.md 5): the table of DeviceModel's fields, their ranges
 * (device_check) and the JSON reader (device_load), in the style of the
 * chip files (runtime/noise.c: noise_read_chip). */
#include "runtime/device.h"

#include <cJSON.h>
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

typedef enum { FIELD_DOUBLE, FIELD_INT, FIELD_BOOL } FieldType;

/* Which kinds a field belongs to: ALL, or a mask of (1 << kind). */
#define ALL 0u
#define ONLY(k) (1u << (k))

typedef struct {
    const char *name;
    size_t offset;
    FieldType type;
    double min, max;
    unsigned kinds;
} DeviceField;

#define D(field, lo, hi, kinds) {#field, offsetof(DeviceModel, field), FIELD_DOUBLE, lo, hi, kinds}
static const DeviceField fields[] = {
    D(w_min, -1000, 0, ALL),
    D(w_max, 0, 1000, ALL),
    D(dw_min, 0, 1000, ALL),
    D(up_down, -0.99, 0.99, ALL),
    D(dw_min_dtod, 0, 1, ALL),
    D(up_down_dtod, 0, 1, ALL),
    D(w_min_dtod, 0, 1, ALL),
    D(w_max_dtod, 0, 1, ALL),
    D(dw_min_std, 0, 100, ALL),
    D(write_noise_std, 0, 1000, ALL),
    D(dw_min_std_add, 0, 1000, ALL),
    D(dw_min_std_slope, 0, 1000, ALL),
    D(gamma_up, -100, 100, ONLY(DEVICE_LINEAR) | ONLY(DEVICE_EXP)),
    D(gamma_down, -100, 100, ONLY(DEVICE_LINEAR) | ONLY(DEVICE_EXP)),
    D(gamma_up_dtod, 0, 10, ONLY(DEVICE_LINEAR)),
    D(gamma_down_dtod, 0, 10, ONLY(DEVICE_LINEAR)),
    {"mult_noise", offsetof(DeviceModel, mult_noise), FIELD_BOOL, 0, 1, ONLY(DEVICE_LINEAR)},
    D(a_up, -1000, 1000, ONLY(DEVICE_EXP)),
    D(a_down, -1000, 1000, ONLY(DEVICE_EXP)),
    D(a, -1000, 1000, ONLY(DEVICE_EXP)),
    D(b, -1000, 1000, ONLY(DEVICE_EXP)),
    D(pow_gamma, 0, 100, ONLY(DEVICE_POW)),
    D(pow_gamma_dtod, 0, 1, ONLY(DEVICE_POW)),
    D(pow_up_down, -0.99, 0.99, ONLY(DEVICE_POW)),
    D(nonlinearity_up, -9, 9, ONLY(DEVICE_NEUROSIM)),
    D(nonlinearity_down, -9, 9, ONLY(DEVICE_NEUROSIM)),
    D(nonlinearity_dtod, 0, 9, ONLY(DEVICE_NEUROSIM)),
    {"pulses", offsetof(DeviceModel, pulses), FIELD_INT, 1, 10000000, ONLY(DEVICE_NEUROSIM)},
    D(pulse_pj, 0, 1e9, ALL),
    D(pulse_ns, 0, 1e12, ALL),
    D(endurance, 0, 1e20, ALL),
};
#undef D
enum { FIELD_COUNT = sizeof fields / sizeof fields[0] };

static double field_get(const DeviceModel *m, const DeviceField *f)
{
    const char *p = (const char *)m + f->offset;
    switch (f->type) {
    case FIELD_INT:
        return *(const int *)p;
    case FIELD_BOOL:
        return *(const bool *)p;
    default:
        return *(const double *)p;
    }
}

static void field_set(DeviceModel *m, const DeviceField *f, double value)
{
    char *p = (char *)m + f->offset;
    if (f->type == FIELD_INT)
        *(int *)p = (int)value;
    else if (f->type == FIELD_BOOL)
        *(bool *)p = value != 0;
    else
        *(double *)p = value;
}

static bool field_applies(const DeviceField *f, DeviceKind kind)
{
    return f->kinds == ALL || (f->kinds & ONLY(kind));
}

static const DeviceField *field_find(const char *name)
{
    for (int i = 0; i < FIELD_COUNT; i++)
        if (strcmp(fields[i].name, name) == 0)
            return &fields[i];
    return NULL;
}

const char *device_check(const DeviceModel *m)
{
    static _Thread_local char why[200];
    if (!(m->kind >= 0 && m->kind < DEVICE_KIND_COUNT))
        return "field 'model' must be constant, linear, exp, pow, piecewise or neurosim";
    for (int i = 0; i < FIELD_COUNT; i++) {
        const DeviceField *f = &fields[i];
        double v = field_get(m, f);
        if (field_applies(f, m->kind) && !(v >= f->min && v <= f->max)) {
            snprintf(why, sizeof why, "field '%s' must be from %g to %g, not %g", f->name, f->min, f->max, v);
            return why;
        }
    }
    if (!(m->w_max > 0))
        return "field 'w_max' must be above 0";
    if (m->kind == DEVICE_LINEAR && !(m->w_min < 0))
        return "field 'w_min' must be below 0 for the linear model (its down slope is gamma_down / |w_min|)";
    if (!(m->dw_min > 0 && m->dw_min < m->w_max - m->w_min)) {
        snprintf(why, sizeof why, "field 'dw_min' must be above 0 and below w_max - w_min = %g, not %g",
                 m->w_max - m->w_min, m->dw_min);
        return why;
    }
    if (m->kind == DEVICE_PIECEWISE) {
        if (m->n_points < 2 || m->n_points > DEVICE_MAX_POINTS) {
            snprintf(why, sizeof why, "fields 'points_up' and 'points_down' must have 2 to %d entries, not %d",
                     DEVICE_MAX_POINTS, m->n_points);
            return why;
        }
        for (int i = 0; i < m->n_points; i++)
            if (!(m->points_up[i] >= 0 && m->points_up[i] <= 1000 && m->points_down[i] >= 0 &&
                  m->points_down[i] <= 1000)) {
                snprintf(why, sizeof why, "entry %d of 'points_up' or 'points_down' must be from 0 to 1000", i);
                return why;
            }
    }
    return NULL;
}

const char *device_describe(const DeviceModel *m, int digits, Arena *arena)
{
    char *text = arena_printf(arena, "model=%s", device_kind_name(m->kind));
    for (int i = 0; i < FIELD_COUNT; i++)
        if (field_applies(&fields[i], m->kind))
            text = arena_printf(arena, "%s %s=%.*g", text, fields[i].name, digits, field_get(m, &fields[i]));
    if (m->kind == DEVICE_PIECEWISE)
        for (int dir = 0; dir < 2; dir++) {
            text = arena_printf(arena, "%s %s=", text, dir ? "points_down" : "points_up");
            for (int i = 0; i < m->n_points; i++)
                text = arena_printf(arena, "%s%s%.*g", text, i ? "," : "", digits,
                                    dir ? m->points_down[i] : m->points_up[i]);
        }
    return text;
}

/* A piecewise table from a JSON array of numbers; NULL or what is wrong. */
static const char *read_points(const cJSON *item, double *points, int *count)
{
    if (!cJSON_IsArray(item))
        return "must be an array of numbers";
    int n = cJSON_GetArraySize(item);
    if (n < 2 || n > DEVICE_MAX_POINTS)     /* before anything is copied */
        return "must have 2 to 64 entries";
    int i = 0;
    for (const cJSON *e = item->child; e; e = e->next, i++) {
        if (!cJSON_IsNumber(e))
            return "must be an array of numbers";
        points[i] = e->valuedouble;
    }
    *count = n;
    return NULL;
}

static bool find_kind(const char *name, DeviceKind *kind)
{
    for (int k = 0; k < DEVICE_KIND_COUNT; k++)
        if (strcmp(name, device_kind_name((DeviceKind)k)) == 0) {
            *kind = (DeviceKind)k;
            return true;
        }
    return false;
}

/* The file's fields into m (the kind already set); NULL or what is wrong, naming the field. */
static const char *read_fields(const cJSON *root, DeviceModel *m, Arena *arena)
{
    int n_up = -1, n_down = -1;
    for (const cJSON *item = root->child; item; item = item->next) {
        const char *name = item->string, *wrong = NULL;
        for (const cJSON *before = root->child; before != item; before = before->next)
            if (strcmp(before->string, name) == 0)
                wrong = "appears twice";
        const DeviceField *f = field_find(name);
        if (wrong)
            ;
        else if (strcmp(name, "model") == 0)
            continue;
        else if (strcmp(name, "name") == 0 || strcmp(name, "description") == 0 || strcmp(name, "source") == 0) {
            if (!cJSON_IsString(item))
                wrong = "must be a string";
            else if (name[0] == 'n')
                m->name = arena_strdup(arena, item->valuestring);
            else if (name[0] == 'd')
                m->description = arena_strdup(arena, item->valuestring);
            else
                m->source = arena_strdup(arena, item->valuestring);
        } else if (strcmp(name, "points_up") == 0 || strcmp(name, "points_down") == 0) {
            bool up = name[7] == 'u';
            if (m->kind != DEVICE_PIECEWISE)
                wrong = "is only for the piecewise model";
            else
                wrong = read_points(item, up ? m->points_up : m->points_down, up ? &n_up : &n_down);
        } else if (!f)
            wrong = "is not a device field (docs/devices.md)";
        else if (!field_applies(f, m->kind))
            wrong = arena_printf(arena, "is not a field of the %s model", device_kind_name(m->kind));
        else if (m->kind == DEVICE_NEUROSIM && strcmp(name, "dw_min") == 0)
            wrong = "is (w_max - w_min) / pulses for the neurosim model: give pulses";
        else if (f->type == FIELD_BOOL && !cJSON_IsBool(item))
            wrong = "must be true or false";
        else if (f->type != FIELD_BOOL && !cJSON_IsNumber(item))
            wrong = "must be a number";
        else if (f->type == FIELD_INT && item->valuedouble != floor(item->valuedouble))
            wrong = arena_printf(arena, "must be a whole number, not %g", item->valuedouble);
        else if (!(item->valuedouble >= f->min && item->valuedouble <= f->max) && f->type != FIELD_BOOL)
            wrong = arena_printf(arena, "must be from %g to %g, not %g", f->min, f->max, item->valuedouble);
        else
            field_set(m, f, f->type == FIELD_BOOL ? cJSON_IsTrue(item) : item->valuedouble);
        if (wrong)
            return arena_printf(arena, "field '%s' %s", name, wrong);
    }
    if (m->kind == DEVICE_PIECEWISE) {
        if (n_up < 0 || n_down < 0)
            return n_up < 0 ? "field 'points_up' is missing" : "field 'points_down' is missing";
        if (n_up != n_down)
            return arena_printf(arena, "fields 'points_up' and 'points_down' must have as many entries (%d, %d)",
                                n_up, n_down);
        m->n_points = n_up;
    }
    return NULL;
}

static bool has_field(const cJSON *root, const char *name)
{
    return cJSON_GetObjectItemCaseSensitive(root, name) != NULL;
}

const char *device_load(DeviceModel *model, const char *name_or_path, Arena *arena)
{
    if (device_preset(model, name_or_path))
        return NULL;
    const char *path = name_or_path;
    char *text;
    size_t length;
    const char *why = file_read_text(path, 1 << 20, arena, &text, &length);
    if (why) {
        const char *presets = "";
        for (int i = 0; device_preset_names[i]; i++)
            presets = arena_printf(arena, "%s%s%s", presets, i ? ", " : "", device_preset_names[i]);
        return arena_printf(arena, "%s: not a device preset (%s) nor a device file: %s", path, presets, why);
    }
    return device_parse(model, path, text, length, arena);
}

const char *device_parse(DeviceModel *model, const char *path, const char *text, size_t length, Arena *arena)
{
    cJSON *root = cJSON_ParseWithLength(text, length);
    if (!root || !cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return arena_printf(arena, "%s: a device file must be a JSON object {\"FIELD\": VALUE, ...}", path);
    }
    DeviceModel m = {.name = arena_strdup(arena, path), .description = "", .source = ""};
    const char *why = NULL;
    const cJSON *kind = cJSON_GetObjectItemCaseSensitive(root, "model");
    if (!kind)
        why = "field 'model' is missing";
    else if (!cJSON_IsString(kind) || !find_kind(kind->valuestring, &m.kind))
        why = "field 'model' must be \"constant\", \"linear\", \"exp\", \"pow\", \"piecewise\" or \"neurosim\"";
    else
        why = read_fields(root, &m, arena);
    const char *required[] = {"w_min", "w_max", m.kind == DEVICE_NEUROSIM ? "pulses" : "dw_min"};
    for (int i = 0; i < 3 && !why; i++)
        if (!has_field(root, required[i]))
            why = arena_printf(arena, "field '%s' is missing", required[i]);
    cJSON_Delete(root);
    if (!why && m.kind == DEVICE_NEUROSIM && m.pulses > 0)
        m.dw_min = (m.w_max - m.w_min) / m.pulses;
    if (!why)
        why = device_check(&m);
    if (why)
        return arena_printf(arena, "%s: %s", path, why);
    *model = m;
    return NULL;
}
