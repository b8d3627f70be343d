/* arch.c: the crossbar architecture, its default, its JSON file and its checks.
 *
 * One table lists the fields of Arch by name (sorted), with the kind of value
 * each takes and where it lives in the struct.  Everything goes through it: the
 * JSON reader (cJSON; a field absent keeps its default, an unknown field, a
 * wrong type or a value out of range is an error naming the field), the JSON
 * writer (every field, in the table's order), and the `arch {...}` line of the
 * textual IR (print.c and parse.c call arch_field_format / arch_field_parse).
 * Ranges are checked once, by arch_validate(), after all fields are read, so
 * that a bound that depends on another field (dac_bits <= input_bits) does not
 * depend on the order of the file.  Doubles are written in the shortest of
 * %.15g / %.17g that reads back to the same bits.
 *
 * The chip non-idealities (docs/noise.md) are fields too, after the compiled
 * ones: the same functions format and parse them (`xbarc run --set`), but
 * they are not part of a compiled program, so arch_field_count() (the .xir
 * line), the JSON writer and the JSON reader leave them out; the reader
 * says where to give them instead. */
#include "ir.h"

#include <cJSON.h>
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

typedef enum { F_INT, F_REAL, F_SIGN, F_GRANULARITY, F_PROG } FieldKind;

static const struct {
    const char *name;
    FieldKind kind;
    size_t offset;          /* of the int, double, SignMapping or bool in Arch */
} fields[] = {
    {"adc_bits", F_INT, offsetof(Arch, adc_bits)},
    {"cell_bits", F_INT, offsetof(Arch, cell_bits)},
    {"cols", F_INT, offsetof(Arch, cols)},
    {"cols_per_adc", F_INT, offsetof(Arch, cols_per_adc)},
    {"dac_bits", F_INT, offsetof(Arch, dac_bits)},
    {"g_max_us", F_REAL, offsetof(Arch, g_max_us)},
    {"g_min_us", F_REAL, offsetof(Arch, g_min_us)},
    {"input_bits", F_INT, offsetof(Arch, input_bits)},
    {"rows", F_INT, offsetof(Arch, rows)},
    {"sign", F_SIGN, offsetof(Arch, sign)},
    {"tiles", F_INT, offsetof(Arch, tiles)},
    {"weight_bits", F_INT, offsetof(Arch, weight_bits)},
    {"weight_granularity", F_GRANULARITY, offsetof(Arch, weight_per_layer)},
    /* chip non-idealities from here on (N_COMPILED below) */
    {"adc_gain_sigma", F_REAL, offsetof(Arch, adc_gain_sigma)},
    {"adc_inl_lsb", F_REAL, offsetof(Arch, adc_inl_lsb)},
    {"adc_offset_sigma", F_REAL, offsetof(Arch, adc_offset_sigma)},
    {"drift_compensation", F_INT, offsetof(Arch, drift_compensation)},
    {"drift_nu_mean", F_REAL, offsetof(Arch, drift_nu_mean)},
    {"drift_nu_pcm", F_INT, offsetof(Arch, drift_nu_pcm)},
    {"drift_nu_sigma", F_REAL, offsetof(Arch, drift_nu_sigma)},
    {"drift_t0_s", F_REAL, offsetof(Arch, drift_t0_s)},
    {"drift_time_s", F_REAL, offsetof(Arch, drift_time_s)},
    {"inp_noise", F_REAL, offsetof(Arch, inp_noise)},
    {"ir_drop", F_REAL, offsetof(Arch, ir_drop)},
    {"out_noise", F_REAL, offsetof(Arch, out_noise)},
    {"prog_model", F_PROG, offsetof(Arch, prog_model)},
    {"prog_sigma", F_REAL, offsetof(Arch, prog_sigma)},
    {"read_1f_scale", F_REAL, offsetof(Arch, read_1f_scale)},
    {"read_sigma", F_REAL, offsetof(Arch, read_sigma)},
    {"sa0_fraction", F_REAL, offsetof(Arch, sa0_fraction)},
    {"sa1_fraction", F_REAL, offsetof(Arch, sa1_fraction)},
    {"wire_r_col_ohm", F_REAL, offsetof(Arch, wire_r_col_ohm)},
    {"wire_r_ohm", F_REAL, offsetof(Arch, wire_r_ohm)},
    {"wire_r_row_ohm", F_REAL, offsetof(Arch, wire_r_row_ohm)},
    {"wire_sense_far", F_INT, offsetof(Arch, wire_sense_far)},
    {"wire_split_pairs", F_INT, offsetof(Arch, wire_split_pairs)},
};
enum { N_FIELDS = sizeof fields / sizeof fields[0], N_COMPILED = 13 };

