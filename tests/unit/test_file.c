/* test_file.c: a command's output files (ir/file.c).
 *
 * Each test works in a fresh directory: regular files are replaced through a
 * temporary and a rename, links written through, devices and FIFOs written in
 * place; a set's files appear together at commit or not at all. */
#include <criterion/criterion.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ir/ir.h"

#define TEST_FIXTURE
#include "test_support.h"

static char dir[64];

static void setup(void)
{
    test_setup();
    strcpy(dir, "/tmp/test_file.XXXXXX");
    cr_assert(mkdtemp(dir));
    umask(022);
}

static void teardown(void)
{
    cr_assert_eq(system(arena_printf(arena, "rm -rf %s", dir)), 0);
    test_teardown();
}

TestSuite(file, .init = setup, .fini = teardown);

static const char *in_dir(const char *name)
{
    return arena_printf(arena, "%s/%s", dir, name);
}

static void put(const char *name, const char *text)
{
    FILE *f = fopen(in_dir(name), "w");
    cr_assert(f);
    fputs(text, f);
    fclose(f);
}

/* The file's text, or NULL when it does not exist. */
static const char *text_of(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    static char buf[256];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = 0;
    fclose(f);
    return arena_strdup(arena, buf);
}

/* The names in the test directory, sorted, joined by spaces. */
static const char *listing(void)
{
    struct dirent **names;
    int n = scandir(dir, &names, NULL, alphasort);
    cr_assert_geq(n, 0);
    char *out = "";
    for (int i = 0; i < n; i++) {
        if (names[i]->d_name[0] != '.')
            out = arena_printf(arena, "%s%s%s", out, *out ? " " : "", names[i]->d_name);
        free(names[i]);
    }
    free(names);
    return out;
}

#define EXPECT_ERROR(want)                                                                  \
    cr_expect(test_diags_contain(&diags, want), "no message with '%s' (first: %s)", want,    \
              diags.first ? diags.first->text : "none")

static mode_t mode_of(const char *path)
{
    struct stat st;
    cr_assert_eq(stat(path, &st), 0, "%s", path);
    return st.st_mode;
}

Test(file, replaces_regular_files)
{
    put("old", "old text");
    chmod(in_dir("old"), 0600);
    Outputs *outs = outputs_new(arena, &diags);
    cr_assert(outputs_add(outs, in_dir("old")));
    cr_assert(outputs_add(outs, in_dir("new")));
    cr_expect_str_eq(listing(), "old", "the checks leave nothing behind");
    cr_assert(outputs_write(outs, in_dir("old"), "A", 1));
    cr_assert(outputs_write(outs, in_dir("new"), "B", 1));
    cr_expect_str_eq(text_of(in_dir("old")), "old text", "nothing in place before the commit");
    cr_assert(outputs_commit(outs, true));
    cr_expect_str_eq(text_of(in_dir("old")), "A");
    cr_expect_str_eq(text_of(in_dir("new")), "B");
    cr_expect_eq(mode_of(in_dir("old")) & 07777, 0600, "the old file's permission bits");
    cr_expect_eq(mode_of(in_dir("new")) & 07777, 0644, "0666 less the umask");
    cr_expect_str_eq(listing(), "new old");
    cr_expect_eq(diags.n_errors, 0);
}

Test(file, writes_through_links)
{
    put("target", "old");
    cr_assert_eq(mkdir(in_dir("sub"), 0755), 0);
    cr_assert_eq(symlink("target", in_dir("link")), 0);
    cr_assert_eq(symlink("../up", in_dir("sub/rel")), 0);           /* against the link's directory */
    cr_assert_eq(symlink("created", in_dir("dangling")), 0);
    cr_assert_eq(symlink(in_dir("dangling"), in_dir("chain")), 0);  /* absolute, to another link */
    Outputs *outs = outputs_new(arena, &diags);
    cr_assert(outputs_write(outs, in_dir("link"), "1", 1));
    cr_assert(outputs_write(outs, in_dir("sub/rel"), "2", 1));
    cr_assert(outputs_write(outs, in_dir("chain"), "3", 1));
    cr_assert(outputs_commit(outs, true));
    struct stat st;
    const char *links[] = {"link", "sub/rel", "dangling", "chain"};
    for (int i = 0; i < 4; i++) {
        cr_assert_eq(lstat(in_dir(links[i]), &st), 0);
        cr_expect(S_ISLNK(st.st_mode), "%s is still a link", links[i]);
    }
    cr_expect_str_eq(text_of(in_dir("target")), "1");
    cr_expect_str_eq(text_of(in_dir("up")), "2");
    cr_expect_str_eq(text_of(in_dir("created")), "3");
}

Test(file, writes_devices_and_fifos_in_place)
{
    cr_assert_eq(mkfifo(in_dir("fifo"), 0644), 0);
    int reader = open(in_dir("fifo"), O_RDONLY | O_NONBLOCK);      /* so that the writer's open does not wait */
    cr_assert_geq(reader, 0);
    Outputs *outs = outputs_new(arena, &diags);
    cr_assert(outputs_write(outs, "/dev/null", "x", 1));
    cr_assert(outputs_write(outs, in_dir("fifo"), "through", 7));
    cr_assert(outputs_commit(outs, true));
    char buf[16] = {0};
    cr_expect_eq(read(reader, buf, sizeof buf), 7);
    cr_expect_str_eq(buf, "through");
    close(reader);
    cr_expect(S_ISFIFO(mode_of(in_dir("fifo"))));
    cr_expect(S_ISCHR(mode_of("/dev/null")));
    cr_expect_str_eq(listing(), "fifo", "no temporary beside a device or a FIFO");
}

