/* conformance: the reference interpreter, and the crossbar mapping in float
 * weights, against ONNX's backend test data.
 *
 *   xbarc-conformance [--verbose] [--list-skipped] [--no-fork] DIR...
 *   xbarc-conformance --float-weights [--arch-rows R] [--arch-cols C] [...] DIR...
 *
 * A DIR holding model.onnx is one case; any other DIR is a collection whose
 * subdirectories are cases (ONNX's data/node, data/pytorch-converted).  Each
 * case has data sets, directories test_data_set_N with input_K.pb and
 * output_K.pb.  For every data set the model is imported raw (no passes, so
 * the interpreter is tested alone) with the non-float inputs bound as
 * constants (Reshape's shape, say), the float inputs are fed in, and every
 * output must match output_K.pb in shape and to |got - want| <= atol + rtol *
 * |want| (rtol 1e-3, atol 1e-5), NaN matching NaN.
 *
 * --float-weights checks the data movement of the crossbar mapping instead
 * (docs/crossbar.md section 9).  Only cases whose model has a Conv,
 * ConvTranspose, Gemm or MatMul count; the others are skipped.  Most ONNX node tests feed the weight
 * as a graph input, so in this mode every input except the first float one
 * (the activation) is bound from its .pb file: the weight becomes a constant
 * and its layer can be lowered.  Each data set then runs once per crossbar
 * size and sign mapping (pair-analog, pair-digital, offset): the graph is
 * imported afresh, given the default architecture with that size, put through
 * default_pipeline (as `xbarc compile` does: it folds the Transpose of a
 * constant weight, say), lowering_pipeline and mapping_pipeline (no
 * calibration, no quantize: float weights), emitted as a program and run in
 * the simulator, whose outputs must
 * match the shipped ones at the same tolerance.  The sizes are tiny (4x4,
 * 16x8, 3x7, 1x2) so that even these small tensors are cut into many row and
 * column blocks; --arch-rows and --arch-cols choose one size instead (the one
 * not given equals the other).  A layer that does not lower (a MatMul whose
 * right operand is batched, say) stays digital and its case still counts; the
 * summary says how many cases had at least one crossbar layer.
 *
 * --verbose prints every case with its status, --list-skipped the skipped
 * ones with the reason (the first diagnostic).  Each case runs in a child
 * process, so that a crash fails that case only; --no-fork runs them all in
 * this process, for a debugger.
 *
 * A case the frontend rejects with a message containing "unsupported" or "not
 * supported" (an op, an element type, an attribute value) is skipped; any other import error is
 * a failure.  So is a mismatch, and in float-weight mode any error of the
 * passes, the emitter or the simulator.  Exit status 1 if anything failed. */
#include "backend/backend.h"
#include "frontend/frontend.h"
#include "passes/passes.h"
#include "runtime/program.h"
#include "runtime/runtime.h"

#include <dirent.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

enum { REASON_MAX = 512, MAX_TENSORS = 64, MAX_SIZES = 8 };

static const double RTOL = 1e-3, ATOL = 1e-5;

typedef enum { CASE_PASS, CASE_FAIL, CASE_SKIP } Status;

/* Crossbar sizes the float-weight mode maps every case onto. */
static const int default_sizes[][2] = {{4, 4}, {16, 8}, {3, 7}, {1, 2}};

typedef struct {
    bool verbose, list_skipped, no_fork;
    bool float_weights;
    int n_sizes;
    int sizes[MAX_SIZES][2];        /* rows, cols */
} Options;

typedef struct {
    int ran, passed, failed, skipped;
    int with_xbar;                  /* float weights: cases with at least one xbar op */
} Tally;
/* ---- files ---- */

static bool exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The entries of dir whose names start with prefix, sorted, as full paths;
 * returns their number (-1 if dir cannot be read). */
static int list_dir(Arena *arena, const char *dir, const char *prefix, char ***out)
{
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    int n = 0, cap = 16;
    char **names = arena_array(arena, (size_t)cap, sizeof *names);
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.' || strncmp(e->d_name, prefix, strlen(prefix)) != 0)
            continue;
        if (n == cap) {
            char **bigger = arena_array(arena, (size_t)cap * 2, sizeof *names);
            memcpy(bigger, names, (size_t)n * sizeof *names);
            names = bigger;
            cap *= 2;
        }
        names[n++] = arena_printf(arena, "%s/%s", dir, e->d_name);
    }
    closedir(d);
    qsort(names, (size_t)n, sizeof *names, compare_names);
    *out = names;
    return n;
}

