/* calib.c: the images `xbarc compile` calibrates activation ranges on
 * (--calib SET): a data set's training split (a built-in one or any of
 * dataset_open's formats, including a folder of input tensors without
 * labels), or uniform random data. */
#include "frontend/frontend.h"

#include <stdlib.h>
#include <string.h>

/* Deterministic uniform [0, 1) inputs (xorshift64*, fixed seed): the
 * calibration of last resort, for models with no data set of their own. */
static void random_images(float *out, int64_t n, uint64_t seed)
{
    uint64_t s = seed ? seed : 1;
    for (int64_t i = 0; i < n; i++) {
        s ^= s >> 12;
        s ^= s << 25;
        s ^= s >> 27;
        out[i] = (float)((s * 0x2545F4914F6CDD1DULL) >> 40) / (float)(1 << 24);
    }
}

/* Calibration images when --calib-count is not given: data sets and
 * directories give up to CALIB_COUNT; random data far fewer, as its ranges
 * mean nothing for accuracy and settle within a few images, while each image
 * of an ImageNet-sized model costs a full float inference (docs/benchmarks.md,
 * "Compile time"). */
enum { CALIB_COUNT = 512, RANDOM_CALIB_COUNT = 16 };

/* The calibration set of `spec` (auto, random, a data set name or a directory)
 * for inputs of `image_size` elements: at most `limit` images (0: the default). */
float *calibration_images(Arena *arena, const char *spec, const DatasetOptions *options, const Type *input,
                          int limit, int *count, Diags *diags)
{
    int64_t image_size = type_numel(input);
    if (strcmp(spec, "auto") == 0) {
        /* No data named: the bundled models' sets where the size fits, said
         * so; else random data, warned about, as ranges from uniform [0, 1)
         * clip any normalized input (docs/datasets.md, "Calibration"). */
        spec = image_size == 28 * 28 ? "fashion-mnist" : image_size == 64 ? "digits" : "random";
        if (strcmp(spec, "random") != 0)
            diag_note(diags, NULL, "calibrating on %s's training split, chosen by the input's size (%lld "
                      "elements): --calib SPEC to name the data", spec, (long long)image_size);
        else
            diag_warning(diags, NULL, "no calibration data: activation ranges come from uniform random [0, 1) "
                         "inputs, so this program's accuracy on real data is meaningless; name the data with "
                         "--calib SPEC (docs/datasets.md), or --calib random to mean it");
    }
    if (limit == 0)
        limit = strcmp(spec, "random") == 0 ? RANDOM_CALIB_COUNT : CALIB_COUNT;
    if (strcmp(spec, "random") == 0) {
        const char *what = arena_printf(arena, "--calib random: %d images of %lld elements (--calib-count)", limit,
                                        (long long)image_size);
        if (!memory_check((uint64_t)limit * (uint64_t)image_size, sizeof(float), what, NULL, diags))
            return NULL;
        float *images = arena_array(arena, (size_t)limit * (size_t)image_size, sizeof(float));
        random_images(images, (int64_t)limit * image_size, 0x5eed);
        *count = limit;
        return images;
    }
    if (strcmp(spec, "fashion-mnist") == 0 || strcmp(spec, "digits") == 0) {
        Dataset data;
        if (!dataset_load(arena, spec, "train", NULL, &data, diags))
            return NULL;
        if (type_numel(&data.image_type) != image_size) {
            diag_error(diags, NULL, "--calib %s: its images have %lld elements, the model's input %lld", spec,
                       (long long)type_numel(&data.image_type), (long long)image_size);
            return NULL;
        }
        *count = data.count < limit ? data.count : limit;
        return data.images;
    }
    /* a labelled data set (docs/datasets.md): its training split, else all
     * of it; or a folder of input tensors without labels */
    DatasetOptions o = options ? *options : (DatasetOptions){0};
    o.spec = spec;
    o.limit = limit;
    o.unlabelled = true;
    Dataset data;
    float *images = dataset_open(arena, &o, "train", false, input, 0, &data, diags) ? data.images : NULL;
    *count = data.count;
    if (images && *count > limit)
        *count = limit;
    return images;
}
