/* Prints the top-5 classes of a 1x3x224x224 input of ones, one per line, through libtsrt.
 *
 *   top5 [--ops LIBRARY]... MODEL.pt
 *
 * --ops loads a library registering operators the model calls (see tsrt_load_library). */
#include <stdio.h>
#include <string.h>

#include "tsrt.h"

int main(int argc, char **argv) {
    static float image[3 * 224 * 224];
    const int64_t shape[4] = {1, 3, 224, 224};
    int64_t indices[5];
    float probs[5];
    tsrt_model *model = NULL;
    const char *path = NULL;
    size_t i;
    int arg;

    for (arg = 1; arg < argc; ++arg) {
        if (strcmp(argv[arg], "--ops") == 0 && arg + 1 < argc) {
            if (tsrt_load_library(argv[++arg]) != TSRT_OK) {
                fprintf(stderr, "%s\n", tsrt_last_error());
                return 1;
            }
        } else if (path == NULL) {
            path = argv[arg];
        } else {
            path = NULL;
            break;
        }
    }
    if (path == NULL) {
        fprintf(stderr, "usage: top5 [--ops LIBRARY]... MODEL.pt\n");
        return 2;
    }
    if (tsrt_abi_version() < TSRT_ABI_VERSION) { /* the header is newer than the library */
        fprintf(stderr, "libtsrt ABI %d is older than this program's %d\n", tsrt_abi_version(),
                TSRT_ABI_VERSION);
        return 1;
    }
    for (i = 0; i < sizeof image / sizeof image[0]; ++i) image[i] = 1.0f;
    if (tsrt_model_load(path, NULL, &model) != TSRT_OK ||
        tsrt_model_topk(model, image, shape, 4, 5, indices, probs, 5, NULL) != TSRT_OK) {
        fprintf(stderr, "%s\n", tsrt_last_error());
        tsrt_model_free(model);
        return 1;
    }
    for (i = 0; i < 5; ++i) printf("%lld\n", (long long)indices[i]);
    tsrt_model_free(model);
    return 0;
}
