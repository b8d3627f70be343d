/* test_arch.c: the architecture description (ir/arch.c).
 *
 * The default is checked against the table of docs/crossbar.md section 1, JSON
 * files are written here by hand (a good one, then one per kind of mistake),
 * and every message must name the field that is wrong.  The JSON writer is
 * checked by reading its text back into an equal Arch. */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ir/ir.h"

#define TEST_FIXTURE
#include "test_support.h"

static char path[64];

static void setup(void)
{
    test_setup();
    path[0] = 0;
}

static void teardown(void)
{
    if (path[0])
        unlink(path);
    test_teardown();
}

TestSuite(arch, .init = setup, .fini = teardown);

/* Writes text to a fresh temporary file whose name is left in `path`. */
static const char *write_file(const char *text)
{
    if (path[0])
        unlink(path);
    snprintf(path, sizeof path, "/tmp/xbarc-arch-XXXXXX");
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    FILE *f = fdopen(fd, "w");
    fputs(text, f);
    fclose(f);
    return path;
}

/* Field by field: padding bytes make memcmp unreliable. */
static bool arch_equal(const Arch *a, const Arch *b)
{
    return a->rows == b->rows && a->cols == b->cols && a->cell_bits == b->cell_bits &&
           a->g_min_us == b->g_min_us && a->g_max_us == b->g_max_us && a->weight_bits == b->weight_bits &&
           a->weight_per_layer == b->weight_per_layer && a->input_bits == b->input_bits &&
           a->dac_bits == b->dac_bits && a->adc_bits == b->adc_bits && a->cols_per_adc == b->cols_per_adc &&
           a->sign == b->sign && a->tiles == b->tiles;
}

static void expect_error(const char *json, const char *message)
{
    Arch a = arch_default();
    a.rows = 7;     /* must stay untouched on failure */
    cr_assert_not(arch_read_json(write_file(json), &a, &diags), "accepted %s", json);
    cr_assert_eq(a.rows, 7);
    cr_assert(strstr(test_messages(), message), "expected '%s' in:\n%s", message, test_messages());
    cr_assert(strstr(test_messages(), path), "the message should name the file:\n%s", test_messages());
}

Test(arch, default_is_the_documented_table)
{
    Arch a = arch_default();
    cr_assert_eq(a.rows, 128);
    cr_assert_eq(a.cols, 128);
    cr_assert_eq(a.cell_bits, 2);
    cr_assert_eq(a.g_min_us, 1.0);
    cr_assert_eq(a.g_max_us, 100.0);
    cr_assert_eq(a.weight_bits, 8);
    cr_assert_not(a.weight_per_layer);
    cr_assert_eq(a.input_bits, 8);
    cr_assert_eq(a.dac_bits, 1);
    cr_assert_eq(a.adc_bits, 10);
    cr_assert_eq(a.cols_per_adc, 8);
    cr_assert_eq(a.sign, SIGN_PAIR_ANALOG);
    cr_assert_eq(a.tiles, 0);
    cr_assert(arch_validate(&a, "default", &diags));
}

Test(arch, sign_names)
{
    const char *names[] = {"pair-analog", "pair-digital", "offset"};
    for (int i = 0; i < 3; i++) {
        SignMapping s;
        cr_assert(sign_mapping_from_name(names[i], &s));
        cr_assert_eq((int)s, i);
        cr_assert_str_eq(sign_mapping_name(s), names[i]);
    }
    SignMapping s = SIGN_OFFSET;
    cr_assert_not(sign_mapping_from_name("pair", &s));
    cr_assert_not(sign_mapping_from_name("", &s));
}

Test(arch, reads_a_good_file)
{
    Arch a;
    cr_assert(arch_read_json(write_file("{\n  \"rows\": 64, \"cols\": 256, \"cell_bits\": 4,\n"
                                        "  \"g_min_us\": 0.5, \"g_max_us\": 25,\n"
                                        "  \"weight_granularity\": \"layer\", \"sign\": \"offset\",\n"
                                        "  \"input_bits\": 6, \"dac_bits\": 3, \"tiles\": 40\n}\n"),
                             &a, &diags), "%s", test_messages());
    cr_assert_eq(a.rows, 64);
    cr_assert_eq(a.cols, 256);
    cr_assert_eq(a.cell_bits, 4);
    cr_assert_eq(a.g_min_us, 0.5);
    cr_assert_eq(a.g_max_us, 25.0);
    cr_assert(a.weight_per_layer);
    cr_assert_eq(a.sign, SIGN_OFFSET);
    cr_assert_eq(a.input_bits, 6);
    cr_assert_eq(a.dac_bits, 3);
    cr_assert_eq(a.tiles, 40);
    /* fields absent keep their defaults */
    cr_assert_eq(a.weight_bits, 8);
    cr_assert_eq(a.adc_bits, 10);
    cr_assert_eq(a.cols_per_adc, 8);
}

Test(arch, empty_object_is_the_default)
{
    Arch a, d = arch_default();
    cr_assert(arch_read_json(write_file("{}"), &a, &diags));
    cr_assert(arch_equal(&a, &d));
}

Test(arch, unknown_field)
{
    expect_error("{\"rowz\": 3}", "unknown field 'rowz'");
}

Test(arch, repeated_field)
{
    expect_error("{\"rows\": 3, \"rows\": 4}", "field 'rows' appears twice");
}

