// Tensors crossing the boundary: caller memory borrowed as input, results handed out.
#include <ATen/Functions.h>

#include <string>

#include "internal.hpp"

using tsrt::fail;
using tsrt::require;

namespace {

// Ranks above this are rejected as malformed rather than trusted: no model takes them, and a
// garbage ndim must not make the shim read far past the caller's shape array.
constexpr size_t kMaxRank = 64;

}  // namespace

namespace tsrt {

tsrt_dtype to_abi_dtype(c10::ScalarType type) noexcept {
    switch (type) {
        case c10::kFloat: return TSRT_DTYPE_FLOAT32;
        case c10::kDouble: return TSRT_DTYPE_FLOAT64;
        case c10::kHalf: return TSRT_DTYPE_FLOAT16;
        case c10::kBFloat16: return TSRT_DTYPE_BFLOAT16;
        case c10::kLong: return TSRT_DTYPE_INT64;
        case c10::kInt: return TSRT_DTYPE_INT32;
        case c10::kShort: return TSRT_DTYPE_INT16;
        case c10::kChar: return TSRT_DTYPE_INT8;
        case c10::kByte: return TSRT_DTYPE_UINT8;
        case c10::kBool: return TSRT_DTYPE_BOOL;
        default: return TSRT_DTYPE_UNKNOWN;
    }
}

c10::ScalarType from_abi_dtype(int dtype) {
    switch (dtype) {
        case TSRT_DTYPE_FLOAT32: return c10::kFloat;
        case TSRT_DTYPE_FLOAT64: return c10::kDouble;
        case TSRT_DTYPE_FLOAT16: return c10::kHalf;
        case TSRT_DTYPE_BFLOAT16: return c10::kBFloat16;
        case TSRT_DTYPE_INT64: return c10::kLong;
        case TSRT_DTYPE_INT32: return c10::kInt;
        case TSRT_DTYPE_INT16: return c10::kShort;
        case TSRT_DTYPE_INT8: return c10::kChar;
        case TSRT_DTYPE_UINT8: return c10::kByte;
        case TSRT_DTYPE_BOOL: return c10::kBool;
        default:
            fail(TSRT_ERR_INVALID_ARGUMENT, "unknown dtype code " + std::to_string(dtype));
    }
}

at::Tensor borrow_input(const void *data, c10::ScalarType type, const int64_t *shape,
                        size_t ndim) {
    require(ndim <= kMaxRank, "the input has more than 64 dimensions");
    require(shape != nullptr || ndim == 0, "shape is NULL");
    c10::IntArrayRef sizes(shape, ndim);  // the caller's array, read during this call only
    int64_t numel = 1;
    for (size_t i = 0; i < ndim; ++i) {
        if (sizes[i] < 0)
            fail(TSRT_ERR_INVALID_ARGUMENT, "input dimension " + std::to_string(i) +
                                                " has negative size " + std::to_string(sizes[i]));
        if (__builtin_mul_overflow(numel, sizes[i], &numel))
            fail(TSRT_ERR_INVALID_ARGUMENT, "the input shape's element count overflows int64");
    }
    int64_t nbytes;
    if (__builtin_mul_overflow(numel, static_cast<int64_t>(c10::elementSize(type)), &nbytes))
        fail(TSRT_ERR_INVALID_ARGUMENT, "the input shape's byte size overflows int64");
    if (numel == 0) return at::empty(sizes, at::TensorOptions().dtype(type));
    require(data != nullptr, "data is NULL");
    // The library only reads the input; the const_cast is what from_blob's signature needs.
    return at::from_blob(const_cast<void *>(data), sizes, at::TensorOptions().dtype(type));
}

at::Tensor borrow_float_input(const float *data, const int64_t *shape, size_t ndim) {
    return borrow_input(data, c10::kFloat, shape, ndim);
}

tsrt_tensor *make_result_tensor(const at::Tensor &value) {
    if (!value.defined()) fail(TSRT_ERR_UNSUPPORTED, "forward returned an undefined tensor");
    if (value.layout() != c10::kStrided || value.is_quantized())
        fail(TSRT_ERR_UNSUPPORTED, "forward returned a sparse or quantized tensor");
    tsrt_dtype dtype = to_abi_dtype(value.scalar_type());
    if (dtype == TSRT_DTYPE_UNKNOWN)
        fail(TSRT_ERR_UNSUPPORTED, std::string("forward returned a tensor of unsupported dtype ") +
                                       c10::toString(value.scalar_type()));
    at::Tensor host = value.to(at::kCPU).contiguous();
    return new tsrt_tensor{host, host.sizes().vec(), dtype};
}

}  // namespace tsrt

extern "C" {

void tsrt_tensor_free(tsrt_tensor *tensor) { delete tensor; }

tsrt_dtype tsrt_tensor_dtype(const tsrt_tensor *tensor) {
    return tensor ? tensor->dtype : TSRT_DTYPE_UNKNOWN;
}

size_t tsrt_tensor_ndim(const tsrt_tensor *tensor) { return tensor ? tensor->shape.size() : 0; }

const int64_t *tsrt_tensor_shape(const tsrt_tensor *tensor) {
    return tensor && !tensor->shape.empty() ? tensor->shape.data() : nullptr;
}

int64_t tsrt_tensor_numel(const tsrt_tensor *tensor) {
    return tensor ? tensor->tensor.numel() : 0;
}

const void *tsrt_tensor_data(const tsrt_tensor *tensor) {
    return tensor && tensor->tensor.numel() > 0 ? tensor->tensor.const_data_ptr() : nullptr;
}

size_t tsrt_tensor_nbytes(const tsrt_tensor *tensor) {
    return tensor ? tensor->tensor.nbytes() : 0;
}

}  // extern "C"
