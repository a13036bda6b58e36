// The checks of the JavaScript arguments the shim's functions take: each reads one argument as the
// type it needs, or throws a TypeError/RangeError (errors.h) that names it and returns false.
#pragma once
#include <napi.h>
#include <cstddef>
#include <cstdint>

#include "errors.h"

namespace kvmxen {

// Reads argument `index` as an integer in [min, max]; throws and returns false otherwise.
bool ArgInteger(const Napi::CallbackInfo& info, size_t index, const char* name, double min, double max,
                uint64_t* out);

// Reads argument `index` as bytes: any TypedArray, DataView or ArrayBuffer, not shared memory. A
// detached buffer has length 0. Throws and returns false for other values.
bool ArgBytes(const Napi::CallbackInfo& info, size_t index, const char* name, uint8_t** data,
              size_t* length);

// Reads argument `index` as a function; throws and returns false otherwise.
bool ArgFunction(const Napi::CallbackInfo& info, size_t index, const char* name, Napi::Function* out);

}  // namespace kvmxen