Test(arch, wrong_types)
{
    expect_error("{\"rows\": \"128\"}", "field 'rows' must be an integer");
    expect_error("{\"rows\": 1.5}", "field 'rows' must be an integer");
    expect_error("{\"rows\": true}", "field 'rows' must be an integer");
    expect_error("{\"g_min_us\": \"1\"}", "field 'g_min_us' must be a number");
    expect_error("{\"sign\": 1}", "field 'sign' must be \"pair-analog\", \"pair-digital\" or \"offset\"");
    expect_error("{\"sign\": \"pairs\"}", "field 'sign' must be \"pair-analog\"");
    expect_error("{\"weight_granularity\": \"tensor\"}", "field 'weight_granularity' must be \"channel\" or \"layer\"");
}

Test(arch, out_of_range)
{
    expect_error("{\"cell_bits\": 9}", "field 'cell_bits' must be 1 to 8, not 9");
    expect_error("{\"cell_bits\": 0}", "field 'cell_bits' must be 1 to 8, not 0");
    expect_error("{\"rows\": 4097}", "field 'rows' must be 1 to 4096, not 4097");
    expect_error("{\"cols\": 0}", "field 'cols' must be 1 to 4096, not 0");
    expect_error("{\"weight_bits\": 1}", "field 'weight_bits' must be 2 to 16, not 1");
    expect_error("{\"input_bits\": 17}", "field 'input_bits' must be 1 to 16, not 17");
    expect_error("{\"input_bits\": 4, \"dac_bits\": 5}", "field 'dac_bits' must be 1 to 4 (input_bits), not 5");
    expect_error("{\"adc_bits\": 25}", "field 'adc_bits' must be 1 to 24, not 25");
    expect_error("{\"cols\": 16, \"cols_per_adc\": 17}", "field 'cols_per_adc' must be 1 to 16 (cols), not 17");
    expect_error("{\"tiles\": -1}", "field 'tiles' must be 0 (unbounded) or positive, not -1");
    expect_error("{\"g_min_us\": 0}", "field 'g_min_us' must be positive");
    expect_error("{\"g_min_us\": 10, \"g_max_us\": 10}", "field 'g_max_us' must be above g_min_us (10), not 10");
}

Test(arch, every_mistake_is_reported)
{
    Arch a;
    cr_assert_not(arch_read_json(write_file("{\"rowz\": 1, \"cols\": \"x\", \"sign\": \"no\"}"), &a, &diags));
    cr_assert_eq(diags.n_errors, 3, "%s", test_messages());
}

Test(arch, bad_json)
{
    expect_error("{\"rows\": 64,\n  \"cols\" 64}", ":2:10: error: invalid JSON");
    expect_error("[1, 2]", "an architecture must be a JSON object");
    expect_error("{\"rows\": 64} trailing", "invalid JSON");
}

/* A NUL ended the text for cJSON: what followed it was ignored. */
Test(arch, nul_byte)
{
    static const char text[] = "{\"rows\": 64}\0{\"rows\": 0}";
    Arch a;
    cr_assert_not(arch_parse_json("nul.json", text, sizeof text - 1, &a, &diags));
    cr_assert(strstr(test_messages(), "nul.json: error: invalid JSON: the file holds a NUL byte"), "%s", test_messages());
}

Test(arch, missing_file)
{
    Arch a;
    cr_assert_not(arch_read_json("/nonexistent/arch.json", &a, &diags));
    cr_assert(strstr(test_messages(), "/nonexistent/arch.json: error: cannot open"), "%s", test_messages());
}

Test(arch, json_round_trip)
{
    Arch a = arch_default();
    a.rows = 33;
    a.cols = 65;
    a.cell_bits = 3;
    a.g_min_us = 0.1;           /* not a float: the writer must keep the double */
    a.g_max_us = 123.456789012345;
    a.weight_per_layer = true;
    a.sign = SIGN_PAIR_DIGITAL;
    a.tiles = 9;
    char *json = arch_to_json(arena, &a);
    for (int i = 0; i < arch_field_count(); i++)
        cr_assert(strstr(json, arena_printf(arena, "\"%s\": ", arch_field_name(i))), "%s", json);
    cr_assert(strstr(json, "\"sign\": \"pair-digital\""), "%s", json);
    cr_assert(strstr(json, "\"weight_granularity\": \"layer\""), "%s", json);
    Arch b;
    cr_assert(arch_read_json(write_file(json), &b, &diags), "%s\n%s", json, test_messages());
    cr_assert(arch_equal(&a, &b), "%s", json);
}

Test(arch, fields_are_sorted_and_parse)
{
    for (int i = 1; i < arch_field_count(); i++)
        cr_assert_lt(strcmp(arch_field_name(i - 1), arch_field_name(i)), 0);
    cr_assert_eq(arch_field_find("rowz"), -1);
    Arch a = arch_default();
    cr_assert_null(arch_field_parse(&a, arch_field_find("rows"), "32", false));
    cr_assert_eq(a.rows, 32);
    cr_assert_null(arch_field_parse(&a, arch_field_find("g_max_us"), "0.3", false));
    cr_assert_eq(a.g_max_us, 0.3);
    cr_assert_str_eq(arch_field_format(arena, &a, arch_field_find("g_max_us")), "0.3");
    cr_assert_str_eq(arch_field_format(arena, &a, arch_field_find("sign")), "\"pair-analog\"");
    cr_assert_not_null(arch_field_parse(&a, arch_field_find("rows"), "3x", false));
    cr_assert_not_null(arch_field_parse(&a, arch_field_find("rows"), "32", true));
    cr_assert_not_null(arch_field_parse(&a, arch_field_find("sign"), "offset", false));
    cr_assert_null(arch_field_parse(&a, arch_field_find("sign"), "offset", true));
    cr_assert_eq(a.sign, SIGN_OFFSET);
}
