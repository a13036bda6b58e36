// Argument and state errors thrown by the shim. Failed syscalls are not thrown here: they come back
// to TypeScript as a negative errno, and lib/kvm/errors.ts turns them into a KvmError that names the
// ioctl.
#pragma once
#include <napi.h>
#include <cstddef>
#include <cstdint>

namespace kvmxen {

// Throws a TypeError with `code` set (e.g. ERR_INVALID_ARG_TYPE) and returns an empty value.
Napi::Value ThrowTypeError(Napi::Env env, const char* code, const std::string& message);
Napi::Value ThrowRangeError(Napi::Env env, const char* code, const std::string& message);
// Misuse of an object in its current state: closed handle, busy vCPU, unmapped memory.
Napi::Value ThrowStateError(Napi::Env env, const char* code, const std::string& message);

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
