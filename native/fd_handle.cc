#include "fd_handle.h"

#include <unistd.h>

#include <atomic>

#include "errors.h"
#include "type_tags.h"

namespace kvmxen {

const char* FdKindName(FdKind kind) {
  switch (kind) {
    case kKindSystem: return "system";
    case kKindVm: return "vm";
    case kKindVcpu: return "vcpu";
    case kKindEventFd: return "eventfd";
  }
  return "unknown";
}

namespace {
std::atomic<uint64_t> nextSerial{1};
}  // namespace

FdState::FdState(int fd, FdKind kind, std::shared_ptr<PinSet> pins, size_t vcpuMmapBytes)
    : fd_(fd), kind_(kind), vcpuMmapBytes_(vcpuMmapBytes), serial_(nextSerial++), pins_(std::move(pins)) {}

FdState::~FdState() {
  if (fd_ >= 0) close(fd_);
}

std::shared_ptr<PinSet> FdState::pins() {
  std::lock_guard<std::mutex> lock(mutex_);
  return pins_;
}

bool FdState::Acquire(int* fd) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (closing_ || fd_ < 0) return false;
  users_++;
  *fd = fd_;
  return true;
}

void FdState::Release() {
  std::lock_guard<std::mutex> lock(mutex_);
  users_--;
  if (closing_ && users_ == 0) CloseNowLocked();
}

void FdState::Close() {
  std::lock_guard<std::mutex> lock(mutex_);
  closing_ = true;
  if (users_ == 0) CloseNowLocked();
}

bool FdState::closed() {
  std::lock_guard<std::mutex> lock(mutex_);
  return closing_;
}

void FdState::CloseNowLocked() {
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
  // The kernel object may outlive this fd (other fds of the same VM), but then they hold the pins.
  pins_.reset();
}

// ---- JavaScript object ----

Napi::Function FdHandle::Define(Napi::Env env) {
  return DefineClass(env, "FdHandle",
                     {
                         TaggedAccessor<FdHandle, &FdHandle::Fd>("fd"),
                         TaggedAccessor<FdHandle, &FdHandle::Kind>("kind"),
                         TaggedAccessor<FdHandle, &FdHandle::Closed>("closed"),
                         InstanceMethod<&FdHandle::CloseMethod>("close"),
                     });
}

Napi::Value FdHandle::New(Napi::Env env, std::shared_ptr<FdState> state) {
  Napi::Object object = GetAddonState(env)->fdHandleConstructor.New({});
  FdHandle* handle = Unwrap(object);
  int fd = -1;
  if (state->Acquire(&fd)) {
    handle->fdNumber_ = fd;
    state->Release();
  }
  handle->state_ = std::move(state);
  handle->registry_ = GetAddonState(env)->registry;
  handle->registry_->Add(handle, kRankFd);
  return object;
}

std::shared_ptr<FdState> FdHandle::FromArg(const Napi::CallbackInfo& info, size_t index, unsigned kinds) {
  Napi::Env env = info.Env();
  FdHandle* handle = UnwrapTagged<FdHandle>(info[index]);
  if (handle == nullptr || !handle->state_) {
    ThrowTypeError(env, "ERR_INVALID_ARG_TYPE", "expected an FdHandle made by the addon");
    return nullptr;
  }
  if (handle->state_->closed()) {
    ThrowStateError(env, "ERR_KVM_CLOSED", std::string("the ") + FdKindName(handle->state_->kind()) + " fd is closed");
    return nullptr;
  }
  if ((handle->state_->kind() & kinds) == 0) {
    ThrowTypeError(env, "ERR_KVM_WRONG_FD_KIND",
                   std::string("this call needs a different kind of fd than a ") + FdKindName(handle->state_->kind()) + " fd");
    return nullptr;
  }
  return handle->state_;
}

const napi_type_tag FdHandle::kTypeTag = {0x6b766d78656e0001ull, 0x8d1f4c3a2b6e9f01ull};

FdHandle::FdHandle(const Napi::CallbackInfo& info) : Napi::ObjectWrap<FdHandle>(info) {
  info.This().As<Napi::Object>().TypeTag(&kTypeTag);
}

FdHandle::~FdHandle() {
  if (registry_) registry_->Remove(this);
  if (state_) state_->Close();
}

void FdHandle::CleanUp() {
  if (state_) state_->Close();
}

Napi::Value FdHandle::Fd(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), fdNumber_);
}

Napi::Value FdHandle::Kind(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), state_ ? FdKindName(state_->kind()) : "none");
}

Napi::Value FdHandle::Closed(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), !state_ || state_->closed());
}

Napi::Value FdHandle::CloseMethod(const Napi::CallbackInfo& info) {
  if (state_) state_->Close();
  return info.Env().Undefined();
}

}  // namespace kvmxen
