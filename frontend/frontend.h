/* frontend.h: ONNX models and tensor files in, graph IR out.
 *
 * protobuf-c types never leave frontend/: callers see Graphs and Tensors only,
 * and the unpacked protobuf is freed as soon as the import is done. */
#ifndef XBARC_FRONTEND_H
#define XBARC_FRONTEND_H

#include "ir/ir.h"

/* What is known of a graph input before import, one of:
 *  - its value (path set), read from a TensorProto .pb file and treated as
 *    an initializer so that shapes stay static (a shape tensor of a test case);
 *  - its shape (path NULL: `xbarc --input-shape NAME=1x3x32x32`), which binds
 *    the symbolic dimensions of its declared shape and must agree with the
 *    fixed ones.
 * Without a shape, a symbolic batch dimension (axis 0) is taken as 1 (said
 * in a note); any other symbolic dimension is an error. */
typedef struct {
    const char *input_name;
    const char *path;
    int rank;                   /* path NULL: the shape */
    int64_t dims[IR_MAX_RANK];
} OnnxBinding;

/* Imports an ONNX model (opset 1 to 17) as a verified graph with static shapes.
 * Every problem (unsupported ops, all of them, missing initializers, shape
 * mismatches, external data, absurd sizes, a file that is not ONNX) is reported
 * in diags with the file and node; the result is then NULL.  A symbolic batch
 * dimension taken as 1 leaves a note in diags. */
Graph *onnx_import(Arena *arena, const char *path, const OnnxBinding *bindings,
                   int n_bindings, Diags *diags);
/* The same from the file's bytes (`path` only names it in messages). */
Graph *onnx_import_memory(Arena *arena, const char *path, const uint8_t *bytes, size_t size,
                          const OnnxBinding *bindings, int n_bindings, Diags *diags);

/* The names of the model's graph inputs that have no initializer, in order
 * (at most max), whose K-th ONNX's test runner feeds from input_K.pb; -1
 * (reported) when the file is not a model. */
int onnx_free_input_names(Arena *arena, const char *path, const char **names, int max, Diags *diags);

/* Tensor files: ONNX TensorProto (.pb, the format of ONNX's test data) or NumPy
 * (.npy), chosen by the file name's extension.  Only float32 data is read; a
 * tensor is written as one of the outputs `outs` (ir/ir.h: in place at
 * outputs_commit). */
bool tensor_read(Arena *arena, const char *path, Tensor *out, Diags *diags);
/* The same from a file's bytes; `path` names it and its extension the format. */
bool tensor_read_memory(Arena *arena, const char *path, const uint8_t *bytes, size_t size, Tensor *out,
                        Diags *diags);
bool tensor_write(const Tensor *tensor, Outputs *outs, const char *path, Diags *diags);

/* The ONNX element type (TensorProto.DataType: 1 float, 7 int64, ...) stored in
 * a .pb tensor file, or -1 when it cannot be read. */
int tensor_pb_elem_type(const char *path);

/* Labelled image sets for `eval`, `sweep` and `finetune` (frontend/dataset.c,
 * the formats in frontend/dataset_formats.c and frontend/images.c; docs/datasets.md). */
typedef struct {
    const char *name;
    int count;              /* images */
    Type image_type;        /* one image as the model's input, e.g. f32[1,1,28,28] */
    float *images;          /* count * numel(image_type), already scaled */
    int32_t *labels;        /* count: class indices, 0 to n_classes - 1 */
    int n_classes;
} Dataset;

/* What the user says of a data set (`--dataset SPEC` and the options beside it,
 * parsed once in cli/options.c).  spec is a built-in name (fashion-mnist,
 * digits) or a path: an .npz, an .npy pair "X.npy,Y.npy", a CIFAR .bin file
 * or directory, an IDX directory, an ImageFolder of PNG/JPEG files, or a
 * folder of .npy/.pb tensors with labels.txt. */
typedef struct {
    const char *spec;
    const char *dir;            /* --data-dir: where a built-in set's files are (NULL: the usual place) */
    const char *split;          /* --split train|test (NULL: the command's) */
    long limit, offset;         /* --limit (0: all), --offset: the images kept, after shuffling */
    bool shuffle;
    uint64_t shuffle_seed;      /* --shuffle SEED */
    bool scale_given;           /* --scale: an 8-bit sample v becomes v * scale_mul / scale_div */
    float scale_mul, scale_div; /* (default 1/255, ToTensor's) */
    int resize, crop;           /* --resize N (shorter side), --center-crop N (0: none) */
    int n_mean, n_std;          /* --mean a,b,c --std a,b,c: one value or one per channel */
    float mean[4], std[4];
    bool unlabelled;            /* a folder of tensors may lack labels.txt (calibration): labels 0 */
} DatasetOptions;

/* The split `split` ("test" or "train"; o->split overrides it) of o->spec,
 * as inputs of type `input` (the model's, batch 1: a path's images take its
 * shape; NULL for built-in sets only) with labels below n_classes (0: below
 * DATASET_MAX_CLASSES, 2^24: label files hold floats, exact to there).
 * `need_split`: a format without splits is an error (else it is taken whole).
 * The subset of o (shuffle, offset, limit) is taken.  Errors name the file
 * and the record. */
enum { DATASET_MAX_CLASSES = 1 << 24 };
bool dataset_open(Arena *arena, const DatasetOptions *o, const char *split, bool need_split, const Type *input,
                  int n_classes, Dataset *out, Diags *diags);

/* `name` is fashion-mnist (Debian's dataset-fashion-mnist, gzipped IDX) or
 * digits (sklearn's digits as .npy, made by models/train_mlp.py); `split` is
 * "test" or "train".  `dir` overrides where the files are looked for (NULL: the
 * default place).  Pixels are scaled as the bundled models were trained:
 * /255 for fashion-mnist, /16 for digits. */
bool dataset_load(Arena *arena, const char *name, const char *split, const char *dir,
                  Dataset *out, Diags *diags);

/* The calibration set of `spec` for inputs of type `input` (frontend/calib.c):
 * "auto" (fashion-mnist for 28x28 inputs, digits for 64-element ones, else
 * random), "random" (uniform [0, 1), a fixed seed), "fashion-mnist",
 * "digits" (their training splits), a directory of .pb / .npy inputs (one
 * each, in name order, no labels.txt) or any data set path of dataset_open
 * (its training split where it has one, else all of it), read with `options`
 * (--scale, --resize, --mean...; NULL: the defaults; its spec and limit are
 * not used); at most `limit` images (0: the set's default, 512, or 16 for
 * random data).  NULL (reported) when it cannot be had. */
float *calibration_images(Arena *arena, const char *spec, const DatasetOptions *options, const Type *input,
                          int limit, int *count, Diags *diags);

#endif
