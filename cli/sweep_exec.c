/* sweep_exec.c: where a sweep's rows are made and kept (docs/sweep.md 4).
 *
 * A run directory holds the definition (sweep.json: the options and the
 * directory they are relative to) and rows files (rows/NAME.jsonl: the
 * manifest, then one line per row as it is finished).  Every executor works
 * the same way: it runs the units not yet in some rows file and appends
 * their rows to a file of its own, so a run that stopped resumes where it
 * was, and the merge (the table in grid order) does not depend on who made
 * which row.  Locally, --jobs N forks N workers once; they take units from
 * one pipe in execution order (sweep_unit), so no point starts a process. */
#include "cli/sweep.h"

#include <cJSON.h>
#include <errno.h>
#include <dirent.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char *dir_file(Arena *arena, const char *dir, const char *name)
{
    return arena_printf(arena, "%s/%s", dir, name);
}

/* sweep.json: {"xbarc", "cwd", "definition": [...], "rows", "outputs": [...]} */
bool sweep_dir_create(const char *dir, const SweepSpec *s, Arena *arena, Diags *diags)
{
    Loc loc = {.file = dir};
    if ((mkdir(dir, 0777) != 0 && errno != EEXIST) ||
        (mkdir(dir_file(arena, dir, "rows"), 0777) != 0 && errno != EEXIST)) {
        diag_error(diags, &loc, "cannot make the run directory: %s", strerror(errno));
        return false;
    }
    char cwd[PATH_MAX];
    if (!getcwd(cwd, sizeof cwd)) {
        diag_error(diags, &loc, "cannot tell the working directory: %s", strerror(errno));
        return false;
    }
    const char *path = dir_file(arena, dir, "sweep.json");
    struct stat st;
    if (stat(path, &st) == 0) {
        /* a run directory is one sweep's: the same manifest (definition, version, architecture), or an error */
        if (sweep_dir_matches(dir, s, arena))
            return true;
        diag_error(diags, &loc, "the run directory holds another sweep (its definition, xbarc's version or the "
                   "architecture file differ: see %s); name another --run-dir, or remove it", path);
        return false;
    }
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "xbarc", XBARC_VERSION);
    cJSON_AddStringToObject(j, "cwd", cwd);
    cJSON *definition = cJSON_AddArrayToObject(j, "definition");
    for (int i = 0; i < s->argc; i++)
        cJSON_AddItemToArray(definition, cJSON_CreateString(s->argv[i]));
    cJSON_AddNumberToObject(j, "rows", (double)(s->n_points * s->seeds));
    cJSON_AddStringToObject(j, "manifest", sweep_manifest(s, arena));
    char *text = cJSON_Print(j);
    cJSON_Delete(j);
    Outputs *outs = outputs_new(arena, diags);
    const char *line = arena_printf(arena, "%s\n", text);
    free(text);
    bool ok = outputs_write(outs, path, line, strlen(line));
    return outputs_commit(outs, ok);
}

bool sweep_dir_matches(const char *dir, const SweepSpec *s, Arena *arena)
{
    const char *path = dir_file(arena, dir, "sweep.json");
    Diags quiet;
    diags_init(&quiet, arena);
    Loc loc = {.file = path};
    FileBytes bytes;
    if (!file_read(path, 64 << 20, &loc, &quiet, &bytes))
        return false;
    cJSON *j = cJSON_ParseWithLength((const char *)bytes.data, bytes.size);
    file_release(&bytes);
    const cJSON *manifest = cJSON_GetObjectItemCaseSensitive(j, "manifest");
    bool same = cJSON_IsString(manifest) && strcmp(manifest->valuestring, sweep_manifest(s, arena)) == 0;
    cJSON_Delete(j);
    return same;
}

bool sweep_dir_load(Arena *arena, const char *dir, SweepSpec *s, Diags *diags)
{
    const char *path = dir_file(arena, dir, "sweep.json");
    Loc loc = {.file = path};
    FileBytes bytes;
    if (!file_read(path, 64 << 20, &loc, diags, &bytes))
        return false;
    cJSON *j = cJSON_ParseWithLength((const char *)bytes.data, bytes.size);
    file_release(&bytes);
    const cJSON *cwd = cJSON_GetObjectItemCaseSensitive(j, "cwd");
    const cJSON *definition = cJSON_GetObjectItemCaseSensitive(j, "definition");
    int argc = cJSON_GetArraySize(definition);
    char **argv = arena_array(arena, (size_t)argc + 1, sizeof(char *));
    bool ok = cJSON_IsString(cwd) && cJSON_IsArray(definition);
    int i = 0;
    for (const cJSON *a = ok ? definition->child : NULL; a; a = a->next, i++) {
        ok &= cJSON_IsString(a);
        argv[i] = ok ? arena_strdup(arena, a->valuestring) : NULL;
    }
    const char *why = NULL;
    if (!ok)
        diag_error(diags, &loc, "not a sweep's definition: it needs \"cwd\" and \"definition\", an array of strings");
    else if (chdir(cwd->valuestring) != 0)
        diag_error(diags, &loc, "cannot go to the sweep's directory %s: %s", cwd->valuestring, strerror(errno));
    else if (!sweep_spec_parse(arena, argc, argv, s, &why))
        diag_error(diags, &loc, "%s", why);
    cJSON_Delete(j);
    return diags->n_errors == 0;
}

