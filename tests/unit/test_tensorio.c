/* test_tensorio.c: .pb and .npy tensor files.
 *
 * References: a TensorProto of ONNX's own test data, with the values that
 * onnx.numpy_helper printed for it; .npy files byte for byte as numpy 1.24's
 * np.save() wrote them (pasted here as header text plus data bytes); and round
 * trips through the writer. */
#include <criterion/criterion.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "frontend/frontend.h"

#define TEST_FIXTURE
#include "test_support.h"

static char dir[64];

static void setup(void)
{
    test_setup();
    strcpy(dir, "/tmp/test_tensorio.XXXXXX");
    cr_assert(mkdtemp(dir));
}

static void teardown(void)
{
    DIR *d = opendir(dir);
    for (struct dirent *e; d && (e = readdir(d));) {
        if (e->d_name[0] == '.')
            continue;
        char *p = arena_printf(arena, "%s/%s", dir, e->d_name);
        if (rmdir(p) != 0)
            unlink(p);
    }
    if (d)
        closedir(d);
    rmdir(dir);
    test_teardown();
}

TestSuite(tensorio, .init = setup, .fini = teardown);

#define RELU_INPUT "/usr/share/libonnx-testdata/data/node/test_relu/test_data_set_0/input_0.pb"
#define RESHAPE_SHAPE "/usr/share/libonnx-testdata/data/node/test_reshape_reordered_all_dims/test_data_set_0/input_1.pb"

