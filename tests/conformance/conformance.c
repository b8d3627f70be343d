/* conformance: the reference interpreter against ONNX's backend test data.
 *
 *   xbarc-conformance [--verbose] [--list-skipped] [--no-fork] DIR...
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
 * --verbose prints every case with its status, --list-skipped the skipped
 * ones with the reason (the first diagnostic).  Each case runs in a child
 * process, so that a crash fails that case only; --no-fork runs them all in
 * this process, for a debugger.
 *
 * A case the frontend rejects with a message containing "unsupported" or "not
 * supported" (an op, an element type, an attribute value) is skipped; any other import error is
 * a failure.  So is a mismatch.  Exit status 1 if anything failed. */
#include "frontend/frontend.h"
#include "runtime/runtime.h"

#include <dirent.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

enum { REASON_MAX = 512, MAX_TENSORS = 64 };

static const double RTOL = 1e-3, ATOL = 1e-5;

typedef enum { CASE_PASS, CASE_FAIL, CASE_SKIP } Status;

typedef struct {
    bool verbose, list_skipped, no_fork;
    int ran, passed, failed, skipped;
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
    int64_t n = type_numel(&v->type);
    for (int64_t i = 0; i < n; i++) {
        double g = got[i], w = want->data[i];
        if (isnan(g) && isnan(w))
            continue;
        if (g == w || fabs(g - w) <= ATOL + RTOL * fabs(w))
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

static Status run_set(Arena *arena, const char *model, const char *set, char *reason)
{
    const char *inputs[MAX_TENSORS], *outputs[MAX_TENSORS], *float_inputs[MAX_TENSORS];
    OnnxBinding bindings[MAX_TENSORS];
    int n_in = numbered_files(arena, set, "input_", inputs);
    int n_out = numbered_files(arena, set, "output_", outputs);
    int n_float = 0, n_bound = 0;
    Diags diags;
    diags_init(&diags, arena);

    for (int k = 0; k < n_in; k++) {
        int type = tensor_pb_elem_type(inputs[k]);
        if (type < 0) {
            snprintf(reason, REASON_MAX, "%s: cannot read the tensor", inputs[k]);
            return CASE_FAIL;
        }
        /* A float scalar is bound too: ONNX passes parameters such as Clip's
         * min and max or Pad's value as scalar inputs, and the IR has them as
         * attributes, so they must be known at import. */
        Tensor t;
        Diags probe;   /* a file tensor_read() rejects is left to the import to judge */
        diags_init(&probe, arena);
        if (type == 1 && !(tensor_read(arena, inputs[k], &t, &probe) && t.type.rank == 0)) {
            float_inputs[n_float++] = inputs[k];
            continue;
        }
        const char *name = pb_tensor_name(arena, inputs[k]);
        if (!*name) {
            snprintf(reason, REASON_MAX, "%s: unsupported: an unnamed input that must be bound",
                     inputs[k]);
            return CASE_SKIP;
        }
        bindings[n_bound++] = (OnnxBinding){name, inputs[k]};
    }

    /* Import first, so that an unsupported op is named as the reason to skip
     * rather than the integer output it has. */
    Graph *g = onnx_import(arena, model, bindings, n_bound, &diags);
    if (!g)
        return diags_unsupported(&diags, reason) ? CASE_SKIP : CASE_FAIL;
    for (int k = 0; k < n_out; k++) {
        int type = tensor_pb_elem_type(outputs[k]);
        if (type != 1) {
            snprintf(reason, REASON_MAX, "%s: unsupported: an output of element type %s", outputs[k],
                     elem_type_name(type));
            return CASE_SKIP;
        }
    }
    if (g->n_inputs != n_float || g->n_outputs != n_out) {
        snprintf(reason, REASON_MAX, "graph has %d inputs and %d outputs, the data set %d and %d",
                 g->n_inputs, g->n_outputs, n_float, n_out);
        return CASE_FAIL;
    }

    Status status = CASE_PASS;
    Interp *interp = interp_new(g);
    for (int k = 0; k < n_float && status == CASE_PASS; k++) {
        Tensor t;
        if (!tensor_read(arena, float_inputs[k], &t, &diags)) {
            diags_unsupported(&diags, reason);
            status = CASE_FAIL;
            break;
        }
        /* By name when the file has one the graph knows, else by position. */
        int slot = k;
        for (int i = 0; t.name && *t.name && i < g->n_inputs; i++)
            if (strcmp(g->inputs[i]->name, t.name) == 0)
                slot = i;
        const Value *v = g->inputs[slot];
        if (type_numel(&v->type) != type_numel(&t.type)) {
            snprintf(reason, REASON_MAX, "input %d (%s): %s given for %s", k, v->name,
                     type_format(arena, &t.type), type_format(arena, &v->type));
            status = CASE_FAIL;
            break;
        }
        memcpy(interp_input(interp, slot), t.data, (size_t)type_numel(&t.type) * sizeof(float));
    }
    if (status == CASE_PASS)
        interp_run(interp);
    for (int k = 0; k < n_out && status == CASE_PASS; k++) {
        Tensor want;
        if (!tensor_read(arena, outputs[k], &want, &diags)) {
            diags_unsupported(&diags, reason);
            status = CASE_FAIL;
        } else if (!outputs_match(arena, k, g->outputs[k], interp_output(interp, k), &want, reason)) {
            status = CASE_FAIL;
        }
    }
    interp_free(interp);
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

/* Runs every data set of the case in dir. */
static Status check_case(const char *dir, char *reason)
{
    Arena *arena = arena_new();
    const char *model = arena_printf(arena, "%s/model.onnx", dir);
    char **sets;
    int n_sets = list_dir(arena, dir, "test_data_set_", &sets);
    Status status = CASE_PASS;
    if (n_sets <= 0) {
        snprintf(reason, REASON_MAX, "no test_data_set_N directory");
        status = CASE_FAIL;
    }
    for (int i = 0; i < n_sets && status == CASE_PASS; i++)
        status = run_set(arena, model, sets[i], reason);
    arena_free(arena);
    return status;
}

/* check_case() in a child process, so that a crash (or a sanitizer report)
 * fails that case alone; the child sends back a status byte and the reason. */
static Status check_case_isolated(const char *dir, char *reason)
{
    int fds[2];
    fflush(stdout);
    fflush(stderr);
    if (pipe(fds) != 0)
        return check_case(dir, reason);
    pid_t pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        return check_case(dir, reason);
    }
    if (pid == 0) {
        close(fds[0]);
        char buf[REASON_MAX + 1];
        buf[0] = (char)check_case(dir, buf + 1);
        size_t len = 1 + strlen(buf + 1);
        bool sent = write(fds[1], buf, len) == (ssize_t)len;
        close(fds[1]);
        exit(sent ? 0 : 3);   /* exit(), not _exit(): LeakSanitizer checks the child */
    }
    close(fds[1]);
    char buf[REASON_MAX + 1];
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
    if (len == 0 || !WIFEXITED(wstatus) || WEXITSTATUS(wstatus) != 0) {
        snprintf(reason, REASON_MAX, "the checking process exited with status %d%s",
                 WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : -1,
                 len ? "" : " before reporting");
        return CASE_FAIL;
    }
    snprintf(reason, REASON_MAX, "%s", buf + 1);
    return (Status)buf[0];
}

static void run_case(const char *dir, Tally *tally)
{
    char reason[REASON_MAX] = "";
    Status status = tally->no_fork ? check_case(dir, reason) : check_case_isolated(dir, reason);
    const char *name = case_name(dir);
    switch (status) {
    case CASE_PASS:
        tally->ran++;
        tally->passed++;
        if (tally->verbose)
            printf("PASS %s\n", name);
        break;
    case CASE_FAIL:
        tally->ran++;
        tally->failed++;
        printf("FAIL %s: %s\n", name, reason);
        break;
    case CASE_SKIP:
        tally->skipped++;
        if (tally->verbose || tally->list_skipped)
            printf("SKIP %s: %s\n", name, reason);
        break;
    }
    fflush(stdout);
}

static void run_dir(const char *dir, Tally *tally)
{
    Arena *arena = arena_new();
    if (exists(arena_printf(arena, "%s/model.onnx", dir))) {
        run_case(dir, tally);
    } else {
        char **cases;
        int n = list_dir(arena, dir, "", &cases);
        if (n < 0) {
            printf("FAIL %s: not a directory of test cases\n", dir);
            tally->failed++;
        }
        for (int i = 0; i < n; i++)
            if (exists(arena_printf(arena, "%s/model.onnx", cases[i])))
                run_case(cases[i], tally);
    }
    arena_free(arena);
}

int main(int argc, char **argv)
{
    Tally tally = {0};
    int n_dirs = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--verbose") == 0) {
            tally.verbose = true;
        } else if (strcmp(argv[i], "--list-skipped") == 0) {
            tally.list_skipped = true;
        } else if (strcmp(argv[i], "--no-fork") == 0) {
            tally.no_fork = true;
        } else if (argv[i][0] == '-') {
            fprintf(stderr, "xbarc-conformance: unknown option '%s'\n", argv[i]);
            return 2;
        } else {
            n_dirs++;
        }
    }
    if (n_dirs == 0) {
        fprintf(stderr, "usage: xbarc-conformance [--verbose] [--list-skipped] [--no-fork] DIR...\n");
        return 2;
    }
    for (int i = 1; i < argc; i++)
        if (argv[i][0] != '-')
            run_dir(argv[i], &tally);
    printf("conformance: %d cases ran, %d passed, %d failed, %d skipped as unsupported\n",
           tally.ran, tally.passed, tally.failed, tally.skipped);
    printf("%d passed, %d failed\n", tally.passed, tally.failed);
    return tally.failed ? 1 : 0;
}
