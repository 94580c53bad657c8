/*
 * Runs a torchvision detection model (exported by scripts/export.py) on one synthetic image
 * through libtsrt and prints its detections, one per line: label, score, x1 y1 x2 y2.
 *
 *   detect [--ops LIBRARY]... MODEL.pt HEIGHT WIDTH
 *
 * Detection models call torchvision's operators: pass the library that registers them with
 * --ops (`pyfront config --torchvision-ops` prints where scripts/build_torchvision_ops.sh
 * put it). The image is a fixed pattern, pixel i of the CHW float32 array being
 * ((i * 7919) % 256) / 255, so that other programs can rebuild it exactly.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tsrt.h"

static int fail(const char *what) {
    fprintf(stderr, "%s: %s\n", what, tsrt_last_error());
    return 1;
}

/* The tensor stored under `key` in a dict value, or NULL. */
static tsrt_tensor *dict_tensor(const tsrt_value *dict, const char *key) {
    size_t i;
    for (i = 0; i < tsrt_value_length(dict); ++i) {
        tsrt_value *name = NULL, *item = NULL;
        tsrt_tensor *tensor = NULL;
        const char *text;
        size_t size;
        if (tsrt_value_get_dict_item(dict, i, &name, &item) == TSRT_OK &&
            tsrt_value_get_string(name, &text, &size) == TSRT_OK && strcmp(text, key) == 0 &&
            tsrt_value_get_tensor(item, &tensor) != TSRT_OK)
            tensor = NULL;
        tsrt_value_free(name);
        tsrt_value_free(item);
        if (tensor) return tensor;
    }
    return NULL;
}

static int print_detections(const tsrt_value *result) {
    tsrt_value *list = NULL, *dict = NULL;
    tsrt_tensor *boxes, *labels, *scores;
    int64_t i, count;
    int status = 1;

    /* Scripted torchvision detectors return (losses, detections); detections is a list with
     * one dict per image. */
    if (tsrt_value_get_kind(result) == TSRT_VALUE_TUPLE &&
        tsrt_value_get_item(result, 1, &list) != TSRT_OK)
        return fail("reading the result");
    if (tsrt_value_get_item(list ? list : result, 0, &dict) != TSRT_OK) {
        tsrt_value_free(list);
        return fail("reading the detections");
    }
    boxes = dict_tensor(dict, "boxes");
    labels = dict_tensor(dict, "labels");
    scores = dict_tensor(dict, "scores");
    if (boxes && labels && scores && tsrt_tensor_dtype(boxes) == TSRT_DTYPE_FLOAT32 &&
        tsrt_tensor_dtype(labels) == TSRT_DTYPE_INT64 &&
        tsrt_tensor_dtype(scores) == TSRT_DTYPE_FLOAT32) {
        const float *box = tsrt_tensor_data(boxes), *score = tsrt_tensor_data(scores);
        const int64_t *label = tsrt_tensor_data(labels);
        count = tsrt_tensor_numel(scores);
        printf("%lld detections\n", (long long)count);
        for (i = 0; i < count; ++i)
            printf("%lld %.6f %.4f %.4f %.4f %.4f\n", (long long)label[i], score[i],
                   box[4 * i], box[4 * i + 1], box[4 * i + 2], box[4 * i + 3]);
        status = 0;
    } else {
        fprintf(stderr, "the model's result has no float boxes, int64 labels and float scores\n");
    }
    tsrt_tensor_free(boxes);
    tsrt_tensor_free(labels);
    tsrt_tensor_free(scores);
    tsrt_value_free(dict);
    tsrt_value_free(list);
    return status;
}

int main(int argc, char **argv) {
    const char *path = NULL;
    long height = 0, width = 0;
    tsrt_model *model = NULL;
    tsrt_value *image = NULL, *images = NULL, *result = NULL;
    float *pixels;
    int64_t shape[3];
    size_t i, count;
    int arg, positional = 0, status;

    for (arg = 1; arg < argc; ++arg) {
        if (strcmp(argv[arg], "--ops") == 0 && arg + 1 < argc) {
            if (tsrt_load_library(argv[++arg]) != TSRT_OK) return fail("loading operators");
        } else if (positional == 0) {
            path = argv[arg], ++positional;
        } else if (positional == 1) {
            height = strtol(argv[arg], NULL, 10), ++positional;
        } else if (positional == 2) {
            width = strtol(argv[arg], NULL, 10), ++positional;
        } else {
            positional = -1;
            break;
        }
    }
    if (positional != 3 || height < 1 || width < 1 || height > 8192 || width > 8192) {
        fprintf(stderr, "usage: detect [--ops LIBRARY]... MODEL.pt HEIGHT WIDTH\n");
        return 2;
    }
    if (tsrt_abi_version() < TSRT_ABI_VERSION) {
        fprintf(stderr, "libtsrt ABI %d is older than this program's %d\n", tsrt_abi_version(),
                TSRT_ABI_VERSION);
        return 1;
    }
    count = (size_t)(3 * height * width);
    pixels = malloc(count * sizeof *pixels);
    if (pixels == NULL) return 1;
    for (i = 0; i < count; ++i) pixels[i] = (float)((i * 7919u) % 256u) / 255.0f;
    shape[0] = 3, shape[1] = height, shape[2] = width;

    status = tsrt_model_load(path, NULL, &model) != TSRT_OK ? fail("loading the model")
             : tsrt_value_tensor(pixels, TSRT_DTYPE_FLOAT32, shape, 3, TSRT_TENSOR_BORROW,
                                 &image) != TSRT_OK ? fail("making the image")
             : tsrt_value_list(&image, 1, &images) != TSRT_OK ? fail("making the list")
             : tsrt_model_run_method(model, "forward", &images, 1, &result) != TSRT_OK
                 ? fail("running the model")
                 : print_detections(result);
    tsrt_value_free(result);
    tsrt_value_free(images);
    tsrt_value_free(image);
    tsrt_model_free(model);
    free(pixels);
    return status;
}
