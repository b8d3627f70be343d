/* file.c: the files a command reads (whole and bounded, see ir.h) and its
 * output files, written together or not at all, and
 * never by destroying what a path names.
 *
 * What a path is decides how it is written:
 *  - a regular file, or none yet: to a temporary beside it, renamed into place
 *    at commit (the old file's permission bits kept, a new one gets 0666 less
 *    the umask);
 *  - a symbolic link: the same for its final target (a relative link read
 *    against the link's directory; a dangling link creates its target), so
 *    the link stays a link;
 *  - a character or block device or a FIFO: opened as it is and written in
 *    place, never truncated, replaced or chmod'ed (/dev/null stays a device);
 *  - "-": standard output, also written in place.
 * What is written in place is out when it is written: a later failure cannot
 * take it back (a FIFO's reader or a pipe may already have it).  Writers must
 * not count on seeking in their stream (the program writer holds its file in
 * memory when it cannot).
 *
 * outputs_add checks every path before the command does its work (a missing
 * directory, one that takes no file, a directory named as a file, two names
 * for one file), with a probe temporary that is removed at once: nothing
 * lingers while the work runs.  outputs_open creates the real temporary when
 * the content is ready.  outputs_commit closes every stream, then renames
 * every temporary; on any failure it removes every temporary (and a directory
 * outputs_add_dir made, also when the process exits before its commit) and
 * touches no destination.  Renames within their own
 * directories are the only step that can fail after another output is in
 * place, and they practically never do once the temporary exists. */
#define _DEFAULT_SOURCE     /* madvise */
#include "ir.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- input files ---- */

static bool too_big(uint64_t size, uint64_t max_bytes, const Loc *loc, Diags *diags)
{
    if (!max_bytes)
        return !memory_check(size, 1, "reading the file", loc, diags);
    if (size <= max_bytes)
        return false;
    diag_error(diags, loc, "the file is larger than %llu bytes, the most this reader takes",
               (unsigned long long)max_bytes);
    return true;
}

/* A stream to its end (a pipe without end stops at the limit). */
static bool read_stream(int fd, uint64_t max_bytes, const Loc *loc, Diags *diags, FileBytes *out)
{
    size_t cap = 1 << 16, n = 0;
    uint8_t *buf = malloc(cap);
    for (;;) {
        if (!buf) {
            diag_error(diags, loc, "cannot read: out of memory");
            return false;
        }
        if (n == cap) {
            if (too_big(max_bytes ? (uint64_t)cap + 1 : 2 * (uint64_t)cap, max_bytes, loc, diags)) {
                free(buf);
                return false;
            }
            uint64_t grown = max_bytes && 2 * (uint64_t)cap > max_bytes + 1 ? max_bytes + 1 : 2 * (uint64_t)cap;
            uint8_t *bigger = realloc(buf, (size_t)grown);
            if (!bigger)
                free(buf);
            buf = bigger, cap = (size_t)grown;
            continue;
        }
        ssize_t got = read(fd, buf + n, cap - n);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            diag_error(diags, loc, "cannot read: %s", strerror(errno));
            free(buf);
            return false;
        }
        if (got == 0)
            break;
        n += (size_t)got;
    }
    if (too_big(n, max_bytes, loc, diags)) {
        free(buf);
        return false;
    }
    *out = (FileBytes){.data = buf, .size = n};
    return true;
}

bool file_read(const char *path, uint64_t max_bytes, const Loc *loc, Diags *diags, FileBytes *out)
{
    Loc here = loc ? *loc : (Loc){.file = path};
    memset(out, 0, sizeof *out);
    int fd = open(path, O_RDONLY);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        diag_error(diags, &here, "cannot %s: %s", fd < 0 ? "open" : "read", strerror(errno));
        if (fd >= 0)
            close(fd);
        return false;
    }
    bool ok;
    if (S_ISDIR(st.st_mode)) {
        diag_error(diags, &here, "cannot read: is a directory");
        ok = false;
    } else if (S_ISREG(st.st_mode) && st.st_size > 0) {
        /* mapping takes no memory of its own: only a reader's own bound applies */
        ok = !max_bytes || !too_big((uint64_t)st.st_size, max_bytes, &here, diags);
        void *p = ok ? mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0) : MAP_FAILED;
        if (p != MAP_FAILED)
            *out = (FileBytes){.data = p, .size = (size_t)st.st_size, .mapped = true};
        else if (ok)    /* a file system that cannot map: read it */
            ok = read_stream(fd, max_bytes, &here, diags, out);
    } else {
        ok = read_stream(fd, max_bytes, &here, diags, out);
    }
    close(fd);
    return ok;
}

