/* results.c: a sweep's results table (docs/results.md): JSON lines with the
 * manifest first, CSV, and a careful reader of the JSON lines.
 *
 * Numbers are written in their shortest round-trip form, so that a table
 * written, read and written again is the same bytes, and the same rows give
 * the same bytes however they were made.  The manifest is written through
 * the same printer (cJSON's tree, our numbers and escapes), whatever text the
 * table holds for it.
 *
 * The reader trusts nothing: every line is one JSON object, every key a
 * column of the manifest, every cell of its column's type (an axis value
 * listed in the manifest, a seed of the manifest, a number or null for a
 * metric), every column present (so the cells, 16 bytes each, grow with the
 * file's bytes at most a few times), sizes bounded (RESULTS_MAX_*) and checked against the memory limit
 * before the cells are allocated.  Each error names the file, the line and
 * the key. */
#include "cli/cli.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- writing ------------------------------------------------------------------ */

void results_format_number(char *buf, size_t size, double x)
{
    if (!isfinite(x)) {
        snprintf(buf, size, "null");
        return;
    }
    for (int precision = 15; precision <= 17; precision++) {
        snprintf(buf, size, "%.*g", precision, x);
        if (strtod(buf, NULL) == x)
            return;
    }
}

static void write_json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p == '\n')
            fputs("\\n", f);
        else if (*p == '\t')
            fputs("\\t", f);
        else if (*p < 0x20)
            fprintf(f, "\\u%04x", *p);
        else
            fputc(*p, f);
    }
    fputc('"', f);
}

static void write_json_number(FILE *f, double x)
{
    char buf[40];
    results_format_number(buf, sizeof buf, x);
    fputs(buf, f);
}

/* Any JSON value (the manifest), without spaces. */
static void write_json_value(FILE *f, const cJSON *v)
{
    if (cJSON_IsObject(v) || cJSON_IsArray(v)) {
        bool object = cJSON_IsObject(v);
        fputc(object ? '{' : '[', f);
        for (const cJSON *c = v->child; c; c = c->next) {
            if (object) {
                write_json_string(f, c->string ? c->string : "");
                fputc(':', f);
            }
            write_json_value(f, c);
            if (c->next)
                fputc(',', f);
        }
        fputc(object ? '}' : ']', f);
    } else if (cJSON_IsString(v))
        write_json_string(f, v->valuestring);
    else if (cJSON_IsNumber(v))
        write_json_number(f, v->valuedouble);
    else if (cJSON_IsTrue(v))
        fputs("true", f);
    else if (cJSON_IsFalse(v))
        fputs("false", f);
    else
        fputs("null", f);
}

static const ResultCell *cell_at(const ResultTable *t, int row, int column)
{
    return &t->cells[(size_t)row * (size_t)t->n_columns + (size_t)column];
}

void results_write_jsonl(FILE *f, const ResultTable *table)
{
    fputs("{\"manifest\":", f);
    cJSON *manifest = table->manifest ? cJSON_Parse(table->manifest) : NULL;
    if (manifest)
        write_json_value(f, manifest);
    else
        fputs(table->manifest ? table->manifest : "{}", f);
    cJSON_Delete(manifest);
    fputs("}\n", f);
    results_write_rows(f, table);
}

void results_write_rows(FILE *f, const ResultTable *table)
{
    for (int r = 0; r < table->n_rows; r++) {
        fputc('{', f);
        for (int c = 0; c < table->n_columns; c++) {
            const ResultCell *cell = cell_at(table, r, c);
            write_json_string(f, table->columns[c]);
            fputc(':', f);
            if (cell->text)
                write_json_string(f, cell->text);
            else
                write_json_number(f, cell->number);
            fputc(c + 1 < table->n_columns ? ',' : '}', f);
        }
        fputc('\n', f);
    }
}

