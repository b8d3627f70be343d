/* test_results.c: the results table (cli/results.c, docs/results.md):
 * numbers in their shortest round-trip form, CSV quoting (RFC 4180), the
 * JSON lines written, read and written again byte for byte, and the reader's
 * errors naming the line and the key. */
#define TEST_FIXTURE
#include "test_support.h"

#include "cli/cli.h"

#include <math.h>

TestSuite(results, .init = test_setup, .fini = test_teardown);

static double random_double(void)
{
    uint64_t bits = test_random();
    double x;
    memcpy(&x, &bits, sizeof x);
    return x;
}

/* Every finite double reads back exactly, and no shorter %.Ng would: checked
 * against strtod, not against the function's own loop. */
Test(results, format_number_round_trips)
{
    int n = 0;
    for (int i = 0; i < 200000; i++) {
        double x = i % 4 == 0 ? random_double()
                   : i % 4 == 1 ? (double)test_uniform(-1000000, 1000000) / (double)test_uniform(1, 1000)
                   : i % 4 == 2 ? (double)test_uniform(-(1 << 30), 1 << 30)
                                : ldexp((double)(test_random() >> 11), (int)test_uniform(-1074, 971));
        if (!isfinite(x))
            continue;
        n++;
        char buf[40];
        results_format_number(buf, sizeof buf, x);
        cr_assert(strtod(buf, NULL) == x && signbit(strtod(buf, NULL)) == signbit(x), "%s for %.17g", buf, x);
        int digits = 0;   /* significant digits written: from the first non-zero one */
        bool significant = false;
        for (const char *p = buf; *p && *p != 'e'; p++) {
            significant = significant || (*p >= '1' && *p <= '9');
            digits += significant && *p >= '0' && *p <= '9';
        }
        if (digits > 15) {   /* then %.15g must not read back */
            char shorter[40];
            snprintf(shorter, sizeof shorter, "%.15g", x);
            cr_assert(strtod(shorter, NULL) != x, "%s for %.17g: %s is shorter", buf, x, shorter);
        }
    }
    cr_assert(n > 150000);
}

Test(results, format_number_forms)
{
    static const struct {
        double x;
        const char *text;
    } cases[] = {
        {0, "0"}, {64, "64"}, {-3, "-3"}, {0.1, "0.1"}, {0.842, "0.842"}, {1e-7, "1e-07"},
        {1.0 / 3, "0.3333333333333333"}, {2.0 / 3, "0.6666666666666666"}, {9007199254740993.0, "9007199254740992"},
        {1e300, "1e+300"}, {5e-324, "4.94065645841247e-324"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char buf[40];
        results_format_number(buf, sizeof buf, cases[i].x);
        cr_assert_str_eq(buf, cases[i].text);
    }
    char buf[40];
    results_format_number(buf, sizeof buf, NAN);
    cr_assert_str_eq(buf, "null");
    results_format_number(buf, sizeof buf, INFINITY);
    cr_assert_str_eq(buf, "null");
}

static const char *columns[] = {"point", "adc", "seed", "accuracy", "energy_pj"};

static char *written(void (*write)(FILE *, const ResultTable *), const ResultTable *t)
{
    char *text = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&text, &size);
    write(f, t);
    fclose(f);
    char *copy = arena_strdup(arena, text);
    free(text);
    return copy;
}

/* Quoted exactly when a comma, a quote or a line break is inside, quotes doubled. */
Test(results, csv_quoting)
{
    ResultCell cells[] = {
        {NULL, 0}, {"plain", 0}, {NULL, 1}, {NULL, 0.5}, {NULL, NAN},
        {NULL, 1}, {"a,b", 0}, {NULL, 1}, {NULL, NAN}, {NULL, 12.25},
        {NULL, 2}, {"say \"hi\"", 0}, {NULL, 1}, {NULL, 1}, {NULL, 3},
        {NULL, 3}, {"two\nlines", 0}, {NULL, 1}, {NULL, 0}, {NULL, 1e-7},
    };
    ResultTable t = {.n_axes = 1, .n_columns = 5, .columns = columns, .n_rows = 4, .cells = cells};
    cr_assert_str_eq(written(results_write_csv, &t), "point,adc,seed,accuracy,energy_pj\n"
                                                     "0,plain,1,0.5,\n"
                                                     "1,\"a,b\",1,,12.25\n"
                                                     "2,\"say \"\"hi\"\"\",1,1,3\n"
                                                     "3,\"two\nlines\",1,0,1e-07\n");
}

