// eventfd(2) objects for irqfd and Xen event-channel delivery.
#pragma once
#include <napi.h>

namespace kvmxen {

// eventfd(initval, semaphore) -> FdHandle (kind "eventfd", non-blocking) | -errno
Napi::Value JsEventFd(const Napi::CallbackInfo& info);
// eventfdWrite(handle, value: bigint) -> 0 | -errno
Napi::Value JsEventFdWrite(const Napi::CallbackInfo& info);
// eventfdRead(handle) -> bigint counter | -errno (-EAGAIN when it is zero)
Napi::Value JsEventFdRead(const Napi::CallbackInfo& info);

}  // namespace kvmxen
