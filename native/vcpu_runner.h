// Runs KVM_RUN for one vCPU, either on the calling thread (runSync) or on a thread of its own
// (runAsync, yieldAsync), so that the JavaScript event loop stays free while the guest runs: timers,
// a watchdog and the test logic go on meanwhile. Results come back through a thread-safe function.
//
// The hand-off between the two threads spins briefly before it sleeps, because each exit costs a few
// microseconds of KVM work and a sleep/wake pair costs more than that: the runner's thread waits up to
// kThreadSpinNs for the next job, and runAsync waits up to `spinUs` for the run to end, returning its
// result at once if it does (the guest still ran on the runner's thread; only the slow path goes
// through the thread-safe function and the event loop).
//
// kick() ends a run promptly from any thread: it sets kvm_run.immediate_exit (covers a run that is
// about to start) and sends a signal to the thread inside KVM_RUN (covers a run in progress).
//
// ioctl() performs a vCPU ioctl on the thread that runs the vCPU once that thread exists, as VMMs do
// (QEMU's run_on_cpu): KVM ties some per-vCPU state to the calling task — the Xen runstate attributes
// reset the steal-time baseline from `current`'s run delay — so an attribute set from another thread
// would skew the next runstate update.
//
// Results: 0 (an exit to decode from kvm_run), -EINTR (kicked), -ETIMEDOUT (the run's own timeout
// passed), another -errno (KVM_RUN failed). Stray signals (e.g. SIGCHLD on the JavaScript thread) do not
// end a run: it is re-entered.
#pragma once
#include <napi.h>

#include <sys/types.h>

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>

#include "addon_state.h"
#include "fd_handle.h"
#include "ioctl.h"
#include "mapping.h"

namespace kvmxen {

class VcpuRunner : public Napi::ObjectWrap<VcpuRunner>, public Cleanable {
 public:
  static Napi::Function Define(Napi::Env env);
  // new VcpuRunner(vcpuHandle, runMapping, onDone(result: number))
  explicit VcpuRunner(const Napi::CallbackInfo& info);
  ~VcpuRunner() override;
  static const napi_type_tag kTypeTag;
  void CleanUp() override;

 private:
  enum class JobKind { kNone, kRun, kYield, kIoctl };
  struct Job {
    JobKind kind = JobKind::kNone;
    const RequestSpec* request = nullptr;
    IoctlArgument argument;
    uint64_t timeoutNs = 0;
    uint64_t yieldNs = 0;
  };

  // What the instance's own runSync function finds the runner by (its callback data), instead of
  // napi_unwrap(this): that property lookup cost as much as the rest of the native run path. Null once
  // the runner is gone; the function may outlive it.
  struct Slot {
    VcpuRunner* runner = nullptr;
  };
  using Method = Napi::Value (VcpuRunner::*)(const Napi::CallbackInfo&);
  template <Method method>
  static Napi::Value CallOwn(const Napi::CallbackInfo& info);
  // Defines `name` on the instance as its own function calling `method`, shadowing the prototype's.
  template <Method method>
  void DefineOwn(Napi::Env env, Napi::Object self, const char* name);
  Napi::Value RunSync(const Napi::CallbackInfo& info);
  Napi::Value RunAsync(const Napi::CallbackInfo& info);
  Napi::Value YieldAsync(const Napi::CallbackInfo& info);
  Napi::Value Ioctl(const Napi::CallbackInfo& info);
  Napi::Value Kick(const Napi::CallbackInfo& info);
  Napi::Value CloseMethod(const Napi::CallbackInfo& info);
  Napi::Value Busy(const Napi::CallbackInfo& info);
  Napi::Value ThreadId(const Napi::CallbackInfo& info);

  bool CheckUsable(Napi::Env env);
  // Publishes a job to the runner's thread; `callerWaits`: the caller spins for the result first.
  bool Submit(Napi::Env env, const Job& job, bool callerWaits);
  // KVM_RUN on the calling thread until an exit, a kick or the timeout (0: none).
  long RunOnThisThread(uint64_t timeoutNs);
  void ThreadMain();
  // Waits for the next job (spinning first); false when stopping.
  bool NextJob(Job* job);
  // The job's result: to the spinning runAsync caller if it still waits, else through onDone.
  void Finish(long result);
  void Deliver(long result);
  void KickNow();
  void Stop();

  std::shared_ptr<FdState> vcpu_;
  std::shared_ptr<Slot> slot_ = std::make_shared<Slot>();
  std::unique_ptr<MappingPin> runPin_;
  volatile uint8_t* immediateExit_ = nullptr;
  std::shared_ptr<Registry> registry_;

  Napi::ThreadSafeFunction onDone_;
  bool tsfnReleased_ = false;
  std::shared_ptr<std::atomic<bool>> busy_ = std::make_shared<std::atomic<bool>>(false);
  std::atomic<bool> kicked_{false};
  std::atomic<pid_t> runningTid_{0};

  std::thread thread_;
  std::atomic<pid_t> threadTid_{0};
  std::mutex mutex_;
  std::condition_variable wake_;
  Job pending_;                              // written before jobReady_ is set
  std::atomic<bool> jobReady_{false};
  std::atomic<bool> sleeping_{false};
  std::atomic<bool> stopping_{false};
  bool closed_ = false;

  // The hand-back of one async job: kRunning -> kDone (caller still spinning, it takes result_) or
  // kRunning -> kAbandoned (the caller stopped spinning; the result goes through onDone).
  enum HandBack : int { kRunning, kDone, kAbandoned };
  std::atomic<int> handBack_{kRunning};
  long result_ = 0;
  IoctlResult ioctlOutcome_;  // of a kIoctl job, with the shim's refusal if any
};

}  // namespace kvmxen
