#include "vcpu_runner.h"

#include <linux/kvm.h>
#include <pthread.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>

#include "arguments.h"
#include "clock.h"
#include "run_delay.h"
#include "type_tags.h"

namespace kvmxen {
namespace {

// The signal that interrupts KVM_RUN. A real-time signal nobody else in Node uses; its handler does
// nothing: the interruption itself is the point. SA_RESTART keeps other syscalls of the thread
// transparent; KVM_RUN returns -EINTR regardless.
int KickSignal() { return SIGRTMIN + 5; }

void InstallKickHandler() {
  static std::once_flag once;
  std::call_once(once, [] {
    struct sigaction action = {};
    action.sa_handler = [](int) {};
    action.sa_flags = SA_RESTART;
    sigemptyset(&action.sa_mask);
    sigaction(KickSignal(), &action, nullptr);
  });
}

// Cached per thread: a syscall per run would cost as much as the rest of the run path.
pid_t CurrentTid() {
  thread_local pid_t tid = static_cast<pid_t>(syscall(SYS_gettid));
  return tid;
}

// A one-shot timer that sends the kick signal to one thread after `ns`.
class ThreadTimer {
 public:
  ThreadTimer(pid_t tid, uint64_t ns) {
    struct sigevent event = {};
    event.sigev_notify = SIGEV_THREAD_ID;
    event.sigev_signo = KickSignal();
    event._sigev_un._tid = tid;
    if (timer_create(CLOCK_MONOTONIC, &event, &timer_) != 0) return;
    armed_ = true;
    struct itimerspec when = {};
    when.it_value.tv_sec = static_cast<time_t>(ns / 1000000000ull);
    when.it_value.tv_nsec = static_cast<long>(ns % 1000000000ull);
    timer_settime(timer_, 0, &when, nullptr);
  }
  ~ThreadTimer() {
    if (armed_) timer_delete(timer_);
  }

