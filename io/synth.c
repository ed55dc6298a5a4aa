/* What each procedural sample is (shape, colour, size, position, phrasing)
 * and its caption; drawing lives in synth_draw.c, files in synth_write.c. */
#include "io/synth.h"

#include <stdio.h>
#include <string.h>

#include "io/dataset.h"
#include "runtime/rng.h"

const char *const synth_shape_names[SYNTH_N_SHAPES] = {
    "circle", "square", "triangle", "star", "hexagon", "diamond", "cross", "heart",
};
const char *const synth_colour_names[SYNTH_N_COLOURS] = {
    "red", "green", "blue", "yellow", "purple", "orange", "cyan", "pink",
};
const char *const synth_size_names[SYNTH_N_SIZES] = {"small", "medium", "large"};
const char *const synth_position_names[SYNTH_N_POSITIONS] = {
    "top left", "top", "top right", "left", "center", "right", "bottom left", "bottom", "bottom right",
};
const char *const synth_split_names[3] = {"train", "heldout_seen", "heldout_unseen"};

/* Colour (3 * shape + 1) mod 8 for each shape: a permutation, so every shape
 * and every colour keeps 7 training partners and loses exactly one. */
const int synth_heldout_pairs[SYNTH_N_HELDOUT_PAIRS][2] = {
    {0, 1}, /* green circle */
    {1, 4}, /* purple square */
    {2, 7}, /* pink triangle */
    {3, 2}, /* blue star */
    {4, 5}, /* orange hexagon */
    {5, 0}, /* red diamond */
    {6, 3}, /* yellow cross */
    {7, 6}, /* cyan heart */
};

static const char *const position_phrases[SYNTH_N_POSITIONS] = {
    "in the top left corner", "at the top",   "in the top right corner",
    "on the left",            "in the middle", "on the right",
    "in the bottom left corner", "at the bottom", "in the bottom right corner",
};

/* {a} is the article for the word that follows it; S size, C colour,
 * H shape, P position phrase. */
static const char *const phrasings[] = {
    "{a} photo of {a} S C H", "{a} C H P",         "{a} S C H P",
    "{a} C H",                "there is {a} C H P", "{a} picture of {a} C H",
    "{a} H in C",             "{a} drawing of {a} S C H P",
};
#define N_PHRASINGS ((int)(sizeof phrasings / sizeof phrasings[0]))

int synth_is_heldout(int shape, int colour)
{
    for (int k = 0; k < SYNTH_N_HELDOUT_PAIRS; k++)
        if (synth_heldout_pairs[k][0] == shape && synth_heldout_pairs[k][1] == colour)
            return 1;
    return 0;
}

/* The k-th pair (row-major) among those the split may use. */
static void pick_pair(int unseen, int k, int *shape, int *colour)
{
    if (unseen) {
        *shape = synth_heldout_pairs[k][0];
        *colour = synth_heldout_pairs[k][1];
        return;
    }
    for (int s = 0; s < SYNTH_N_SHAPES; s++)
        for (int c = 0; c < SYNTH_N_COLOURS; c++)
            if (!synth_is_heldout(s, c) && k-- == 0) {
                *shape = s;
                *colour = c;
                return;
            }
}

void synth_sample(uint64_t seed, int split, int64_t i, synth_attrs *a)
{
    memset(a, 0, sizeof *a);
    if (split < SYNTH_TRAIN || split > SYNTH_HELDOUT_UNSEEN)
        return;
    /* Each split its own stream: held-out-seen images are new draws of the
     * training pairs, not copies of training images. */
    uint64_t r = cc_rng_init(seed, 0x5717u + (uint64_t)split, (uint64_t)i);
    int unseen = split == SYNTH_HELDOUT_UNSEEN;
    int n_pairs = unseen ? SYNTH_N_HELDOUT_PAIRS
                         : SYNTH_N_SHAPES * SYNTH_N_COLOURS - SYNTH_N_HELDOUT_PAIRS;
    pick_pair(unseen, (int)cc_rng_below(&r, (uint64_t)n_pairs), &a->shape, &a->colour);
    a->size = (int)cc_rng_below(&r, SYNTH_N_SIZES);
    a->position = (int)cc_rng_below(&r, SYNTH_N_POSITIONS);
    a->phrasing = (int)cc_rng_below(&r, N_PHRASINGS);
    a->render_seed = cc_rng_next(&r);
}

static const char *word_for(const synth_attrs *a, char c)
{
    switch (c) {
    case 'S': return synth_size_names[a->size];
    case 'C': return synth_colour_names[a->colour];
    case 'H': return synth_shape_names[a->shape];
    case 'P': return position_phrases[a->position];
    default: return NULL;
    }
}

int synth_caption(const synth_attrs *a, char *buf, size_t cap)
{
    if (cap == 0)
        return 0;
    const char *p = phrasings[a->phrasing % N_PHRASINGS];
    size_t len = 0;
    buf[0] = '\0';
    while (*p) {
        const char *w = NULL;
        char one[2] = {0, 0};
        if (strncmp(p, "{a}", 3) == 0) {
            /* The article agrees with the next word's first letter. */
            const char *next = p + 4;
            const char *nw = word_for(a, *next);
            char f = nw ? nw[0] : *next;
            w = strchr("aeiou", f) && f ? "an" : "a";
            p += 3;
        } else if ((w = word_for(a, *p)) != NULL && (p[1] == ' ' || p[1] == '\0') &&
                   (p == phrasings[a->phrasing % N_PHRASINGS] || p[-1] == ' ')) {
            p++;
        } else {
            one[0] = *p++;
            w = one;
        }
        size_t wl = strlen(w);
        if (len + wl >= cap)
            wl = cap - 1 - len;
        memcpy(buf + len, w, wl);
        len += wl;
        buf[len] = '\0';
    }
    return (int)len;
}