/* ---- the name inside a TensorProto file ----
 * Binding a non-float input needs the graph input's name, which the .pb file
 * carries as TensorProto field 8.  The frontend's readers take float data only,
 * so the field is picked out of the protobuf wire format here. */

static bool read_varint(const unsigned char **p, const unsigned char *end, uint64_t *v)
{
    *v = 0;
    for (int shift = 0; *p < end && shift < 64; shift += 7) {
        unsigned char byte = *(*p)++;
        *v |= (uint64_t)(byte & 0x7f) << shift;
        if (!(byte & 0x80))
            return true;
    }
    return false;
}

/* "" when the file has no name or cannot be read. */
static const char *pb_tensor_name(Arena *arena, const char *path)
{
    const char *name = "";
    FILE *f = fopen(path, "rb");
    if (!f)
        return name;
    unsigned char *data = NULL;
    long size = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : -1;
    if (size > 0 && fseek(f, 0, SEEK_SET) == 0 && (data = malloc((size_t)size)) &&
        fread(data, 1, (size_t)size, f) == (size_t)size) {
        const unsigned char *p = data, *end = data + size;
        uint64_t tag, len;
        while (p < end && read_varint(&p, end, &tag)) {
            unsigned field = (unsigned)(tag >> 3), wire = (unsigned)(tag & 7);
            if (wire == 0) {
                if (!read_varint(&p, end, &len))
                    break;
            } else if (wire == 2) {
                if (!read_varint(&p, end, &len) || len > (uint64_t)(end - p))
                    break;
                if (field == 8) {
                    char *s = arena_alloc(arena, (size_t)len + 1);
                    memcpy(s, p, (size_t)len);
                    name = s;
                    break;
                }
                p += len;
            } else if (wire == 1 && end - p >= 8) {
                p += 8;
            } else if (wire == 5 && end - p >= 4) {
                p += 4;
            } else {
                break;
            }
        }
    }
    free(data);
    fclose(f);
    return name;
}

/* ---- one data set ---- */

/* ONNX TensorProto.DataType names, for messages. */
static const char *elem_type_name(int type)
{
    static const char *const names[] = {
        "undefined", "float", "uint8", "int8", "uint16", "int16", "int32", "int64", "string",
        "bool", "float16", "double", "uint32", "uint64", "complex64", "complex128", "bfloat16",
    };
    return type >= 0 && type < (int)(sizeof names / sizeof names[0]) ? names[type] : "unknown";
}

/* The paths dir/PREFIX0.pb, dir/PREFIX1.pb ... that exist. */
static int numbered_files(Arena *arena, const char *dir, const char *prefix, const char **out)
{
    int n = 0;
    while (n < MAX_TENSORS) {
        char *path = arena_printf(arena, "%s/%s%d.pb", dir, prefix, n);
        if (!exists(path))
            break;
        out[n++] = path;
    }
    return n;
}

static bool same_shape(const Type *a, const Type *b)
{
    if (a->rank != b->rank)
        return false;
    for (int i = 0; i < a->rank; i++)
        if (a->dims[i] != b->dims[i])
            return false;
    return true;
}

/* Compares one output; on a mismatch writes the first one to reason. */
static bool outputs_match(Arena *arena, int index, const Value *v, const float *got,
                          const Tensor *want, char *reason)
{
    if (!same_shape(&v->type, &want->type)) {
        snprintf(reason, REASON_MAX, "output %d (%s): shape %s, expected %s", index, v->name,
                 type_format(arena, &v->type), type_format(arena, &want->type));
        return false;
    }
    DType vd = v->type.dtype, wd = want->type.dtype;
    if (vd != wd && !(dtype_is_float(vd) && dtype_is_float(wd))) {
        snprintf(reason, REASON_MAX, "output %d (%s): element type %s, expected %s", index, v->name,
                 dtype_name(vd), dtype_name(wd));
        return false;
    }
    bool exact = !dtype_is_float(wd);      /* integers and bools compare exactly */
    int64_t n = type_numel(&v->type);
    for (int64_t i = 0; i < n; i++) {
        double g = got[i], w = want->data[i];
        if (isnan(g) && isnan(w))
            continue;
        if (g == w || (!exact && fabs(g - w) <= ATOL + RTOL * fabs(w)))
            continue;
        snprintf(reason, REASON_MAX, "output %d (%s): element %lld is %.9g, expected %.9g", index,
                 v->name, (long long)i, g, w);
        return false;
    }
    return true;
}

