// The errors the shim throws (argument and state errors), each with a `code`. Failed syscalls are not
// thrown here: they come back to TypeScript as a negative errno, and lib/kvm/errors.ts turns them into
// a KvmError that names the ioctl.
#pragma once
#include <napi.h>
#include <string>

namespace kvmxen {

// Throws a TypeError with `code` set (e.g. ERR_INVALID_ARG_TYPE) and returns an empty value.
Napi::Value ThrowTypeError(Napi::Env env, const char* code, const std::string& message);
Napi::Value ThrowRangeError(Napi::Env env, const char* code, const std::string& message);
// Misuse of an object in its current state: closed handle, busy vCPU, unmapped memory.
Napi::Value ThrowStateError(Napi::Env env, const char* code, const std::string& message);

}  // namespace kvmxen
