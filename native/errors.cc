#include "errors.h"

namespace kvmxen {
namespace {

Napi::Value ThrowWithCode(Napi::Error error, const char* code) {
  error.Set("code", Napi::String::New(error.Env(), code));
  error.ThrowAsJavaScriptException();
  return error.Env().Undefined();
}

}  // namespace

Napi::Value ThrowTypeError(Napi::Env env, const char* code, const std::string& message) {
  return ThrowWithCode(Napi::TypeError::New(env, message), code);
}

Napi::Value ThrowRangeError(Napi::Env env, const char* code, const std::string& message) {
  return ThrowWithCode(Napi::RangeError::New(env, message), code);
}

Napi::Value ThrowStateError(Napi::Env env, const char* code, const std::string& message) {
  return ThrowWithCode(Napi::Error::New(env, message), code);
}

}  // namespace kvmxen
