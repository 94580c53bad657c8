// The load options: what tsrt_model_load and tsrt_model_load_buffer read from a tsrt_options.
#include <c10/core/Device.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "internal.hpp"

using tsrt::guarded;
using tsrt::require;

extern "C" {

int tsrt_options_new(tsrt_options **out) {
    return guarded(TSRT_ERR_INTERNAL, "creating options", [&] {
        require(out != nullptr, "out is NULL");
        *out = new tsrt_options();
    });
}

void tsrt_options_free(tsrt_options *options) { delete options; }

int tsrt_options_set_device(tsrt_options *options, const char *device) {
    return guarded(TSRT_ERR_INVALID_ARGUMENT, "invalid device", [&] {
        require(options != nullptr, "options is NULL");
        require(device != nullptr, "device is NULL");
        c10::Device parsed(device);  // throws c10::Error on a malformed string
        if (!parsed.is_cpu() && !parsed.is_cuda())
            tsrt::fail(TSRT_ERR_INVALID_ARGUMENT, std::string("unsupported device '") + device +
                                                      "': use \"cpu\", \"cuda\" or \"cuda:N\"");
        options->device = parsed.str();
    });
}

int tsrt_options_set_max_file_size(tsrt_options *options, uint64_t bytes) {
    return guarded(TSRT_ERR_INVALID_ARGUMENT, "setting the size limit", [&] {
        require(options != nullptr, "options is NULL");
        options->max_file_size = bytes;
    });
}

int tsrt_options_set_debug_info(tsrt_options *options, int enable) {
    return guarded(TSRT_ERR_INVALID_ARGUMENT, "setting debug info", [&] {
        require(options != nullptr, "options is NULL");
        options->debug_info = enable != 0;
    });
}

int tsrt_options_set_freeze(tsrt_options *options, int enable) {
    return guarded(TSRT_ERR_INVALID_ARGUMENT, "setting freeze", [&] {
        require(options != nullptr, "options is NULL");
        options->freeze = enable != 0;
    });
}

int tsrt_options_set_warmup_runs(tsrt_options *options, int runs) {
    return guarded(TSRT_ERR_INVALID_ARGUMENT, "setting warm-up runs", [&] {
        require(options != nullptr, "options is NULL");
        require(runs >= 0 && runs <= 100, "warm-up runs must be between 0 and 100");
        options->warmup_runs = runs;
    });
}

int tsrt_options_add_warmup_shape(tsrt_options *options, const int64_t *shape, size_t ndim) {
    return guarded(TSRT_ERR_INVALID_ARGUMENT, "adding a warm-up shape", [&] {
        require(options != nullptr, "options is NULL");
        require(shape != nullptr || ndim == 0, "shape is NULL");
        require(ndim <= 8, "a warm-up shape has at most 8 dimensions");
        std::vector<int64_t> dims(shape, shape + ndim);
        int64_t numel = 1;
        for (int64_t d : dims) {
            require(d >= 0, "warm-up shape sizes must not be negative");
            if (__builtin_mul_overflow(numel, d, &numel) || numel > (int64_t{1} << 31))
                tsrt::fail(TSRT_ERR_INVALID_ARGUMENT, "the warm-up shape is too large");
        }
        options->warmup_shapes.push_back(std::move(dims));
        options->warmup_shapes_given = true;
    });
}

int tsrt_options_clear_warmup_shapes(tsrt_options *options) {
    return guarded(TSRT_ERR_INVALID_ARGUMENT, "clearing warm-up shapes", [&] {
        require(options != nullptr, "options is NULL");
        options->warmup_shapes.clear();
        options->warmup_shapes_given = true;  // and none from the file either
    });
}

}  // extern "C"
