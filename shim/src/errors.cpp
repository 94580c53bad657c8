// The per-thread error message behind tsrt_last_error, and the names of status codes.
#include <string>

#include "internal.hpp"

namespace {
// One message per thread, so that two threads failing at once each read their own.
thread_local std::string last_error;
}  // namespace

namespace tsrt {

int record_failure(int status, const char *message) noexcept {
    try {
        last_error.assign(message ? message : "");
    } catch (...) {
        // Allocation failed: keep whatever fits in the capacity already reserved.
        last_error.clear();
    }
    return status;
}

int record_failure(int status, const char *context, const char *cause) noexcept {
    std::string message;
    try {
        message = std::string(context) + ": " + cause;
    } catch (...) {
        return record_failure(status, context);
    }
    return record_failure(status, message.c_str());
}

void record_success() noexcept { last_error.clear(); }

}  // namespace tsrt

extern "C" {

const char *tsrt_last_error(void) { return last_error.c_str(); }

const char *tsrt_status_name(int status) {
    switch (status) {
        case TSRT_OK: return "TSRT_OK";
        case TSRT_ERR_INVALID_ARGUMENT: return "TSRT_ERR_INVALID_ARGUMENT";
        case TSRT_ERR_NOT_FOUND: return "TSRT_ERR_NOT_FOUND";
        case TSRT_ERR_IO: return "TSRT_ERR_IO";
        case TSRT_ERR_BAD_MODEL: return "TSRT_ERR_BAD_MODEL";
        case TSRT_ERR_DEVICE: return "TSRT_ERR_DEVICE";
        case TSRT_ERR_FORWARD: return "TSRT_ERR_FORWARD";
        case TSRT_ERR_UNSUPPORTED: return "TSRT_ERR_UNSUPPORTED";
        case TSRT_ERR_BUFFER_TOO_SMALL: return "TSRT_ERR_BUFFER_TOO_SMALL";
        case TSRT_ERR_OUT_OF_MEMORY: return "TSRT_ERR_OUT_OF_MEMORY";
        case TSRT_ERR_INTERNAL: return "TSRT_ERR_INTERNAL";
        case TSRT_ERR_NO_SUCH_NAME: return "TSRT_ERR_NO_SUCH_NAME";
        case TSRT_ERR_TOO_LARGE: return "TSRT_ERR_TOO_LARGE";
        case TSRT_ERR_CLOSED: return "TSRT_ERR_CLOSED";
        case TSRT_ERR_BAD_LIBRARY: return "TSRT_ERR_BAD_LIBRARY";
        default: return "TSRT_UNKNOWN_STATUS";
    }
}

}  // extern "C"
