// Per-environment state of the addon (main thread and each worker_thread have one): the constructors
// of its classes and the live objects that the environment's clean-up hook must stop, close or unmap
// when the environment ends (process exit, worker termination) without JavaScript having done it.
#pragma once
#include <napi.h>

#include <memory>
#include <mutex>
#include <set>

namespace kvmxen {

// Something the clean-up hook must end: a vCPU thread, a racing ioctl thread, an fd, a mapping.
class Cleanable {
 public:
  virtual ~Cleanable() = default;
  virtual void CleanUp() = 0;
};

class Registry {
 public:
  void Add(Cleanable* item, int rank);
  void Remove(Cleanable* item);
  // Calls CleanUp() on every item: threads first, then fds, then mappings (by rank).
  void CleanUpAll();

 private:
  std::mutex mutex_;
  std::set<std::pair<int, Cleanable*>> items_;
};

enum CleanupRank { kRankThread = 0, kRankFd = 1, kRankMapping = 2 };

struct AddonState {
  Napi::FunctionReference fdHandleConstructor;
  Napi::FunctionReference mappingConstructor;
  std::shared_ptr<Registry> registry = std::make_shared<Registry>();
};

AddonState* GetAddonState(Napi::Env env);

}  // namespace kvmxen
