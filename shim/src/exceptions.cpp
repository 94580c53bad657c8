// What an exception caught at the C boundary means: its status code and message.
#include <new>

#include "internal.hpp"

namespace tsrt {

Translation translate_current_exception(int libtorch_status) noexcept {
    // Rethrown, the exception being handled is the same object, so messages borrowed from it
    // stay valid while the caller's catch block runs.
    try {
        throw;
    } catch (const Error &e) {
        return {e.status, e.message.c_str(), false};
    } catch (const c10::OutOfMemoryError &e) {
        return {TSRT_ERR_OUT_OF_MEMORY, e.what_without_backtrace(), false};
    } catch (const c10::Error &e) {
        return {libtorch_status, e.what_without_backtrace(), true};
    } catch (const std::bad_alloc &) {
        return {TSRT_ERR_OUT_OF_MEMORY, "out of memory", false};
    } catch (const std::exception &e) {  // the TorchScript compiler's ErrorReport, among others
        return {libtorch_status, e.what(), true};
    } catch (...) {
        return {TSRT_ERR_INTERNAL, "unknown C++ exception inside libtsrt", false};
    }
}

}  // namespace tsrt