static const char sample[] =
    "{\"manifest\":{\"xbarc\":\"0.14.0\",\"axes\":[{\"name\":\"adc\",\"kind\":\"compile\",\"values\":"
    "[\"uniform:5\",\"a \\\"q\\\"\"]},{\"name\":\"read_sigma\",\"kind\":\"chip\",\"values\":[0,0.01]}],"
    "\"seeds\":[1,2],\"metrics\":[\"accuracy\",\"energy_pj\"],\"extra\":{\"n\":[1.5,true,null]}}}\n"
    "{\"point\":0,\"adc\":\"uniform:5\",\"read_sigma\":0,\"seed\":1,\"accuracy\":0.842,\"energy_pj\":null}\n"
    "{\"point\":1,\"adc\":\"a \\\"q\\\"\",\"read_sigma\":0.01,\"seed\":2,\"accuracy\":0.3333333333333333,"
    "\"energy_pj\":1e+20}\n";

Test(results, jsonl_round_trip)
{
    ResultTable t;
    cr_assert(results_parse(arena, "r.jsonl", sample, strlen(sample), &t, &diags), "%s", test_messages());
    cr_assert_eq(t.n_axes, 2);
    cr_assert_eq(t.n_columns, 6);
    cr_assert_eq(t.n_rows, 2);
    cr_assert_str_eq(t.columns[4], "accuracy");
    cr_assert(isnan(t.cells[5].number));
    cr_assert_str_eq(t.cells[7].text, "a \"q\"");
    cr_assert_eq(t.cells[11].number, 1e20);
    cr_assert_eq(results_column(&t, "energy_pj"), 5);
    cr_assert_eq(results_column(&t, "colour"), -1);
    cr_assert_str_eq(written(results_write_jsonl, &t), sample);
}

static void refused(const char *text, const char *message)
{
    ResultTable t;
    cr_assert_not(results_parse(arena, "r.jsonl", text, strlen(text), &t, &diags), "accepted: %s", text);
    cr_assert(test_diags_contain(&diags, message), "wanted '%s', got: %s", message, test_messages());
}

#define MANIFEST "{\"manifest\":{\"xbarc\":\"0\",\"axes\":[{\"name\":\"rows\",\"kind\":\"arch\",\"values\":[64]}]," \
                 "\"seeds\":[1],\"metrics\":[\"accuracy\"]}}\n"

Test(results, reader_errors)
{
    refused("", "r.jsonl:1:1: error: empty");
    refused("[1]\n", "r.jsonl:1:1: error: the first line must be {\"manifest\"");
    refused(MANIFEST "{\"point\":0,\"rows\":64,\"seed\":1,\"accuracy\":0.5}", "r.jsonl:2:1: error: the last line is cut short");
    refused(MANIFEST "{\"point\":0,\"rows\":64,\"seed\":1,\"colour\":1}\n", "r.jsonl:2:1: error: key 'colour' is not a column");
    refused(MANIFEST "{\"point\":0,\"rows\":32,\"seed\":1}\n", "axis 'rows' must hold one of the manifest's values");
    refused(MANIFEST "{\"point\":0,\"rows\":64,\"seed\":1,\"accuracy\":\"high\"}\n", "metric 'accuracy' must be a number or null");
    refused(MANIFEST "{\"point\":0,\"rows\":64,\"seed\":3}\n", "'seed' must be one of the manifest's seeds");
    refused(MANIFEST "{\"point\":-1,\"rows\":64,\"seed\":1}\n", "'point' must be the point's index");
    refused(MANIFEST "{\"point\":0,\"seed\":1}\n", "r.jsonl:2:1: error: missing key 'rows'");
    refused(MANIFEST "{\"point\":0,\"rows\":64,\"seed\":1}\n", "r.jsonl:2:1: error: missing key 'accuracy'");
    refused(MANIFEST "[0]\n", "r.jsonl:2:1: error: a row must be a JSON object");
    refused(MANIFEST "{\"point\":0,\"rows\":64,\"seed\":1} x\n", "r.jsonl:2:");
    refused(MANIFEST "{\"point\":0,\"point\":0,\"rows\":64,\"seed\":1}\n", "key 'point' appears twice");
    refused(MANIFEST "\n", "r.jsonl:2:1: error: an empty line");
    refused(MANIFEST "{\"point\":0,\"rows\":64,\"seed\":1,\"accuracy\":1e999}\n", "metric 'accuracy'");
    refused("{\"manifest\":{\"xbarc\":\"0\",\"axes\":[{\"name\":\"seed\",\"kind\":\"arch\",\"values\":[1]}],"
            "\"seeds\":[1],\"metrics\":[\"a\"]}}\n", "column 'seed' is named twice");
    refused("{\"manifest\":{\"xbarc\":\"0\",\"axes\":[{\"name\":\"r\",\"kind\":\"colour\",\"values\":[1]}],"
            "\"seeds\":[1],\"metrics\":[\"a\"]}}\n", "'kind' must be arch, compile");
    refused("{\"manifest\":{\"xbarc\":\"0\",\"axes\":[{\"name\":\"r\",\"kind\":\"arch\",\"values\":[1,\"x\"]}],"
            "\"seeds\":[1],\"metrics\":[\"a\"]}}\n", "all numbers or all strings");
    refused("{\"manifest\":{\"axes\":[],\"seeds\":[1],\"metrics\":[\"a\"]}}\n", "'xbarc' must be a string");
    const char nul[] = MANIFEST "{\"point\":0,\0";
    ResultTable t;
    cr_assert_not(results_parse(arena, "r.jsonl", nul, sizeof nul - 1, &t, &diags));
    cr_assert(test_diags_contain(&diags, "r.jsonl:2:1: error: a NUL byte"), "%s", test_messages());
}

