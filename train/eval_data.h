/* The sets `clipcl eval` reads (eval_ prefix): labelled image sets (a folder
 * per class, or a CSV with a label column) and caption sets (a CSV of image
 * path + caption, several rows per image allowed). Only paths and strings are
 * read here; images are encoded by the caller. */
#ifndef CLIPCL_TRAIN_EVAL_DATA_H
#define CLIPCL_TRAIN_EVAL_DATA_H

#include <stdint.h>

#include "io/dataset.h"

typedef struct eval_strs {
    char **v;
    int64_t n, cap;
} eval_strs;

int eval_strs_push(eval_strs *s, const char *str);
void eval_strs_free(eval_strs *s);
/* Index of str in s (linear), or -1. */
int64_t eval_strs_find(const eval_strs *s, const char *str);

typedef struct eval_set_opts {
    const char *img_key;   /* CSV image column; NULL: "filepath" */
    const char *label_key; /* CSV label column; NULL: the first of "label",
                              "class", "class_pair" in the header */
    ds_warn_fn warn;       /* skipped CSV rows; may be NULL */
    void *warn_user;
} eval_set_opts;

typedef struct eval_set {
    eval_strs paths;  /* image paths (CSV-relative ones resolved) */
    eval_strs labels; /* label value of each image, as written */
    /* Every label a non-negative integer: indices into a class-name file. */
    int numeric;
    /* For a CSV label column "class_X": the file classes_X.txt beside the
     * CSV when it exists ("" otherwise), as `clipcl synth` writes it. */
    char classes_hint[4096];
    /* Folder sets: the class folders in order (labels are their names with
     * '_' shown as ' '). */
    int from_folders;
} eval_set;

/* SRC: a directory (one sub-folder per class, images inside; both sorted by
 * name; files with other extensions ignored) or a CSV/TSV file. An empty set
 * is an error. */
int eval_set_open(const char *src, const eval_set_opts *o, eval_set *out);
void eval_set_free(eval_set *s);

/* One class name per line ('\r' and trailing spaces dropped, blank lines
 * skipped); duplicates are an error. */
int eval_classes_read(const char *path, eval_strs *out);
/* The sorted distinct labels of sets (numeric labels sorted as numbers). */
int eval_classes_collect(const eval_set *const *sets, int n_sets, eval_strs *out);
/* labels[i] for every image of s: with s->numeric and names_are_file, the
 * value is an index into classes; otherwise the class whose name equals the
 * label. A label that is neither is an error naming it and its image. */
int eval_set_classes(const eval_set *s, const eval_strs *classes, int names_are_file,
                     int32_t *labels);

typedef struct eval_captions {
    eval_strs images; /* distinct image paths, in order of first appearance */
    eval_strs texts;  /* every caption */
    int64_t *text_image; /* image index of each caption */
} eval_captions;

/* CSV/TSV with image and caption columns (NULL keys: "filepath", "title");
 * rows naming the same image path give that image several captions. */
int eval_captions_open(const char *csv, const char *img_key, const char *caption_key,
                       ds_warn_fn warn, void *warn_user, eval_captions *out);
void eval_captions_free(eval_captions *c);

#endif
