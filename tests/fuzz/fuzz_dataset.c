/* fuzz_dataset.c: the data set readers of what comes from outside in bulk:
 * PNG/JPEG decoding with resizing and cropping (first byte even) and .npz
 * archives (odd), for a model input of 1x1x5x5 or 1x3x5x5 (bit 1). */
#include "frontend/dataset_formats.h"
#include "fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    fuzz_memory_limit();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    Arena *arena = arena_new();
    Diags diags;
    diags_init(&diags, arena);
    int channels = data[0] & 2 ? 3 : 1;
    int64_t dims[4] = {1, channels, 5, 5};
    Type input = type_make(4, dims);
    DatasetOptions o = {.resize = 7, .crop = 5, .scale_mul = 1, .scale_div = 255};
    Dataset out = {0};
    DataLoad d = {.arena = arena, .o = &o, .split = "test", .input = &input, .image_numel = type_numel(&input),
                  .n_classes = 10, .out = &out, .diags = &diags};
    for (int v = 0; v < 256; v++)
        d.scale[v] = v / 255.0f;
    bool ok;
    if (data[0] & 1) {
        ok = load_npz_memory(&d, "f.npz", data + 1, size - 1);
    } else {
        Image8 im;
        float pixels[3 * 5 * 5];
        ok = image_decode(arena, "f.img", data + 1, size - 1, channels, &im, &diags) &&
             image_preprocess(&d, &im, "f.img", pixels);
    }
    fuzz_refused_with_message(ok, &diags, "the read");
    arena_free(arena);
    return 0;
}