static const char *const prog_names[] = {
    [PROG_NONE] = "none", [PROG_STATE_INDEPENDENT] = "state-independent",
    [PROG_PROPORTIONAL] = "proportional", [PROG_PCM] = "pcm", [PROG_RRAM_WAN] = "rram-wan",
};
enum { N_PROG = sizeof prog_names / sizeof prog_names[0] };

static const char *const sign_names[] = {
    [SIGN_PAIR_ANALOG] = "pair-analog", [SIGN_PAIR_DIGITAL] = "pair-digital", [SIGN_OFFSET] = "offset",
};

Arch arch_default(void)
{
    return (Arch){
        .rows = 128, .cols = 128, .cell_bits = 2, .g_min_us = 1.0, .g_max_us = 100.0,
        .weight_bits = 8, .weight_per_layer = false, .input_bits = 8, .dac_bits = 1,
        .adc_bits = 10, .cols_per_adc = 8, .sign = SIGN_PAIR_ANALOG, .tiles = 0,
        .prog_model = PROG_NONE, .drift_t0_s = 20.0,    /* the ideal chip */
    };
}

const char *sign_mapping_name(SignMapping sign)
{
    return (unsigned)sign < 3 ? sign_names[sign] : "?";
}

bool sign_mapping_from_name(const char *name, SignMapping *sign)
{
    for (int i = 0; i < 3; i++) {
        if (strcmp(name, sign_names[i]) == 0) {
            *sign = (SignMapping)i;
            return true;
        }
    }
    return false;
}

const char *prog_model_name(ProgModel model)
{
    return (unsigned)model < N_PROG ? prog_names[model] : "?";
}

/* ---- the field table ---- */

int arch_field_count(void)
{
    return N_COMPILED;
}

int arch_field_count_all(void)
{
    return N_FIELDS;
}

static bool is_name_kind(FieldKind kind)
{
    return kind == F_SIGN || kind == F_GRANULARITY || kind == F_PROG;
}

bool arch_field_is_name(int field)
{
    return field >= 0 && field < N_FIELDS && is_name_kind(fields[field].kind);
}

const char *arch_field_name(int field)
{
    return field >= 0 && field < N_FIELDS ? fields[field].name : NULL;
}

int arch_field_find(const char *name)
{
    for (int i = 0; i < N_FIELDS; i++)
        if (strcmp(fields[i].name, name) == 0)
            return i;
    return -1;
}

static int *int_field(Arch *arch, int field)
{
    return (int *)((char *)arch + fields[field].offset);
}

static double *real_field(Arch *arch, int field)
{
    return (double *)((char *)arch + fields[field].offset);
}

/* The shortest %.15g / %.17g text of d that reads back to d, with a '.' or an
 * 'e' so that it reads as a real. */
static char *format_real(Arena *arena, double d)
{
    char buf[40];
    snprintf(buf, sizeof buf, "%.15g", d);
    if (strtod(buf, NULL) != d)
        snprintf(buf, sizeof buf, "%.17g", d);
    if (!strpbrk(buf, ".en"))     /* 'n': inf, nan (refused by validation anyway) */
        strcat(buf, ".0");
    return arena_strdup(arena, buf);
}

/* The value's text without quotes for names: the JSON and .xir writers quote. */
static char *field_text(Arena *arena, const Arch *arch, int field, bool *is_name)
{
    Arch *a = (Arch *)arch;     /* only read */
    *is_name = false;
    switch (fields[field].kind) {
    case F_INT:
        return arena_printf(arena, "%d", *int_field(a, field));
    case F_REAL:
        return format_real(arena, *real_field(a, field));
    case F_SIGN:
        *is_name = true;
        return arena_strdup(arena, sign_mapping_name(arch->sign));
    case F_GRANULARITY:
        *is_name = true;
        return arena_strdup(arena, arch->weight_per_layer ? "layer" : "channel");
    case F_PROG:
        *is_name = true;
        return arena_strdup(arena, prog_model_name(arch->prog_model));
    }
    return arena_strdup(arena, "");
}