/* The first line of the diagnostics, and whether any says that a feature is
 * unsupported ("unsupported op", "... is not supported"). */
static bool diags_unsupported(const Diags *diags, char *reason)
{
    snprintf(reason, REASON_MAX, "%s", diags->first ? diags->first->text : "import failed");
    for (const DiagMsg *m = diags->first; m; m = m->next)
        if (strstr(m->text, "unsupported") || strstr(m->text, "not supported"))
            return true;
    return false;
}

/* The files of one data set, sorted into inputs to bind at import and float
 * inputs to feed. */
typedef struct {
    int n_bound, n_float, n_out;
    OnnxBinding bindings[MAX_TENSORS];
    const char *float_inputs[MAX_TENSORS];
    const char *outputs[MAX_TENSORS];
} SetFiles;

/* Non-float inputs and float scalars are bound; with bind_weights every float
 * input after the first is bound too (the float-weight mode's weights).  A
 * file without a tensor name binds the model's input of its position, as
 * ONNX's test runner feeds it. */
static Status sort_inputs(Arena *arena, const char *model, const char *set, bool bind_weights, SetFiles *f,
                          char *reason)
{
    const char *free_inputs[MAX_TENSORS];
    int n_free = -2;            /* not read yet */
    const char *inputs[MAX_TENSORS];
    int n_in = numbered_files(arena, set, "input_", inputs);
    f->n_out = numbered_files(arena, set, "output_", f->outputs);
    f->n_float = f->n_bound = 0;
    for (int k = 0; k < n_in; k++) {
        int type = tensor_pb_elem_type(inputs[k]);
        if (type < 0) {
            snprintf(reason, REASON_MAX, "%s: cannot read the tensor", inputs[k]);
            return CASE_FAIL;
        }
        /* A float scalar is bound too: ONNX passes parameters such as Clip's
         * min and max or Pad's value as scalar inputs, and the IR has them as
         * attributes, so they must be known at import.  So is a short 1-D
         * float input after the first float one: Resize's and Upsample's
         * scales (as a constant, any other operand computes the same). */
        Tensor t;
        Diags probe;   /* a file tensor_read() rejects is left to the import to judge */
        diags_init(&probe, arena);
        bool is_float = type == 1 || type == 10 || type == 11;     /* float, float16, double: fed */
        if (is_float && !(bind_weights && f->n_float > 0) &&
            !(tensor_read(arena, inputs[k], &t, &probe) &&
              (t.type.rank == 0 || (f->n_float > 0 && t.type.rank == 1 && t.type.dims[0] <= IR_MAX_RANK)))) {
            f->float_inputs[f->n_float++] = inputs[k];
            continue;
        }
        const char *name = pb_tensor_name(arena, inputs[k]);
        if (!*name && n_free == -2) {
            Diags quiet;
            diags_init(&quiet, arena);
            n_free = onnx_free_input_names(arena, model, free_inputs, MAX_TENSORS, &quiet);
        }
        if (!*name && k < n_free)
            name = free_inputs[k];
        if (!*name) {
            snprintf(reason, REASON_MAX, "%s: unsupported: an unnamed input that must be bound",
                     inputs[k]);
            return CASE_SKIP;
        }
        f->bindings[f->n_bound++] = (OnnxBinding){.input_name = name, .path = inputs[k]};
    }
    return CASE_PASS;
}

/* Imports the model with the set's bindings and checks that the graph's inputs
 * and outputs are those of the data set; NULL with *status set otherwise. */