static float from_bits(uint32_t bits)
{
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

static const char *path_in_dir(const char *name)
{
    return arena_printf(arena, "%s/%s", dir, name);
}

static void write_bytes(const char *path, const void *bytes, size_t n)
{
    FILE *fp = fopen(path, "wb");
    cr_assert(fp);
    cr_assert_eq(fwrite(bytes, 1, n, fp), n);
    fclose(fp);
}

/* Writes t to path, a command's one output (ir/file.c). */
static bool write_tensor(const char *path, const Tensor *t)
{
    Outputs *outs = outputs_new(arena, &diags);
    return outputs_commit(outs, tensor_write(t, outs, path, &diags));
}

static uint8_t *read_bytes(const char *path, size_t *n)
{
    FILE *fp = fopen(path, "rb");
    cr_assert(fp, "cannot open %s", path);
    uint8_t *buf = arena_alloc(arena, 1 << 16);
    *n = fread(buf, 1, 1 << 16, fp);
    fclose(fp);
    return buf;
}

/* A .npy file as numpy 1.24 writes it: magic, version 1.0, header length 118
 * (so data starts at byte 128), the dict padded with spaces, a newline. */
static size_t npy_image(uint8_t *out, const char *dict, const void *data, size_t n_data)
{
    memcpy(out, "\x93NUMPY\x01\x00\x76\x00", 10);
    memset(out + 10, ' ', 118);
    memcpy(out + 10, dict, strlen(dict));
    out[127] = '\n';
    memcpy(out + 128, data, n_data);
    return 128 + n_data;
}

static const uint8_t f32_2x3[] = {0x00, 0x00, 0xc0, 0x3f, 0x00, 0x00, 0x00, 0xc0, 0x00, 0x00, 0x40, 0x40,
                                  0x00, 0x00, 0x80, 0x40, 0x00, 0x00, 0xa0, 0x40, 0x00, 0x00, 0x80, 0x3e};
static const char f32_2x3_dict[] = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";

/* ---- .pb ---- */

Test(tensorio, read_onnx_test_data)
{
    /* onnx.numpy_helper.to_array: name 'x', shape (3, 4, 5), float32, raw_data;
     * x[0,0,0] = 1.7640524, x[0,0,1] = 0.4001572, x[2,3,4] = -0.36274117
     * (bits 1071762552 and 3199842614). */
    Tensor t;
    cr_assert(tensor_read(arena, RELU_INPUT, &t, &diags));
    cr_expect_str_eq(t.name, "x");
    int64_t dims[] = {3, 4, 5};
    Type want = type_make(3, dims);
    cr_assert(type_equal(&t.type, &want));
    cr_expect_eq(t.data[0], from_bits(1071762552u));
    cr_expect_float_eq(t.data[1], 0.4001572f, 1e-7);
    cr_expect_eq(t.data[59], from_bits(3199842614u));
    cr_expect_eq(tensor_pb_elem_type(RELU_INPUT), 1);
}

Test(tensorio, pb_elem_type_and_int_read)
{
    /* The shape tensor of test_reshape_reordered_all_dims is int64 (7): read
     * in its own type into float32 storage. */
    cr_expect_eq(tensor_pb_elem_type(RESHAPE_SHAPE), 7);
    cr_expect_eq(tensor_pb_elem_type("/nonexistent/x.pb"), -1);
    Tensor t;
    cr_assert(tensor_read(arena, RESHAPE_SHAPE, &t, &diags));
    cr_expect_eq(t.type.dtype, DT_I64);
    cr_expect_eq(diags.n_errors, 0);
}

Test(tensorio, pb_round_trip)
{
    float data[6] = {1.5f, -2.0f, 3.0f, 4.0f, 5.0f, 0.25f};
    int64_t dims[] = {2, 3};
    Tensor t = {.name = "logits", .type = type_make(2, dims), .data = data};
    const char *path = path_in_dir("t.pb");
    cr_assert(write_tensor(path, &t));
    cr_expect_eq(tensor_pb_elem_type(path), 1);
    Tensor back;
    cr_assert(tensor_read(arena, path, &back, &diags));
    cr_expect_str_eq(back.name, "logits");
    cr_expect(type_equal(&back.type, &t.type));
    cr_expect_arr_eq(back.data, data, sizeof data);
}

/* ---- .npy ---- */

Test(tensorio, npy_write_matches_numpy)
{
    float data[6] = {1.5f, -2.0f, 3.0f, 4.0f, 5.0f, 0.25f};
    int64_t dims[] = {2, 3};
    Tensor t = {.name = "a", .type = type_make(2, dims), .data = data};
    const char *path = path_in_dir("a.npy");
    cr_assert(write_tensor(path, &t));
    uint8_t want[256];
    size_t want_n = npy_image(want, f32_2x3_dict, f32_2x3, sizeof f32_2x3), got_n;
    uint8_t *got = read_bytes(path, &got_n);
    cr_assert_eq(got_n, want_n);
    cr_expect_arr_eq(got, want, want_n);
    struct stat st;
    cr_assert(stat(path, &st) == 0);
    cr_expect_eq(st.st_mode & 0777, 0644);
}

Test(tensorio, npy_read_types)
{
    uint8_t img[256];
    Tensor t;
    const char *path = path_in_dir("in.npy");

    write_bytes(path, img, npy_image(img, f32_2x3_dict, f32_2x3, sizeof f32_2x3));
    cr_assert(tensor_read(arena, path, &t, &diags));
    cr_expect_str_eq(t.name, "in");
    cr_expect_eq(t.type.rank, 2);
    cr_expect_eq(t.data[1], -2.0f);
    cr_expect_eq(t.data[5], 0.25f);

    static const uint8_t u8[] = {0, 128, 255, 7, 8, 9};
    write_bytes(path, img, npy_image(img, "{'descr': '|u1', 'fortran_order': False, 'shape': (2, 3), }", u8, 6));
    cr_assert(tensor_read(arena, path, &t, &diags));
    cr_expect_eq(t.data[1], 128.0f);
    cr_expect_eq(t.data[2], 255.0f);

    /* np.array([-1.25, 1e10], np.float64) */
    static const uint8_t f8[] = {0, 0, 0, 0, 0, 0, 0xf4, 0xbf, 0, 0, 0, 0x20, 0x5f, 0xa0, 0x02, 0x42};
    write_bytes(path, img, npy_image(img, "{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }", f8, 16));
    cr_assert(tensor_read(arena, path, &t, &diags));
    cr_expect_eq(t.type.rank, 1);
    cr_expect_eq(t.data[0], -1.25f);
    cr_expect_eq(t.data[1], 1e10f);

    /* np.array([-3, 1 << 24], np.int64): exact in float32 storage */
    static const uint8_t i8[] = {0xfd, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 1, 0, 0, 0, 0};
    write_bytes(path, img, npy_image(img, "{'descr': '<i8', 'fortran_order': False, 'shape': (2,), }", i8, 16));
    cr_assert(tensor_read(arena, path, &t, &diags));
    cr_expect_eq(t.type.dtype, DT_I64);
    cr_expect_eq(t.data[0], -3.0f);
    cr_expect_eq(t.data[1], 16777216.0f);

    /* np.array([True, False]) */
    static const uint8_t b1[] = {1, 0};
    write_bytes(path, img, npy_image(img, "{'descr': '|b1', 'fortran_order': False, 'shape': (2,), }", b1, 2));
    cr_assert(tensor_read(arena, path, &t, &diags));
    cr_expect_eq(t.type.dtype, DT_BOOL);
    cr_expect_eq(t.data[0], 1.0f);
    cr_expect_eq(t.data[1], 0.0f);

    /* np.float32(2.5): shape () is a scalar */
    static const uint8_t s[] = {0, 0, 0x20, 0x40};
    write_bytes(path, img, npy_image(img, "{'descr': '<f4', 'fortran_order': False, 'shape': (), }", s, 4));
    cr_assert(tensor_read(arena, path, &t, &diags));
    cr_expect_eq(t.type.rank, 0);
    cr_expect_eq(t.data[0], 2.5f);
    cr_expect_eq(diags.n_errors, 0);
}

Test(tensorio, npy_version2_header)
{
    /* Format 2.0: a 4-byte header length; the header here is 54 bytes. */
    const char *dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (1,)}";
    uint8_t img[128];
    size_t len = strlen(dict);
    memcpy(img, "\x93NUMPY\x02\x00", 8);
    img[8] = (uint8_t)(len + 1), img[9] = img[10] = img[11] = 0;
    memcpy(img + 12, dict, len);
    img[12 + len] = '\n';
    memcpy(img + 13 + len, (uint8_t[]){0, 0, 0x80, 0xbf}, 4);         /* -1.0f */
    const char *path = path_in_dir("v2.npy");
    write_bytes(path, img, 17 + len);
    Tensor t;
    cr_assert(tensor_read(arena, path, &t, &diags));
    cr_expect_eq(t.type.dims[0], 1);
    cr_expect_eq(t.data[0], -1.0f);
}