 private:
  timer_t timer_{};
  bool armed_ = false;
};

constexpr double kMaxTimeoutMs = 86400000.0;  // a day
// How long the runner's thread spins for its next job before it sleeps (cheaper than a futex wake when
// the JavaScript side answers an exit quickly, as it usually does).
constexpr uint64_t kThreadSpinNs = 100000;
constexpr double kMaxSpinUs = 10000;
constexpr uint64_t kMaxYieldTimeoutNs = 60ull * 1000000000ull;

}  // namespace

Napi::Function VcpuRunner::Define(Napi::Env env) {
  return DefineClass(env, "VcpuRunner",
                     {
                         InstanceMethod<&VcpuRunner::RunSync>("runSync"),
                         InstanceMethod<&VcpuRunner::RunAsync>("runAsync"),
                         InstanceMethod<&VcpuRunner::YieldAsync>("yieldAsync"),
                         InstanceMethod<&VcpuRunner::Ioctl>("ioctl"),
                         InstanceMethod<&VcpuRunner::Kick>("kick"),
                         InstanceMethod<&VcpuRunner::CloseMethod>("close"),
                         TaggedAccessor<VcpuRunner, &VcpuRunner::Busy>("busy"),
                         TaggedAccessor<VcpuRunner, &VcpuRunner::ThreadId>("threadId"),
                     });
}

const napi_type_tag VcpuRunner::kTypeTag = {0x6b766d78656e0003ull, 0x8d1f4c3a2b6e9f03ull};

VcpuRunner::VcpuRunner(const Napi::CallbackInfo& info) : Napi::ObjectWrap<VcpuRunner>(info) {
  Napi::Env env = info.Env();
  info.This().As<Napi::Object>().TypeTag(&kTypeTag);
  vcpu_ = FdHandle::FromArg(info, 0, kKindVcpu);
  if (!vcpu_) return;
  Mapping* mapping = UnwrapTagged<Mapping>(info[1]);
  if (mapping == nullptr) {
    vcpu_.reset();
    ThrowTypeError(env, "ERR_INVALID_ARG_TYPE", "runMapping must be the vCPU's kvm_run Mapping");
    return;
  }
  std::shared_ptr<MappingState> state = mapping->state();
  if (!state || state->size() < sizeof(struct kvm_run)) {
    vcpu_.reset();
    ThrowTypeError(env, "ERR_INVALID_ARG_TYPE", "runMapping must be a live kvm_run Mapping");
    return;
  }
  runPin_ = MappingPin::IfLive(state);
  if (!runPin_) {
    vcpu_.reset();
    ThrowTypeError(env, "ERR_INVALID_ARG_TYPE", "runMapping must be a live kvm_run Mapping");
    return;
  }
  immediateExit_ = state->base() + offsetof(struct kvm_run, immediate_exit);
  Napi::Function onDone;
  if (!ArgFunction(info, 2, "onDone", &onDone)) {
    vcpu_.reset();
    runPin_.reset();
    return;
  }
  onDone_ = Napi::ThreadSafeFunction::New(env, onDone, "kvm-xen vcpu", 0, 1);
  onDone_.Unref(env);
  InstallKickHandler();
  registry_ = GetAddonState(env)->registry;
  registry_->Add(this, kRankThread);
  slot_->runner = this;
  DefineOwn<&VcpuRunner::RunSync>(env, info.This().As<Napi::Object>(), "runSync");
}

template <VcpuRunner::Method method>
Napi::Value VcpuRunner::CallOwn(const Napi::CallbackInfo& info) {
  VcpuRunner* runner = (*static_cast<std::shared_ptr<Slot>*>(info.Data()))->runner;
  if (runner == nullptr) return ThrowStateError(info.Env(), "ERR_KVM_CLOSED", "the vCPU runner is gone");
  return (runner->*method)(info);
}

template <VcpuRunner::Method method>
void VcpuRunner::DefineOwn(Napi::Env env, Napi::Object self, const char* name) {
  auto* held = new std::shared_ptr<Slot>(slot_);
  Napi::Function function = Napi::Function::New<&VcpuRunner::CallOwn<method>>(env, name, held);
  function.AddFinalizer([](Napi::Env, std::shared_ptr<Slot>* slot) { delete slot; }, held);
  self.DefineProperty(Napi::PropertyDescriptor::Value(
      name, function, static_cast<napi_property_attributes>(napi_writable | napi_configurable)));
}

VcpuRunner::~VcpuRunner() {
  slot_->runner = nullptr;
  if (registry_) registry_->Remove(this);
  Stop();
}

void VcpuRunner::CleanUp() { Stop(); }

bool VcpuRunner::CheckUsable(Napi::Env env) {
  if (!vcpu_) {
    ThrowTypeError(env, "ERR_INVALID_ARG_TYPE", "not a VcpuRunner made with a vCPU handle");
    return false;
  }
  if (closed_) {
    ThrowStateError(env, "ERR_KVM_CLOSED", "the vCPU runner is closed");
    return false;
  }
  if (busy_->load()) {
    ThrowStateError(env, "ERR_KVM_BUSY", "the vCPU is already running (one run at a time)");
    return false;
  }
  return true;
}

long VcpuRunner::RunOnThisThread(uint64_t timeoutNs) {
  FdUse use(*vcpu_);
  if (!use.ok()) return -EBADF;
  const uint64_t deadline = timeoutNs ? MonotonicNs() + timeoutNs : 0;
  runningTid_.store(CurrentTid());
  long result;
  for (;;) {
    std::unique_ptr<ThreadTimer> timer;
    if (timeoutNs) {
      const uint64_t now = MonotonicNs();
      if (now >= deadline) { result = -ETIMEDOUT; break; }
      timer.reset(new ThreadTimer(runningTid_.load(), deadline - now));
    }
    long ret = ioctl(use.fd(), KVM_RUN, 0);
    result = ret < 0 ? -errno : 0;
    if (result != -EINTR) break;
    // Kicked, or immediate_exit set by the caller (KVM's own way to complete pending I/O and return).
    if (kicked_.load() || *immediateExit_) break;
    if (timeoutNs && MonotonicNs() >= deadline) { result = -ETIMEDOUT; break; }
    // A stray signal: go back in.
  }
  runningTid_.store(0);
  *immediateExit_ = 0;
  return result;
}

Napi::Value VcpuRunner::RunSync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint64_t timeoutMs = 0;
  // No argument (or undefined): no timeout, without a number's checks on the hot path.
  if (info.Length() > 0 && !info[0].IsUndefined() && !ArgInteger(info, 0, "timeoutMs", 0, kMaxTimeoutMs, &timeoutMs)) {
    return env.Undefined();
  }
  if (!CheckUsable(env)) return env.Undefined();
  busy_->store(true);
  kicked_.store(false);
  long result = RunOnThisThread(timeoutMs * 1000000ull);
  busy_->store(false);
  return Napi::Number::New(env, static_cast<double>(result));
}

