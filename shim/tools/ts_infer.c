/*
 * ts-infer: loads a TorchScript model, runs forward on a 1x3x224x224 tensor of ones and prints
 * the indices of the softmax top-5, in the format of libtorch's tensor printer. Written in
 * plain C over the public header only, as any C program using libtsrt would be.
 */
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
    size_t i;
    int status, width;

    if (argc != 2) {
        fprintf(stderr, "usage: ts-infer <path-to-exported-script-module>\n");
        return 1;
    }
    printf("Loading model...\n");
    fflush(stdout);
    status = tsrt_model_load(argv[1], NULL, &model);
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
