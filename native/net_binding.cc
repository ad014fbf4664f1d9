// The N-API face of the network layer (native/net/): one class, NetServer.
//
//   new NetServer(options, onRequests)   options as in src/server/native-net.ts
//     .listen() -> Promise<{host, port}>
//     .respond(connectionId, requestId, parts | null)   queued; see flushResponses
//     .flushResponses()      wakes the network threads for the responses queued
//                            so far (also done after every onRequests call and
//                            by stop()); the TypeScript wrapper calls it once
//                            per tick, so a burst of responses costs one wake-up
//     .closeConnection(connectionId)
//     .stop(drainMs?) -> Promise<void>   stops accepting and reading; answers to
//                            delivered requests are still sent for up to drainMs
//     .stats() -> {connections, queuedRequests, bytesIn, bytesOut, ...}
//   onRequests(batch) is called with `this` = the server and an array of
//     {connectionId, requestId, frame, clientHost, clientPort} and
//     {connectionId, closed: true, reason} events, once per wake-up.
//
// Threading: everything here runs on the JavaScript thread. Network threads
// reach it only through one thread-safe function whose calls drain the
// server's delivery queue (at most one call is queued at a time).
//
// Lifetime: while listening (and until stop() settles) the thread-safe
// function is referenced, which keeps the event loop alive like a listening
// net.Server, and the wrapper holds a reference to itself. After stop(), or
// before listen(), nothing keeps the process alive. An environment cleanup
// hook stops the threads if the process exits while the server runs.
//
// Arguments are validated in TypeScript; here they are checked for type and
// range so that a wrong call throws instead of corrupting anything.
#include <napi.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "binding.h"
#include "net/net_server.h"

