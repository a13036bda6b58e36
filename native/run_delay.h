// The calling thread and the scheduler. Its run delay (/proc/thread-self/schedstat, second field): the
// time it was runnable but waiting for a CPU. KVM's Xen runstate accounting moves the vCPU thread's run
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

// Makes the calling thread SCHED_FIFO at the lowest real-time priority (`realtime`), or SCHED_OTHER
// again: while real-time, no ordinary task can preempt it, so its run delay does not grow. 0 or -errno
// (EPERM without CAP_SYS_NICE).
int SetThreadRealtime(bool realtime);

// readRunDelay() -> bigint ns | -errno
Napi::Value JsReadRunDelay(const Napi::CallbackInfo& info);
// yieldUntilRunDelay(ns, timeoutMs) -> growth in ns | -errno (on the calling, i.e. JavaScript, thread)
Napi::Value JsYieldUntilRunDelay(const Napi::CallbackInfo& info);
// setThreadRealtime(realtime: boolean) -> 0 | -errno (on the calling, i.e. JavaScript, thread)
Napi::Value JsSetThreadRealtime(const Napi::CallbackInfo& info);

}  // namespace kvmxen
