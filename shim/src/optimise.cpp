// Making a loaded model fast by default: freezing, oneDNN Graph fusion, warm-up, and sharing
// the intra-op threads among concurrent calls.
#include <ATen/Functions.h>
#include <ATen/Parallel.h>
#include <ATen/TensorOperators.h>
#include <c10/core/InferenceMode.h>
#include <torch/csrc/jit/api/module.h>
#include <torch/csrc/jit/codegen/onednn/interface.h>
#include <torch/csrc/jit/runtime/graph_executor.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <sstream>
#include <string>

#include "internal.hpp"

// The OpenMP runtime libtorch uses, when it uses one: its thread count is per calling thread.
extern "C" {
__attribute__((weak)) void omp_set_num_threads(int);
__attribute__((weak)) int omp_get_max_threads(void);
}

using tsrt::fail;

namespace {

std::atomic<int> calls_in_flight{0};
std::atomic<int> configured_threads{0};  // 0: not read yet
std::atomic<bool> fusion_wanted{true};   // tsrt_set_fusion
std::mutex fusion_switch;                // guards the two fields below and libtorch's flag
int fusion_users = 0;                    // calls on frozen models running with fusion on
bool fusion_before = false;              // libtorch's flag before the first of them

int intra_threads() {
    int threads = configured_threads.load();
    if (threads == 0) {
        threads = std::max(1, at::get_num_threads());
        int expected = 0;
        configured_threads.compare_exchange_strong(expected, threads);
        threads = configured_threads.load();
    }
    return threads;
}

void set_this_threads_budget(int threads) {
    if (omp_set_num_threads && omp_get_max_threads) {
        if (omp_get_max_threads() != threads) omp_set_num_threads(threads);
    }
}

// "1x3x224x224" lines, as export.py stores them in the extra file tsrt/input_shapes.
std::vector<std::vector<int64_t>> parse_shapes(const std::string &text) {
    std::vector<std::vector<int64_t>> shapes;
    std::istringstream lines(text);
    std::string line;
    while (std::getline(lines, line)) {
        if (line.empty()) continue;
        std::vector<int64_t> shape;
        std::istringstream dims(line);
        std::string dim;
        while (std::getline(dims, dim, 'x')) {
            size_t used = 0;
            long long value = std::stoll(dim, &used);
            if (used != dim.size() || value < 0 || value > (1 << 20)) return {};
            shape.push_back(value);
        }
        if (shape.empty() || shape.size() > 8) return {};
        shapes.push_back(std::move(shape));
    }
    return shapes;
}

// Whether any attribute of the module or its submodules holds a tensor: weights read as
// attributes, which freezing turns into constants. A module without any is as good as frozen.
bool has_tensor_attributes(const torch::jit::Module &module) {
    for (const auto &attribute : module.named_attributes(/*recurse=*/true)) {
        std::vector<at::Tensor> tensors;
        tsrt::collect_tensors(attribute.value, tensors);
        if (!tensors.empty()) return true;
    }
    return false;
}

}  // namespace

