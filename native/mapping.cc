#include "mapping.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>

#include "addon_state.h"
#include "arguments.h"
#include "type_tags.h"

namespace kvmxen {
namespace {

// Every mapping made by the addon, for FindLiveMapping (HVA checks before an ioctl hands an address to
// the kernel). Weak: the registry never keeps memory mapped.
std::mutex registryMutex;
std::map<uintptr_t, std::weak_ptr<MappingState>> registry;

void Register(const std::shared_ptr<MappingState>& state) {
  std::lock_guard<std::mutex> lock(registryMutex);
  registry[reinterpret_cast<uintptr_t>(state->base())] = state;
}

void Unregister(uint8_t* base) {
  std::lock_guard<std::mutex> lock(registryMutex);
  registry.erase(reinterpret_cast<uintptr_t>(base));
}

}  // namespace

std::shared_ptr<MappingState> MappingState::Anonymous(size_t size, int* error) {
  void* base = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (base == MAP_FAILED) {
    *error = errno;
    return nullptr;
  }
  std::shared_ptr<MappingState> state(new MappingState(static_cast<uint8_t*>(base), size));
  Register(state);
  return state;
}

std::shared_ptr<MappingState> MappingState::SharedFile(int fd, size_t size, std::shared_ptr<PinSet> keepAlive,
                                                      int* error) {
  void* base = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (base == MAP_FAILED) {
    *error = errno;
    return nullptr;
  }
  // Not registered: a kvm_run page is never valid guest memory or a Xen HVA.
  std::shared_ptr<MappingState> state(new MappingState(static_cast<uint8_t*>(base), size));
  state->keepAlive_ = std::move(keepAlive);
  return state;
}

MappingState::~MappingState() {
  if (mapped_) {
    Unregister(base_);
    munmap(base_, size_);
  }
}

void MappingState::EndJsAccess() {
  std::shared_ptr<PinSet> released;
  std::lock_guard<std::mutex> lock(mutex_);
  jsAccess_ = false;
  released = UnmapIfUnreachableLocked();
}

int MappingState::RemapZero(size_t offset, size_t length) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!jsAccess_ || !mapped_) return -EBADF;
  int zero = open("/dev/zero", O_RDONLY | O_CLOEXEC);
  if (zero < 0) return -errno;
  void* want = base_ + offset;
  void* got = mmap(want, length, PROT_READ | PROT_WRITE, MAP_FIXED | MAP_PRIVATE, zero, 0);
  int error = errno;
  close(zero);
  if (got == MAP_FAILED) return -error;
  // MAP_FIXED either maps exactly there or fails; anything else would be a kernel bug.
  return got == want ? 0 : -EFAULT;
}

std::shared_ptr<PinSet> MappingState::UnmapIfUnreachableLocked() {
  if (mapped_ && !jsAccess_ && pins_ == 0) {
    Unregister(base_);
    munmap(base_, size_);
    mapped_ = false;
    return std::move(keepAlive_);
  }
  return nullptr;
}

MappingPin::MappingPin(std::shared_ptr<MappingState> mapping) : mapping_(std::move(mapping)) {
  std::lock_guard<std::mutex> lock(mapping_->mutex_);
  mapping_->pins_++;
}

MappingPin::~MappingPin() {
  std::shared_ptr<PinSet> released;
  std::lock_guard<std::mutex> lock(mapping_->mutex_);
  mapping_->pins_--;
  released = mapping_->UnmapIfUnreachableLocked();
}

std::unique_ptr<MappingPin> MappingPin::IfLive(std::shared_ptr<MappingState> mapping) {
  std::lock_guard<std::mutex> lock(mapping->mutex_);
  if (!mapping->jsAccess_ || !mapping->mapped_) return nullptr;
  mapping->pins_++;
  return std::unique_ptr<MappingPin>(new MappingPin(std::move(mapping), AlreadyCounted{}));
}

std::unique_ptr<MappingPin> PinLiveRange(uint64_t address, uint64_t length) {
  std::shared_ptr<MappingState> found;
  {
    std::lock_guard<std::mutex> lock(registryMutex);
    auto it = registry.upper_bound(static_cast<uintptr_t>(address));
    if (it == registry.begin()) return nullptr;
    --it;
    found = it->second.lock();
  }
  if (!found) return nullptr;
  uint64_t start = reinterpret_cast<uintptr_t>(found->base());
  if (address < start || length > found->size() || address - start > found->size() - length) return nullptr;
  return MappingPin::IfLive(std::move(found));
}

void PinSet::Set(const std::string& key, std::unique_ptr<MappingPin> pin) {
  std::unique_ptr<MappingPin> old;
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = pins_.find(key);
  if (it != pins_.end()) old = std::move(it->second);
  pins_[key] = std::move(pin);
}

