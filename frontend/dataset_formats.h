/* dataset_formats.h: what frontend/dataset.c shares with the readers of its
 * formats (dataset_formats.c: npz, npy, CIFAR, IDX, tensor folders;
 * images.c: PNG/JPEG ImageFolders).  Private to frontend/.
 *
 * A reader fills d->out with the whole split (count, images, labels), the
 * images in the model's input layout (d->input); dataset.c then takes the
 * subset.  Every size read from a file is checked against the bytes present
 * and memory_check before memory is taken. */
#ifndef XBARC_DATASET_FORMATS_H
#define XBARC_DATASET_FORMATS_H

#include "frontend/frontend.h"

#include <dirent.h>

typedef struct {
    Arena *arena;
    const DatasetOptions *o;
    const char *split;          /* "test" or "train" */
    bool need_split;            /* a format without splits is an error */
    bool split_explicit;        /* --split was given: the same */
    const Type *input;          /* the model's input, batch 1 */
    int64_t image_numel;
    int n_classes;              /* labels are below it (1 to 256) */
    float scale[256];           /* 8-bit sample v: v * o->scale_mul / o->scale_div (--scale, default /255) */
    Dataset *out;
    Diags *diags;
    bool images;                /* set by the image folder reader: --resize and --center-crop applied */
} DataLoad;

/* ---- dataset.c ---- */
/* Room for count images and labels in d->out (memory_check'ed; an empty set
 * is an error at `path`). */
bool data_alloc(DataLoad *d, int64_t count, const char *path);
/* The entries of directory `dir` but . and .., in name order, in *names
 * (free each and the array); -1, reported naming dir, if it cannot be read. */
int data_list_dir(DataLoad *d, const char *dir, struct dirent ***names);
/* Stores label `value` of image `index`, record `record` of `path`, checked. */
bool data_label(DataLoad *d, int64_t index, int64_t record, double value, const char *path);
/* An IDX file of unsigned bytes of rank want_rank (dims filled), gzipped or not. */
unsigned char *data_read_idx(Arena *arena, const char *path, int want_rank, uint32_t *dims, Diags *diags);
/* Whether the format, having no splits, may be read (else reported). */
bool data_no_split(DataLoad *d, const char *path);
/* Reads a whole file, gunzipped when its name ends in .gz (malloc'ed; free it). */
uint8_t *data_read_file(const char *path, size_t *size, Diags *diags);
/* zlib inflate of a whole buffer: raw deflate (a zip member) or gzip/zlib data (malloc'ed). */
uint8_t *data_inflate(const uint8_t *in, size_t in_size, bool raw, size_t *size, const Loc *loc, Diags *diags);

/* ---- dataset_formats.c ---- */
bool load_npz(DataLoad *d, const char *path);
bool load_npz_memory(DataLoad *d, const char *path, const uint8_t *bytes, size_t size);   /* (the fuzzer's) */
bool load_npy_pair(DataLoad *d, const char *x_path, const char *y_path);
bool load_cifar(DataLoad *d, const char *path);         /* a .bin file or a directory of them */
bool load_idx_dir(DataLoad *d, const char *dir);
bool load_tensor_dir(DataLoad *d, const char *dir);     /* .npy/.pb tensors + labels.txt */

/* ---- images.c ---- */
bool load_image_folder(DataLoad *d, const char *dir);
/* One decoded image, 8-bit samples interleaved (HWC). */
typedef struct {
    int width, height, channels;
    uint8_t *pixels;
} Image8;
/* Decodes a PNG or JPEG (by its bytes' signature) to `channels` (1: PIL's
 * convert("L"), 3: convert("RGB")); false (reported, naming path) if corrupt. */
bool image_decode(Arena *arena, const char *path, const uint8_t *bytes, size_t size, int channels, Image8 *out,
                  Diags *diags);
/* --resize, --center-crop, ToTensor (--scale) into `out`, which
 * holds channels x height x width of d->input; false (reported) if the result
 * has another size. */
bool image_preprocess(DataLoad *d, const Image8 *im, const char *path, float *out);

#endif
