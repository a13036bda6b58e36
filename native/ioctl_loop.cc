#include "ioctl_loop.h"

#include <linux/kvm.h>
#include <signal.h>

#include "errors.h"

namespace kvmxen {

Napi::Function IoctlLoop::Define(Napi::Env env) {
  return DefineClass(env, "IoctlLoop", {InstanceMethod<&IoctlLoop::StopMethod>("stop")});
}

IoctlLoop::IoctlLoop(const Napi::CallbackInfo& info) : Napi::ObjectWrap<IoctlLoop>(info) {
  Napi::Env env = info.Env();
  std::shared_ptr<FdState> fd = FdHandle::FromArg(info, 0, kKindSystem | kKindVm | kKindVcpu);
  if (!fd) return;
  if (!info[1].IsArray() || info[1].As<Napi::Array>().Length() == 0) {
    ThrowTypeError(env, "ERR_INVALID_ARG_TYPE", "entries must be a non-empty array");
    return;
  }
  Napi::Array list = info[1].As<Napi::Array>();
  if (list.Length() > 64) {
    ThrowRangeError(env, "ERR_OUT_OF_RANGE", "at most 64 entries");
    return;
  }
  bool anyStopPoint = false;
  for (uint32_t i = 0; i < list.Length(); i++) {
    Napi::Value item = list.Get(i);
    if (!item.IsObject()) {
      ThrowTypeError(env, "ERR_INVALID_ARG_TYPE", "each entry must be { request, arg, stopPoint }");
      return;
    }
    Napi::Object object = item.As<Napi::Object>();
    Napi::Value requestValue = object.Get("request");
    Napi::Value argValue = object.Get("arg");
    Napi::Value stopValue = object.Get("stopPoint");
    if (!requestValue.IsNumber()) {
      ThrowTypeError(env, "ERR_INVALID_ARG_TYPE", "entry.request must be a request index");
      return;
    }
    double index = requestValue.As<Napi::Number>().DoubleValue();
    if (!(index >= 0 && index < static_cast<double>(kRequestCount)) || static_cast<double>(static_cast<size_t>(index)) != index) {
      ThrowRangeError(env, "ERR_OUT_OF_RANGE", "entry.request is not a known request");
      return;
    }
    const RequestSpec& spec = kRequests[static_cast<size_t>(index)];
    if (spec.number == KVM_RUN || spec.createsKind != 0 || (spec.kinds & fd->kind()) == 0) {
      ThrowTypeError(env, "ERR_KVM_WRONG_FD_KIND", std::string(spec.name) + " cannot be repeated on this fd");
      return;
    }
    Entry entry{&spec, {}, 0, stopValue.IsBoolean() && stopValue.As<Napi::Boolean>().Value()};
    anyStopPoint = anyStopPoint || entry.stopPoint;
    if (spec.shape == ArgShape::kValue) {
      if (!argValue.IsNumber()) {
        ThrowTypeError(env, "ERR_INVALID_ARG_TYPE", std::string(spec.name) + " takes a number");
        return;
      }
      double value = argValue.As<Napi::Number>().DoubleValue();
      if (!(value >= 0 && value <= 9007199254740991.0) || static_cast<double>(static_cast<uint64_t>(value)) != value) {
        ThrowRangeError(env, "ERR_OUT_OF_RANGE", "entry.arg must be a non-negative integer");
        return;
      }
      entry.value = static_cast<uint64_t>(value);
    } else if (spec.shape != ArgShape::kNone) {
      if (!argValue.IsTypedArray()) {
        ThrowTypeError(env, "ERR_INVALID_ARG_TYPE", std::string(spec.name) + " takes a Uint8Array");
        return;
      }
      Napi::TypedArray typed = argValue.As<Napi::TypedArray>();
      Napi::ArrayBuffer buffer = typed.ArrayBuffer();
      const size_t length = typed.ByteLength();
      const uint8_t* data = buffer.IsDetached() ? nullptr : static_cast<const uint8_t*>(buffer.Data()) + typed.ByteOffset();
      if (data == nullptr || length < RequestStructSize(spec) || spec.shape == ArgShape::kFlexArray) {
        ThrowRangeError(env, "ERR_BUFFER_TOO_SMALL",
                        std::string(spec.name) + " needs a fixed-size buffer of " + std::to_string(RequestStructSize(spec)) + " bytes");
        return;
      }
      entry.bytes.assign(data, data + length);
    }
    entries_.push_back(std::move(entry));
  }
  if (!anyStopPoint) {
    entries_.clear();
    ThrowTypeError(env, "ERR_INVALID_ARG_VALUE", "at least one entry must be a stop point");
    return;
  }
  fd_ = std::move(fd);
  registry_ = GetAddonState(env)->registry;
  registry_->Add(this, kRankThread);
  thread_ = std::thread(&IoctlLoop::ThreadMain, this);
}

IoctlLoop::~IoctlLoop() {
  if (registry_) registry_->Remove(this);
  Stop();
}

void IoctlLoop::CleanUp() { Stop(); }

void IoctlLoop::ThreadMain() {
  sigset_t mask;
  sigfillset(&mask);
  pthread_sigmask(SIG_SETMASK, &mask, nullptr);
  for (;;) {
    for (Entry& entry : entries_) {
      IoctlArgument argument;
      argument.value = entry.value;
      argument.data = entry.bytes.empty() ? nullptr : entry.bytes.data();
      argument.length = entry.bytes.size();
      PerformIoctl(*fd_, *entry.spec, argument);
      if (entry.stopPoint && stopRequested_.load()) return;
    }
    passes_++;
  }
}

uint64_t IoctlLoop::Stop() {
  stopRequested_.store(true);
  if (thread_.joinable()) thread_.join();
  return passes_.load();
}

Napi::Value IoctlLoop::StopMethod(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(Stop()));
}

}  // namespace kvmxen