static Graph *import_set(Arena *arena, const char *model, const SetFiles *f, Status *status, char *reason)
{
    Diags diags;
    diags_init(&diags, arena);
    /* Import first, so that an unsupported op is named as the reason to skip
     * rather than the integer output it has. */
    Graph *g = onnx_import(arena, model, f->bindings, f->n_bound, &diags);
    if (!g) {
        *status = diags_unsupported(&diags, reason) ? CASE_SKIP : CASE_FAIL;
        return NULL;
    }
    for (int k = 0; k < f->n_out; k++) {
        int type = tensor_pb_elem_type(f->outputs[k]);
        if (!(type >= 1 && type <= 7) && !(type >= 9 && type <= 13)) {   /* numbers and bools, not strings */
            snprintf(reason, REASON_MAX, "%s: unsupported: an output of element type %s", f->outputs[k],
                     elem_type_name(type));
            *status = CASE_SKIP;
            return NULL;
        }
    }
    if (g->n_inputs != f->n_float || g->n_outputs != f->n_out) {
        snprintf(reason, REASON_MAX, "graph has %d inputs and %d outputs, the data set %d and %d",
                 g->n_inputs, g->n_outputs, f->n_float, f->n_out);
        *status = CASE_FAIL;
        return NULL;
    }
    return g;
}

/* The float inputs as tensors, in[i] for graph input i: by name when the file
 * has one the graph knows, else by position. */
static bool read_inputs(Arena *arena, const Graph *g, const SetFiles *f, const float **in, char *reason)
{
    Diags diags;
    diags_init(&diags, arena);
    for (int k = 0; k < f->n_float; k++)
        in[k] = NULL;
    for (int k = 0; k < f->n_float; k++) {
        Tensor t;
        if (!tensor_read(arena, f->float_inputs[k], &t, &diags)) {
            diags_unsupported(&diags, reason);
            return false;
        }
        int slot = k;
        for (int i = 0; t.name && *t.name && i < g->n_inputs; i++)
            if (strcmp(g->inputs[i]->name, t.name) == 0)
                slot = i;
        const Value *v = g->inputs[slot];
        if (type_numel(&v->type) != type_numel(&t.type)) {
            snprintf(reason, REASON_MAX, "input %d (%s): %s given for %s", k, v->name,
                     type_format(arena, &t.type), type_format(arena, &v->type));
            return false;
        }
        in[slot] = t.data;
    }
    for (int i = 0; i < g->n_inputs; i++)
        if (!in[i]) {
            snprintf(reason, REASON_MAX, "input %d (%s): fed twice, another never", i, g->inputs[i]->name);
            return false;
        }
    return true;
}

static bool read_outputs(Arena *arena, const SetFiles *f, Tensor *want, char *reason)
{
    Diags diags;
    diags_init(&diags, arena);
    for (int k = 0; k < f->n_out; k++)
        if (!tensor_read(arena, f->outputs[k], &want[k], &diags)) {
            diags_unsupported(&diags, reason);
            return false;
        }
    return true;
}

static Status run_set(Arena *arena, const char *model, const char *set, char *reason)
{
    SetFiles f;
    Status status = sort_inputs(arena, model, set, false, &f, reason);
    if (status != CASE_PASS)
        return status;
    Graph *g = import_set(arena, model, &f, &status, reason);
    if (!g)
        return status;
    const float *in[MAX_TENSORS];
    Tensor want[MAX_TENSORS];
    if (!read_inputs(arena, g, &f, in, reason))
        return CASE_FAIL;
    if (!read_outputs(arena, &f, want, reason))     /* an integer beyond 2^24 is not supported */
        return strstr(reason, "not supported") ? CASE_SKIP : CASE_FAIL;

    Interp *interp = interp_new(g);
    for (int i = 0; i < g->n_inputs; i++)
        memcpy(interp_input(interp, i), in[i], (size_t)type_numel(&g->inputs[i]->type) * sizeof(float));
    interp_run(interp);
    for (int k = 0; k < f.n_out && status == CASE_PASS; k++)
        if (!outputs_match(arena, k, g->outputs[k], interp_output(interp, k), &want[k], reason))
            status = CASE_FAIL;
    interp_free(interp);
    return status;
}

/* ---- one data set in float weights ---- */

static bool has_layer(const Graph *g)
{
    for (int i = 0; i < g->n_ops; i++)
        if (g->ops[i]->kind == OP_CONV || g->ops[i]->kind == OP_GEMM || g->ops[i]->kind == OP_MATMUL ||
            g->ops[i]->kind == OP_CONVTRANSPOSE)
            return true;
    return false;
}

