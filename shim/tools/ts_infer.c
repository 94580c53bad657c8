/*
 * ts-infer: loads a TorchScript model, runs forward on a 1x3x224x224 tensor of ones and prints
 * the indices of the softmax top-5, in the format of libtorch's tensor printer. Written in
 * plain C over the public header only, as any C program using libtsrt would be.
 *
 *   ts-infer [--ops LIBRARY]... MODEL
 *
 * --ops loads a library registering operators the model calls (torchvision's, for instance:
 * `pyfront config --torchvision-ops` prints where scripts/build_torchvision_ops.sh put them).
 */
#include <string.h>
#include <stdio.h>
#include <stdlib.h>

#include "tsrt.h"

enum { TOP_K = 5, CHANNELS = 3, SIDE = 224 };

/* Columns libtorch uses to print whole numbers: the widest magnitude's digits plus one. */
static int print_width(const int64_t *values, int count) {
    int64_t widest = 0;
    int digits = 1;
    int i;
    for (i = 0; i < count; ++i) {
        int64_t magnitude = values[i] < 0 ? -values[i] : values[i];
        if (magnitude > widest) widest = magnitude;
    }
    while (widest >= 10) {
        widest /= 10;
        ++digits;
    }
    return digits + 1;
}

int main(int argc, const char *argv[]) {
    static float input[CHANNELS * SIDE * SIDE];
    const int64_t shape[4] = {1, CHANNELS, SIDE, SIDE};
    int64_t indices[TOP_K];
    float probs[TOP_K];
    tsrt_model *model = NULL;
    const char *path = NULL;
    size_t i;
    int arg, status, width;

    for (arg = 1; arg < argc; ++arg) {
        if (strcmp(argv[arg], "--ops") == 0 && arg + 1 < argc) {
            if (tsrt_load_library(argv[++arg]) != TSRT_OK) {
                fprintf(stderr, "Error loading operator library\n%s\n", tsrt_last_error());
                return 1;
            }
        } else if (path == NULL && strncmp(argv[arg], "--", 2) != 0) {
            path = argv[arg];
        } else {
            path = NULL;
            break;
        }
    }
    if (path == NULL || arg < argc) {
        fprintf(stderr, "usage: ts-infer [--ops LIBRARY]... <path-to-exported-script-module>\n");
        return 1;
    }
    printf("Loading model...\n");
    fflush(stdout);
    status = tsrt_model_load(path, NULL, &model);
    if (status != TSRT_OK) {
        fprintf(stderr, "Error loading model\n%s\n", tsrt_last_error());
        return 1;
    }
    printf("Model loaded successfully\n");

    for (i = 0; i < sizeof input / sizeof input[0]; ++i) input[i] = 1.0f;
    status = tsrt_model_topk(model, input, shape, 4, TOP_K, indices, probs, TOP_K, NULL);
    if (status != TSRT_OK) {
        fprintf(stderr, "Error running model\n%s\n", tsrt_last_error());
        tsrt_model_free(model);
        return 1;
    }
    width = print_width(indices, TOP_K);
    for (i = 0; i < TOP_K; ++i) printf("%*lld\n", width, (long long)indices[i]);
    printf("[ CPULongType{%d} ]\n", TOP_K);
    printf("\nDONE\n");
    tsrt_model_free(model);
    return 0;
}