char *arch_field_format(Arena *arena, const Arch *arch, int field)
{
    bool is_name;
    char *text = field_text(arena, arch, field, &is_name);
    return is_name ? arena_printf(arena, "\"%s\"", text) : text;
}

/* Sets a name-valued field; NULL or what is wrong. */
static const char *set_name(Arch *arch, int field, const char *name)
{
    if (fields[field].kind == F_SIGN) {
        if (!sign_mapping_from_name(name, &arch->sign))
            return "must be \"pair-analog\", \"pair-digital\" or \"offset\"";
        return NULL;
    }
    if (fields[field].kind == F_PROG) {
        for (int i = 0; i < N_PROG; i++) {
            if (strcmp(name, prog_names[i]) == 0) {
                arch->prog_model = (ProgModel)i;
                return NULL;
            }
        }
        return "must be \"none\", \"state-independent\", \"proportional\", \"pcm\" or \"rram-wan\"";
    }
    if (strcmp(name, "channel") == 0 || strcmp(name, "layer") == 0) {
        arch->weight_per_layer = name[0] == 'l';
        return NULL;
    }
    return "must be \"channel\" or \"layer\"";
}

/* Sets a number-valued field from a double (JSON numbers are doubles). */
static const char *set_number(Arch *arch, int field, double d)
{
    switch (fields[field].kind) {
    case F_INT:
        if (d != floor(d) || fabs(d) > 1e9)
            return "must be an integer";
        *int_field(arch, field) = (int)d;
        return NULL;
    case F_REAL:
        if (!isfinite(d))
            return "must be a finite number";
        *real_field(arch, field) = d;
        return NULL;
    case F_SIGN:
    case F_GRANULARITY:
    case F_PROG:
        return set_name(arch, field, "");
    }
    return NULL;
}

const char *arch_field_parse(Arch *arch, int field, const char *text, bool is_string)
{
    if (field < 0 || field >= N_FIELDS)
        return "is not a field";
    bool wants_name = is_name_kind(fields[field].kind);
    if (is_string != wants_name)
        return wants_name ? set_name(arch, field, "")
                          : fields[field].kind == F_INT ? "must be an integer" : "must be a number";
    if (is_string)
        return set_name(arch, field, text);
    char *end;
    errno = 0;
    if (fields[field].kind == F_INT) {
        long long v = strtoll(text, &end, 10);
        if (*end || end == text || errno == ERANGE || v < -1000000000 || v > 1000000000)
            return "must be an integer";
        *int_field(arch, field) = (int)v;
        return NULL;
    }
    double d = strtod(text, &end);
    if (*end || end == text)
        return "must be a number";
    return set_number(arch, field, d);
}

/* ---- validation ---- */

typedef struct {
    const char *name;
    int lo, hi;
} IntRange;

/* The non-idealities: sigmas and strengths at least 0, fractions that add
 * up to at most 1, a positive t0 when there is drift to scale. */