static int count_xbar(const Graph *g)
{
    int n = 0;
    for (int i = 0; i < g->n_ops; i++)
        n += g->ops[i]->kind == OP_XBAR;
    return n;
}

/* "4x4 offset: STEP: the first diagnostic". */
static void step_failed(const char *config, const char *step, const Diags *diags, char *reason)
{
    snprintf(reason, REASON_MAX, "%s: %s: %s", config, step, diags->first ? diags->first->text : "failed");
}

/* Maps graph g onto `arch` in float weights and runs it in the simulator. */
static Status run_mapped(Arena *arena, Graph *g, const Arch *arch, const float *const *in, const Tensor *want,
                         bool *had_xbar, char *reason)
{
    char config[64];
    snprintf(config, sizeof config, "%dx%d %s", arch->rows, arch->cols, sign_mapping_name(arch->sign));
    Diags diags;
    diags_init(&diags, arena);
    PassOptions options = {0};
    g->arch = arena_alloc(arena, sizeof *g->arch);
    *g->arch = *arch;
    if (!pass_run_pipeline(g, default_pipeline, &options, &diags) ||
        !pass_run_pipeline(g, lowering_pipeline, &options, &diags)) {
        step_failed(config, "lowering", &diags, reason);
        return CASE_FAIL;
    }
    if (count_xbar(g) > 0)
        *had_xbar = true;
    if (!pass_run_pipeline(g, mapping_pipeline, &options, &diags)) {
        step_failed(config, "mapping", &diags, reason);
        return CASE_FAIL;
    }
    Program *p = emit_program(arena, g, &diags);
    if (!p) {
        step_failed(config, "emit", &diags, reason);
        return CASE_FAIL;
    }
    if (p->n_inputs != g->n_inputs || p->n_outputs != g->n_outputs) {
        snprintf(reason, REASON_MAX, "%s: the program has %d inputs and %d outputs, the graph %d and %d", config,
                 p->n_inputs, p->n_outputs, g->n_inputs, g->n_outputs);
        return CASE_FAIL;
    }
    Sim *sim = sim_new(p);
    for (int i = 0; i < g->n_inputs; i++)
        memcpy(sim_input(sim, i), in[i], (size_t)type_numel(&g->inputs[i]->type) * sizeof(float));
    sim_run(sim);
    Status status = CASE_PASS;
    char mismatch[REASON_MAX];
    for (int k = 0; k < g->n_outputs && status == CASE_PASS; k++)
        if (!outputs_match(arena, k, g->outputs[k], sim_output(sim, k), &want[k], mismatch)) {
            snprintf(reason, REASON_MAX, "%s: %.400s", config, mismatch);
            status = CASE_FAIL;
        }
    sim_free(sim);
    return status;
}

/* Every crossbar size and sign mapping, each on a fresh import (the passes
 * rewrite the graph in place). */
static Status run_set_float(Arena *arena, const char *model, const char *set, const Options *opt,
                            bool *had_xbar, char *reason)
{
    SetFiles f;
    Status status = sort_inputs(arena, model, set, true, &f, reason);
    if (status != CASE_PASS)
        return status;
    Graph *g = import_set(arena, model, &f, &status, reason);
    if (!g)
        return status;
    if (!has_layer(g)) {
        snprintf(reason, REASON_MAX, "no Conv, ConvTranspose, Gemm or MatMul");
        return CASE_SKIP;
    }
    const float *in[MAX_TENSORS];
    Tensor want[MAX_TENSORS];
    if (!read_inputs(arena, g, &f, in, reason) || !read_outputs(arena, &f, want, reason))
        return CASE_FAIL;

    static const SignMapping signs[] = {SIGN_PAIR_ANALOG, SIGN_PAIR_DIGITAL, SIGN_OFFSET};
    for (int s = 0; s < opt->n_sizes && status == CASE_PASS; s++) {
        for (int m = 0; m < 3 && status == CASE_PASS; m++) {
            Arch arch = arch_default();
            arch.rows = opt->sizes[s][0];
            arch.cols = opt->sizes[s][1];
            arch.cols_per_adc = arch.cols < arch.cols_per_adc ? arch.cols : arch.cols_per_adc;
            arch.sign = signs[m];
            if (!g && !(g = import_set(arena, model, &f, &status, reason)))
                break;
            status = run_mapped(arena, g, &arch, in, want, had_xbar, reason);
            g = NULL;
        }
    }
    return status;
}

