// Process-wide functions: versions and the thread count.
#include <ATen/Parallel.h>
#include <torch/headeronly/version.h>

#include "internal.hpp"

using tsrt::guarded;
using tsrt::require;

extern "C" {

int tsrt_abi_version(void) { return TSRT_ABI_VERSION; }

const char *tsrt_version(void) { return TSRT_VERSION; }

const char *tsrt_libtorch_version(void) { return TORCH_VERSION; }

int tsrt_set_num_threads(int n) {
    return guarded(TSRT_ERR_INTERNAL, "setting the thread count", [&] {
        require(n >= 1, "the number of threads must be at least 1");
        at::set_num_threads(n);
        tsrt::record_thread_setting(n);
    });
}

int tsrt_get_num_threads(void) { return tsrt::configured_thread_count(); }

}  // extern "C"