static void validate_chip(const Arch *arch, const Loc *loc, Diags *diags)
{
    static const char *const at_least_zero[] = {
        "adc_gain_sigma", "adc_inl_lsb", "adc_offset_sigma", "drift_nu_mean", "drift_nu_sigma", "drift_time_s",
        "ir_drop", "prog_sigma", "read_sigma", "sa0_fraction", "sa1_fraction",
        "read_1f_scale", "out_noise", "inp_noise", "wire_r_col_ohm", "wire_r_ohm", "wire_r_row_ohm",
    };
    for (size_t i = 0; i < sizeof at_least_zero / sizeof at_least_zero[0]; i++) {
        double v = *real_field((Arch *)arch, arch_field_find(at_least_zero[i]));
        if (!(v >= 0) || !isfinite(v))
            diag_error(diags, loc, "field '%s' must be 0 or more, not %g", at_least_zero[i], v);
    }
    if (arch->sa0_fraction + arch->sa1_fraction > 1)
        diag_error(diags, loc, "fields 'sa0_fraction' and 'sa1_fraction' add up to more than 1 (%g + %g)",
                   arch->sa0_fraction, arch->sa1_fraction);
    if ((arch->drift_nu_mean != 0 || arch->drift_nu_sigma != 0) &&
        (!(arch->drift_t0_s > 0) || !isfinite(arch->drift_t0_s)))
        diag_error(diags, loc, "field 'drift_t0_s' must be positive when there is drift, not %g", arch->drift_t0_s);
    if (arch->drift_compensation != 0 && arch->drift_compensation != 1)
        diag_error(diags, loc, "field 'drift_compensation' must be 0 or 1, not %d", arch->drift_compensation);
    if ((unsigned)arch->prog_model >= N_PROG)
        diag_error(diags, loc, "field 'prog_model' has an invalid value %d", (int)arch->prog_model);
    if (arch->wire_sense_far != 0 && arch->wire_sense_far != 1)
        diag_error(diags, loc, "field 'wire_sense_far' must be 0 or 1, not %d", arch->wire_sense_far);
    if (arch->wire_split_pairs != 0 && arch->wire_split_pairs != 1)
        diag_error(diags, loc, "field 'wire_split_pairs' must be 0 or 1, not %d", arch->wire_split_pairs);
    if (arch->drift_nu_pcm != 0 && arch->drift_nu_pcm != 1)
        diag_error(diags, loc, "field 'drift_nu_pcm' must be 0 or 1, not %d", arch->drift_nu_pcm);
    if ((arch->drift_nu_pcm || arch->read_1f_scale > 0) && (!(arch->drift_t0_s > 0) || !isfinite(arch->drift_t0_s)))
        diag_error(diags, loc, "field 'drift_t0_s' must be positive with the PCM drift or 1/f noise, not %g",
                   arch->drift_t0_s);
    /* Wan et al.'s fit covers 0 to 39.26 uS (CrossSim's RRAMWan refuses more) */
    if (arch->prog_model == PROG_RRAM_WAN && arch->g_max_us > 39.26)
        diag_error(diags, loc, "prog_model \"rram-wan\" is fitted up to 39.26 uS: field 'g_max_us' is %g",
                   arch->g_max_us);
}

bool arch_validate_at(const Arch *arch, const Loc *loc, Diags *diags)
{
    int errors_before = diags->n_errors;
    const IntRange ranges[] = {
        {"rows", 1, 4096}, {"cols", 1, 4096}, {"cell_bits", 1, 8}, {"weight_bits", 2, 16},
        {"input_bits", 1, 16}, {"dac_bits", 1, arch->input_bits}, {"adc_bits", 1, 24},
        {"cols_per_adc", 1, arch->cols}, {"tiles", 0, 1 << 30},
    };
    for (size_t i = 0; i < sizeof ranges / sizeof ranges[0]; i++) {
        const IntRange *r = &ranges[i];
        int v = *int_field((Arch *)arch, arch_field_find(r->name));
        if (v >= r->lo && v <= r->hi)
            continue;
        if (strcmp(r->name, "tiles") == 0)
            diag_error(diags, loc, "field 'tiles' must be 0 (unbounded) or positive, not %d", v);
        else if (strcmp(r->name, "dac_bits") == 0 || strcmp(r->name, "cols_per_adc") == 0)
            diag_error(diags, loc, "field '%s' must be 1 to %d (%s), not %d", r->name, r->hi,
                       r->name[0] == 'd' ? "input_bits" : "cols", v);
        else
            diag_error(diags, loc, "field '%s' must be %d to %d, not %d", r->name, r->lo, r->hi, v);
    }
    if (!(arch->g_min_us > 0) || !isfinite(arch->g_min_us))
        diag_error(diags, loc, "field 'g_min_us' must be positive, not %g", arch->g_min_us);
    else if (!(arch->g_max_us > arch->g_min_us) || !isfinite(arch->g_max_us))
        diag_error(diags, loc, "field 'g_max_us' must be above g_min_us (%g), not %g", arch->g_min_us,
                   arch->g_max_us);
    if ((unsigned)arch->sign > SIGN_OFFSET)
        diag_error(diags, loc, "field 'sign' has an invalid value %d", (int)arch->sign);
    validate_chip(arch, loc, diags);
    return diags->n_errors == errors_before;
}