/* ---- cases ---- */

/* "node/test_abs" from ".../data/node/test_abs". */
static const char *case_name(const char *dir)
{
    const char *last = strrchr(dir, '/');
    if (!last)
        return dir;
    const char *p = last;
    while (p > dir && p[-1] != '/')
        p--;
    return p == last ? last + 1 : p;
}

/* Runs every data set of the case in dir; *had_xbar tells whether a layer
 * became a crossbar op (float-weight mode). */
static Status check_case(const char *dir, const Options *opt, bool *had_xbar, char *reason)
{
    Arena *arena = arena_new();
    const char *model = arena_printf(arena, "%s/model.onnx", dir);
    char **sets;
    int n_sets = list_dir(arena, dir, "test_data_set_", &sets);
    Status status = CASE_PASS;
    *had_xbar = false;
    if (n_sets <= 0) {
        snprintf(reason, REASON_MAX, "no test_data_set_N directory");
        status = CASE_FAIL;
    }
    for (int i = 0; i < n_sets && status == CASE_PASS; i++)
        status = opt->float_weights ? run_set_float(arena, model, sets[i], opt, had_xbar, reason)
                                    : run_set(arena, model, sets[i], reason);
    arena_free(arena);
    return status;
}

/* check_case() in a child process, so that a crash (or a sanitizer report)
 * fails that case alone; the child sends back a status byte, a byte for
 * had_xbar and the reason. */
static Status check_case_isolated(const char *dir, const Options *opt, bool *had_xbar, char *reason)
{
    int fds[2];
    fflush(stdout);
    fflush(stderr);
    *had_xbar = false;
    if (pipe(fds) != 0)
        return check_case(dir, opt, had_xbar, reason);
    pid_t pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        return check_case(dir, opt, had_xbar, reason);
    }
    if (pid == 0) {
        close(fds[0]);
        char buf[REASON_MAX + 2];
        bool xbar;
        buf[0] = (char)check_case(dir, opt, &xbar, buf + 2);
        buf[1] = xbar ? 'x' : '-';
        size_t len = 2 + strlen(buf + 2);
        bool sent = write(fds[1], buf, len) == (ssize_t)len;
        close(fds[1]);
        exit(sent ? 0 : 3);   /* exit(), not _exit(): LeakSanitizer checks the child */
    }
    close(fds[1]);
    char buf[REASON_MAX + 2];
    size_t len = 0;
    ssize_t got;
    while (len < sizeof buf - 1 && (got = read(fds[0], buf + len, sizeof buf - 1 - len)) > 0)
        len += (size_t)got;
    close(fds[0]);
    buf[len] = 0;
    int wstatus = 0;
    waitpid(pid, &wstatus, 0);
    if (WIFSIGNALED(wstatus)) {
        snprintf(reason, REASON_MAX, "crashed with signal %d", WTERMSIG(wstatus));
        return CASE_FAIL;
    }
    if (len < 2 || !WIFEXITED(wstatus) || WEXITSTATUS(wstatus) != 0) {
        snprintf(reason, REASON_MAX, "the checking process exited with status %d%s",
                 WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : -1,
                 len >= 2 ? "" : " before reporting");
        return CASE_FAIL;
    }
    *had_xbar = buf[1] == 'x';
    snprintf(reason, REASON_MAX, "%s", buf + 2);
    return (Status)buf[0];
}