const char *file_read_text(const char *path, uint64_t max_bytes, Arena *arena, char **text, size_t *length)
{
    Diags diags;
    diags_init(&diags, arena);
    Loc nowhere = {0};
    FileBytes bytes;
    if (!file_read(path, max_bytes, &nowhere, &diags, &bytes)) {
        const char *why = diags.first ? diags.first->text : "cannot read";
        return strncmp(why, "error: ", 7) == 0 ? why + 7 : why;
    }
    *text = arena_alloc(arena, bytes.size + 1);
    memcpy(*text, bytes.data, bytes.size);
    (*text)[bytes.size] = 0;
    *length = bytes.size;
    file_release(&bytes);
    return NULL;
}

void file_evict(const FileBytes *bytes)
{
    if (bytes->mapped && bytes->size)
        madvise((void *)bytes->data, bytes->size, MADV_DONTNEED);
}

void file_release(FileBytes *bytes)
{
    if (bytes->mapped)
        munmap((void *)bytes->data, bytes->size);
    else
        free((void *)bytes->data);
    memset(bytes, 0, sizeof *bytes);
}

/* ---- output files ---- */

typedef enum { OUT_REPLACE, OUT_IN_PLACE, OUT_STDOUT } OutKind;

typedef struct Output Output;
struct Output {
    const char *path;           /* as given: messages name it */
    const char *target;         /* the file replaced: path or its link's final target */
    OutKind kind;
    mode_t mode;                /* OUT_REPLACE: the permission bits to give */
    bool is_fifo, is_chr;       /* a FIFO; a character device (also stdout's file) */
    bool is_stdout;             /* "-", or another name of what stdout is */
    bool known;                 /* dev, ino and name identify the file */
    dev_t dev;
    ino_t ino;                  /* of the file, or of its directory when it does not exist yet */
    const char *name;           /* in that directory; NULL when the file exists */
    bool opened;
    FILE *f;                    /* the temporary, the device, or stdout */
    char *tmp;                  /* OUT_REPLACE, once opened */
    Output *next;
};

typedef struct MadeDir MadeDir;
struct MadeDir {
    const char *path;
    MadeDir *next;
};

struct Outputs {
    Arena *arena;
    Diags *diags;
    Output *first, *last;
    MadeDir *dirs;
    mode_t umask;
    bool failed, done;
};

Outputs *outputs_new(Arena *arena, Diags *diags)
{
    Outputs *s = arena_alloc(arena, sizeof *s);
    s->arena = arena;
    s->diags = diags;
    s->umask = umask(0);        /* read it: there is no other way */
    umask(s->umask);
    return s;
}

static const char *shown(const char *path)
{
    return strcmp(path, "-") == 0 ? "standard output" : path;
}

/* Reports a failure of the output at path; it fails the whole set. */
static bool fail(Outputs *s, const char *path, const char *what)
{
    Loc loc = {.file = shown(path)};
    diag_error(s->diags, &loc, "%s", what);
    s->failed = true;
    return false;
}

static bool fail_errno(Outputs *s, const Output *o, int err)
{
    if (o->target && strcmp(o->target, o->path) != 0)
        return fail(s, o->path, arena_printf(s->arena, "cannot write its target %s: %s", o->target, strerror(err)));
    return fail(s, o->path, arena_printf(s->arena, "cannot write: %s", strerror(err)));
}

static const char *dir_of(Arena *arena, const char *path)
{
    const char *slash = strrchr(path, '/');
    return !slash ? "." : slash == path ? "/" : arena_printf(arena, "%.*s", (int)(slash - path), path);
}

/* The file a path finally names: symbolic links followed one by one (each
 * relative one against its own directory) to something that is not a link,
 * or to a name that does not exist yet.  NULL with errno on failure. */
static const char *final_target(Arena *arena, const char *path)
{
    enum { MAX_LINKS = 40 };    /* as the kernel's ELOOP */
    const char *p = path;
    for (int hops = 0;; hops++) {
        struct stat st;
        if (lstat(p, &st) != 0)
            return errno == ENOENT ? p : NULL;
        if (!S_ISLNK(st.st_mode))
            return p;
        if (hops == MAX_LINKS) {
            errno = ELOOP;
            return NULL;
        }
        char link[4096];
        ssize_t n = readlink(p, link, sizeof link - 1);
        if (n < 0)
            return NULL;
        link[n] = 0;
        const char *slash = strrchr(p, '/');
        p = link[0] == '/' || !slash ? arena_strdup(arena, link)
                                     : arena_printf(arena, "%.*s/%s", (int)(slash - p + 1), p, link);
    }
}

