// The kvm-xen native shim: open, ioctl, mmap, eventfd and vCPU/racing threads, nothing else.
// Everything about KVM's structs and semantics lives in TypeScript (lib/kvm); this file only wires the
// pieces together and ends what JavaScript left running when its environment goes away.
#include <napi.h>

#include "addon_state.h"
#include "eventfd.h"
#include "fd_handle.h"
#include "ioctl.h"
#include "ioctl_loop.h"
#include "mapping.h"
#include "run_delay.h"
#include "vcpu_runner.h"

namespace kvmxen {

void Registry::Add(Cleanable* item, int rank) {
  std::lock_guard<std::mutex> lock(mutex_);
  items_.insert({rank, item});
}

void Registry::Remove(Cleanable* item) {
  std::lock_guard<std::mutex> lock(mutex_);
  for (auto it = items_.begin(); it != items_.end(); ++it) {
    if (it->second == item) {
      items_.erase(it);
      return;
    }
  }
}

void Registry::CleanUpAll() {
  // Items stay registered (their destructors remove them later); CleanUp() is idempotent.
  std::set<std::pair<int, Cleanable*>> items;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    items = items_;
  }
  for (const auto& item : items) item.second->CleanUp();
}

AddonState* GetAddonState(Napi::Env env) { return env.GetInstanceData<AddonState>(); }

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  auto* state = new AddonState();
  env.SetInstanceData(state);
  std::shared_ptr<Registry> registry = state->registry;
  env.AddCleanupHook([registry]() { registry->CleanUpAll(); });

  Napi::Function fdHandle = FdHandle::Define(env);
  state->fdHandleConstructor = Napi::Persistent(fdHandle);
  Napi::Function mapping = Mapping::Define(env);
  state->mappingConstructor = Napi::Persistent(mapping);

  exports.Set("FdHandle", fdHandle);
  exports.Set("Mapping", mapping);
  exports.Set("VcpuRunner", VcpuRunner::Define(env));
  exports.Set("IoctlLoop", IoctlLoop::Define(env));
  exports.Set("requests", Napi::Function::New(env, JsRequests, "requests"));
  exports.Set("openDevice", Napi::Function::New(env, JsOpenDevice, "openDevice"));
  exports.Set("ioctl", Napi::Function::New(env, JsIoctl, "ioctl"));
  exports.Set("mapAnonymous", Napi::Function::New(env, JsMapAnonymous, "mapAnonymous"));
  exports.Set("mapVcpuRun", Napi::Function::New(env, JsMapVcpuRun, "mapVcpuRun"));
  exports.Set("eventfd", Napi::Function::New(env, JsEventFd, "eventfd"));
  exports.Set("eventfdWrite", Napi::Function::New(env, JsEventFdWrite, "eventfdWrite"));
  exports.Set("eventfdRead", Napi::Function::New(env, JsEventFdRead, "eventfdRead"));
  exports.Set("readRunDelay", Napi::Function::New(env, JsReadRunDelay, "readRunDelay"));
  exports.Set("yieldUntilRunDelay", Napi::Function::New(env, JsYieldUntilRunDelay, "yieldUntilRunDelay"));
  return exports;
}

}  // namespace kvmxen

static Napi::Object InitKvmXen(Napi::Env env, Napi::Object exports) { return kvmxen::Init(env, exports); }

NODE_API_MODULE(kvm_xen, InitKvmXen)