static void run_case(const char *dir, const Options *opt, Tally *tally)
{
    char reason[REASON_MAX] = "";
    bool had_xbar = false;
    Status status = opt->no_fork ? check_case(dir, opt, &had_xbar, reason)
                                 : check_case_isolated(dir, opt, &had_xbar, reason);
    const char *name = case_name(dir);
    if (status != CASE_SKIP && had_xbar)
        tally->with_xbar++;
    switch (status) {
    case CASE_PASS:
        tally->ran++;
        tally->passed++;
        if (opt->verbose)
            printf("PASS %s%s\n", name, opt->float_weights && !had_xbar ? " (no crossbar layer)" : "");
        break;
    case CASE_FAIL:
        tally->ran++;
        tally->failed++;
        printf("FAIL %s: %s\n", name, reason);
        break;
    case CASE_SKIP:
        tally->skipped++;
        if (opt->verbose || opt->list_skipped)
            printf("SKIP %s: %s\n", name, reason);
        break;
    }
    fflush(stdout);
}

static void run_dir(const char *dir, const Options *opt, Tally *tally)
{
    Arena *arena = arena_new();
    if (exists(arena_printf(arena, "%s/model.onnx", dir))) {
        run_case(dir, opt, tally);
    } else {
        char **cases;
        int n = list_dir(arena, dir, "", &cases);
        if (n < 0) {
            printf("FAIL %s: not a directory of test cases\n", dir);
            tally->failed++;
        }
        for (int i = 0; i < n; i++)
            if (exists(arena_printf(arena, "%s/model.onnx", cases[i])))
                run_case(cases[i], opt, tally);
    }
    arena_free(arena);
}

/* A crossbar dimension for --arch-rows / --arch-cols: 1 to 4096. */
static bool parse_dim(const char *text, int *out)
{
    char *end;
    long v = text ? strtol(text, &end, 10) : 0;
    if (!text || end == text || *end || v < 1 || v > 4096)
        return false;
    *out = (int)v;
    return true;
}

static const char usage[] =
    "usage: xbarc-conformance [--verbose] [--list-skipped] [--no-fork]\n"
    "                         [--float-weights [--arch-rows R] [--arch-cols C]] DIR...\n";

int main(int argc, char **argv)
{
    Options opt = {0};
    Tally tally = {0};
    int n_dirs = 0, rows = 0, cols = 0;
    const char **dirs = calloc((size_t)argc, sizeof *dirs);
    if (!dirs)
        return 2;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--verbose") == 0) {
            opt.verbose = true;
        } else if (strcmp(a, "--list-skipped") == 0) {
            opt.list_skipped = true;
        } else if (strcmp(a, "--no-fork") == 0) {
            opt.no_fork = true;
        } else if (strcmp(a, "--float-weights") == 0) {
            opt.float_weights = true;
        } else if (strcmp(a, "--arch-rows") == 0 || strcmp(a, "--arch-cols") == 0) {
            if (!parse_dim(i + 1 < argc ? argv[i + 1] : NULL, a[7] == 'r' ? &rows : &cols)) {
                fprintf(stderr, "xbarc-conformance: %s takes a size from 1 to 4096\n", a);
                free(dirs);
                return 2;
            }
            i++;
        } else if (a[0] == '-') {
            fprintf(stderr, "xbarc-conformance: unknown option '%s'\n%s", a, usage);
            free(dirs);
            return 2;
        } else {
            dirs[n_dirs++] = a;
        }
    }
    if (n_dirs == 0 || ((rows || cols) && !opt.float_weights)) {
        fprintf(stderr, "%s", n_dirs ? "xbarc-conformance: --arch-rows and --arch-cols need --float-weights\n" : usage);
        free(dirs);
        return 2;
    }
    if (rows || cols) {
        opt.n_sizes = 1;
        opt.sizes[0][0] = rows ? rows : cols;
        opt.sizes[0][1] = cols ? cols : rows;
    } else {
        opt.n_sizes = (int)(sizeof default_sizes / sizeof default_sizes[0]);
        memcpy(opt.sizes, default_sizes, sizeof default_sizes);
    }
    for (int i = 0; i < n_dirs; i++)
        run_dir(dirs[i], &opt, &tally);
    free(dirs);
    if (opt.float_weights)
        printf("conformance (float weights): %d cases ran, %d passed, %d failed, %d with crossbar layers\n",
               tally.ran, tally.passed, tally.failed, tally.with_xbar);
    else
        printf("conformance: %d cases ran, %d passed, %d failed, %d skipped as unsupported\n",
               tally.ran, tally.passed, tally.failed, tally.skipped);
    printf("%d passed, %d failed\n", tally.passed, tally.failed);
    return tally.failed ? 1 : 0;
}
