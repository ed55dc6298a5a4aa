/* safetensors: header JSON, offsets and every tensor's data (io/safetensors.c). */
#include <stdlib.h>

#include "io/safetensors.h"
#include "tests/fuzz/fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[512];
    fz_write(path, sizeof path, "in.safetensors", data, size);
    st_file *f = NULL;
    int rc = st_open(path, &f);
    fz_check_error(rc, "st_open");
    if (rc)
        return 0;
    for (size_t i = 0; i < st_metadata_count(f); i++) {
        const char *k, *v;
        st_metadata_at(f, i, &k, &v);
        (void)st_metadata(f, k);
    }
    for (size_t i = 0; i < st_count(f); i++) {
        const st_tensor *t = st_at(f, i), *same = NULL;
        fz_check_error(st_find(f, t->name, &same), "st_find");
        /* The data section is inside the input, so numel is bounded by it
         * for every dtype but zero-sized ones; cap the copy anyway. */
        if (t->numel > 0 && t->numel <= (1 << 20) &&
            (t->dtype == ST_F32 || t->dtype == ST_F16 || t->dtype == ST_BF16)) {
            float *dst = malloc((size_t)t->numel * sizeof *dst);
            if (dst) {
                fz_check_error(st_read_f32(f, t, dst, (size_t)t->numel), "st_read_f32");
                fz_check_error(st_load_f32(f, t->name, t->shape, t->ndim, dst), "st_load_f32");
            }
            free(dst);
        }
    }
    st_close(f);
    return 0;
}