/* Creates and removes a temporary beside target: the one sure test that the
 * rename at commit will have a place to start from. */
static int probe(Arena *arena, const char *target)
{
    char *tmp = arena_printf(arena, "%s.tmpXXXXXX", target);
    int fd = mkstemp(tmp);
    if (fd < 0)
        return errno;
    close(fd);
    unlink(tmp);
    return 0;
}

/* What the path is, how it will be written, and whether it can be. */
static bool classify(Outputs *s, Output *o)
{
    struct stat st;
    if (strcmp(o->path, "-") == 0) {
        o->kind = OUT_STDOUT;
        o->known = fstat(STDOUT_FILENO, &st) == 0;
        o->is_chr = o->known && S_ISCHR(st.st_mode);
        o->dev = st.st_dev, o->ino = st.st_ino;
        return true;
    }
    /* stat follows the links itself: /dev/stdout's /proc link to a pipe names no path */
    int err = stat(o->path, &st) == 0 ? 0 : errno;
    if (err && err != ENOENT)
        return fail_errno(s, o, err);      /* ENOTDIR, EACCES, ELOOP, ... */
    if (!err && (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode) || S_ISFIFO(st.st_mode))) {
        o->kind = OUT_IN_PLACE;
        o->known = true;
        o->is_fifo = S_ISFIFO(st.st_mode);
        o->is_chr = S_ISCHR(st.st_mode);
        o->dev = st.st_dev, o->ino = st.st_ino;
        return access(o->path, W_OK) == 0 || fail_errno(s, o, errno);
    }
    if (!err && S_ISDIR(st.st_mode))
        return fail_errno(s, o, EISDIR);
    if (!err && !S_ISREG(st.st_mode))
        return fail(s, o->path, "cannot write: not a regular file, a device or a FIFO");
    o->kind = OUT_REPLACE;
    o->target = final_target(s->arena, o->path);
    if (!o->target)
        return fail_errno(s, o, errno);
    if (!err) {
        o->mode = st.st_mode & 0777;
    } else {
        /* a new file: known by its directory and its name there */
        o->mode = 0666 & ~s->umask;
        o->name = strrchr(o->target, '/') ? strrchr(o->target, '/') + 1 : o->target;
        if (stat(dir_of(s->arena, o->target), &st) != 0)
            return fail_errno(s, o, errno);
    }
    o->known = true;
    o->dev = st.st_dev, o->ino = st.st_ino;
    err = probe(s->arena, o->target);
    return !err || fail_errno(s, o, err);
}

/* Whether a and b are one file, which would be written twice, the first copy
 * lost.  A character device (/dev/null, a terminal) takes any number of
 * outputs, but "-" is named once. */
static bool same_file(const Output *a, const Output *b)
{
    if (!a->known || !b->known || a->dev != b->dev || a->ino != b->ino)
        return false;
    if (a->name || b->name)     /* new files: the same name in the same directory */
        return a->name && b->name && strcmp(a->name, b->name) == 0;
    return !a->is_chr || (a->kind == OUT_STDOUT && b->kind == OUT_STDOUT);
}

bool outputs_add(Outputs *s, const char *path)
{
    Output *o = arena_alloc(s->arena, sizeof *o);
    o->path = arena_strdup(s->arena, path);
    if (!classify(s, o))
        return false;
    /* another name of stdout's file (/dev/stdout; not a device such as
     * /dev/null, where the command's text still belongs on stdout) */
    struct stat out;
    o->is_stdout = o->kind == OUT_STDOUT ||
                   (o->known && !o->name && fstat(STDOUT_FILENO, &out) == 0 && out.st_dev == o->dev &&
                    out.st_ino == o->ino && !o->is_chr);
    for (const Output *p = s->first; p; p = p->next)
        if (same_file(p, o))
            return fail(s, path, arena_printf(s->arena, "is the same file as the output '%s'", shown(p->path)));
    if (s->last)
        s->last->next = o;
    else
        s->first = o;
    s->last = o;
    return true;
}

/* The directories outputs_add_dir made that no commit has settled yet, in
 * the process that made them: removed (when still empty) should it exit
 * first, as a fault met at run time makes it do (exit status 1,
 * runtime/interp_index.c), so that no empty directory is left behind.  A
 * forked child (a sweep's worker) leaves them to its parent. */
enum { MAX_PENDING_DIRS = 16 };
static char *pending_dirs[MAX_PENDING_DIRS];
static pid_t pending_pid;

static void remove_pending_dirs(void)
{
    for (int i = 0; i < MAX_PENDING_DIRS && getpid() == pending_pid; i++)
        if (pending_dirs[i])
            rmdir(pending_dirs[i]);
}

