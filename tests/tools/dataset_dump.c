/* dataset-dump: the images (and labels) xbarc reads from a data set, for
 * comparison with torchvision's (tests/lit/datasets).
 *
 *   dataset-dump --shape 1xCxHxW [--classes N] [--time] DATA-SET OPTIONS -o IMAGES.npy [--labels L.npy]
 *
 * DATA-SET OPTIONS are eval's (cli/options.c: --dataset, --split, --limit,
 * --offset, --shuffle, --scale, --resize, --center-crop, --mean, --std).  The
 * images are written as one [N, C, H, W] float array, the labels as [N].
 * --time prints the CPU time of reading the set (docs/datasets.md). */
#include "cli/cli.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

int main(int argc, char **argv)
{
    Args a = {.argc = argc, .argv = argv, .i = 1, .command = "dataset-dump"};
    DatasetOptions o = {0};
    const char *shape = NULL, *out = NULL, *labels_out = NULL, *classes = NULL;
    bool timed = false;
    while (a.i < argc && !a.failed) {
        if (opt_flag(&a, "--time"))
            timed = true;
        else if (!dataset_option(&a, &o) && !opt_value(&a, "--shape", &shape) && !opt_value(&a, "-o", &out) &&
            !opt_value(&a, "--labels", &labels_out) && !opt_value(&a, "--classes", &classes)) {
            usage_error(&a, "unknown argument %s", argv[a.i]);
            break;
        }
    }
    if (a.failed || !shape || !out || !o.spec) {
        fprintf(stderr, "usage: dataset-dump --shape 1xCxHxW --dataset SPEC [options] -o OUT.npy\n");
        return EXIT_USAGE;
    }
    Type input = {0};
    for (const char *p = shape; *p && input.rank < IR_MAX_RANK; p++) {
        char *end;
        input.dims[input.rank++] = strtoll(p, &end, 10);
        p = end;
        if (!*p)
            break;
    }
    input = type_make(input.rank, input.dims);
    Arena *arena = arena_new();
    Diags diags;
    diags_init(&diags, arena);
    Outputs *outs = outputs_new(arena, &diags);
    Dataset data;
    bool ok = outputs_add(outs, out) && (!labels_out || outputs_add(outs, labels_out));
    clock_t start = clock();
    ok = ok && dataset_open(arena, &o, "test", false, &input, classes ? atoi(classes) : 0, &data, &diags);
    if (ok && timed)
        fprintf(stderr, "read in %.3f s of CPU time\n", (double)(clock() - start) / CLOCKS_PER_SEC);
    if (ok) {
        int64_t dims[IR_MAX_RANK] = {data.count};
        for (int i = 1; i < input.rank; i++)
            dims[i] = input.dims[i];
        Tensor t = {.name = "images", .type = type_make(input.rank, dims), .data = data.images};
        ok = tensor_write(&t, outs, out, &diags);
        if (ok && labels_out) {
            float *l = arena_array(arena, (size_t)data.count, sizeof(float));
            for (int i = 0; i < data.count; i++)
                l[i] = data.labels[i];
            int64_t n = data.count;
            Tensor lt = {.name = "labels", .type = type_make(1, &n), .data = l};
            ok = tensor_write(&lt, outs, labels_out, &diags);
        }
        if (ok)
            printf("%d images\n", data.count);
    }
    return finish(arena, &diags, outputs_commit(outs, ok));
}
