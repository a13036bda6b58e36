#include "arguments.h"

#include <cmath>

#include "errors.h"

namespace kvmxen {

bool ArgInteger(const Napi::CallbackInfo& info, size_t index, const char* name, double min, double max,
                uint64_t* out) {
  Napi::Env env = info.Env();
  Napi::Value value = info[index];
  if (!value.IsNumber()) {
    ThrowTypeError(env, "ERR_INVALID_ARG_TYPE", std::string(name) + " must be a number");
    return false;
  }
  double number = value.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(number) || std::trunc(number) != number || number < min || number > max) {
    ThrowRangeError(env, "ERR_OUT_OF_RANGE",
                    std::string(name) + " must be an integer in [" + std::to_string(static_cast<int64_t>(min)) +
                        ", " + std::to_string(static_cast<uint64_t>(max)) + "]");
    return false;
  }
  *out = static_cast<uint64_t>(number);
  return true;
}

bool ArgBytes(const Napi::CallbackInfo& info, size_t index, const char* name, uint8_t** data,
              size_t* length) {
  napi_env env = info.Env();
  napi_value value = info[index];
  bool is = false;
  void* base = nullptr;
  size_t size = 0;
  // A view's buffer must be an ArrayBuffer, not a SharedArrayBuffer: another thread could change the
  // bytes between the shim's checks (an array's count, a host address) and the kernel's own read.
  const auto refuseShared = [&](napi_value arraybuffer) {
    bool plain = false;
    if (napi_is_arraybuffer(env, arraybuffer, &plain) == napi_ok && plain) return false;
    ThrowTypeError(env, "ERR_INVALID_ARG_TYPE", std::string(name) + " must not be shared memory (a SharedArrayBuffer)");
    return true;
  };
  if (napi_is_typedarray(env, value, &is) == napi_ok && is) {
    napi_typedarray_type type;
    size_t elements = 0;
    napi_value arraybuffer;
    size_t offset = 0;
    if (napi_get_typedarray_info(env, value, &type, &elements, &base, &arraybuffer, &offset) != napi_ok) {
      ThrowTypeError(env, "ERR_INVALID_ARG_TYPE", std::string(name) + " could not be read");
      return false;
    }
    if (refuseShared(arraybuffer)) return false;
    size_t elementSize = 1;
    switch (type) {
      case napi_int16_array: case napi_uint16_array: elementSize = 2; break;
      case napi_int32_array: case napi_uint32_array: case napi_float32_array: elementSize = 4; break;
      case napi_float64_array: case napi_bigint64_array: case napi_biguint64_array: elementSize = 8; break;
      default: break;
    }
    size = elements * elementSize;
  } else if (napi_is_dataview(env, value, &is) == napi_ok && is) {
    napi_value arraybuffer;
    size_t offset = 0;
    if (napi_get_dataview_info(env, value, &size, &base, &arraybuffer, &offset) != napi_ok) {
      ThrowTypeError(env, "ERR_INVALID_ARG_TYPE", std::string(name) + " could not be read");
      return false;
    }
    if (refuseShared(arraybuffer)) return false;
  } else if (napi_is_arraybuffer(env, value, &is) == napi_ok && is) {
    if (napi_get_arraybuffer_info(env, value, &base, &size) != napi_ok) {
      ThrowTypeError(env, "ERR_INVALID_ARG_TYPE", std::string(name) + " could not be read");
      return false;
    }
  } else {
    ThrowTypeError(env, "ERR_INVALID_ARG_TYPE", std::string(name) + " must be an ArrayBuffer, TypedArray or DataView");
    return false;
  }
  if (base == nullptr) size = 0;  // detached
  *data = static_cast<uint8_t*>(base);
  *length = size;
  return true;
}

bool ArgFunction(const Napi::CallbackInfo& info, size_t index, const char* name, Napi::Function* out) {
  if (!info[index].IsFunction()) {
    ThrowTypeError(info.Env(), "ERR_INVALID_ARG_TYPE", std::string(name) + " must be a function");
    return false;
  }
  *out = info[index].As<Napi::Function>();
  return true;
}

}  // namespace kvmxen
