// Process-wide functions: versions, thread count, load options.
#include <ATen/Parallel.h>
#include <torch/headeronly/version.h>

#include <new>

#include "internal.hpp"

using tsrt::guarded;
using tsrt::require;

extern "C" {

int tsrt_abi_version(void) { return TSRT_ABI_VERSION; }

const char *tsrt_libtorch_version(void) { return TORCH_VERSION; }

int tsrt_set_num_threads(int n) {
    return guarded(TSRT_ERR_INTERNAL, "setting the thread count", [&] {
        require(n >= 1, "the number of threads must be at least 1");
        at::set_num_threads(n);
    });
}

int tsrt_get_num_threads(void) { return at::get_num_threads(); }

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
            tsrt::fail(TSRT_ERR_INVALID_ARGUMENT,
                       std::string("unsupported device '") + device +
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

}  // extern "C"
