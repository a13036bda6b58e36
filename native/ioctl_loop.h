// A thread that repeats a fixed list of ioctls on one fd until stopped: the "racing thread" of tests
// such as xen_shinfo_test, whose juggler toggles the shared_info page while another thread sends events
// and the guest polls. Each call goes through the same checked path as ioctl(); results are ignored, as
// the race is the point. stop() takes effect only right after an entry marked as a stop point, so the
// loop always leaves the kernel in a chosen state.
#pragma once
#include <napi.h>

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include "addon_state.h"
#include "fd_handle.h"
#include "ioctl.h"

namespace kvmxen {

class IoctlLoop : public Napi::ObjectWrap<IoctlLoop>, public Cleanable {
 public:
  static Napi::Function Define(Napi::Env env);
  // new IoctlLoop(handle, [{ request, arg, stopPoint }...])
  explicit IoctlLoop(const Napi::CallbackInfo& info);
  ~IoctlLoop() override;
  void CleanUp() override;

 private:
  struct Entry {
    const RequestSpec* spec;
    std::vector<uint8_t> bytes;
    uint64_t value;
    bool stopPoint;
  };

  Napi::Value StopMethod(const Napi::CallbackInfo& info);
  void ThreadMain();
  // Joins the thread; returns the number of completed passes over the list.
  uint64_t Stop();

  std::shared_ptr<FdState> fd_;
  std::vector<Entry> entries_;
  std::thread thread_;
  std::atomic<bool> stopRequested_{false};
  std::atomic<uint64_t> passes_{0};
  std::shared_ptr<Registry> registry_;
};

}  // namespace kvmxen
