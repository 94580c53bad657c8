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

namespace {

// This ABI's element types and libtorch's: the one table of them in C++.
struct DtypePair {
    tsrt_dtype abi;
    c10::ScalarType torch;
};
constexpr DtypePair kDtypes[] = {
    {TSRT_DTYPE_FLOAT32, c10::kFloat}, {TSRT_DTYPE_FLOAT64, c10::kDouble},
    {TSRT_DTYPE_FLOAT16, c10::kHalf},  {TSRT_DTYPE_BFLOAT16, c10::kBFloat16},
    {TSRT_DTYPE_INT64, c10::kLong},    {TSRT_DTYPE_INT32, c10::kInt},
    {TSRT_DTYPE_INT16, c10::kShort},   {TSRT_DTYPE_INT8, c10::kChar},
    {TSRT_DTYPE_UINT8, c10::kByte},    {TSRT_DTYPE_BOOL, c10::kBool},
};

}  // namespace

tsrt_dtype to_abi_dtype(c10::ScalarType type) noexcept {
    for (const DtypePair &pair : kDtypes)
        if (pair.torch == type) return pair.abi;
    return TSRT_DTYPE_UNKNOWN;
}

c10::ScalarType from_abi_dtype(int dtype, const char *whose) {
    for (const DtypePair &pair : kDtypes)
        if (pair.abi == dtype) return pair.torch;
    fail(TSRT_ERR_INVALID_ARGUMENT, "unknown dtype code " + std::to_string(dtype) +
                                        (whose ? std::string(" for ") + whose : std::string()));
}

CallerBuffer check_caller_buffer(const void *data, c10::ScalarType type, const int64_t *shape,
                                 size_t ndim, const BufferNames &names) {
    // Messages are built only on failure: this runs on every call.
    const auto role = [&names] { return std::string(names.role); };
    if (ndim > kMaxRank)
        fail(TSRT_ERR_INVALID_ARGUMENT, "the " + role() + " has more than 64 dimensions");
    if (shape == nullptr && ndim != 0)
        fail(TSRT_ERR_INVALID_ARGUMENT, std::string(names.shape) + " is NULL");
    c10::IntArrayRef sizes(shape, ndim);  // the caller's array, read during this call only
    int64_t numel = 1;
    for (size_t i = 0; i < ndim; ++i) {
        if (sizes[i] < 0)
            fail(TSRT_ERR_INVALID_ARGUMENT, role() + " dimension " + std::to_string(i) +
                                                " has negative size " + std::to_string(sizes[i]));
        if (__builtin_mul_overflow(numel, sizes[i], &numel))
            fail(TSRT_ERR_INVALID_ARGUMENT,
                 "the " + role() + " shape's element count overflows int64");
    }
    int64_t nbytes;
    if (__builtin_mul_overflow(numel, static_cast<int64_t>(c10::elementSize(type)), &nbytes))
        fail(TSRT_ERR_INVALID_ARGUMENT, "the " + role() + " shape's byte size overflows int64");
    if (data == nullptr && numel != 0)
        fail(TSRT_ERR_INVALID_ARGUMENT, std::string(names.data) + " is NULL");
    return {const_cast<void *>(data), type, sizes, numel};
}

at::Tensor borrow_input(const void *data, c10::ScalarType type, const int64_t *shape, size_t ndim) {
    CallerBuffer input = check_caller_buffer(data, type, shape, ndim, kInputNames);
    if (input.numel == 0) return at::empty(input.sizes, at::TensorOptions().dtype(type));
    // The library only reads the input; the const_cast is what from_blob's signature needs.
    return at::from_blob(input.data, input.sizes, at::TensorOptions().dtype(type));
}

at::Tensor borrow_float_input(const float *data, const int64_t *shape, size_t ndim) {
    return borrow_input(data, c10::kFloat, shape, ndim);
}

at::Tensor readable_on_host(at::Tensor tensor) {
    if (!tensor.is_cpu()) tensor = tensor.to(at::kCPU);
    if (tensor.is_neg() || tensor.is_conj()) tensor = tensor.resolve_conj().resolve_neg();
    if (!tensor.is_contiguous()) tensor = tensor.contiguous();
    return tensor;
}

tsrt_tensor *make_result_tensor(const at::Tensor &value) {
    if (!value.defined()) fail(TSRT_ERR_UNSUPPORTED, "forward returned an undefined tensor");
    if (value.layout() != c10::kStrided || value.is_quantized())
        fail(TSRT_ERR_UNSUPPORTED, "forward returned a sparse or quantized tensor");
    tsrt_dtype dtype = to_abi_dtype(value.scalar_type());
    if (dtype == TSRT_DTYPE_UNKNOWN)
        fail(TSRT_ERR_UNSUPPORTED, std::string("forward returned a tensor of unsupported dtype ") +
                                       c10::toString(value.scalar_type()));
    at::Tensor host = readable_on_host(value);
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

int64_t tsrt_tensor_numel(const tsrt_tensor *tensor) { return tensor ? tensor->tensor.numel() : 0; }

const void *tsrt_tensor_data(const tsrt_tensor *tensor) {
    return tensor && tensor->tensor.numel() > 0 ? tensor->tensor.const_data_ptr() : nullptr;
}

size_t tsrt_tensor_nbytes(const tsrt_tensor *tensor) {
    return tensor ? tensor->tensor.nbytes() : 0;
}

}  // extern "C"
