// Host memory the addon maps: guest RAM (anonymous) and each vCPU's kvm_run page (a shared mapping of
// the vCPU fd). JavaScript sees the bytes as an external ArrayBuffer; the kernel may also write them
// (memslots, Xen shared_info/vcpu_info by HVA, the Xen timer firing later). The range is unmapped only
// when neither can reach it any more: the ArrayBuffer is detached or collected, and no pin is held.
#pragma once
#include <napi.h>

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "addon_state.h"

namespace kvmxen {

class MappingState {
 public:
  // mmap(2) results; on failure returns nullptr and sets *error to a positive errno.
  static std::shared_ptr<MappingState> Anonymous(size_t size, int* error);
  // `keepAlive` is held until the range is unmapped (a kvm_run page holds its VM's pins).
  static std::shared_ptr<MappingState> SharedFile(int fd, size_t size, std::shared_ptr<class PinSet> keepAlive,
                                                  int* error);
  ~MappingState();

  uint8_t* base() const { return base_; }
  size_t size() const { return size_; }

  // JavaScript can no longer reach the bytes.
  void EndJsAccess();
  // Replaces [offset, offset+length) with a private mapping of /dev/zero (MAP_FIXED). Returns 0 or
  // -errno.
  int RemapZero(size_t offset, size_t length);

 private:
  friend class MappingPin;
  MappingState(uint8_t* base, size_t size) : base_(base), size_(size) {}
  // Unmaps when nothing can reach the bytes; returns what the mapping kept alive, to be dropped by the
  // caller after unlocking.
  std::shared_ptr<class PinSet> UnmapIfUnreachableLocked();

  std::mutex mutex_;
  uint8_t* base_;
  size_t size_;
  bool jsAccess_ = true;
  bool mapped_ = true;
  int pins_ = 0;
  std::shared_ptr<class PinSet> keepAlive_;
};

// Keeps a mapping's bytes in place while the kernel may use them.
class MappingPin {
 public:
  // Pins `mapping` unconditionally (it must be mapped, e.g. the caller holds a pin or made it).
  explicit MappingPin(std::shared_ptr<MappingState> mapping);
  // Pins `mapping` only if JavaScript has not unmapped it; null otherwise.
  static std::unique_ptr<MappingPin> IfLive(std::shared_ptr<MappingState> mapping);
  ~MappingPin();
  MappingPin(const MappingPin&) = delete;
  MappingPin& operator=(const MappingPin&) = delete;

 private:
  struct AlreadyCounted {};
  MappingPin(std::shared_ptr<MappingState> mapping, AlreadyCounted) : mapping_(std::move(mapping)) {}
  std::shared_ptr<MappingState> mapping_;
};

// Pins the live mapping made by this addon that contains [address, address + length); null if there
// is none (never mapped by us, unmapped by the user, or the range runs past its end).
std::unique_ptr<MappingPin> PinLiveRange(uint64_t address, uint64_t length);

// The pins of one VM, keyed by what the kernel uses them for ("slot:3", "shinfo", "vcpu_info:5").
// Shared by the VM fd, its vCPU fds and their kvm_run mappings: the VM lives in the kernel as long as
// any of them does, so the pinned memory must too.
// It also keeps each memslot's size, recorded when KVM accepts the slot: KVM_GET_DIRTY_LOG writes a
// bitmap as long as the slot has pages, and the shim must know that length before the kernel does.
class PinSet {
 public:
  void Set(const std::string& key, std::unique_ptr<MappingPin> pin);
  void Erase(const std::string& key);
  // The memslot `slot` (kvm_userspace_memory_region.slot) is `bytes` long; 0 deletes it.
  void SetSlotBytes(uint32_t slot, uint64_t bytes);
  // Its size, or 0 if no such slot exists.
  uint64_t SlotBytes(uint32_t slot);

 private:
  std::mutex mutex_;
  std::map<std::string, std::unique_ptr<MappingPin>> pins_;
  std::map<uint32_t, uint64_t> slotBytes_;
};

// The JavaScript object: { buffer, address, size, unmapped, remapZero(), unmap() }.
class Mapping : public Napi::ObjectWrap<Mapping>, public Cleanable {
 public:
  static Napi::Function Define(Napi::Env env);
  static Napi::Value New(Napi::Env env, std::shared_ptr<MappingState> state);
  explicit Mapping(const Napi::CallbackInfo& info);
  ~Mapping() override;

  std::shared_ptr<MappingState> state() const { return state_; }
  static const napi_type_tag kTypeTag;
  void Unmap();
  void CleanUp() override;

 private:
  Napi::Value Buffer(const Napi::CallbackInfo& info);
  Napi::Value Address(const Napi::CallbackInfo& info);
  Napi::Value Size(const Napi::CallbackInfo& info);
  Napi::Value Unmapped(const Napi::CallbackInfo& info);
  Napi::Value RemapZero(const Napi::CallbackInfo& info);
  Napi::Value UnmapMethod(const Napi::CallbackInfo& info);

  std::shared_ptr<MappingState> state_;
  std::shared_ptr<Registry> registry_;
  Napi::Reference<Napi::ArrayBuffer> buffer_;
  uint64_t address_ = 0;
  size_t size_ = 0;
};

}  // namespace kvmxen
