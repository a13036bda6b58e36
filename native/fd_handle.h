// An fd the addon opened, with its kind (system, VM, vCPU, eventfd). Every syscall on it goes through
// Acquire()/Release(), so close() from JavaScript never lets a number be reused under a syscall that is
// still running on another thread (a vCPU in KVM_RUN, the racing ioctl loop): the fd is closed when its
// last user is done.
#pragma once
#include <napi.h>

#include <memory>
#include <mutex>

#include "addon_state.h"
#include "mapping.h"

namespace kvmxen {

enum FdKind : unsigned {
  kKindSystem = 1u << 0,
  kKindVm = 1u << 1,
  kKindVcpu = 1u << 2,
  kKindEventFd = 1u << 3,
};

const char* FdKindName(FdKind kind);

class FdState {
 public:
  // `pins` is the VM's pin set for VM and vCPU fds, null for the others. `vcpuMmapBytes` is
  // KVM_GET_VCPU_MMAP_SIZE for VM and vCPU fds (0 for the others): the most of a vCPU fd that may be
  // mapped, as KVM raises SIGBUS for any page beyond it.
  FdState(int fd, FdKind kind, std::shared_ptr<PinSet> pins, size_t vcpuMmapBytes = 0);
  ~FdState();

  FdKind kind() const { return kind_; }
  size_t vcpuMmapBytes() const { return vcpuMmapBytes_; }
  // Unique in the process, never reused (unlike the object's address): names a vCPU's pins in its VM's
  // PinSet, which outlive the vCPU's fd as the vCPU lives on in the kernel.
  uint64_t serial() const { return serial_; }
  std::shared_ptr<PinSet> pins();
  // Returns false when closed; otherwise counts a user until Release().
  bool Acquire(int* fd);
  void Release();
  void Close();
  bool closed();

 private:
  void CloseNowLocked();

  std::mutex mutex_;
  int fd_;
  const FdKind kind_;
  const size_t vcpuMmapBytes_;
  const uint64_t serial_;
  int users_ = 0;
  bool closing_ = false;
  std::shared_ptr<PinSet> pins_;
};

// Scoped Acquire/Release.
class FdUse {
 public:
  explicit FdUse(FdState& state) : state_(state), ok_(state.Acquire(&fd_)) {}
  ~FdUse() { if (ok_) state_.Release(); }
  bool ok() const { return ok_; }
  int fd() const { return fd_; }

 private:
  FdState& state_;
  int fd_ = -1;
  bool ok_;
};

// The JavaScript object: { fd, kind, closed, close() }.
class FdHandle : public Napi::ObjectWrap<FdHandle>, public Cleanable {
 public:
  static Napi::Function Define(Napi::Env env);
  static Napi::Value New(Napi::Env env, std::shared_ptr<FdState> state);
  // Returns the state behind argument `index` if it is an open handle of one of `kinds`; otherwise
  // throws and returns null.
  static std::shared_ptr<FdState> FromArg(const Napi::CallbackInfo& info, size_t index, unsigned kinds);
  static const napi_type_tag kTypeTag;

  explicit FdHandle(const Napi::CallbackInfo& info);
  ~FdHandle() override;
  void CleanUp() override;

 private:
  Napi::Value Fd(const Napi::CallbackInfo& info);
  Napi::Value Kind(const Napi::CallbackInfo& info);
  Napi::Value Closed(const Napi::CallbackInfo& info);
  Napi::Value CloseMethod(const Napi::CallbackInfo& info);

  std::shared_ptr<FdState> state_;
  std::shared_ptr<Registry> registry_;
  int fdNumber_ = -1;
};

}  // namespace kvmxen