bool VcpuRunner::Submit(Napi::Env env, const Job& job, bool callerWaits) {
  if (!CheckUsable(env)) return false;
  busy_->store(true);
  kicked_.store(false);
  if (callerWaits) {
    handBack_.store(kRunning);
  } else {
    handBack_.store(kAbandoned);
    onDone_.Ref(env);  // the result comes through the event loop: keep it alive meanwhile
  }
  pending_ = job;
  jobReady_.store(true);
  if (!thread_.joinable()) {
    thread_ = std::thread(&VcpuRunner::ThreadMain, this);
  } else if (sleeping_.load()) {
    std::lock_guard<std::mutex> lock(mutex_);
    wake_.notify_one();
  }
  return true;
}

Napi::Value VcpuRunner::RunAsync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint64_t timeoutMs = 0, spinUs = 0;
  if (!ArgInteger(info, 0, "timeoutMs", 0, kMaxTimeoutMs, &timeoutMs) ||
      !ArgInteger(info, 1, "spinUs", 0, kMaxSpinUs, &spinUs)) {
    return env.Undefined();
  }
  Job job;
  job.kind = JobKind::kRun;
  job.timeoutNs = timeoutMs * 1000000ull;
  if (!Submit(env, job, spinUs > 0)) return env.Undefined();
  if (spinUs == 0) return env.Undefined();
  const uint64_t deadline = MonotonicNs() + spinUs * 1000;
  for (;;) {
    if (handBack_.load() == kDone) break;
    if (MonotonicNs() >= deadline) {
      int expected = kRunning;
      if (handBack_.compare_exchange_strong(expected, kAbandoned)) {
        onDone_.Ref(env);  // the result now comes through the event loop: keep it alive meanwhile
        return env.Undefined();
      }
      break;  // it finished just now
    }
    __builtin_ia32_pause();
  }
  busy_->store(false);
  return Napi::Number::New(env, static_cast<double>(result_));
}

Napi::Value VcpuRunner::Ioctl(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!vcpu_) return ThrowTypeError(env, "ERR_INVALID_ARG_TYPE", "not a VcpuRunner made with a vCPU handle");
  const RequestSpec* spec = RequestFromArg(info, 0);
  if (spec == nullptr) return env.Undefined();
  if ((spec->kinds & kKindVcpu) == 0 || spec->createsKind != 0 || spec->number == KVM_RUN) {
    return ThrowTypeError(env, "ERR_KVM_WRONG_FD_KIND", std::string(spec->name) + " is not a vCPU ioctl the runner performs");
  }
  Job job;
  job.kind = JobKind::kIoctl;
  job.request = spec;
  if (!ReadIoctlArgument(info, 1, *spec, &job.argument)) return env.Undefined();
  IoctlResult outcome;
  if (closed_) return ThrowStateError(env, "ERR_KVM_CLOSED", "the vCPU runner is closed");
  if (!thread_.joinable() || busy_->load()) {
    // No runner thread yet (the caller's thread runs the vCPU), or a run in progress: the kernel
    // serialises on the vCPU mutex either way.
    outcome = PerformIoctl(*vcpu_, *spec, job.argument);
  } else {
    // The argument's bytes stay valid: this call waits until the thread is done with them.
    if (!Submit(env, job, true)) return env.Undefined();
    while (handBack_.load() != kDone) {
      __builtin_ia32_pause();
    }
    busy_->store(false);
    outcome = ioctlOutcome_;
  }
  if (!outcome.refusal.empty()) return ThrowRangeError(env, outcome.refusalCode, outcome.refusal);
  return Napi::Number::New(env, static_cast<double>(outcome.result));
}

Napi::Value VcpuRunner::YieldAsync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint64_t ns = 0, timeoutMs = 0;
  if (!ArgInteger(info, 0, "ns", 0, 1e12, &ns) || !ArgInteger(info, 1, "timeoutMs", 0, 60000, &timeoutMs)) {
    return env.Undefined();
  }
  Job job;
  job.kind = JobKind::kYield;
  job.yieldNs = ns;
  job.timeoutNs = timeoutMs * 1000000ull;
  Submit(env, job, false);
  return env.Undefined();
}

