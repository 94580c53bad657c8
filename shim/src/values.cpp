// TorchScript values across the boundary: tagged handles over c10::IValue.
#include <ATen/Functions.h>
#include <ATen/core/Dict.h>
#include <ATen/core/List.h>
#include <ATen/core/ivalue.h>

#include <string>

#include "internal.hpp"

using tsrt::fail;
using tsrt::guarded;
using tsrt::require;

namespace {

tsrt_value *wrap(c10::IValue value) {
    auto *handle = new tsrt_value();
    handle->value = std::move(value);
    return handle;
}

const c10::IValue &unwrap(const tsrt_value *value, const char *what) {
    if (value == nullptr) fail(TSRT_ERR_INVALID_ARGUMENT, std::string(what) + " is NULL");
    return value->value;
}

[[noreturn]] void wrong_kind(const c10::IValue &value, const char *wanted) {
    fail(TSRT_ERR_INVALID_ARGUMENT,
         std::string("the value is ") + value.type()->str() + ", not " + wanted);
}

// The element type a list of `items` gets: their common type when there is one (a list of
// tensors is a Tensor[]), otherwise Any; an empty list is Any[] until a method's schema says
// more (see coerce_to in methods.cpp).
c10::TypePtr common_type(const std::vector<c10::IValue> &items) {
    if (items.empty()) return c10::AnyType::get();
    c10::TypePtr type = items[0].type();
    for (const auto &item : items) {
        auto unified = c10::unifyTypes(type, item.type());
        if (!unified) return c10::AnyType::get();
        type = *unified;
    }
    return type;
}

std::vector<c10::IValue> unwrap_all(tsrt_value *const *items, size_t count, const char *what) {
    require(items != nullptr || count == 0, "items is NULL");
    std::vector<c10::IValue> values;
    values.reserve(count);
    for (size_t i = 0; i < count; ++i) values.push_back(unwrap(items[i], what));
    return values;
}

}  // namespace

namespace tsrt {

void collect_tensors(const c10::IValue &value, std::vector<at::Tensor> &out) {
    if (value.isTensor()) {
        out.push_back(value.toTensor());
    } else if (value.isTuple()) {
        for (const auto &item : value.toTupleRef().elements()) collect_tensors(item, out);
    } else if (value.isList()) {
        for (const c10::IValue &item : value.toListRef()) collect_tensors(item, out);
    } else if (value.isGenericDict()) {
        for (const auto &entry : value.toGenericDict()) {
            collect_tensors(entry.key(), out);
            collect_tensors(entry.value(), out);
        }
    }
}

// Rebuilds containers only where an element changes; shares everything else.
template <class Transform>
c10::IValue map_tensors(const c10::IValue &value, Transform &&transform) {
    if (value.isTensor()) return transform(value.toTensor());
    if (value.isTuple()) {
        const auto &elements = value.toTupleRef().elements();
        std::vector<c10::IValue> mapped;
        bool changed = false;
        for (const auto &item : elements) {
            mapped.push_back(map_tensors(item, transform));
            changed |= !mapped.back().isSameIdentity(item);
        }
        return changed ? c10::IValue(c10::ivalue::Tuple::create(std::move(mapped))) : value;
    }
    if (value.isList()) {
        c10::List<c10::IValue> list = value.toList();
        c10::List<c10::IValue> copy = list.copy();
        bool changed = false;
        for (size_t i = 0; i < list.size(); ++i) {
            c10::IValue item = list.get(i);
            c10::IValue mapped = map_tensors(item, transform);
            if (!mapped.isSameIdentity(item)) {
                copy.set(i, mapped);
                changed = true;
            }
        }
        return changed ? c10::IValue(copy) : value;
    }
    if (value.isGenericDict()) {
        c10::impl::GenericDict dict = value.toGenericDict();
        c10::impl::GenericDict copy = dict.copy();
        bool changed = false;
        for (const auto &entry : dict) {
            c10::IValue mapped = map_tensors(entry.value(), transform);
            if (!mapped.isSameIdentity(entry.value())) {
                copy.insert_or_assign(entry.key(), mapped);
                changed = true;
            }
        }
        return changed ? c10::IValue(copy) : value;
    }
    return value;
}

c10::IValue without_aliases(const c10::IValue &value, const std::vector<at::Tensor> &borrowed) {
    if (borrowed.empty()) return value;
    return map_tensors(value, [&](const at::Tensor &tensor) -> c10::IValue {
        for (const auto &input : borrowed)
            if (tensor.defined() && input.defined() && tensor.is_alias_of(input))
                return tensor.clone();
        return tensor;
    });
}

c10::IValue cast_tensors(const c10::IValue &value, c10::ScalarType from, c10::ScalarType to) {
    return map_tensors(value, [&](const at::Tensor &tensor) -> c10::IValue {
        return tensor.defined() && tensor.scalar_type() == from ? tensor.to(to) : tensor;
    });
}

c10::IValue with_copied_tensors(const c10::IValue &value) {
    return map_tensors(value, [](const at::Tensor &tensor) -> c10::IValue {
        return tensor.defined() ? tensor.clone() : tensor;
    });
}

}  // namespace tsrt