/* The rows files of dir, in name order. */
static int rows_files(Arena *arena, const char *dir, char ***paths, Diags *diags)
{
    const char *rows = dir_file(arena, dir, "rows");
    DIR *d = opendir(rows);
    if (!d) {
        Loc loc = {.file = rows};
        diag_error(diags, &loc, "cannot list the rows files: %s", strerror(errno));
        return -1;
    }
    int n = 0, cap = 0;
    char **list = NULL;
    for (struct dirent *e; (e = readdir(d));) {
        if (!has_suffix(e->d_name, ".jsonl") || e->d_name[0] == '.')
            continue;
        ARENA_GROW(arena, list, n, cap);
        list[n++] = dir_file(arena, rows, e->d_name);
    }
    closedir(d);
    for (int i = 1; i < n; i++)     /* name order: the same merge whatever readdir gives */
        for (int k = i; k > 0 && strcmp(list[k - 1], list[k]) > 0; k--) {
            char *t = list[k];
            list[k] = list[k - 1];
            list[k - 1] = t;
        }
    *paths = list;
    return n;
}

/* Reads every rows file into `table` (rows by unit position: point * seeds +
 * seed - 1; have[] marks those present).  A file of another definition is an
 * error. */
static bool gather_rows(Arena *arena, const char *dir, const SweepSpec *s, ResultTable *table, bool *have,
                        Diags *diags)
{
    const char *manifest = sweep_manifest(s, arena);
    table->manifest = manifest;
    table->n_axes = s->n_axes;
    table->n_columns = sweep_columns(s, arena, &table->columns);
    int64_t rows = s->n_points * s->seeds;
    table->n_rows = (int)rows;
    table->cells = arena_array(arena, (size_t)rows * (size_t)table->n_columns, sizeof(ResultCell));
    char **paths;
    int n = rows_files(arena, dir, &paths, diags);
    int seed_column = s->n_axes + 1;
    for (int f = 0; f < n; f++) {
        ResultTable t;
        Loc loc = {.file = paths[f]};
        struct stat st;
        if (stat(paths[f], &st) == 0 && st.st_size == 0)
            continue;           /* no manifest, no rows: a process that stopped as it began */
        if (!results_read(arena, paths[f], &t, diags))
            return false;
        cJSON *theirs = t.manifest ? cJSON_Parse(t.manifest) : NULL, *ours = cJSON_Parse(manifest);
        bool same = theirs && ours && cJSON_Compare(theirs, ours, true);
        cJSON_Delete(theirs);
        cJSON_Delete(ours);
        if (!same || t.n_columns != table->n_columns) {
            diag_error(diags, &loc, "the rows of another sweep (its manifest differs): remove the file, or name "
                       "another --run-dir");
            return false;
        }
        for (int r = 0; r < t.n_rows; r++) {
            const ResultCell *row = t.cells + (size_t)r * (size_t)t.n_columns;
            double point = row[0].number, seed = row[seed_column].number;
            if (row[0].text || row[seed_column].text || !(point >= 0 && point < (double)s->n_points) ||
                !(seed >= 1 && seed <= s->seeds) || point != floor(point) || seed != floor(seed)) {
                diag_error(diags, &loc, "row %d: no point %g, seed %g in this sweep", r + 1, point, seed);
                return false;
            }
            int64_t at = (int64_t)point * s->seeds + (int64_t)seed - 1;
            if (have[at])
                continue;       /* made twice (a shard run again): the same row, the first kept */
            have[at] = true;
            memcpy(table->cells + (size_t)at * (size_t)table->n_columns, row, (size_t)t.n_columns * sizeof *row);
        }
    }
    return n >= 0;
}

bool sweep_dir_rows(Arena *arena, const char *dir, const SweepSpec *s, ResultTable *table, bool *done,
                    Diags *diags)
{
    return gather_rows(arena, dir, s, table, done, diags);
}