Test(tensorio, npy_errors)
{
    uint8_t img[256];
    Tensor t;
    const char *path = path_in_dir("bad.npy");
    static const uint8_t f4[] = {0, 0, 0x80, 0x3f, 0, 0, 0x40, 0x40, 0, 0, 0, 0x40, 0, 0, 0x80, 0x40};

    write_bytes(path, img, npy_image(img, "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }", f4, 16));
    cr_expect_not(tensor_read(arena, path, &t, &diags));
    cr_expect(strstr(diags.last->text, "Fortran order"), "%s", diags.last->text);

    write_bytes(path, img, npy_image(img, "{'descr': '>f4', 'fortran_order': False, 'shape': (2, 2), }", f4, 16));
    cr_expect_not(tensor_read(arena, path, &t, &diags));
    cr_expect(strstr(diags.last->text, "unsupported .npy dtype '>f4'"), "%s", diags.last->text);

    write_bytes(path, img, npy_image(img, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", f4, 16));
    cr_expect_not(tensor_read(arena, path, &t, &diags));
    cr_expect(strstr(diags.last->text, ".npy data has 16 bytes, expected 24"), "%s", diags.last->text);

    write_bytes(path, "NUMPY", 5);
    cr_expect_not(tensor_read(arena, path, &t, &diags));
    cr_expect(strstr(diags.last->text, "not a .npy file"), "%s", diags.last->text);
    cr_expect(strstr(diags.last->text, path), "the message names the file: %s", diags.last->text);

    cr_expect_not(tensor_read(arena, path_in_dir("t.txt"), &t, &diags));
    cr_expect(strstr(diags.last->text, "expected a .pb or .npy"), "%s", diags.last->text);
    cr_expect_eq(diags.n_errors, 5);
}

Test(tensorio, failed_write_leaves_nothing)
{
    float one = 1.0f;
    Tensor t = {.name = "x", .type = type_make(0, NULL), .data = &one};
    /* The target is a directory: the rename fails, the temporary file goes. */
    const char *target = path_in_dir("taken.npy");
    cr_assert(mkdir(target, 0755) == 0);
    cr_expect_not(write_tensor(target, &t));
    cr_expect(strstr(diags.last->text, "cannot write"), "%s", diags.last->text);
    DIR *d = opendir(dir);
    int entries = 0;
    for (struct dirent *e; (e = readdir(d));)
        entries += e->d_name[0] != '.';
    closedir(d);
    cr_expect_eq(entries, 1, "only the directory itself should remain");
    /* No directory to put the file in at all. */
    cr_expect_not(write_tensor("/nonexistent-dir/x.pb", &t));
    cr_expect_eq(diags.n_errors, 2);
}
