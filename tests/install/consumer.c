/* A program outside the project, built against the installed clipcl with
 *   cc consumer.c $(pkg-config --cflags --libs clipcl)
 * (tests/install/check_install.py builds and runs it).
 *
 *   consumer MODEL DEVICE TEXT...
 * prints "clipcl VERSION", "dim D", then one line per text: its normalised
 * embedding, D floats printed with 9 significant digits (exact for float32). */
#include <clipcl.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if !defined(CLIPCL_VERSION_MAJOR) || CLIPCL_VERSION_NUMBER < CLIPCL_MAKE_VERSION(0, 1, 0)
#error "expected clipcl.h of version 0.1.0 or later"
#endif

static int fail(const char *what)
{
    fprintf(stderr, "consumer: %s: %s\n", what, clipcl_last_error());
    return 1;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: consumer MODEL DEVICE TEXT...\n");
        return 2;
    }
    /* The library loaded at run time is the one the header describes. */
    if (strcmp(clipcl_version(), CLIPCL_VERSION_STRING) != 0) {
        fprintf(stderr, "consumer: header %s, library %s\n", CLIPCL_VERSION_STRING,
                clipcl_version());
        return 1;
    }
    printf("clipcl %s\n", clipcl_version());
    clipcl_model *m = NULL;
    if (clipcl_load(argv[1], argv[2], &m) != CLIPCL_OK)
        return fail("load");
    int n = argc - 3, d = clipcl_embed_dim(m);
    printf("dim %d\n", d);
    float *emb = malloc((size_t)n * (size_t)d * sizeof *emb);
    int rc = emb ? clipcl_encode_texts(m, (const char *const *)(argv + 3), n, CLIPCL_NORMALIZE,
                                       emb, NULL)
                 : CLIPCL_ERR_NOMEM;
    if (rc != CLIPCL_OK) {
        free(emb);
        clipcl_free(m);
        return fail("encode texts");
    }
    for (int i = 0; i < n; i++)
        for (int j = 0; j < d; j++)
            printf("%.9g%c", emb[(size_t)i * d + j], j + 1 < d ? ' ' : '\n');
    free(emb);
    clipcl_free(m);
    return 0;
}
