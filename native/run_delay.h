// The scheduler's run delay of the calling thread (/proc/thread-self/schedstat, second field): the time
// it was runnable but waiting for a CPU. KVM's Xen runstate accounting moves the vCPU thread's run
// delay from "running" to "runnable" (steal time), so the steal-time stage must yield on the thread
// that issues KVM_RUN.
#pragma once
#include <napi.h>

#include <atomic>
#include <cstdint>

namespace kvmxen {

// Run delay of the calling thread in ns, or -errno.
int64_t ReadRunDelay();
// sched_yield() until the calling thread's run delay has grown by `ns`, `timeoutNs` passed, or `*stop`
// became true. Returns the growth in ns, or -ETIMEDOUT / -EINTR (stopped) / -errno.
int64_t YieldUntilRunDelay(uint64_t ns, uint64_t timeoutNs, const std::atomic<bool>* stop = nullptr);

// readRunDelay() -> bigint ns | -errno
Napi::Value JsReadRunDelay(const Napi::CallbackInfo& info);
// yieldUntilRunDelay(ns, timeoutMs) -> growth in ns | -errno (on the calling, i.e. JavaScript, thread)
Napi::Value JsYieldUntilRunDelay(const Napi::CallbackInfo& info);

}  // namespace kvmxen