bool arch_validate(const Arch *arch, const char *file, Diags *diags)
{
    Loc loc = {.file = file};
    return arch_validate_at(arch, &loc, diags);
}

/* ---- JSON ---- */

/* Line and column of `at` in text, for a syntax error. */
static void text_position(const char *text, const char *at, Loc *loc)
{
    loc->line = 1;
    loc->col = 1;
    for (const char *p = text; p < at && *p; p++) {
        if (*p == '\n') {
            loc->line++;
            loc->col = 1;
        } else {
            loc->col++;
        }
    }
}

enum { ARCH_MAX_BYTES = 1 << 24 };

bool arch_read_json(const char *path, Arch *arch, Diags *diags)
{
    FileBytes bytes;
    if (!file_read(path, ARCH_MAX_BYTES, NULL, diags, &bytes))
        return false;
    bool ok = arch_parse_json(path, (const char *)bytes.data, bytes.size, arch, diags);
    file_release(&bytes);
    return ok;
}

bool arch_parse_json(const char *path, const char *text, size_t length, Arch *arch, Diags *diags)
{
    Loc loc = {.file = path};
    if (length > ARCH_MAX_BYTES) {
        diag_error(diags, &loc, "architecture file is larger than 16 MB");
        return false;
    }
    if (memchr(text, 0, length)) {
        diag_error(diags, &loc, "invalid JSON: the file holds a NUL byte");
        return false;
    }
    /* cJSON checks that nothing follows the object by finding the NUL. */
    char *copy = arena_alloc(diags->arena, length + 1);
    if (length)
        memcpy(copy, text, length);
    text = copy;
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, length + 1, &end, true);  /* with its NUL */
    if (!root) {
        Loc at = loc;
        text_position(text, end ? end : text, &at);
        diag_error(diags, &at, "invalid JSON");
        return false;
    }
    int errors_before = diags->n_errors;
    if (!cJSON_IsObject(root)) {
        diag_error(diags, &loc, "an architecture must be a JSON object {\"rows\": 128, ...}");
        cJSON_Delete(root);
        return false;
    }
    Arch a = arch_default();
    bool seen[N_FIELDS] = {false};
    for (const cJSON *item = root->child; item; item = item->next) {
        int field = arch_field_find(item->string);
        if (field < 0) {
            diag_error(diags, &loc, "unknown field '%s'", item->string);
            continue;
        }
        if (field >= N_COMPILED) {
            diag_error(diags, &loc,
                       "field '%s' is a chip non-ideality, not part of a compiled program: give it at run "
                       "time, 'xbarc run --set %s=VALUE' (docs/noise.md)", item->string, item->string);
            continue;
        }
        if (seen[field]) {
            diag_error(diags, &loc, "field '%s' appears twice", item->string);
            continue;
        }
        seen[field] = true;
        const char *why;
        if (cJSON_IsString(item))
            why = arch_field_parse(&a, field, item->valuestring, true);
        else if (cJSON_IsNumber(item) && !is_name_kind(fields[field].kind))
            why = set_number(&a, field, item->valuedouble);
        else
            why = fields[field].kind == F_INT ? "must be an integer"
                  : fields[field].kind == F_REAL ? "must be a number"
                                                 : set_name(&a, field, "");
        if (why)
            diag_error(diags, &loc, "field '%s' %s", item->string, why);
    }
    cJSON_Delete(root);
    if (diags->n_errors != errors_before || !arch_validate(&a, path, diags))
        return false;
    *arch = a;
    return true;
}

char *arch_to_json(Arena *arena, const Arch *arch)
{
    size_t cap = 64;
    for (int i = 0; i < N_COMPILED; i++)
        cap += strlen(fields[i].name) + 48;
    char *out = arena_alloc(arena, cap);
    size_t n = (size_t)snprintf(out, cap, "{\n");
    for (int i = 0; i < N_COMPILED; i++)
        n += (size_t)snprintf(out + n, cap - n, "  \"%s\": %s%s\n", fields[i].name,
                              arch_field_format(arena, arch, i), i + 1 < N_COMPILED ? "," : "");
    snprintf(out + n, cap - n, "}\n");
    return out;
}