bool sweep_merge(Arena *arena, const char *dir, const SweepSpec *s, ResultTable *table, Diags *diags)
{
    int64_t rows = s->n_points * s->seeds, missing = 0, first = -1;
    bool *have = arena_array(arena, (size_t)rows, sizeof(bool));
    if (!gather_rows(arena, dir, s, table, have, diags))
        return false;
    for (int64_t i = 0; i < rows; i++)
        if (!have[i] && missing++ == 0)
            first = i;
    if (missing) {
        Loc loc = {.file = dir};
        diag_error(diags, &loc, "%lld of %lld rows are missing (the first: point %lld, seed %lld): run the sweep "
                   "again to make them (--resume with --slurm)", (long long)missing, (long long)rows,
                   (long long)(first / s->seeds), (long long)(first % s->seeds + 1));
        return false;
    }
    return true;
}

/* ---- making rows ---- */

/* The rows file of this process, created with the manifest line: written
 * under a hidden name, then linked to its own, so that no other process
 * listing the rows finds it without its manifest (two array tasks of a
 * Slurm sweep starting at once: one read the other's file between its
 * creation and its first line, and stopped). */
static FILE *open_rows_file(const char *dir, const char *tag, const SweepSpec *s, Arena *arena, Diags *diags)
{
    char host[256] = "host";
    gethostname(host, sizeof host - 1);
    const char *path = arena_printf(arena, "%s/rows/%s-%s-%ld.jsonl", dir, tag, host, (long)getpid());
    const char *hidden = arena_printf(arena, "%s/rows/.%s-%s-%ld.part", dir, tag, host, (long)getpid());
    Loc loc = {.file = path};
    FILE *f = fopen(hidden, "w");
    if (!f) {
        diag_error(diags, &loc, "cannot write the rows: %s", strerror(errno));
        return NULL;
    }
    ResultTable head = {.manifest = sweep_manifest(s, arena), .n_axes = s->n_axes};
    head.n_columns = sweep_columns(s, arena, &head.columns);
    results_write_jsonl(f, &head);
    bool ok = fflush(f) == 0 && !ferror(f) && link(hidden, path) == 0;
    int error = errno;
    unlink(hidden);
    if (!ok) {
        fclose(f);
        diag_error(diags, &loc, "cannot write the rows: %s", strerror(error));
        return NULL;
    }
    return f;
}

/* Units that share a program: the execution order keeps each compile's
 * units together, compile axes outermost. */
static int64_t compile_group_units(const SweepSpec *s)
{
    int64_t units = s->seeds;
    for (int i = 0; i < s->n_axes; i++)
        if (s->axes[i].kind != AXIS_ARCH && s->axes[i].kind != AXIS_COMPILE && s->axes[i].kind != AXIS_MODEL)
            units *= s->axes[i].n;
    return units;
}

int sweep_default_shards(const SweepSpec *s)
{
    int64_t units = s->n_points * s->seeds, groups = units / compile_group_units(s);
    int64_t shards = groups > 1 ? groups : units < 16 ? units : 16;
    return (int)(shards < 64 ? shards : 64);
}

/* A range of units a worker runs in order: what goes down the pipe (16
 * bytes, written and read whole: atomic below PIPE_BUF). */
typedef struct {
    int64_t first, end;
} Task;

/* Runs the units of the tasks read from task_fd (or of `only` when task_fd
 * is -1), skipping those done; each row appended to f as it is finished. */
static bool run_tasks(const SweepSpec *s, const SweepRun *run, FILE *f, int task_fd, Task only, const bool *done,
                      Diags *diags)
{
    SweepWorker *w = sweep_worker_new(s);
    sweep_worker_set_threads(w, run->threads);
    ResultTable row = {.n_axes = s->n_axes, .n_rows = 1};
    Arena *columns_arena = arena_new();
    row.n_columns = sweep_columns(s, columns_arena, &row.columns);
    bool ok = true, show = run->progress && task_fd < 0;
    int64_t made = 0, total = only.end - only.first;
    double start = now_seconds(), shown = 0;
    for (Task task = only; ok;) {
        if (task_fd >= 0 && read(task_fd, &task, sizeof task) != (ssize_t)sizeof task)
            break;
        for (int64_t unit = task.first; ok && unit < task.end; unit++) {
            int64_t point;
            int seed;
            sweep_unit(s, unit, &point, &seed);
            if (done[point * s->seeds + seed - 1])
                continue;
            Arena *scratch = arena_new();
            Diags row_diags;
            diags_init(&row_diags, scratch);
            row.cells = arena_array(scratch, (size_t)row.n_columns, sizeof(ResultCell));
            ok = sweep_run_row(w, point, seed, scratch, row.cells, &row_diags);
            if (ok) {
                results_write_rows(f, &row);
                ok = fflush(f) == 0;
            }
            diags_print(&row_diags, stderr);
            arena_free(scratch);
            made++;
            if (show && now_seconds() - shown > 0.5) {
                shown = now_seconds();
                fprintf(stderr, "\rrow %lld of %lld  %.0fs ", (long long)made, (long long)total, shown - start);
            }
        }
        if (task_fd < 0)
            break;
    }
    if (show)
        fprintf(stderr, "\n");
    if (!ok)
        diag_error(diags, NULL, "a row failed (above); the rows made so far are kept");
    arena_free(columns_arena);
    sweep_worker_free(w);
    return ok;
}

