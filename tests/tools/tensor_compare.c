/* tensor-compare: checks a tensor file against a reference tensor file.
 *
 *   tensor-compare GOT EXPECTED [--atol A] [--rtol R]
 *
 * Passes (exit 0) when the shapes are equal and every element satisfies
 * |got - expected| <= atol + rtol * |expected| (NaN matches NaN).  Prints the
 * maximum absolute error either way, so lit logs show the margin. */
#include "frontend/frontend.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    const char *paths[2] = {0};
    int n_paths = 0;
    double atol = 1e-5, rtol = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--atol") == 0 && i + 1 < argc)
            atol = atof(argv[++i]);
        else if (strcmp(argv[i], "--rtol") == 0 && i + 1 < argc)
            rtol = atof(argv[++i]);
        else if (n_paths < 2)
            paths[n_paths++] = argv[i];
        else
            n_paths = 3;
    }
    if (n_paths != 2) {
        fprintf(stderr, "usage: tensor-compare GOT EXPECTED [--atol A] [--rtol R]\n");
        return 2;
    }
    Arena *arena = arena_new();
    Diags diags;
    diags_init(&diags, arena);
    Tensor got, want;
    int status = 1;
    if (!tensor_read(arena, paths[0], &got, &diags) || !tensor_read(arena, paths[1], &want, &diags)) {
        diags_print(&diags, stderr);
    } else if ((want.type.dtype = got.type.dtype, !type_equal(&got.type, &want.type))) {   /* shapes; values compare as numbers */
        printf("shape mismatch: %s vs %s\n", type_format(arena, &got.type), type_format(arena, &want.type));
    } else {
        double max_err = 0;
        int64_t bad = 0, n = type_numel(&got.type);
        for (int64_t i = 0; i < n; i++) {
            double g = got.data[i], w = want.data[i];
            if (isnan(g) && isnan(w))
                continue;
            double err = fabs(g - w);
            if (!(err <= max_err))
                max_err = err;
            if (!(err <= atol + rtol * fabs(w)))
                bad++;
        }
        printf("max abs error %.3g over %lld elements, %lld beyond tolerance\n", max_err, (long long)n,
               (long long)bad);
        status = bad ? 1 : 0;
    }
    arena_free(arena);
    return status;
}