namespace gregor {
namespace {

// Byte parts up to this size are copied at respond() (cheaper than keeping a
// reference that must be released on this thread later); larger ones are
// referenced and written from the Buffer's own memory.
constexpr size_t kCopyPartBytesMax = 16 * 1024;
// Parts per response: far above what a response needs (a header plus one
// region per partition) and a bound on the per-response bookkeeping.
constexpr uint32_t kResponsePartsMax = 65536;
// stop() without an argument waits this long for answered responses to leave.
constexpr int64_t kStopDrainMsDefault = 5000;
// Upper bound for a stop drain (Kafka's controlled shutdown takes seconds,
// not hours).
constexpr int64_t kStopDrainMsMax = 3600000;

// References to the large Buffers of one response, dropped on this thread.
class BufferReferences : public net::KeepAlive {
 public:
  std::vector<Napi::Reference<Napi::Value>> references;
};

double integer_in_range(const Napi::Value& value, const std::string& name, double min, double max) {
  if (!value.IsNumber()) throw Napi::TypeError::New(value.Env(), name + " must be a number");
  double v = value.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(v) || v != std::floor(v) || v < min || v > max) {
    throw Napi::RangeError::New(value.Env(), name + " must be an integer between " + std::to_string(int64_t(min)) +
                                                 " and " + std::to_string(int64_t(max)));
  }
  return v;
}

int64_t option(const Napi::Object& options, const char* key, int64_t fallback, int64_t min, int64_t max) {
  Napi::Value value = options.Get(key);
  if (value.IsUndefined()) return fallback;
  return static_cast<int64_t>(integer_in_range(value, std::string("options.") + key, double(min), double(max)));
}

net::NetConfig parse_options(const Napi::Value& value) {
  if (!value.IsObject()) throw Napi::TypeError::New(value.Env(), "options must be an object");
  Napi::Object o = value.As<Napi::Object>();
  net::NetConfig c;
  Napi::Value host = o.Get("host");
  if (!host.IsUndefined()) {
    if (!host.IsString()) throw Napi::TypeError::New(value.Env(), "options.host must be a string");
    c.host = host.As<Napi::String>();
  }
  c.port = static_cast<int>(option(o, "port", c.port, 0, 65535));
  c.network_threads =
      static_cast<size_t>(option(o, "networkThreads", int64_t(c.network_threads), 1, int64_t(net::kNetworkThreadsMax)));
  c.request_bytes_max = option(o, "requestMaxBytes", c.request_bytes_max, 1, net::kFrameBytesLimit);
  c.queued_requests_max = option(o, "queuedMaxRequests", c.queued_requests_max, 1, INT32_MAX);
  c.idle_ms_max = option(o, "connectionsMaxIdleMs", c.idle_ms_max, 1, int64_t(1) << 50);
  c.send_buffer_bytes = static_cast<int>(option(o, "sendBufferBytes", c.send_buffer_bytes, -1, INT32_MAX));
  c.receive_buffer_bytes = static_cast<int>(option(o, "receiveBufferBytes", c.receive_buffer_bytes, -1, INT32_MAX));
  c.backlog = static_cast<int>(option(o, "backlog", c.backlog, 1, 65535));
  return c;
}

const char* errno_code(int error) {
  switch (error) {
    case EADDRINUSE: return "EADDRINUSE";
    case EADDRNOTAVAIL: return "EADDRNOTAVAIL";
    case EACCES: return "EACCES";
    default: return "ELISTEN";
  }
}

class NetServerWrap : public Napi::ObjectWrap<NetServerWrap> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "NetServer",
                       {InstanceMethod("listen", &NetServerWrap::Listen),
                        InstanceMethod("respond", &NetServerWrap::Respond),
                        InstanceMethod("flushResponses", &NetServerWrap::FlushResponses),
                        InstanceMethod("closeConnection", &NetServerWrap::CloseConnection),
                        InstanceMethod("park", &NetServerWrap::Park),
                        InstanceMethod("releaseFrame", &NetServerWrap::ReleaseFrame),
                        InstanceMethod("stop", &NetServerWrap::Stop), InstanceMethod("stats", &NetServerWrap::Stats)});
  }

  explicit NetServerWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NetServerWrap>(info) {
    Napi::Env env = info.Env();
    net::NetConfig config = parse_options(info[0]);
    if (!info[1].IsFunction()) throw Napi::TypeError::New(env, "onRequests must be a function");
    // Kept on the object itself (not in a persistent reference), so a server
    // that never listens can be collected together with its callback.
    info.This().As<Napi::Object>().DefineProperty(
        Napi::PropertyDescriptor::Value("onRequests", info[1], napi_default));
    server_ = std::make_unique<net::NetServer>(std::move(config));
    cleanup_hook_ = env.AddCleanupHook(std::function<void()>([this] {
      cleanup_hook_ran_ = true;
      Teardown();
    }));
  }

  ~NetServerWrap() override {
    if (!cleanup_hook_ran_ && !cleanup_hook_.IsEmpty()) cleanup_hook_.Remove(Env());
    Teardown();
  }

 private:
  enum class State { kNew, kListening, kStopping, kStopped };

  Napi::Value Listen(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Napi::Promise::Deferred deferred = Napi::Promise::Deferred::New(env);
    if (state_ != State::kNew) {
      deferred.Reject(Napi::Error::New(env, "listen() can be called once per NetServer").Value());
      return deferred.Promise();
    }
    // The delivery path must exist before the first network thread runs.
    tsfn_ = Napi::ThreadSafeFunction::New(env, Napi::Function::New(env, [](const Napi::CallbackInfo&) {}),
                                          "gregor-net-delivery", 0, 1, [this](Napi::Env) { Unref(); });
    tsfn_active_ = true;
    Ref();  // dropped by the thread-safe function's finalizer, after stop
    server_->set_wakeup([this] {
      tsfn_.NonBlockingCall(this, [](Napi::Env env, Napi::Function, NetServerWrap* self) { self->Drain(env); });
    });
    std::string host;
    int port = 0;
    std::string error = server_->listen(&host, &port);
    if (!error.empty()) {
      int listen_errno = server_->listen_errno();
      server_->stop_now();
      state_ = State::kStopped;
      ReleaseDelivery();
      Napi::Error failure = Napi::Error::New(env, error);
      failure.Set("code", Napi::String::New(env, errno_code(listen_errno)));
      deferred.Reject(failure.Value());
      return deferred.Promise();
    }
    state_ = State::kListening;
    Napi::Object address = Napi::Object::New(env);
    address.Set("host", Napi::String::New(env, host));
    address.Set("port", Napi::Number::New(env, port));
    deferred.Resolve(address);
    return deferred.Promise();
  }

  Napi::Value Respond(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    uint64_t connection_id = static_cast<uint64_t>(integer_in_range(info[0], "connectionId", 1, 9007199254740991.0));
    int64_t request_id = static_cast<int64_t>(integer_in_range(info[1], "requestId", 0, 9007199254740991.0));
    std::unique_ptr<net::Response> response;
    if (!info[2].IsNull() && !info[2].IsUndefined()) response = ParseParts(env, info[2]);
    // Answers are still sent while stopping; after stop() settles, or for a
    // connection that closed meanwhile (normal), they are dropped.
    if (state_ == State::kListening || state_ == State::kStopping) {
      server_->respond(connection_id, request_id, std::move(response));
    }
    return env.Undefined();
  }

  Napi::Value FlushResponses(const Napi::CallbackInfo& info) {
    server_->flush_responses();
    return info.Env().Undefined();
  }

  std::unique_ptr<net::Response> ParseParts(Napi::Env env, const Napi::Value& value) {
    if (!value.IsArray()) {
      throw Napi::TypeError::New(env, "parts must be an array of Buffers and FileRegions, or null");
    }
    Napi::Array array = value.As<Napi::Array>();
    uint32_t count = array.Length();
    if (count > kResponsePartsMax) {
      throw Napi::RangeError::New(env, "a response has at most " + std::to_string(kResponsePartsMax) + " parts");
    }
    struct Input {
      Napi::Value value;
      const uint8_t* bytes = nullptr;
      FileRegion region;
      uint64_t length = 0;
    };
    std::vector<Input> inputs;
    inputs.reserve(count);
    uint64_t total_bytes = 0;
    size_t copy_bytes = 0;
    for (uint32_t i = 0; i < count; ++i) {
      Input input;
      input.value = array.Get(i);
      if (input.value.IsTypedArray() && input.value.As<Napi::TypedArray>().TypedArrayType() == napi_uint8_array) {
        Napi::Uint8Array bytes = input.value.As<Napi::Uint8Array>();
        input.bytes = bytes.Data();
        input.length = bytes.ByteLength();
        if (input.length <= kCopyPartBytesMax) copy_bytes += input.length;
      } else if (unwrap_file_region(input.value, &input.region)) {
        input.length = input.region.length;
      } else {
        throw Napi::TypeError::New(env, "parts[" + std::to_string(i) +
                                            "] must be a Buffer, a Uint8Array or an unreleased FileRegion");
      }
      total_bytes += input.length;
      if (total_bytes > static_cast<uint64_t>(net::kFrameBytesLimit)) {
        throw Napi::RangeError::New(env, "a response cannot exceed 2147483647 bytes (its size prefix is an int32)");
      }
      if (input.length > 0) inputs.push_back(std::move(input));  // empty parts send nothing
    }
    auto response = std::make_unique<net::Response>();
    response->size_bytes = total_bytes;
    if (copy_bytes > 0) response->copies = std::make_unique<uint8_t[]>(copy_bytes);
    size_t copied = 0;
    BufferReferences* references = nullptr;
    for (Input& input : inputs) {
      net::ResponsePart part;
      part.length = input.length;
      if (input.region.file) {
        part.file = std::move(input.region.file);
        part.position = input.region.position;
      } else if (input.length <= kCopyPartBytesMax) {
        uint8_t* target = response->copies.get() + copied;
        std::memcpy(target, input.bytes, input.length);
        copied += input.length;
        // Consecutive copied parts are contiguous: send them as one.
        net::ResponsePart* previous = response->parts.empty() ? nullptr : &response->parts.back();
        if (previous != nullptr && !previous->file && previous->bytes + previous->length == target) {
          previous->length += input.length;
          continue;
        }
        part.bytes = target;
      } else {
        if (references == nullptr) {
          references = new BufferReferences();
          response->keep_alive.reset(references);
        }
        references->references.push_back(Napi::Persistent(input.value));
        part.bytes = input.bytes;
      }
      response->parts.push_back(std::move(part));
    }
    return response;
  }

  Napi::Value Park(const Napi::CallbackInfo& info) {
    uint64_t connection_id = static_cast<uint64_t>(integer_in_range(info[0], "connectionId", 1, 9007199254740991.0));
    int64_t request_id = static_cast<int64_t>(integer_in_range(info[1], "requestId", 0, 9007199254740991.0));
    if (state_ == State::kListening || state_ == State::kStopping) server_->park(connection_id, request_id);
    return info.Env().Undefined();
  }

  // Frees a request frame's memory now instead of at the next garbage
  // collection: its ArrayBuffer is detached, which runs the free at once and
  // takes its bytes off V8's external-memory count. Without this, frames of
  // a busy produce stream make V8 run a full mark-compact every few tens of
  // megabytes. Only a Buffer that owns its whole ArrayBuffer (a frame made
  // by OnRequests) is detached; anything else is left alone. Views that
  // outlive the call read as empty instead of reading freed memory.
  Napi::Value ReleaseFrame(const Napi::CallbackInfo& info) {
    if (info[0].IsTypedArray()) {
      Napi::TypedArray view = info[0].As<Napi::TypedArray>();
      Napi::ArrayBuffer buffer = view.ArrayBuffer();
      if (view.ByteOffset() == 0 && view.ByteLength() > 0 && buffer.ByteLength() == view.ByteLength() && !buffer.IsDetached()) {
        buffer.Detach();
      }
    }
    return info.Env().Undefined();
  }

  Napi::Value CloseConnection(const Napi::CallbackInfo& info) {
    uint64_t connection_id = static_cast<uint64_t>(integer_in_range(info[0], "connectionId", 1, 9007199254740991.0));
    if (state_ == State::kListening) server_->close_connection(connection_id);
    return info.Env().Undefined();
  }

  Napi::Value Stop(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    int64_t drain_ms = kStopDrainMsDefault;
    if (!info[0].IsUndefined()) drain_ms = static_cast<int64_t>(integer_in_range(info[0], "drainMs", 0, kStopDrainMsMax));
    Napi::Promise::Deferred deferred = Napi::Promise::Deferred::New(env);
    switch (state_) {
      case State::kNew:
        state_ = State::kStopped;
        deferred.Resolve(env.Undefined());
        break;
      case State::kStopped:
        deferred.Resolve(env.Undefined());
        break;
      case State::kStopping:
        stop_waiters_.push_back(deferred);
        break;
      case State::kListening:
        state_ = State::kStopping;
        stop_waiters_.push_back(deferred);
        server_->begin_stop(drain_ms);  // the threads' exit wakes Drain
        break;
    }
    return deferred.Promise();
  }

  Napi::Value Stats(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    net::NetStats s = server_->stats();
    Napi::Object o = Napi::Object::New(env);
    auto set = [&](const char* key, int64_t v) { o.Set(key, Napi::Number::New(env, static_cast<double>(v))); };
    set("connections", s.connections);
    set("connectionsTotal", s.connections_total);
    set("connectionsIdleClosed", s.connections_idle_closed);
    set("queuedRequests", s.queued_requests);
    set("requestsTotal", s.requests_total);
    set("responsesTotal", s.responses_total);
    set("bytesIn", s.bytes_in);
    set("bytesOut", s.bytes_out);
    set("framesTooLarge", s.frames_too_large);
    set("acceptErrors", s.accept_errors);
    return o;
  }

  // One wake-up: drop retired references, hand every queued event to
  // onRequests in one call, and settle stop() once the threads are gone.
  void Drain(Napi::Env env) {
    if (state_ != State::kListening && state_ != State::kStopping) return;
    Napi::HandleScope scope(env);
    std::vector<net::NetEvent> events;
    std::vector<std::unique_ptr<net::KeepAlive>> retired;
    server_->take(&events, &retired);
    bool finishing = state_ == State::kStopping && server_->finished();
    if (finishing) {
      server_->join();
      server_->take(&events, &retired);  // anything published on the way out
    }
    retired.clear();
    try {
      if (!events.empty()) Deliver(env, events);
    } catch (...) {
      // onRequests threw: settle stop() anyway, then let the error surface
      // as an uncaught exception (as an 'error'-less EventEmitter would).
      if (finishing) FinishStop(env);
      throw;
    }
    if (finishing) FinishStop(env);
  }

  void Deliver(Napi::Env env, std::vector<net::NetEvent>& events) {
    Napi::String connection_key = Napi::String::New(env, "connectionId");
    Napi::String request_key = Napi::String::New(env, "requestId");
    Napi::String frame_key = Napi::String::New(env, "frame");
    Napi::String host_key = Napi::String::New(env, "clientHost");
    Napi::String port_key = Napi::String::New(env, "clientPort");
    Napi::String closed_key = Napi::String::New(env, "closed");
    Napi::String reason_key = Napi::String::New(env, "reason");
    Napi::Array batch = Napi::Array::New(env, events.size());
    const net::Peer* last_peer = nullptr;
    Napi::String host;
    for (size_t i = 0; i < events.size(); ++i) {
      net::NetEvent& event = events[i];
      Napi::Object o = Napi::Object::New(env);
      o.Set(connection_key, Napi::Number::New(env, static_cast<double>(event.connection_id)));
      if (event.closed) {
        o.Set(closed_key, Napi::Boolean::New(env, true));
        o.Set(reason_key, Napi::String::New(env, event.reason));
      } else {
        o.Set(request_key, Napi::Number::New(env, static_cast<double>(event.request_id)));
        Napi::Buffer<uint8_t> frame;
        if (event.frame_bytes == 0) {
          frame = Napi::Buffer<uint8_t>::New(env, 0);
        } else {
          // Ownership moves to the Buffer: no copy, freed by its finalizer
          // (a runtime that forbids external buffers gets a copy instead).
          frame = Napi::Buffer<uint8_t>::NewOrCopy(env, event.frame.release(), event.frame_bytes,
                                                   [](Napi::Env, uint8_t* data) { std::free(data); });
        }
        o.Set(frame_key, frame);
        if (event.peer.get() != last_peer) {
          last_peer = event.peer.get();
          host = Napi::String::New(env, event.peer->host);
        }
        o.Set(host_key, host);
        o.Set(port_key, Napi::Number::New(env, event.peer->port));
      }
      batch.Set(static_cast<uint32_t>(i), o);
    }
    Napi::Object self = Value();
    Napi::Function callback = self.Get("onRequests").As<Napi::Function>();
    callback.Call(self, {batch});
    server_->flush_responses();  // whatever onRequests answered synchronously
  }

  void FinishStop(Napi::Env env) {
    state_ = State::kStopped;
    std::vector<Napi::Promise::Deferred> waiters;
    waiters.swap(stop_waiters_);
    ReleaseDelivery();
    for (Napi::Promise::Deferred& waiter : waiters) waiter.Resolve(env.Undefined());
  }

  void ReleaseDelivery() {
    if (!tsfn_active_) return;
    tsfn_active_ = false;
    tsfn_.Release();  // its finalizer drops the self-reference
  }

  // Environment teardown or destruction: stop at once, drop what is queued.
  void Teardown() {
    if (torn_down_) return;
    torn_down_ = true;
    if (server_) {
      server_->stop_now();
      std::vector<net::NetEvent> events;
      std::vector<std::unique_ptr<net::KeepAlive>> retired;
      server_->take(&events, &retired);
    }
    state_ = State::kStopped;
    ReleaseDelivery();
  }

  std::unique_ptr<net::NetServer> server_;
  Napi::ThreadSafeFunction tsfn_;
  bool tsfn_active_ = false;
  State state_ = State::kNew;
  std::vector<Napi::Promise::Deferred> stop_waiters_;
  Napi::Env::CleanupHook<std::function<void()>> cleanup_hook_;
  bool cleanup_hook_ran_ = false;
  bool torn_down_ = false;
};

}  // namespace

Napi::Object init_net_binding(Napi::Env env, Napi::Object exports) {
  exports.Set("NetServer", NetServerWrap::Define(env));
  return exports;
}

}  // namespace gregor