bool sweep_run_local(const SweepSpec *s, const SweepRun *run, const char *dir, int64_t first, int64_t end,
                     Diags *diags)
{
    Arena *arena = arena_new();
    int64_t rows = s->n_points * s->seeds;
    bool *done = arena_array(arena, (size_t)rows, sizeof(bool));
    ResultTable table;
    bool ok = gather_rows(arena, dir, s, &table, done, diags);
    int64_t todo = 0;
    for (int64_t u = first; ok && u < end; u++) {
        int64_t point;
        int seed;
        sweep_unit(s, u, &point, &seed);
        todo += !done[point * s->seeds + seed - 1];
    }
    int jobs = run->jobs < 1 ? 1 : run->jobs;
    jobs = todo < jobs ? (int)todo : jobs;
    const char *tag = run->tag ? run->tag : "local";
    if (!ok || todo == 0) {
        arena_free(arena);
        return ok;
    }
    if (jobs <= 1) {
        FILE *f = open_rows_file(dir, tag, s, arena, diags);
        ok = f && run_tasks(s, run, f, -1, (Task){first, end}, done, diags);
        if (f)
            fclose(f);
        arena_free(arena);
        return ok;
    }
    /* The tasks: each compile's units, cut in as many pieces as it takes
     * to give every worker one when there are fewer compiles than workers
     * (each worker then compiles what its pieces need once). */
    int64_t group = compile_group_units(s);
    int64_t groups = (end - 1) / group - first / group + 1;
    int64_t pieces = groups >= jobs ? 1 : (jobs + groups - 1) / groups;
    int fds[2];
    if (pipe(fds) != 0) {
        diag_error(diags, NULL, "cannot make a pipe for the workers: %s", strerror(errno));
        arena_free(arena);
        return false;
    }
    fflush(NULL);
    pid_t *pids = arena_array(arena, (size_t)jobs, sizeof(pid_t));
    for (int j = 0; j < jobs; j++) {
        pids[j] = fork();
        if (pids[j] == 0) {
            close(fds[1]);
            Diags child;
            diags_init(&child, arena);
            FILE *f = open_rows_file(dir, tag, s, arena, &child);
            bool child_ok = f && run_tasks(s, run, f, fds[0], (Task){0, 0}, done, &child);
            if (f)
                fclose(f);
            diags_print(&child, stderr);
            _exit(child_ok ? 0 : 1);
        }
        if (pids[j] < 0) {
            diag_error(diags, NULL, "cannot start a worker: %s", strerror(errno));
            jobs = j;
            ok = false;
            break;
        }
    }
    close(fds[0]);
    for (int64_t g = first / group; ok && g * group < end; g++) {
        int64_t lo = g * group > first ? g * group : first, hi = (g + 1) * group < end ? (g + 1) * group : end;
        for (int64_t k = 0; k < pieces; k++) {
            Task t = {lo + (hi - lo) * k / pieces, lo + (hi - lo) * (k + 1) / pieces};
            if (t.end > t.first && write(fds[1], &t, sizeof t) != (ssize_t)sizeof t) {
                ok = false;     /* every worker is gone: their status says why */
                break;
            }
        }
    }
    close(fds[1]);
    int failed = 0;
    for (int j = 0; j < jobs; j++) {
        int status;
        while (waitpid(pids[j], &status, 0) < 0 && errno == EINTR)
            ;
        failed += !WIFEXITED(status) || WEXITSTATUS(status) != 0;
    }
    if (failed)
        diag_error(diags, NULL, "%d of %d workers failed (above); the rows made so far are kept", failed, jobs);
    arena_free(arena);
    return ok && !failed;
}

const char *sweep_absolute_path(Arena *arena, const char *path)
{
    char cwd[PATH_MAX];
    if (path[0] == '/' || strcmp(path, "-") == 0 || !getcwd(cwd, sizeof cwd))
        return path;
    return arena_printf(arena, "%s/%s", cwd, path);
}

void sweep_shard_range(const SweepSpec *s, int shard, int shards, int64_t *first, int64_t *end)
{
    int64_t units = s->n_points * s->seeds;
    *first = units * shard / shards;
    *end = units * (shard + 1) / shards;
}
