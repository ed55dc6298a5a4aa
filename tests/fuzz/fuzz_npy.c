/* NumPy .npy headers and data (io/npy.c), for each dtype a reader accepts. */
#include "io/npy.h"
#include "tests/fuzz/fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[512];
    fz_write(path, sizeof path, "in.npy", data, size);
    static const npy_dtype want[] = {NPY_F32, NPY_I32, NPY_U8};
    for (int i = 0; i < 3; i++) {
        npy_array a = {0};
        int rc = npy_read(path, want[i], &a);
        fz_check_error(rc, "npy_read");
        if (!rc)
            npy_free(&a);
    }
    npy_array a = {0};
    int rc = npy_read_f32(path, &a);
    fz_check_error(rc, "npy_read_f32");
    if (!rc)
        npy_free(&a);
    return 0;
}