static void pending_dir(const char *path, bool add)
{
    static bool registered;
    for (int i = 0; i < MAX_PENDING_DIRS; i++) {
        if (!add && pending_dirs[i] && strcmp(pending_dirs[i], path) == 0) {
            free(pending_dirs[i]);
            pending_dirs[i] = NULL;
            return;
        }
        if (add && !pending_dirs[i]) {
            if (!registered)
                registered = atexit(remove_pending_dirs) == 0;
            pending_pid = getpid();
            pending_dirs[i] = strdup(path);
            return;
        }
    }
}

bool outputs_add_dir(Outputs *s, const char *dir)
{
    struct stat st;
    if (strcmp(dir, "-") == 0)
        return fail(s, dir, "cannot take a directory of outputs");
    if (stat(dir, &st) == 0)
        return S_ISDIR(st.st_mode) || fail(s, dir, arena_printf(s->arena, "cannot create output directory: %s",
                                                                 strerror(ENOTDIR)));
    if (errno != ENOENT || mkdir(dir, 0777) != 0)
        return fail(s, dir, arena_printf(s->arena, "cannot create output directory: %s", strerror(errno)));
    MadeDir *d = arena_alloc(s->arena, sizeof *d);
    d->path = arena_strdup(s->arena, dir);
    d->next = s->dirs;
    s->dirs = d;
    pending_dir(d->path, true);
    return true;
}

FILE *outputs_open(Outputs *s, const char *path)
{
    Output *o = s->first;
    while (o && (o->opened || strcmp(o->path, path) != 0))
        o = o->next;
    if (!o) {
        if (!outputs_add(s, path))
            return NULL;
        o = s->last;
    }
    o->opened = true;
    if (o->kind == OUT_STDOUT) {
        o->f = stdout;
    } else if (o->kind == OUT_IN_PLACE) {
        int fd = open(o->path, O_WRONLY | O_NOCTTY);    /* no O_TRUNC; a FIFO waits here for its reader */
        if (fd >= 0 && !(o->f = fdopen(fd, "w")))
            close(fd);
    } else {
        o->tmp = arena_printf(s->arena, "%s.tmpXXXXXX", o->target);
        int fd = mkstemp(o->tmp);
        if (fd >= 0 && (fchmod(fd, o->mode) != 0 || !(o->f = fdopen(fd, "w")))) {
            int err = errno;
            close(fd);
            unlink(o->tmp);
            errno = err;
        }
        if (!o->f)
            o->tmp = NULL;
    }
    if (!o->f) {
        fail_errno(s, o, errno);
        return NULL;
    }
    errno = 0;                  /* what a failed write leaves here is what commit reports */
    return o->f;
}

bool outputs_write(Outputs *s, const char *path, const void *data, size_t size)
{
    FILE *f = outputs_open(s, path);
    return f && fwrite(data, 1, size, f) == size;
}

bool outputs_to_stdout(const Outputs *s)
{
    for (const Output *o = s->first; o; o = o->next)
        if (o->is_stdout)
            return true;
    return false;
}

/* Closes o's stream: false when anything written to it failed. */
static bool close_stream(Outputs *s, Output *o, int pending)
{
    if (!o->f)
        return true;
    bool bad = ferror(o->f) != 0;
    int err = pending ? pending : EIO;
    if ((o->kind == OUT_STDOUT ? fflush(o->f) : fclose(o->f)) != 0 && !bad) {
        bad = true;
        err = errno;
    }
    o->f = NULL;
    return !bad || fail_errno(s, o, err);
}

bool outputs_commit(Outputs *s, bool ok)
{
    if (s->done)
        return ok && !s->failed;
    s->done = true;
    int pending = errno;        /* a writer's failed write, if it stopped there */
    for (Output *o = s->first; o; o = o->next)
        ok = close_stream(s, o, pending) && ok;
    ok = ok && !s->failed;
    for (Output *o = s->first; o; o = o->next) {
        if (o->tmp && ok && rename(o->tmp, o->target) != 0)
            ok = fail_errno(s, o, errno);
        if (o->tmp && !ok)
            unlink(o->tmp);     /* this one's rename failed, or none happens */
        /* a reader waiting on a FIFO nothing was written to gets end of file */
        if (!ok && o->is_fifo && !o->opened) {
            int fd = open(o->path, O_WRONLY | O_NONBLOCK);
            if (fd >= 0)
                close(fd);
        }
    }
    for (MadeDir *d = s->dirs; d; d = d->next) {
        if (!ok)
            rmdir(d->path);
        pending_dir(d->path, false);
    }
    return ok;
}