/* RFC 4180: quoted when it holds a comma, a quote or a line break. */
static void write_csv_text(FILE *f, const char *s)
{
    if (!strpbrk(s, ",\"\n\r")) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

void results_write_csv(FILE *f, const ResultTable *table)
{
    for (int c = 0; c < table->n_columns; c++) {
        write_csv_text(f, table->columns[c]);
        fputc(c + 1 < table->n_columns ? ',' : '\n', f);
    }
    for (int r = 0; r < table->n_rows; r++)
        for (int c = 0; c < table->n_columns; c++) {
            const ResultCell *cell = cell_at(table, r, c);
            if (cell->text)
                write_csv_text(f, cell->text);
            else if (isfinite(cell->number))
                write_json_number(f, cell->number);
            fputc(c + 1 < table->n_columns ? ',' : '\n', f);
        }
}

int results_column(const ResultTable *table, const char *name)
{
    for (int c = 0; c < table->n_columns; c++)
        if (strcmp(table->columns[c], name) == 0)
            return c;
    return -1;
}

/* ---- reading ------------------------------------------------------------------ */

static const char *const axis_kinds[] = {"arch", "compile", "chip", "time", "model", "dataset"};

/* An axis's values, sorted for the membership test of every row's cell. */
typedef struct {
    bool numeric;
    int n;
    double *numbers;
    const char **texts;
} AxisValues;

typedef struct {
    Arena *arena;
    Diags *diags;
    Loc loc;                    /* file, and the line being read */
    ResultTable *table;
    AxisValues *axes;           /* [n_axes] */
    double *seeds;              /* sorted */
    int n_seeds;
} Reader;

static bool fail(Reader *rd, const char *fmt, const char *a, const char *b)
{
    diag_error(rd->diags, &rd->loc, fmt, a, b);
    return false;
}

static int compare_numbers(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int compare_texts(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static bool is_integer(double x, double max)
{
    return x >= 0 && x <= max && x == floor(x);
}

/* The non-empty array `name` of the manifest, at most `max` long; NULL on an error. */
static const cJSON *manifest_array(Reader *rd, const cJSON *object, const char *name, const char *where, int max)
{
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(object, name);
    if (!cJSON_IsArray(a) || !a->child) {
        fail(rd, "manifest: %s'%s' must be a non-empty array", where, name);
        return NULL;
    }
    if (cJSON_GetArraySize(a) > max) {
        diag_error(rd->diags, &rd->loc, "manifest: %s'%s' has more than %d entries", where, name, max);
        return NULL;
    }
    return a;
}

/* A new column name, or an error naming it. */
static bool add_column(Reader *rd, const char *name)
{
    ResultTable *t = rd->table;
    if (!*name)
        return fail(rd, "manifest: a column name is empty%s%s", "", "");
    if (results_column(t, name) >= 0)
        return fail(rd, "manifest: column '%s' is named twice%s", name, "");
    if (t->n_columns >= RESULTS_MAX_COLUMNS) {
        diag_error(rd->diags, &rd->loc, "manifest: more than %d columns", RESULTS_MAX_COLUMNS);
        return false;
    }
    t->columns[t->n_columns++] = arena_strdup(rd->arena, name);
    return true;
}

static bool read_axis(Reader *rd, const cJSON *axis, AxisValues *values)
{
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(axis, "name");
    const cJSON *kind = cJSON_GetObjectItemCaseSensitive(axis, "kind");
    if (!cJSON_IsObject(axis) || !cJSON_IsString(name))
        return fail(rd, "manifest: an axis must be an object with a string 'name'%s%s", "", "");
    const char *where = arena_printf(rd->arena, "axis '%s': ", name->valuestring);
    bool known = false;
    for (size_t k = 0; cJSON_IsString(kind) && k < sizeof axis_kinds / sizeof axis_kinds[0]; k++)
        known = known || strcmp(kind->valuestring, axis_kinds[k]) == 0;
    if (!known)
        return fail(rd, "manifest: %s'kind' must be arch, compile, chip, time, model or dataset%s", where, "");
    const cJSON *list = manifest_array(rd, axis, "values", where, RESULTS_MAX_AXIS_VALUES);
    if (!list || !add_column(rd, name->valuestring))
        return false;
    values->numeric = cJSON_IsNumber(list->child);
    int n = cJSON_GetArraySize(list);
    if (values->numeric)
        values->numbers = arena_array(rd->arena, (size_t)n, sizeof *values->numbers);
    else
        values->texts = arena_array(rd->arena, (size_t)n, sizeof *values->texts);
    for (const cJSON *v = list->child; v; v = v->next) {
        if (values->numeric ? !cJSON_IsNumber(v) || !isfinite(v->valuedouble) : !cJSON_IsString(v))
            return fail(rd, "manifest: %s'values' must be all numbers or all strings%s", where, "");
        if (values->numeric)
            values->numbers[values->n++] = v->valuedouble;
        else
            values->texts[values->n++] = arena_strdup(rd->arena, v->valuestring);
    }
    if (values->numeric)
        qsort(values->numbers, (size_t)n, sizeof *values->numbers, compare_numbers);
    else
        qsort(values->texts, (size_t)n, sizeof *values->texts, compare_texts);
    return true;
}

/* The manifest object: the columns, the axes' values and the seeds. */
static bool read_manifest(Reader *rd, const cJSON *m)
{
    ResultTable *t = rd->table;
    if (!cJSON_IsObject(m))
        return fail(rd, "the manifest must be a JSON object%s%s", "", "");
    const cJSON *version = cJSON_GetObjectItemCaseSensitive(m, "xbarc");
    if (!cJSON_IsString(version))
        return fail(rd, "manifest: 'xbarc' must be a string (the version that wrote it)%s%s", "", "");
    const cJSON *axes = cJSON_GetObjectItemCaseSensitive(m, "axes");
    const cJSON *seeds = manifest_array(rd, m, "seeds", "", RESULTS_MAX_SEEDS);
    const cJSON *metrics = manifest_array(rd, m, "metrics", "", RESULTS_MAX_COLUMNS);
    if (!cJSON_IsArray(axes))
        return fail(rd, "manifest: 'axes' must be an array%s%s", "", "");
    if (!seeds || !metrics)
        return false;
    int n_axes = cJSON_GetArraySize(axes);
    if (n_axes > RESULTS_MAX_COLUMNS - 2) {
        diag_error(rd->diags, &rd->loc, "manifest: more than %d axes", RESULTS_MAX_COLUMNS - 2);
        return false;
    }
    t->columns = arena_array(rd->arena, RESULTS_MAX_COLUMNS, sizeof *t->columns);
    rd->axes = arena_array(rd->arena, (size_t)n_axes + 1, sizeof *rd->axes);
    if (!add_column(rd, "point"))
        return false;
    int a = 0;
    for (const cJSON *axis = axes->child; axis; axis = axis->next)
        if (!read_axis(rd, axis, &rd->axes[a++]))
            return false;
    t->n_axes = n_axes;
    if (!add_column(rd, "seed"))
        return false;
    rd->seeds = arena_array(rd->arena, (size_t)cJSON_GetArraySize(seeds), sizeof *rd->seeds);
    for (const cJSON *s = seeds->child; s; s = s->next) {
        if (!cJSON_IsNumber(s) || !is_integer(s->valuedouble, 9007199254740992.0))
            return fail(rd, "manifest: 'seeds' must be integers from 0 to 2^53%s%s", "", "");
        rd->seeds[rd->n_seeds++] = s->valuedouble;
    }
    qsort(rd->seeds, (size_t)rd->n_seeds, sizeof *rd->seeds, compare_numbers);
    for (const cJSON *name = metrics->child; name; name = name->next) {
        if (!cJSON_IsString(name))
            return fail(rd, "manifest: 'metrics' must be column names (strings)%s%s", "", "");
        if (!add_column(rd, name->valuestring))
            return false;
    }
    char *text = cJSON_PrintUnformatted(m);
    if (!text)
        return fail(rd, "manifest: cannot be printed back (out of memory)%s%s", "", "");
    t->manifest = arena_strdup(rd->arena, text);
    cJSON_free(text);
    return true;
}

/* The cell of `key` in column c; the axis texts point to the manifest's. */
static bool read_cell(Reader *rd, int c, const char *key, const cJSON *v, ResultCell *cell)
{
    ResultTable *t = rd->table;
    if (c == 0 || c == t->n_axes + 1) {
        const double *found = NULL;
        if (cJSON_IsNumber(v) && c == 0 && is_integer(v->valuedouble, 2147483647.0))
            found = &v->valuedouble;
        if (cJSON_IsNumber(v) && c > 0)
            found = bsearch(&v->valuedouble, rd->seeds, (size_t)rd->n_seeds, sizeof *rd->seeds, compare_numbers);
        if (!found)
            return fail(rd, "'%s' must be %s", key,
                        c == 0 ? "the point's index (an integer from 0 to 2^31-1)" : "one of the manifest's seeds");
        cell->number = v->valuedouble;
    } else if (c <= t->n_axes) {
        const AxisValues *axis = &rd->axes[c - 1];
        if (axis->numeric && cJSON_IsNumber(v) &&
            bsearch(&v->valuedouble, axis->numbers, (size_t)axis->n, sizeof *axis->numbers, compare_numbers))
            cell->number = v->valuedouble;
        else if (!axis->numeric && cJSON_IsString(v)) {
            const char *const *found = bsearch(&v->valuestring, axis->texts, (size_t)axis->n, sizeof *axis->texts,
                                               compare_texts);
            if (!found)
                return fail(rd, "axis '%s': '%s' is not one of the manifest's values", key, v->valuestring);
            cell->text = *found;
        } else
            return fail(rd, "axis '%s' must hold one of the manifest's values (%s)", key,
                        axis->numeric ? "numbers" : "strings");
    } else if (cJSON_IsNumber(v) && isfinite(v->valuedouble))
        cell->number = v->valuedouble;
    else if (cJSON_IsNull(v))
        cell->number = NAN;
    else
        return fail(rd, "metric '%s' must be a number or null%s", key, "");
    return true;
}

static bool read_row(Reader *rd, const cJSON *row, ResultCell *cells)
{
    ResultTable *t = rd->table;
    if (!cJSON_IsObject(row))
        return fail(rd, "a row must be a JSON object%s%s", "", "");
    bool seen[RESULTS_MAX_COLUMNS] = {false};
    for (const cJSON *v = row->child; v; v = v->next) {
        int c = results_column(t, v->string);
        if (c < 0)
            return fail(rd, "key '%s' is not a column of the manifest%s", v->string, "");
        if (seen[c])
            return fail(rd, "key '%s' appears twice%s", v->string, "");
        seen[c] = true;
        if (!read_cell(rd, c, v->string, v, &cells[c]))
            return false;
    }
    for (int c = 0; c < t->n_columns; c++)
        if (!seen[c])
            return fail(rd, "missing key '%s' (every column is written, null when not measured)", t->columns[c], "");
    return true;
}

/* Room for n rows, within the memory limit. */
static bool alloc_cells(Reader *rd, size_t n)
{
    ResultTable *t = rd->table;
    if (!memory_check((uint64_t)n * (uint64_t)t->n_columns, sizeof(ResultCell), "the results table", &rd->loc,
                      rd->diags))
        return false;
    t->cells = arena_array(rd->arena, n * (size_t)t->n_columns + 1, sizeof(ResultCell));
    return true;
}

/* The lines of text: the manifest line first (manifest NULL), or rows alone
 * checked against the manifest's JSON text. */
static bool parse_lines(Arena *arena, const char *path, const char *text, size_t length, const char *manifest,
                        ResultTable *table, bool *cut, Diags *diags)
{
    *table = (ResultTable){0};
    if (cut)
        *cut = false;
    Reader rd = {.arena = arena, .diags = diags, .loc = {.file = path, .line = 1, .col = 1}, .table = table};
    const char *nul = memchr(text, 0, length);
    if (nul) {
        for (const char *p = text; p < nul; p++)
            rd.loc.line += *p == '\n';
        return fail(&rd, "a NUL byte: not a JSON lines file%s%s", "", "");
    }
    if (length == 0 && !manifest)
        return fail(&rd, "empty: the first line must be the manifest%s%s", "", "");
    size_t n_lines = 0;
    for (size_t i = 0; i < length; i++)
        n_lines += text[i] == '\n';
    if (length > 0 && text[length - 1] != '\n' && cut) {   /* a writer stopped mid-line: left out */
        *cut = true;
        while (length > 0 && text[length - 1] != '\n')
            length--;
    } else if (length > 0 && text[length - 1] != '\n') {
        rd.loc.line = (int)(n_lines > INT32_MAX ? INT32_MAX : n_lines + 1);
        return fail(&rd, "the last line is cut short (no newline at its end)%s%s", "", "");
    }
    size_t first_row = manifest ? 0 : 1;
    if (n_lines > RESULTS_MAX_ROWS + first_row) {
        diag_error(diags, &rd.loc, "more than %d rows", RESULTS_MAX_ROWS);
        return false;
    }
    size_t n_rows = n_lines - first_row;
    bool ok = true;
    if (manifest) {
        cJSON *m = cJSON_Parse(manifest);
        rd.loc = (Loc){.file = path};
        ok = m ? read_manifest(&rd, m) : fail(&rd, "the manifest given is not JSON%s%s", "", "");
        ok = ok && alloc_cells(&rd, n_rows);
        cJSON_Delete(m);
    }
    const char *line = text;
    for (size_t i = 0; ok && i < n_lines; i++) {
        const char *end = memchr(line, '\n', (size_t)(text + length - line));
        rd.loc = (Loc){.file = path, .line = (int)i + 1, .col = 1};
        const char *parsed_end = NULL;
        cJSON *json = cJSON_ParseWithLengthOpts(line, (size_t)(end - line), &parsed_end, false);
        const cJSON *m = json ? cJSON_GetObjectItemCaseSensitive(json, "manifest") : NULL;
        if (!json || parsed_end != end) {
            const char *at = json ? parsed_end : cJSON_GetErrorPtr();
            size_t col = at && at >= line && at < end ? (size_t)(at - line) : (size_t)(end - line);
            rd.loc.col = col < 1000000 ? (int)col + 1 : 1;
            ok = fail(&rd, "%s%s", end == line ? "an empty line" : "not one JSON value", "");
        } else if (i < first_row && (!cJSON_IsObject(json) || !m || cJSON_GetArraySize(json) != 1))
            ok = fail(&rd, "the first line must be {\"manifest\": {...}}, the manifest alone%s%s", "", "");
        else if (i < first_row)
            ok = read_manifest(&rd, m) && alloc_cells(&rd, n_rows);
        else {
            ok = read_row(&rd, json, &table->cells[(i - first_row) * (size_t)table->n_columns]);
            table->n_rows += ok;
        }
        cJSON_Delete(json);
        line = end + 1;
    }
    return ok;
}

bool results_parse(Arena *arena, const char *path, const char *text, size_t length, ResultTable *table,
                   Diags *diags)
{
    return parse_lines(arena, path, text, length, NULL, table, NULL, diags);
}

bool results_parse_rows(Arena *arena, const char *path, const char *text, size_t length, const char *manifest,
                        ResultTable *table, bool *cut, Diags *diags)
{
    return parse_lines(arena, path, text, length, manifest, table, cut, diags);
}

bool results_read(Arena *arena, const char *path, ResultTable *table, Diags *diags)
{
    Loc loc = {.file = path};
    FileBytes bytes;
    if (!file_read(path, 0, &loc, diags, &bytes))
        return false;
    bool ok = results_parse(arena, path, (const char *)bytes.data, bytes.size, table, diags);
    file_release(&bytes);
    return ok;
}
