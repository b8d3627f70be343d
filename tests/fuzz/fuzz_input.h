/* fuzz_input.h: what every libFuzzer harness of tests/fuzz/ shares.
 *
 * The readers take paths (they map or stream their files, and some choose
 * the format by extension), so each input is written to one file per
 * process under $TMPDIR (tmpfs on most machines), overwritten each run. */
#ifndef XBARC_FUZZ_INPUT_H
#define XBARC_FUZZ_INPUT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* The fuzz input as a file named ...<suffix> ("model.onnx", "t.npy"). */
static inline const char *fuzz_input_file(const uint8_t *data, size_t size, const char *suffix)
{
    static char path[512];
    if (!path[0]) {
        const char *dir = getenv("TMPDIR");
        snprintf(path, sizeof path, "%s/xbarc-fuzz-%ld-%s", dir && *dir ? dir : "/tmp", (long)getpid(), suffix);
    }
    FILE *f = fopen(path, "wb");
    if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f) != 0)
        abort();                /* the harness's own failure, not a finding */
    return path;
}

#endif
