// Checks on a freshly loaded module that libtorch's loader does not make: every tensor must
// lie within its storage, and every storage within the memory behind it. libtorch sizes a
// storage by what the pickle claims, not by the record it read: a corrupted file can pair a
// claim of 20 bytes with an empty record (a NULL pointer) or a shorter one (fuzzing found
// both by swapping zip entries), and the first operator to read it then reads past the end of
// the allocation and crashes the process.
#include <ATen/core/ivalue.h>
#include <torch/csrc/jit/api/compilation_unit.h>
#include <torch/csrc/jit/api/function_impl.h>
#include <torch/csrc/jit/ir/ir.h>

#include <c10/core/CPUAllocator.h>
#include <malloc.h>

#include <string>
#include <unordered_set>

#include "internal.hpp"

using tsrt::fail;

namespace {

// The memory really allocated behind a CPU storage, when libtorch's default CPU allocator made
// it (records read from a file are), else the storage's own claim, which cannot be checked.
size_t allocated_bytes(const c10::Storage &storage) {
    const c10::DataPtr &data = storage.data_ptr();
    if (data.get() == nullptr) return 0;
    if (data.device().is_cpu() && data.get_deleter() == c10::GetCPUAllocator()->raw_deleter() &&
        data.get_context() == data.get())
        return malloc_usable_size(data.get());  // posix_memalign'd by c10::alloc_cpu
    return storage.nbytes();
}

void check_tensor(const at::Tensor &tensor, const std::string &where) {
    if (!tensor.defined() || tensor.layout() != c10::kStrided || !tensor.has_storage()) return;
    const c10::Storage &storage = tensor.storage();
    size_t behind = allocated_bytes(storage);
    if (storage.nbytes() > behind)
        fail(TSRT_ERR_BAD_MODEL, "the file is corrupted: the storage of tensor " + where +
                                     " claims " + std::to_string(storage.nbytes()) +
                                     " bytes but its data holds " + std::to_string(behind));
    if (tensor.numel() == 0) return;
    // Highest element offset reached, in elements: offset + sum((size - 1) * stride).
    int64_t last = tensor.storage_offset();
    bool overflow = last < 0;
    for (int64_t d = 0; d < tensor.dim() && !overflow; ++d) {
        int64_t stride = tensor.stride(d), reach;
        if (stride < 0) {
            overflow = true;
            break;
        }
        overflow |= __builtin_mul_overflow(tensor.size(d) - 1, stride, &reach);
        overflow |= __builtin_add_overflow(last, reach, &last);
    }
    int64_t needed = 0;
    overflow = overflow || __builtin_add_overflow(last, 1, &needed) ||
               __builtin_mul_overflow(needed, static_cast<int64_t>(tensor.element_size()), &needed);
    int64_t available = static_cast<int64_t>(tensor.storage().nbytes());
    if (overflow || needed > available)
        fail(TSRT_ERR_BAD_MODEL,
             "the file is corrupted: tensor " + where + " of shape " + c10::str(tensor.sizes()) +
                 " needs " + (overflow ? std::string("more than 2^63") : std::to_string(needed)) +
                 " bytes of storage but has " + std::to_string(available));
}

class TensorWalker {
   public:
    void walk(const c10::IValue &value, const std::string &where) {
        if (value.isTensor()) {
            check_tensor(value.toTensor(), where);
        } else if (value.isTuple()) {
            const auto &items = value.toTupleRef().elements();
            for (size_t i = 0; i < items.size(); ++i)
                walk(items[i], where + "[" + std::to_string(i) + "]");
        } else if (value.isList()) {
            size_t i = 0;
            for (const c10::IValue &item : value.toListRef())
                walk(item, where + "[" + std::to_string(i++) + "]");
        } else if (value.isGenericDict()) {
            for (const auto &entry : value.toGenericDict()) {
                walk(entry.key(), where + " (a key)");
                walk(entry.value(), where + "[...]");
            }
        } else if (value.isObject()) {
            const auto &object = value.toObjectRef();
            if (!seen_.insert(&object).second) return;  // shared or cyclic references
            const auto &type = object.type();
            for (size_t i = 0; i < object.slots().size(); ++i)
                walk(object.getSlot(i), where + "." + type->getAttributeName(i));
        }
    }

   private:
    std::unordered_set<const c10::ivalue::Object *> seen_;
};

void check_constants(torch::jit::Block *block, const std::string &function) {
    for (torch::jit::Node *node : block->nodes()) {
        if (node->kind() == torch::jit::prim::Constant && node->outputs().size() == 1 &&
            node->output()->type()->kind() == c10::TypeKind::TensorType) {
            if (auto constant = torch::jit::toIValue(node->output()))
                check_tensor(constant->toTensor(), "constant in " + function);
        }
        for (torch::jit::Block *inner : node->blocks()) check_constants(inner, function);
    }
}

}  // namespace

namespace tsrt {

void check_tensors_fit_storage(const torch::jit::Module &module) {
    TensorWalker walker;
    walker.walk(module._ivalue(), "self");
    auto unit = module._ivalue()->compilation_unit();
    if (!unit) return;
    for (torch::jit::Function *function : unit->get_functions()) {
        if (!function->isGraphFunction()) continue;
        auto &graph_function = torch::jit::toGraphFunction(*function);
        check_constants(graph_function.graph()->block(), function->qualname().qualifiedName());
    }
}

}  // namespace tsrt