namespace tsrt {

ThreadBudget::ThreadBudget() {
    int concurrent = ++calls_in_flight;
    set_this_threads_budget(std::max(1, intra_threads() / concurrent));
}

ThreadBudget::~ThreadBudget() { --calls_in_flight; }

ExecutionScope::ExecutionScope(const tsrt_model &model)
    : optimise_(model.frozen), fused_(model.fused) {
    if (!fused_) return;
    std::lock_guard<std::mutex> lock(fusion_switch);
    if (fusion_users++ == 0) {
        fusion_before = torch::jit::RegisterLlgaFuseGraph::isEnabled();
        torch::jit::RegisterLlgaFuseGraph::setEnabled(true);
    }
}

ExecutionScope::~ExecutionScope() {
    if (!fused_) return;
    std::lock_guard<std::mutex> lock(fusion_switch);
    if (--fusion_users == 0) torch::jit::RegisterLlgaFuseGraph::setEnabled(fusion_before);
}

namespace {

std::vector<at::Tensor> run_warmup(tsrt_model &model, torch::jit::Module &module,
                                   const std::vector<at::Tensor> &inputs, int runs) {
    std::vector<at::Tensor> outputs;
    ExecutionScope scope(model);
    for (const at::Tensor &input : inputs) {
        c10::IValue result;
        for (int run = 0; run < std::max(runs, 1); ++run) result = module.forward({input});
        tsrt::collect_tensors(result, outputs);
    }
    return outputs;
}

// Whether `fused` agrees with `reference` to within 1e-4 of the largest reference value.
bool agree(const std::vector<at::Tensor> &fused, const std::vector<at::Tensor> &reference) {
    if (fused.size() != reference.size()) return false;
    for (size_t i = 0; i < fused.size(); ++i) {
        const at::Tensor &a = fused[i], &b = reference[i];
        if (a.sizes() != b.sizes() || a.scalar_type() != b.scalar_type()) return false;
        if (!at::isFloatingType(b.scalar_type())) {
            if (!at::equal(a, b)) return false;
            continue;
        }
        at::Tensor a64 = a.to(at::kCPU, at::kDouble), b64 = b.to(at::kCPU, at::kDouble);
        if (!at::equal(at::isfinite(a64), at::isfinite(b64))) return false;
        double scale = std::max(1e-12, at::nan_to_num(b64.abs(), 0, 0, 0).max().item<double>());
        double worst = at::nan_to_num((a64 - b64).abs(), 0, 0, 0).max().item<double>();
        if (worst > 1e-4 * scale) return false;
    }
    return true;
}

}  // namespace

void optimise_for_inference(tsrt_model &model, const tsrt_options *options) {
    tsrt_options defaults;
    const tsrt_options &opts = options ? *options : defaults;
    // Freezing inlines attributes, so a model that changes them cannot be frozen; warm-up
    // would change its state.
    if (model.keeps_state) return;

    bool weights_are_attributes = has_tensor_attributes(model.module);
    if (opts.freeze && weights_are_attributes)
        model.module = torch::jit::freeze(model.module, model.method_names);
    model.frozen = !weights_are_attributes || opts.freeze;

    std::vector<std::vector<int64_t>> shapes = opts.warmup_shapes;
    if (!opts.warmup_shapes_given) {
        auto stored = model.extra_files.find("tsrt/input_shapes");
        if (stored != model.extra_files.end()) shapes = parse_shapes(stored->second);
    }
    if (shapes.empty() || opts.warmup_runs == 0) return;
    c10::InferenceMode inference_mode;
    std::vector<at::Tensor> inputs;
    for (const auto &shape : shapes) {
        at::Tensor input = at::zeros(shape, at::TensorOptions().dtype(at::kFloat));
        inputs.push_back(model.device.is_cpu() ? input : input.to(model.device));
    }

    // oneDNN Graph fusion only where it proves itself: warm a copy up fused, and keep it only
    // if it runs and agrees with one unfused run of the model. libtorch's fuser is wrong on
    // unfrozen graphs and fails on some frozen ones.
    bool try_fusion = model.frozen && fusion_wanted.load();
    std::vector<at::Tensor> reference;
    try {
        model.fused = false;
        reference = run_warmup(model, model.module, inputs, try_fusion ? 1 : opts.warmup_runs);
    } catch (const std::exception &e) {
        std::string raw = e.what();
        fail(TSRT_ERR_FORWARD, "warm-up on the input shapes " + std::string("failed: ") +
                                   raw.substr(0, raw.find('\n')));
    }
    if (!try_fusion) return;
    try {
        torch::jit::Module candidate = model.module.clone();
        model.fused = true;
        std::vector<at::Tensor> fused = run_warmup(model, candidate, inputs, opts.warmup_runs);
        if (agree(fused, reference)) {
            model.module = std::move(candidate);
            return;
        }
    } catch (const std::exception &) {
        // The fuser cannot handle this model: it stays unfused.
    }
    model.fused = false;
    if (opts.warmup_runs > 1) run_warmup(model, model.module, inputs, opts.warmup_runs - 1);
}

}  // namespace tsrt

extern "C" {

int tsrt_set_fusion(int enable) {
    fusion_wanted.store(enable != 0);
    tsrt::record_success();
    return TSRT_OK;
}

int tsrt_get_fusion(void) { return fusion_wanted.load() ? 1 : 0; }

}  // extern "C"

namespace tsrt {

void record_thread_setting(int n) { configured_threads.store(n); }

int configured_thread_count() noexcept {
    try {
        return intra_threads();
    } catch (...) {
        return 1;
    }
}

}  // namespace tsrt

namespace tsrt {

std::vector<std::vector<int64_t>> parse_input_shapes(const std::string &text) {
    return parse_shapes(text);
}

}  // namespace tsrt
