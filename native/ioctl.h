// The one checked path to ioctl(2). Every request the shim knows (requests.cc) goes through
// PerformIoctl, from the JavaScript thread or from the racing ioctl loop's thread.
#pragma once
#include <napi.h>

#include <cstdint>
#include <string>

#include "fd_handle.h"
#include "requests.h"

namespace kvmxen {

struct IoctlArgument {
  uint64_t value = 0;        // ArgShape::kValue
  uint8_t* data = nullptr;   // kStruct / kFlexArray
  size_t length = 0;
};

struct IoctlResult {
  long result = 0;           // >= 0 from the kernel, or -errno
  std::string refusal;       // non-empty: the shim refused before the syscall, result is -EFAULT
  const char* refusalCode = "ERR_KVM_BAD_ADDRESS";  // the RangeError's code for the refusal
};

// Reads and checks the argument of `spec` from info[index] (shape, size, flexible-array count).
// Throws and returns false when it does not fit.
bool ReadIoctlArgument(const Napi::CallbackInfo& info, size_t index, const RequestSpec& spec, IoctlArgument* out);

// Looks a request up by table index; throws and returns null for a bad index.
const RequestSpec* RequestFromArg(const Napi::CallbackInfo& info, size_t index);

// Performs the request on `state` (already checked to be of an allowed kind). Host addresses handed to
// the kernel are checked and pinned here. Thread-safe.
IoctlResult PerformIoctl(FdState& state, const RequestSpec& spec, const IoctlArgument& argument);

// JavaScript: ioctl(handle, request, arg?) -> number (result or -errno), or an FdHandle for requests
// that create one. requests() -> the table. openDevice(path) -> FdHandle | -errno.
Napi::Value JsIoctl(const Napi::CallbackInfo& info);
Napi::Value JsRequests(const Napi::CallbackInfo& info);
Napi::Value JsOpenDevice(const Napi::CallbackInfo& info);
Napi::Value JsMapAnonymous(const Napi::CallbackInfo& info);
Napi::Value JsMapVcpuRun(const Napi::CallbackInfo& info);

}  // namespace kvmxen
