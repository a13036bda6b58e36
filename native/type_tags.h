// Which class made a wrapped object. napi_unwrap hands back whatever an object wraps without asking:
// V8 checks a method's receiver against its class, but not an accessor's (Mapping.prototype's `buffer`
// getter called on an FdHandle), and `instanceof`, the old check of handle arguments, is fooled by a
// prototype swap. Unwrapped as the wrong class, an object's memory is misread and the process dies. So
// each class tags its objects when they are made, and the tag is checked before any unwrap.
#pragma once
#include <napi.h>

#include "errors.h"

namespace kvmxen {

// T is a Napi::ObjectWrap<T> with `static const napi_type_tag kTypeTag`, and its constructor tags
// `this`. Returns null for anything that is not an object made by T.
template <typename T>
T* UnwrapTagged(Napi::Value value) {
  if (!value.IsObject()) return nullptr;
  Napi::Object object = value.As<Napi::Object>();
  if (!object.CheckTypeTag(&T::kTypeTag)) return nullptr;
  return T::Unwrap(object);
}

// A read-only accessor for DefineClass, like InstanceAccessor<Getter>, but its receiver must carry T's
// tag: otherwise it throws a TypeError.
template <typename T, Napi::Value (T::*Getter)(const Napi::CallbackInfo&)>
Napi::ClassPropertyDescriptor<T> TaggedAccessor(const char* name) {
  napi_property_descriptor descriptor = {};
  descriptor.utf8name = name;
  descriptor.attributes = napi_default;
  descriptor.getter = [](napi_env env, napi_callback_info callbackInfo) -> napi_value {
    try {
      Napi::CallbackInfo info(env, callbackInfo);
      T* instance = UnwrapTagged<T>(info.This());
      if (instance == nullptr) return ThrowTypeError(env, "ERR_INVALID_THIS", "this accessor belongs to another class");
      return (instance->*Getter)(info);
    } catch (const Napi::Error& error) {
      error.ThrowAsJavaScriptException();
      return nullptr;
    }
  };
  return Napi::ClassPropertyDescriptor<T>(descriptor);
}

}  // namespace kvmxen