void PinSet::Erase(const std::string& key) {
  std::unique_ptr<MappingPin> old;
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = pins_.find(key);
  if (it == pins_.end()) return;
  old = std::move(it->second);
  pins_.erase(it);
}

void PinSet::SetSlotBytes(uint32_t slot, uint64_t bytes) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (bytes == 0) slotBytes_.erase(slot);
  else slotBytes_[slot] = bytes;
}

uint64_t PinSet::SlotBytes(uint32_t slot) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = slotBytes_.find(slot);
  return it == slotBytes_.end() ? 0 : it->second;
}

// ---- JavaScript object ----

Napi::Function Mapping::Define(Napi::Env env) {
  return DefineClass(env, "Mapping",
                     {
                         TaggedAccessor<Mapping, &Mapping::Buffer>("buffer"),
                         TaggedAccessor<Mapping, &Mapping::Address>("address"),
                         TaggedAccessor<Mapping, &Mapping::Size>("size"),
                         TaggedAccessor<Mapping, &Mapping::Unmapped>("unmapped"),
                         InstanceMethod<&Mapping::RemapZero>("remapZero"),
                         InstanceMethod<&Mapping::UnmapMethod>("unmap"),
                     });
}

Napi::Value Mapping::New(Napi::Env env, std::shared_ptr<MappingState> state) {
  Napi::Object object = GetAddonState(env)->mappingConstructor.New({});
  Mapping* mapping = Unwrap(object);
  auto* hint = new std::shared_ptr<MappingState>(state);
  Napi::ArrayBuffer buffer = Napi::ArrayBuffer::New(
      env, state->base(), state->size(),
      [](Napi::Env, void*, std::shared_ptr<MappingState>* held) {
        (*held)->EndJsAccess();
        delete held;
      },
      hint);
  mapping->buffer_ = Napi::Persistent(buffer);
  mapping->address_ = reinterpret_cast<uintptr_t>(state->base());
  mapping->size_ = state->size();
  mapping->state_ = std::move(state);
  mapping->registry_ = GetAddonState(env)->registry;
  mapping->registry_->Add(mapping, kRankMapping);
  return object;
}

const napi_type_tag Mapping::kTypeTag = {0x6b766d78656e0002ull, 0x8d1f4c3a2b6e9f02ull};

Mapping::Mapping(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Mapping>(info) {
  info.This().As<Napi::Object>().TypeTag(&kTypeTag);
}

Mapping::~Mapping() {
  // Collected without unmap(): the ArrayBuffer may still be in use; its finalizer ends the mapping.
  if (registry_) registry_->Remove(this);
}

void Mapping::CleanUp() {
  // The environment is ending: no JavaScript will run again, so the bytes can go without detaching.
  if (!state_) return;
  state_->EndJsAccess();
  state_.reset();
}

void Mapping::Unmap() {
  if (!state_) return;
  if (!buffer_.IsEmpty()) {
    Napi::ArrayBuffer buffer = buffer_.Value();
    if (!buffer.IsEmpty() && !buffer.IsDetached()) buffer.Detach();
    buffer_.Reset();
  }
  state_->EndJsAccess();
  state_.reset();
}

Napi::Value Mapping::Buffer(const Napi::CallbackInfo& info) {
  if (!state_ || buffer_.IsEmpty()) return ThrowStateError(info.Env(), "ERR_KVM_UNMAPPED", "mapping is unmapped");
  return buffer_.Value();
}

Napi::Value Mapping::Address(const Napi::CallbackInfo& info) {
  return Napi::BigInt::New(info.Env(), static_cast<uint64_t>(address_));
}

Napi::Value Mapping::Size(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(size_));
}

Napi::Value Mapping::Unmapped(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), !state_);
}

Napi::Value Mapping::RemapZero(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!state_) return ThrowStateError(env, "ERR_KVM_UNMAPPED", "mapping is unmapped");
  uint64_t offset = 0, length = 0;
  const double max = static_cast<double>(size_);
  if (!ArgInteger(info, 0, "offset", 0, max, &offset) || !ArgInteger(info, 1, "length", 1, max, &length)) {
    return env.Undefined();
  }
  const uint64_t page = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
  if (offset % page != 0 || length % page != 0 || offset + length > size_) {
    return ThrowRangeError(env, "ERR_OUT_OF_RANGE", "remapZero needs a page-aligned range inside the mapping");
  }
  return Napi::Number::New(env, state_->RemapZero(offset, length));
}

Napi::Value Mapping::UnmapMethod(const Napi::CallbackInfo& info) {
  Unmap();
  return info.Env().Undefined();
}

}  // namespace kvmxen