void VcpuRunner::ThreadMain() {
  // Only the kick may interrupt this thread; everything else is the JavaScript thread's business.
  sigset_t mask;
  sigfillset(&mask);
  sigdelset(&mask, KickSignal());
  pthread_sigmask(SIG_SETMASK, &mask, nullptr);
  threadTid_.store(CurrentTid());
  Job job;
  while (NextJob(&job)) {
    long result = 0;
    if (stopping_.load()) {
      // close() came before the job started: it ends unrun, as if kicked, so its promise settles.
      result = -EINTR;
    } else if (job.kind == JobKind::kRun) {
      result = RunOnThisThread(job.timeoutNs);
    } else if (job.kind == JobKind::kIoctl) {
      ioctlOutcome_ = PerformIoctl(*vcpu_, *job.request, job.argument);
      result = ioctlOutcome_.result;
    } else {
      uint64_t timeout = job.timeoutNs ? job.timeoutNs : kMaxYieldTimeoutNs;
      result = static_cast<long>(YieldUntilRunDelay(job.yieldNs, timeout, &stopping_));
    }
    Finish(result);
  }
}

bool VcpuRunner::NextJob(Job* job) {
  const uint64_t spinUntil = MonotonicNs() + kThreadSpinNs;
  while (!jobReady_.load() && !stopping_.load() && MonotonicNs() < spinUntil) __builtin_ia32_pause();
  if (!jobReady_.load() && !stopping_.load()) {
    // Sleep. sleeping_ is set before jobReady_ is checked again, and Submit sets jobReady_ before it
    // checks sleeping_, so one of the two always sees the other (and the notify takes the mutex).
    std::unique_lock<std::mutex> lock(mutex_);
    sleeping_.store(true);
    wake_.wait(lock, [this] { return jobReady_.load() || stopping_.load(); });
    sleeping_.store(false);
  }
  // Stopping: a job submitted just before still gets its answer (ThreadMain does not run it).
  if (!jobReady_.load()) return false;
  *job = pending_;
  jobReady_.store(false);
  return true;
}

void VcpuRunner::Finish(long result) {
  result_ = result;
  int expected = kRunning;
  if (handBack_.compare_exchange_strong(expected, kDone)) return;  // the caller is still spinning: it takes it
  Deliver(result);
}

void VcpuRunner::Deliver(long result) {
  // The callback must not touch `this`: the runner may be collected before a queued result arrives.
  // The runner stays busy until JavaScript has the result, so a new job cannot overtake it.
  auto* boxed = new long(result);
  Napi::ThreadSafeFunction tsfn = onDone_;
  std::shared_ptr<std::atomic<bool>> busy = busy_;
  napi_status status = onDone_.NonBlockingCall(boxed, [tsfn, busy](Napi::Env env, Napi::Function callback, long* value) {
    long delivered = *value;
    delete value;
    busy->store(false);
    if (env == nullptr) return;  // the environment is going away
    Napi::ThreadSafeFunction(tsfn).Unref(env);
    callback.Call({Napi::Number::New(env, static_cast<double>(delivered))});
  });
  if (status != napi_ok) delete boxed;
}

void VcpuRunner::KickNow() {
  kicked_.store(true);
  if (immediateExit_) *immediateExit_ = 1;
  pid_t tid = runningTid_.load();
  if (tid != 0) syscall(SYS_tgkill, getpid(), tid, KickSignal());
}

Napi::Value VcpuRunner::Kick(const Napi::CallbackInfo& info) {
  if (vcpu_ && !closed_ && busy_->load()) KickNow();
  return info.Env().Undefined();
}

void VcpuRunner::Stop() {
  if (!vcpu_ || closed_) return;
  closed_ = true;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_.store(true);
  }
  wake_.notify_one();
  // A run in progress ends at the kick; keep kicking until the thread has left (the signal can arrive
  // just before it enters KVM_RUN, where immediate_exit catches it).
  if (thread_.joinable()) {
    KickNow();
    thread_.join();
  }
  onDone_.Release();
  runPin_.reset();
}

Napi::Value VcpuRunner::CloseMethod(const Napi::CallbackInfo& info) {
  Stop();
  return info.Env().Undefined();
}

Napi::Value VcpuRunner::Busy(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), busy_->load());
}

Napi::Value VcpuRunner::ThreadId(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), threadTid_.load());
}

}  // namespace kvmxen