/* More columns than the bound: refused before any row. */
Test(results, reader_bounds)
{
    char *metrics = arena_strdup(arena, "\"m0\"");
    for (int i = 1; i < RESULTS_MAX_COLUMNS; i++)
        metrics = arena_printf(arena, "%s,\"m%d\"", metrics, i);
    refused(arena_printf(arena, "{\"manifest\":{\"xbarc\":\"0\",\"axes\":[],\"seeds\":[1],\"metrics\":[%s]}}\n", metrics),
            "more than 256");
}

/* A shard's rows file: rows alone against a manifest given apart; a last line
 * cut short left out (and said) or refused. */
Test(results, rows_alone)
{
    ResultTable whole;
    cr_assert(results_parse(arena, "r.jsonl", sample, strlen(sample), &whole, &diags), "%s", test_messages());
    const char *rows = strchr(sample, '\n') + 1;
    char *cut_rows = arena_printf(arena, "%s{\"point\":2,\"adc\":", rows);
    ResultTable t;
    bool cut = true;
    cr_assert(results_parse_rows(arena, "rows.jsonl", rows, strlen(rows), whole.manifest, &t, &cut, &diags),
              "%s", test_messages());
    cr_assert_not(cut);
    cr_assert_eq(t.n_rows, 2);
    cr_assert_eq(t.n_columns, 6);
    for (int i = 0; i < 12; i++) {
        const ResultCell *a = &t.cells[i], *b = &whole.cells[i];
        cr_assert(a->text ? b->text && strcmp(a->text, b->text) == 0
                          : !b->text && (a->number == b->number || (isnan(a->number) && isnan(b->number))),
                  "cell %d", i);
    }
    cr_assert(results_parse_rows(arena, "rows.jsonl", cut_rows, strlen(cut_rows), whole.manifest, &t, &cut, &diags));
    cr_assert(cut);
    cr_assert_eq(t.n_rows, 2);
    cr_assert(results_parse_rows(arena, "rows.jsonl", "", 0, whole.manifest, &t, &cut, &diags));
    cr_assert_eq(t.n_rows, 0);
    cr_assert_not(results_parse_rows(arena, "rows.jsonl", cut_rows, strlen(cut_rows), whole.manifest, &t, NULL, &diags));
    cr_assert(test_diags_contain(&diags, "rows.jsonl:3:1: error: the last line is cut short"), "%s", test_messages());
    const char *bad = "{\"point\":0,\"adc\":\"uniform:5\",\"read_sigma\":0.5,\"seed\":1,\"accuracy\":1,\"energy_pj\":1}\n";
    cr_assert_not(results_parse_rows(arena, "rows.jsonl", bad, strlen(bad), whole.manifest, &t, NULL, &diags));
    cr_assert(test_diags_contain(&diags, "rows.jsonl:1:1: error: axis 'read_sigma' must hold"), "%s", test_messages());
    cr_assert_not(results_parse_rows(arena, "rows.jsonl", bad, strlen(bad), "{\"xbarc\":1}", &t, NULL, &diags));
    cr_assert(test_diags_contain(&diags, "rows.jsonl: error: manifest: 'xbarc' must be a string"), "%s", test_messages());
}