extern "C" {

int tsrt_value_none(tsrt_value **out) {
    return guarded(TSRT_ERR_INTERNAL, "creating a value", [&] {
        require(out != nullptr, "out is NULL");
        *out = wrap(c10::IValue());
    });
}

int tsrt_value_int(int64_t v, tsrt_value **out) {
    return guarded(TSRT_ERR_INTERNAL, "creating a value", [&] {
        require(out != nullptr, "out is NULL");
        *out = wrap(c10::IValue(v));
    });
}

int tsrt_value_float(double v, tsrt_value **out) {
    return guarded(TSRT_ERR_INTERNAL, "creating a value", [&] {
        require(out != nullptr, "out is NULL");
        *out = wrap(c10::IValue(v));
    });
}

int tsrt_value_bool(int v, tsrt_value **out) {
    return guarded(TSRT_ERR_INTERNAL, "creating a value", [&] {
        require(out != nullptr, "out is NULL");
        *out = wrap(c10::IValue(v != 0));
    });
}

int tsrt_value_string(const char *data, size_t size, tsrt_value **out) {
    return guarded(TSRT_ERR_INTERNAL, "creating a value", [&] {
        require(data != nullptr || size == 0, "data is NULL");
        require(out != nullptr, "out is NULL");
        *out = wrap(c10::IValue(std::string(data ? data : "", size)));
    });
}

int tsrt_value_tensor(const void *data, tsrt_dtype dtype, const int64_t *shape, size_t ndim,
                      unsigned flags, tsrt_value **out) {
    return guarded(TSRT_ERR_INVALID_ARGUMENT, "creating a tensor value", [&] {
        require(out != nullptr, "out is NULL");
        require((flags & ~TSRT_TENSOR_COPY) == 0, "unknown flags");
        at::Tensor tensor =
            tsrt::borrow_input(data, tsrt::from_abi_dtype(tsrt::enum_code(dtype)), shape, ndim);
        if (flags & TSRT_TENSOR_COPY) tensor = tensor.clone();
        *out = wrap(c10::IValue(std::move(tensor)));
    });
}

int tsrt_value_tuple(tsrt_value *const *items, size_t count, tsrt_value **out) {
    return guarded(TSRT_ERR_INTERNAL, "creating a tuple", [&] {
        require(out != nullptr, "out is NULL");
        *out = wrap(c10::ivalue::Tuple::create(unwrap_all(items, count, "a tuple item")));
    });
}

int tsrt_value_list(tsrt_value *const *items, size_t count, tsrt_value **out) {
    return guarded(TSRT_ERR_INVALID_ARGUMENT, "creating a list", [&] {
        require(out != nullptr, "out is NULL");
        std::vector<c10::IValue> values = unwrap_all(items, count, "a list item");
        c10::TypePtr type = common_type(values);
        c10::impl::GenericList list(type);
        list.reserve(values.size());
        for (auto &value : values) list.push_back(std::move(value));
        *out = wrap(c10::IValue(list));
    });
}

int tsrt_value_dict(tsrt_value *const *keys, tsrt_value *const *values, size_t count,
                    tsrt_value **out) {
    return guarded(TSRT_ERR_INVALID_ARGUMENT, "creating a dict", [&] {
        require(out != nullptr, "out is NULL");
        std::vector<c10::IValue> key_values = unwrap_all(keys, count, "a dict key");
        std::vector<c10::IValue> item_values = unwrap_all(values, count, "a dict value");
        c10::TypePtr key_type = common_type(key_values);
        if (count == 0) key_type = c10::StringType::get();
        if (!(key_type == c10::StringType::get() || key_type == c10::IntType::get() ||
              key_type == c10::FloatType::get() || key_type == c10::BoolType::get() ||
              key_type == c10::TensorType::get()))
            fail(TSRT_ERR_INVALID_ARGUMENT,
                 "dict keys must all be str, int, float, bool or Tensor, got " + key_type->str());
        c10::impl::GenericDict dict(key_type, common_type(item_values));
        for (size_t i = 0; i < count; ++i) dict.insert_or_assign(key_values[i], item_values[i]);
        *out = wrap(c10::IValue(dict));
    });
}

void tsrt_value_free(tsrt_value *value) { delete value; }

tsrt_value_kind tsrt_value_get_kind(const tsrt_value *value) {
    if (value == nullptr) return TSRT_VALUE_OTHER;
    const c10::IValue &v = value->value;
    if (v.isNone()) return TSRT_VALUE_NONE;
    if (v.isTensor()) return TSRT_VALUE_TENSOR;
    if (v.isBool()) return TSRT_VALUE_BOOL;
    if (v.isInt()) return TSRT_VALUE_INT;
    if (v.isDouble()) return TSRT_VALUE_FLOAT;
    if (v.isString()) return TSRT_VALUE_STRING;
    if (v.isTuple()) return TSRT_VALUE_TUPLE;
    if (v.isList()) return TSRT_VALUE_LIST;
    if (v.isGenericDict()) return TSRT_VALUE_DICT;
    return TSRT_VALUE_OTHER;
}

const char *tsrt_value_type(const tsrt_value *value) {
    if (value == nullptr) return "";
    try {
        std::call_once(value->type_once, [&] { value->type_name = value->value.type()->str(); });
    } catch (...) {
        return "";
    }
    return value->type_name.c_str();
}

int tsrt_value_get_int(const tsrt_value *value, int64_t *out) {
    return guarded(TSRT_ERR_INTERNAL, "reading a value", [&] {
        const c10::IValue &v = unwrap(value, "value");
        require(out != nullptr, "out is NULL");
        if (!v.isInt()) wrong_kind(v, "int");
        *out = v.toInt();
    });
}

int tsrt_value_get_float(const tsrt_value *value, double *out) {
    return guarded(TSRT_ERR_INTERNAL, "reading a value", [&] {
        const c10::IValue &v = unwrap(value, "value");
        require(out != nullptr, "out is NULL");
        if (!v.isDouble()) wrong_kind(v, "float");
        *out = v.toDouble();
    });
}

int tsrt_value_get_bool(const tsrt_value *value, int *out) {
    return guarded(TSRT_ERR_INTERNAL, "reading a value", [&] {
        const c10::IValue &v = unwrap(value, "value");
        require(out != nullptr, "out is NULL");
        if (!v.isBool()) wrong_kind(v, "bool");
        *out = v.toBool() ? 1 : 0;
    });
}

int tsrt_value_get_string(const tsrt_value *value, const char **data, size_t *size) {
    return guarded(TSRT_ERR_INTERNAL, "reading a value", [&] {
        const c10::IValue &v = unwrap(value, "value");
        require(data != nullptr && size != nullptr, "data or size is NULL");
        if (!v.isString()) wrong_kind(v, "str");
        const std::string &text = v.toStringRef();
        *data = text.c_str();
        *size = text.size();
    });
}

int tsrt_value_get_tensor(const tsrt_value *value, tsrt_tensor **out) {
    return guarded(TSRT_ERR_INTERNAL, "reading a value", [&] {
        const c10::IValue &v = unwrap(value, "value");
        require(out != nullptr, "out is NULL");
        if (!v.isTensor()) wrong_kind(v, "Tensor");
        *out = tsrt::make_result_tensor(v.toTensor());
    });
}

size_t tsrt_value_length(const tsrt_value *value) {
    if (value == nullptr) return 0;
    const c10::IValue &v = value->value;
    if (v.isTuple()) return v.toTupleRef().elements().size();
    if (v.isList()) return v.toListRef().size();
    if (v.isGenericDict()) return v.toGenericDict().size();
    return 0;
}

int tsrt_value_get_item(const tsrt_value *value, size_t index, tsrt_value **out) {
    return guarded(TSRT_ERR_INTERNAL, "reading a value", [&] {
        const c10::IValue &v = unwrap(value, "value");
        require(out != nullptr, "out is NULL");
        if (!v.isTuple() && !v.isList()) wrong_kind(v, "a tuple or list");
        size_t length = tsrt_value_length(value);
        if (index >= length)
            fail(TSRT_ERR_INVALID_ARGUMENT, "index " + std::to_string(index) +
                                                " is out of range for length " +
                                                std::to_string(length));
        *out = wrap(v.isTuple() ? v.toTupleRef().elements()[index] : v.toList().get(index));
    });
}

int tsrt_value_get_dict_item(const tsrt_value *value, size_t index, tsrt_value **key,
                             tsrt_value **item) {
    return guarded(TSRT_ERR_INTERNAL, "reading a value", [&] {
        const c10::IValue &v = unwrap(value, "value");
        require(key != nullptr && item != nullptr, "key or item is NULL");
        if (!v.isGenericDict()) wrong_kind(v, "a dict");
        c10::impl::GenericDict dict = v.toGenericDict();
        if (index >= dict.size())
            fail(TSRT_ERR_INVALID_ARGUMENT, "index " + std::to_string(index) +
                                                " is out of range for length " +
                                                std::to_string(dict.size()));
        auto entry = dict.begin();
        std::advance(entry, static_cast<std::ptrdiff_t>(index));
        std::unique_ptr<tsrt_value> new_key(wrap(entry->key()));
        tsrt_value *new_item = wrap(entry->value());
        *key = new_key.release();
        *item = new_item;
    });
}

}  // extern "C"