Test(file, nothing_in_place_without_commit)
{
    put("old", "old text");
    cr_assert_eq(mkdir(in_dir("made"), 0755), 0);       /* exists: stays */
    Outputs *outs = outputs_new(arena, &diags);
    cr_assert(outputs_add_dir(outs, in_dir("out")));
    cr_assert(outputs_add_dir(outs, in_dir("made")));
    cr_expect_str_eq(listing(), "made old out");
    cr_assert(outputs_write(outs, in_dir("old"), "new", 3));
    cr_assert(outputs_write(outs, in_dir("out/t.pb"), "t", 1));
    cr_assert(outputs_write(outs, in_dir("made/u.pb"), "u", 1));
    cr_expect_not(outputs_commit(outs, false));
    cr_expect_str_eq(text_of(in_dir("old")), "old text");
    cr_expect_str_eq(listing(), "made old", "no temporary, and the directory made is gone again");
    DIR *d = opendir(in_dir("made"));
    int entries = 0;
    for (struct dirent *e; (e = readdir(d));)
        entries += e->d_name[0] != '.';
    closedir(d);
    cr_expect_eq(entries, 0);
    cr_expect_eq(diags.n_errors, 0, "an abort is no error of its own");
}

Test(file, a_failed_check_fails_the_set)
{
    put("file", "");
    Outputs *outs = outputs_new(arena, &diags);
    cr_assert(outputs_add(outs, in_dir("ok")));
    cr_expect_not(outputs_add(outs, in_dir("missing/x")));
    EXPECT_ERROR("missing/x: error: cannot write: No such file or directory");
    cr_expect_not(outputs_add(outs, in_dir("file/x")));
    EXPECT_ERROR("file/x: error: cannot write: Not a directory");
    cr_expect_not(outputs_add(outs, dir));
    EXPECT_ERROR("cannot write: Is a directory");
    cr_expect_not(outputs_add_dir(outs, in_dir("file")));
    EXPECT_ERROR("file: error: cannot create output directory: Not a directory");
    cr_assert_eq(symlink("loop2", in_dir("loop1")), 0);
    cr_assert_eq(symlink("loop1", in_dir("loop2")), 0);
    cr_expect_not(outputs_add(outs, in_dir("loop1")));
    EXPECT_ERROR("loop1: error: cannot write: Too many levels of symbolic links");
    cr_assert_eq(symlink("nowhere/x", in_dir("bad-link")), 0);
    cr_expect_not(outputs_add(outs, in_dir("bad-link")));
    EXPECT_ERROR("bad-link: error: cannot write its target");
    cr_assert(outputs_write(outs, in_dir("ok"), "x", 1));
    cr_expect_not(outputs_commit(outs, true), "the set failed: ok alone does not commit it");
    cr_expect_str_eq(listing(), "bad-link file loop1 loop2");
    cr_expect_eq(diags.n_errors, 6);
}

Test(file, a_failed_write_fails_the_set)
{
    Outputs *outs = outputs_new(arena, &diags);
    cr_assert(outputs_write(outs, in_dir("first"), "x", 1));
    cr_assert(outputs_write(outs, "/dev/full", "x", 1));   /* buffered: fails at the commit */
    cr_expect_not(outputs_commit(outs, true));
    EXPECT_ERROR("/dev/full: error: cannot write: No space left on device");
    cr_expect_str_eq(listing(), "");
    cr_expect(S_ISCHR(mode_of("/dev/full")));
}

Test(file, one_file_is_one_output)
{
    put("target", "");
    cr_assert_eq(symlink("target", in_dir("link")), 0);
    Outputs *outs = outputs_new(arena, &diags);
    cr_assert(outputs_add(outs, in_dir("new")));
    cr_expect_not(outputs_add(outs, arena_printf(arena, "%s/./new", dir)));
    EXPECT_ERROR("is the same file as the output");
    cr_assert(outputs_add(outs, in_dir("target")));
    cr_expect_not(outputs_add(outs, in_dir("link")));
    cr_assert(outputs_add(outs, "-"));
    cr_expect_not(outputs_add(outs, "-"));
    EXPECT_ERROR("standard output: error: is the same file as the output 'standard output'");
    cr_expect_eq(diags.n_errors, 3);
    cr_expect(outputs_to_stdout(outs));
    Outputs *sinks = outputs_new(arena, &diags);
    cr_expect(outputs_add(sinks, "/dev/null") && outputs_add(sinks, "/dev/null"), "a character device takes any number");
    cr_expect_not(outputs_to_stdout(sinks));
    outputs_commit(outs, false);
    outputs_commit(sinks, false);
}

Test(file, opens_added_paths_once)
{
    Outputs *outs = outputs_new(arena, &diags);
    cr_assert(outputs_add(outs, in_dir("a")));
    cr_assert(outputs_write(outs, in_dir("a"), "1", 1));
    cr_expect_null(outputs_open(outs, in_dir("a")), "a second open is a second output of the same file");
    EXPECT_ERROR("is the same file as the output");
    cr_expect_not(outputs_commit(outs, true));
    cr_expect_str_eq(listing(), "");
}
