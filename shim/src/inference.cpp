// Running a model: forward, and softmax + top-k fused on the C++ side.
#include <ATen/Functions.h>
#include <c10/core/InferenceMode.h>

#include <cstring>
#include <string>

#include "internal.hpp"

using tsrt::fail;
using tsrt::guarded;
using tsrt::require;

namespace tsrt {

at::Tensor run_forward_to_tensor(tsrt_model &model, const at::Tensor &input) {
    c10::IValue result = call_method(model, "forward", {c10::IValue(input)});
    if (!result.isTensor())
        fail(TSRT_ERR_UNSUPPORTED,
             "forward returned " + result.tagKind() + ", but this call needs a single tensor");
    return result.toTensor();
}

void softmax_topk_into(const at::Tensor &logits, int64_t k, int64_t *indices, float *probs,
                       size_t capacity) {
    if (logits.dim() != 2)
        fail(TSRT_ERR_INVALID_ARGUMENT, "softmax + top-k needs 2-D (N, C) logits, got " +
                                            std::to_string(logits.dim()) + "-D " +
                                            c10::str(logits.sizes()));
    if (!at::isFloatingType(logits.scalar_type()))
        fail(TSRT_ERR_INVALID_ARGUMENT,
             std::string("softmax + top-k needs floating-point logits, got ") +
                 c10::toString(logits.scalar_type()));
    int64_t rows = logits.size(0), classes = logits.size(1);
    if (k < 1 || k > classes)
        fail(TSRT_ERR_INVALID_ARGUMENT, "k must be between 1 and the number of classes (" +
                                            std::to_string(classes) + "), got " +
                                            std::to_string(k));
    uint64_t needed = static_cast<uint64_t>(rows) * static_cast<uint64_t>(k);
    if (needed > capacity)
        fail(TSRT_ERR_BUFFER_TOO_SMALL, "the result needs " + std::to_string(needed) +
                                            " entries per buffer, capacity is " +
                                            std::to_string(capacity));
    if (needed == 0) return;
    require(indices != nullptr, "indices is NULL");
    require(probs != nullptr, "probs is NULL");
    at::Tensor p = at::softmax(logits.to(at::kCPU, at::kFloat), 1);
    auto [top_values, top_indices] = p.topk(k, 1, /*largest=*/true, /*sorted=*/true);
    top_values = top_values.contiguous();
    top_indices = top_indices.contiguous();
    // Written only now that everything has succeeded: on failure the buffers are untouched.
    std::memcpy(indices, top_indices.const_data_ptr<int64_t>(), needed * sizeof(int64_t));
    std::memcpy(probs, top_values.const_data_ptr<float>(), needed * sizeof(float));
}

}  // namespace tsrt

extern "C" {

int tsrt_model_forward(tsrt_model *model, const float *data, const int64_t *shape, size_t ndim,
                       tsrt_tensor **out) {
    return guarded(TSRT_ERR_FORWARD, "forward failed", [&] {
        require(model != nullptr, "model is NULL");
        require(out != nullptr, "out is NULL");
        c10::InferenceMode inference_mode;
        at::Tensor input = tsrt::borrow_float_input(data, shape, ndim);
        at::Tensor output = tsrt::run_forward_to_tensor(*model, input);
        *out = tsrt::make_result_tensor(output);
    });
}

int tsrt_tensor_softmax_topk(const tsrt_tensor *logits, int64_t k, int64_t *indices, float *probs,
                             size_t capacity) {
    return guarded(TSRT_ERR_INTERNAL, "softmax + top-k failed", [&] {
        require(logits != nullptr, "logits is NULL");
        c10::InferenceMode inference_mode;
        tsrt::softmax_topk_into(logits->tensor, k, indices, probs, capacity);
    });
}

int tsrt_model_topk(tsrt_model *model, const float *data, const int64_t *shape, size_t ndim,
                    int64_t k, int64_t *indices, float *probs, size_t capacity, int64_t *out_rows) {
    return guarded(TSRT_ERR_FORWARD, "forward failed", [&] {
        require(model != nullptr, "model is NULL");
        c10::InferenceMode inference_mode;
        at::Tensor input = tsrt::borrow_float_input(data, shape, ndim);
        at::Tensor output = tsrt::run_forward_to_tensor(*model, input);
        tsrt::softmax_topk_into(output, k, indices, probs, capacity);
        if (out_rows) *out_rows = output.size(0);
    });
}

}  // extern "C"
