#include "binding.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <ctime>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "crc32c.h"
#include "fault_probe.h"
#include "io_pool.h"
#include "partition_log.h"

namespace gregor {
namespace {

int64_t wall_clock_ms() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

Napi::Value error_value(Napi::Env env, const Status& status) {
  Napi::Error error = Napi::Error::New(env, status.message);
  error.Set("code", Napi::String::New(env, kafka_error_name(status.code)));
  error.Set("errorCode", Napi::Number::New(env, static_cast<int>(status.code)));
  return error.Value();
}

// Offsets cross the boundary as numbers; they must be integral and exact.
int64_t offset_arg(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (!info[i].IsNumber()) throw Napi::TypeError::New(info.Env(), std::string(name) + " must be a number");
  double v = info[i].As<Napi::Number>().DoubleValue();
  if (!std::isfinite(v) || v != std::floor(v) || std::fabs(v) > 9007199254740991.0) {
    throw Napi::RangeError::New(info.Env(), std::string(name) + " must be a safe integer");
  }
  return static_cast<int64_t>(v);
}

int64_t config_field(const Napi::Object& config, const char* key, int64_t fallback) {
  Napi::Value v = config.Get(key);
  if (v.IsUndefined()) return fallback;
  if (!v.IsNumber()) throw Napi::TypeError::New(config.Env(), std::string("config.") + key + " must be a number");
  double d = v.As<Napi::Number>().DoubleValue();
  if (d >= 9.2e18) return INT64_MAX;  // Kafka's "never" is Long.MAX_VALUE
  return static_cast<int64_t>(d);
}

LogConfig parse_config(const Napi::Value& value) {
  if (!value.IsObject()) throw Napi::TypeError::New(value.Env(), "config must be an object");
  Napi::Object o = value.As<Napi::Object>();
  LogConfig c;
  c.segment_bytes = config_field(o, "segmentBytes", c.segment_bytes);
  c.segment_ms = config_field(o, "segmentMs", c.segment_ms);
  c.segment_index_bytes = config_field(o, "segmentIndexBytes", c.segment_index_bytes);
  c.index_interval_bytes = config_field(o, "indexIntervalBytes", c.index_interval_bytes);
  c.flush_messages = config_field(o, "flushMessages", c.flush_messages);
  c.max_message_bytes = config_field(o, "maxMessageBytes", c.max_message_bytes);
  c.log_append_time = config_field(o, "logAppendTime", 0) != 0;
  c.retention_ms = config_field(o, "retentionMs", c.retention_ms);
  c.retention_bytes = config_field(o, "retentionBytes", c.retention_bytes);
  c.delete_policy = config_field(o, "deletePolicy", 1) != 0;
  c.file_delete_delay_ms = config_field(o, "fileDeleteDelayMs", c.file_delete_delay_ms);
  // The engine's hard limits; TypeScript reports violations with Kafka's wording.
  if (c.segment_bytes < 14 || c.segment_bytes > INT32_MAX) throw Napi::RangeError::New(value.Env(), "segmentBytes out of range");
  if (c.segment_index_bytes < 4) throw Napi::RangeError::New(value.Env(), "segmentIndexBytes out of range");
  if (c.index_interval_bytes < 0 || c.flush_messages < 1 || c.max_message_bytes < 0 || c.segment_ms < 1 ||
      c.file_delete_delay_ms < 0) {
    throw Napi::RangeError::New(value.Env(), "config value out of range");
  }
  return c;
}

// A task defined by two closures: `work` on the io thread, `result` on the
// JavaScript thread to build the resolved value.
class PromiseTask : public Task {
 public:
  explicit PromiseTask(Napi::Env env) : deferred(Napi::Promise::Deferred::New(env)) {}
  void execute() override { work(); }
  void complete(napi_env__* raw_env) override {
    Napi::Env env(raw_env);
    Napi::HandleScope scope(env);
    const Status& failure = !status.ok() ? status : sync_status;
    if (!failure.ok()) {
      if (on_failure) on_failure();
      deferred.Reject(error_value(env, failure));
      return;
    }
    deferred.Resolve(result ? result(env) : env.Undefined());
  }

  Napi::Promise::Deferred deferred;
  std::function<void()> work;
  std::function<Napi::Value(Napi::Env)> result;
  std::function<void()> on_failure;
  Status status;
  // Keeps input buffers alive (and unmoved) until the task completes.
  std::vector<Napi::Reference<Napi::Value>> keep_alive;
};

// A task of a chain: `work` on a pool thread, then `done` on the JavaScript
// thread (where the next task of the chain is submitted).
class ChainTask : public Task {
 public:
  void execute() override { work(); }
  void complete(napi_env__* raw_env) override {
    Napi::Env env(raw_env);
    Napi::HandleScope scope(env);
    done(env);
  }
  std::function<void()> work;
  std::function<void(Napi::Env)> done;
};

struct InstanceData {
  Napi::FunctionReference log_constructor;
  Napi::FunctionReference region_constructor;
};

class PoolWrap : public Napi::ObjectWrap<PoolWrap> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "IoPool",
                       {InstanceMethod("openLog", &PoolWrap::OpenLog),
                        InstanceMethod("writeFileAtomic", &PoolWrap::WriteFileAtomic),
                        InstanceMethod("lockFile", &PoolWrap::LockFile),
                        InstanceMethod("unlockFile", &PoolWrap::UnlockFile),
                        InstanceMethod("close", &PoolWrap::Close),
                        InstanceAccessor("threads", &PoolWrap::Threads, nullptr)});
  }

  explicit PoolWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<PoolWrap>(info) {
    Napi::Env env = info.Env();
    int64_t threads = info[0].IsNumber() ? info[0].As<Napi::Number>().Int64Value() : 0;
    if (threads < 1 || threads > static_cast<int64_t>(IoPool::kThreadsMax)) {
      throw Napi::RangeError::New(env, "IoPool threads must be between 1 and 256");
    }
    pool_ = std::make_unique<IoPool>(static_cast<size_t>(threads));
    // The wrapper stays alive while wake-ups may still be queued for it: the
    // reference taken here is dropped when the thread-safe function is
    // finalized, after its last queued call has run.
    Ref();
    tsfn_ = Napi::ThreadSafeFunction::New(env, Napi::Function::New(env, [](const Napi::CallbackInfo&) {}),
                                          "gregor-io-completions", 0, 1, [this](Napi::Env) { Unref(); });
    tsfn_.Unref(env);  // only pending work keeps the process alive
    pool_->set_wakeup([this] {
      tsfn_.NonBlockingCall(this, [](Napi::Env env, Napi::Function, PoolWrap* pool) { pool->Drain(env); });
    });
    // Removed again when the wrapper is collected: a hook left behind would
    // run on freed memory at exit.
    cleanup_hook_ = env.AddCleanupHook(std::function<void()>([this] {
      cleanup_hook_ran_ = true;
      Shutdown();
    }));
  }

  ~PoolWrap() override {
    if (!cleanup_hook_ran_ && !cleanup_hook_.IsEmpty()) cleanup_hook_.Remove(Env());
    Shutdown();
  }

  void Submit(Napi::Env env, size_t thread, std::unique_ptr<Task> task) {
    if (closed_) throw Napi::Error::New(env, "the io pool is closed");
    if (in_flight_++ == 0) tsfn_.Ref(env);
    pool_->submit(thread, std::move(task));
  }

  size_t AssignThread() { return pool_->assign_thread(); }

 private:
  void Drain(Napi::Env env) {
    if (!pool_) return;
    std::vector<std::unique_ptr<Task>> done = pool_->take_completed();
    for (auto& task : done) {
      try {
        task->complete(env);
      } catch (const Napi::Error& e) {
        // A failure to settle one Promise must not strand the others.
        fprintf(stderr, "gregor: completing an io task failed: %s\n", e.Message().c_str());
      }
    }
    in_flight_ -= done.size();
    if (in_flight_ == 0 && !closed_) tsfn_.Unref(env);
  }

  void Shutdown() {
    if (shut_down_) return;
    shut_down_ = true;
    closed_ = true;
    if (pool_) pool_->stop();
    ReleaseLocks();
    tsfn_.Release();
  }

  void ReleaseLocks() {
    for (int64_t fd : locked_fds_) ::close(static_cast<int>(fd));
    locked_fds_.clear();
  }

  Napi::Value Threads(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), static_cast<double>(pool_->thread_count()));
  }

  Napi::Value OpenLog(const Napi::CallbackInfo& info);
  Napi::Value WriteFileAtomic(const Napi::CallbackInfo& info);
  Napi::Value LockFile(const Napi::CallbackInfo& info);

  // Releases a lock taken by lockFile (closing its descriptor drops the flock).
  Napi::Value UnlockFile(const Napi::CallbackInfo& info) {
    int64_t fd = info[0].IsNumber() ? info[0].As<Napi::Number>().Int64Value() : -1;
    auto it = std::find(locked_fds_.begin(), locked_fds_.end(), fd);
    if (it != locked_fds_.end()) {
      ::close(static_cast<int>(fd));
      locked_fds_.erase(it);
    }
    return info.Env().Undefined();
  }


  Napi::Value Close(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!closed_) {
      closed_ = true;
      pool_->stop();  // runs what was queued
      Drain(env);
      ReleaseLocks();
      shut_down_ = true;
      tsfn_.Release();
    }
    return env.Undefined();
  }

  std::unique_ptr<IoPool> pool_;
  Napi::ThreadSafeFunction tsfn_;
  size_t in_flight_ = 0;
  bool closed_ = false;
  bool shut_down_ = false;
  Napi::Env::CleanupHook<std::function<void()>> cleanup_hook_;
  bool cleanup_hook_ran_ = false;
  // Descriptors holding directory locks; only these may be closed by unlockFile.
  std::vector<int64_t> locked_fds_;
};

class RegionWrap : public Napi::ObjectWrap<RegionWrap> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "FileRegion",
                       {InstanceAccessor("fd", &RegionWrap::Fd, nullptr),
                        InstanceAccessor("position", &RegionWrap::Position, nullptr),
                        InstanceAccessor("length", &RegionWrap::Length, nullptr),
                        InstanceAccessor("firstOffset", &RegionWrap::FirstOffset, nullptr),
                        InstanceMethod("release", &RegionWrap::Release)});
  }
  explicit RegionWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<RegionWrap>(info) {}
  FileRegion region;

 private:
  Napi::Value Fd(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), region.file ? region.file->fd : -1);
  }
  Napi::Value Position(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), static_cast<double>(region.position));
  }
  Napi::Value Length(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), static_cast<double>(region.length));
  }
  Napi::Value FirstOffset(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), static_cast<double>(region.first_offset));
  }
  // Drops this region's hold on the segment file (a deleted segment's
  // descriptor closes when its last region is released or collected).
  Napi::Value Release(const Napi::CallbackInfo& info) {
    region.file.reset();
    return info.Env().Undefined();
  }
};

class LogWrap : public Napi::ObjectWrap<LogWrap> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(
        env, "NativeLog",
        {InstanceMethod("append", &LogWrap::Append), InstanceMethod("read", &LogWrap::Read),
         InstanceMethod("readRegion", &LogWrap::ReadRegion),
         InstanceMethod("offsetForTimestamp", &LogWrap::OffsetForTimestamp),
         InstanceMethod("offsetOfMaxTimestamp", &LogWrap::OffsetOfMaxTimestamp),
         InstanceMethod("truncateTo", &LogWrap::TruncateTo),
         InstanceMethod("deleteRecordsBefore", &LogWrap::DeleteRecordsBefore),
         InstanceMethod("deleteOldestSegments", &LogWrap::DeleteOldestSegments),
         InstanceMethod("deleteOldSegments", &LogWrap::DeleteOldSegments),
         InstanceMethod("deleteExpiredFiles", &LogWrap::DeleteExpiredFiles),
         InstanceMethod("setRollListener", &LogWrap::SetRollListener),
         InstanceMethod("clean", &LogWrap::Clean),
         InstanceMethod("roll", &LogWrap::Roll), InstanceMethod("flush", &LogWrap::Flush),
         InstanceMethod("segments", &LogWrap::Segments), InstanceMethod("setConfig", &LogWrap::SetConfig),
         InstanceMethod("close", &LogWrap::Close),
         InstanceAccessor("logStartOffset", &LogWrap::LogStartOffset, nullptr),
         InstanceAccessor("logEndOffset", &LogWrap::LogEndOffset, nullptr),
         InstanceAccessor("recoveryPoint", &LogWrap::RecoveryPoint, nullptr),
         InstanceAccessor("sizeBytes", &LogWrap::SizeBytes, nullptr),
         InstanceAccessor("nextFileDeletionMs", &LogWrap::NextFileDeletionMs, nullptr),
         InstanceAccessor("recoveredTruncatedBytes", &LogWrap::RecoveredTruncatedBytes, nullptr)});
  }

  explicit LogWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<LogWrap>(info) {}

  void Attach(std::shared_ptr<PartitionLog> log, PoolWrap* pool, Napi::Object pool_object, size_t thread) {
    log_ = std::move(log);
    pool_ = pool;
    pool_ref_ = Napi::Persistent(pool_object);
    thread_ = thread;
  }

 private:
  // Creates a task bound to this log and keeps the wrapper alive until it settles.
  PromiseTask* NewTask(const Napi::CallbackInfo& info, std::unique_ptr<PromiseTask>& owner) {
    owner = std::make_unique<PromiseTask>(info.Env());
    owner->keep_alive.push_back(Napi::Persistent(info.This()));
    return owner.get();
  }
  Napi::Value Run(const Napi::CallbackInfo& info, std::unique_ptr<PromiseTask> task) {
    Napi::Promise promise = task->deferred.Promise();
    pool_->Submit(info.Env(), thread_, std::move(task));
    return promise;
  }

  Napi::Value Append(const Napi::CallbackInfo& info) {
    if (!info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
      throw Napi::TypeError::New(info.Env(), "append takes a Buffer or Uint8Array of record batches");
    }
    Napi::Uint8Array bytes = info[0].As<Napi::Uint8Array>();
    OffsetMode mode = info[1].ToBoolean() ? OffsetMode::kKeep : OffsetMode::kAssign;
    bool durable = info[2].ToBoolean();
    std::unique_ptr<PromiseTask> owner;
    PromiseTask* t = NewTask(info, owner);
    t->keep_alive.push_back(Napi::Persistent(info[0]));
    auto result = std::make_shared<AppendResult>();
    const uint8_t* data = bytes.Data();
    size_t length = bytes.ByteLength();
    std::shared_ptr<PartitionLog> log = log_;
    t->work = [t, log, data, length, mode, durable, result] {
      t->status = log->append(data, length, mode, wall_clock_ms(), result.get());
      if (t->status.ok() && (durable || result->needs_flush)) t->sync_log = log;
    };
    t->result = [this, result](Napi::Env env) {
      Napi::Object o = Napi::Object::New(env);
      o.Set("baseOffset", Napi::Number::New(env, static_cast<double>(result->base_offset)));
      o.Set("lastOffset", Napi::Number::New(env, static_cast<double>(result->last_offset)));
      o.Set("logAppendTime", Napi::Number::New(env, static_cast<double>(result->log_append_time_ms)));
      o.Set("recordCount", Napi::Number::New(env, static_cast<double>(result->record_count)));
      o.Set("batchCount", Napi::Number::New(env, static_cast<double>(result->batch_count)));
      // The wrapper is alive: the task holds a reference to it until now.
      if (result->rolled) NotifyRolled();
      return o;
    };
    return Run(info, std::move(owner));
  }

  Napi::Value Read(const Napi::CallbackInfo& info) {
    int64_t offset = offset_arg(info, 0, "offset");
    int64_t max_bytes = offset_arg(info, 1, "maxBytes");
    if (max_bytes < 0) throw Napi::RangeError::New(info.Env(), "maxBytes must not be negative");
    std::unique_ptr<PromiseTask> owner;
    PromiseTask* t = NewTask(info, owner);
    struct Out {
      std::unique_ptr<uint8_t[]> bytes;
      size_t size = 0;
      int64_t first_offset = -1;
    };
    auto out = std::make_shared<Out>();
    std::shared_ptr<PartitionLog> log = log_;
    t->work = [t, log, offset, max_bytes, out] {
      t->status = log->read_bytes(offset, static_cast<uint64_t>(max_bytes), &out->bytes, &out->size, &out->first_offset);
    };
    t->result = [out](Napi::Env env) -> Napi::Value {
      if (out->size == 0) return Napi::Buffer<uint8_t>::New(env, 0);
      uint8_t* data = out->bytes.release();
      return Napi::Buffer<uint8_t>::New(env, data, out->size, [](Napi::Env, uint8_t* p) { delete[] p; });
    };
    return Run(info, std::move(owner));
  }

  Napi::Value ReadRegion(const Napi::CallbackInfo& info) {
    int64_t offset = offset_arg(info, 0, "offset");
    int64_t max_bytes = offset_arg(info, 1, "maxBytes");
    if (max_bytes < 0) throw Napi::RangeError::New(info.Env(), "maxBytes must not be negative");
    std::unique_ptr<PromiseTask> owner;
    PromiseTask* t = NewTask(info, owner);
    auto region = std::make_shared<FileRegion>();
    std::shared_ptr<PartitionLog> log = log_;
    t->work = [t, log, offset, max_bytes, region] {
      t->status = log->read(offset, static_cast<uint64_t>(max_bytes), region.get());
    };
    t->result = [region](Napi::Env env) -> Napi::Value {
      if (!region->file) return env.Null();
      InstanceData* data = env.GetInstanceData<InstanceData>();
      Napi::Object object = data->region_constructor.New({});
      RegionWrap::Unwrap(object)->region = std::move(*region);
      return object;
    };
    return Run(info, std::move(owner));
  }

  static Napi::Value TimestampResult(Napi::Env env, bool found, int64_t offset, int64_t timestamp) {
    if (!found) return env.Null();
    Napi::Object o = Napi::Object::New(env);
    o.Set("offset", Napi::Number::New(env, static_cast<double>(offset)));
    o.Set("timestamp", Napi::Number::New(env, static_cast<double>(timestamp)));
    return o;
  }

  Napi::Value OffsetForTimestamp(const Napi::CallbackInfo& info) {
    int64_t timestamp = offset_arg(info, 0, "timestamp");
    std::unique_ptr<PromiseTask> owner;
    PromiseTask* t = NewTask(info, owner);
    struct Out { bool found = false; int64_t offset = -1, timestamp = -1; };
    auto out = std::make_shared<Out>();
    std::shared_ptr<PartitionLog> log = log_;
    t->work = [t, log, timestamp, out] {
      t->status = log->offset_for_timestamp(timestamp, &out->found, &out->offset, &out->timestamp);
    };
    t->result = [out](Napi::Env env) { return TimestampResult(env, out->found, out->offset, out->timestamp); };
    return Run(info, std::move(owner));
  }

  Napi::Value OffsetOfMaxTimestamp(const Napi::CallbackInfo& info) {
    std::unique_ptr<PromiseTask> owner;
    PromiseTask* t = NewTask(info, owner);
    struct Out { bool found = false; int64_t offset = -1, timestamp = -1; };
    auto out = std::make_shared<Out>();
    std::shared_ptr<PartitionLog> log = log_;
    t->work = [t, log, out] { t->status = log->offset_of_max_timestamp(&out->found, &out->offset, &out->timestamp); };
    t->result = [out](Napi::Env env) { return TimestampResult(env, out->found, out->offset, out->timestamp); };
    return Run(info, std::move(owner));
  }

  // For operations whose result is just success or an error.
  Napi::Value RunSimple(const Napi::CallbackInfo& info, std::function<Status(PartitionLog&)> op) {
    std::unique_ptr<PromiseTask> owner;
    PromiseTask* t = NewTask(info, owner);
    std::shared_ptr<PartitionLog> log = log_;
    t->work = [t, log, op] { t->status = op(*log); };
    return Run(info, std::move(owner));
  }

  Napi::Value TruncateTo(const Napi::CallbackInfo& info) {
    int64_t offset = offset_arg(info, 0, "offset");
    return RunSimple(info, [offset](PartitionLog& log) { return log.truncate_to(offset, wall_clock_ms()); });
  }
  Napi::Value DeleteRecordsBefore(const Napi::CallbackInfo& info) {
    int64_t offset = offset_arg(info, 0, "offset");
    return RunSimple(info, [offset](PartitionLog& log) { return log.delete_records_before(offset, wall_clock_ms()); });
  }
  Napi::Value DeleteExpiredFiles(const Napi::CallbackInfo& info) {
    return RunSimple(info, [](PartitionLog& log) { return log.delete_expired_files(wall_clock_ms()); });
  }

  // One retention pass; resolves to what it deleted.
  Napi::Value DeleteOldSegments(const Napi::CallbackInfo& info) {
    std::unique_ptr<PromiseTask> owner;
    PromiseTask* t = NewTask(info, owner);
    auto out = std::make_shared<RetentionResult>();
    std::shared_ptr<PartitionLog> log = log_;
    t->work = [t, log, out] { t->status = log->delete_old_segments(wall_clock_ms(), out.get()); };
    t->result = [out](Napi::Env env) {
      Napi::Object o = Napi::Object::New(env);
      o.Set("deletedSegments", Napi::Number::New(env, static_cast<double>(out->segments)));
      o.Set("deletedBytes", Napi::Number::New(env, static_cast<double>(out->bytes)));
      o.Set("belowLogStartOffset", Napi::Number::New(env, static_cast<double>(out->below_log_start)));
      o.Set("bySize", Napi::Number::New(env, static_cast<double>(out->by_size)));
      o.Set("byTime", Napi::Number::New(env, static_cast<double>(out->by_time)));
      o.Set("rolled", Napi::Boolean::New(env, out->rolled));
      return o;
    };
    return Run(info, std::move(owner));
  }


  // clean(cleanerPool, options, handler?): compaction of this log (log_cleaner.h).
  // `handler` ({ keys(batches), rebuild(keepMask) }, both returning Promises)
  // does the compressed batches' part in TypeScript; without it they are kept whole.
  // Step 1 and 3 run on the log's io thread, step 2 on a thread of
  // `cleanerPool` (log.cleaner.threads). Resolves to what was done.
  Napi::Value Clean(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!info[0].IsObject()) throw Napi::TypeError::New(env, "clean takes the cleaner IoPool");
    if (!info[1].IsObject()) throw Napi::TypeError::New(env, "clean options must be an object");
    Napi::Object options_object = info[1].As<Napi::Object>();
    struct State {
      CleanOptions options;
      CleanPlan plan;
      std::vector<CleanedFile> files;
      CleanStats stats;
      Status status;
      std::unique_ptr<Napi::Promise::Deferred> deferred;
      Napi::ObjectReference self, cleaner, handler;
      CleanWork work;
    };
    auto st = std::make_shared<State>();
    CleanOptions& o = st->options;
    o.first_dirty_offset = config_field(options_object, "firstDirtyOffset", 0);
    o.min_compaction_lag_ms = config_field(options_object, "minCompactionLagMs", 0);
    o.max_compaction_lag_ms = config_field(options_object, "maxCompactionLagMs", INT64_MAX);
    o.delete_retention_ms = config_field(options_object, "deleteRetentionMs", o.delete_retention_ms);
    o.force = options_object.Get("force").ToBoolean();
    Napi::Value ratio = options_object.Get("minCleanableRatio");
    if (ratio.IsNumber()) o.min_cleanable_ratio = ratio.As<Napi::Number>().DoubleValue();
    Napi::Value now = options_object.Get("nowMs");
    o.now_ms = now.IsNumber() ? static_cast<int64_t>(now.As<Napi::Number>().DoubleValue()) : -1;
    PoolWrap* cleaner = PoolWrap::Unwrap(info[0].As<Napi::Object>());
    st->deferred = std::make_unique<Napi::Promise::Deferred>(Napi::Promise::Deferred::New(env));
    st->self = Napi::Persistent(info.This().As<Napi::Object>());
    st->cleaner = Napi::Persistent(info[0].As<Napi::Object>());
    std::shared_ptr<PartitionLog> log = log_;
    PoolWrap* io = pool_;
    size_t thread = thread_;
    auto finish = [st](Napi::Env env) {
      if (!st->status.ok()) {
        st->deferred->Reject(error_value(env, st->status));
      } else {
        Napi::Object r = Napi::Object::New(env);
        auto num = [&](const char* k, double v) { r.Set(k, Napi::Number::New(env, v)); };
        r.Set("cleaned", Napi::Boolean::New(env, st->plan.clean));
        num("firstDirtyOffset", static_cast<double>(st->plan.first_dirty_offset));
        num("firstUncleanableOffset", static_cast<double>(st->plan.first_uncleanable_offset));
        num("cleanBytes", static_cast<double>(st->plan.clean_bytes));
        num("dirtyBytes", static_cast<double>(st->plan.dirty_bytes));
        num("dirtyRatio", st->plan.dirty_ratio);
        r.Set("maxLagExceeded", Napi::Boolean::New(env, st->plan.max_lag_exceeded));
        num("groups", static_cast<double>(st->plan.groups.size()));
        num("bytesRead", static_cast<double>(st->stats.bytes_read));
        num("bytesWritten", static_cast<double>(st->stats.bytes_written));
        num("recordsRead", static_cast<double>(st->stats.records_read));
        num("recordsKept", static_cast<double>(st->stats.records_kept));
        num("tombstonesRemoved", static_cast<double>(st->stats.tombstones_removed));
        num("keys", static_cast<double>(st->stats.keys));
        num("segmentsSwapped", static_cast<double>(st->stats.segments_swapped));
        num("mapMs", static_cast<double>(st->stats.map_ms));
        num("rewriteMs", static_cast<double>(st->stats.rewrite_ms));
        st->deferred->Resolve(r);
      }
      st->self.Reset();
      st->cleaner.Reset();
      st->handler.Reset();
    };
    auto swap = [st, log, finish](Napi::Env env, PoolWrap* io, size_t thread) {
      auto t3 = std::make_unique<ChainTask>();
      t3->work = [st, log] { st->status = log->swap_cleaned(st->plan, st->files, wall_clock_ms(), &st->stats); };
      t3->done = finish;
      io->Submit(env, thread, std::move(t3));
    };
    bool with_handler = info.Length() > 2 && info[2].IsObject();
    if (with_handler) st->handler = Napi::Persistent(info[2].As<Napi::Object>());
    auto fail = [st, finish](Napi::Env env, Status status) {
      for (const CleanedFile& f : st->files) ::unlink(f.path.c_str());
      st->status = std::move(status);
      finish(env);
    };
    // 2c on the cleaner thread, then the swap on the io thread.
    auto rewrite = [st, cleaner, io, thread, finish, swap, fail](Napi::Env env) {
      try {
        auto t = std::make_unique<ChainTask>();
        t->work = [st] { st->status = rewrite_segments(st->plan, st->options, &st->work, &st->files, &st->stats); };
        t->done = [st, io, thread, finish, swap, fail](Napi::Env env) {
          if (!st->status.ok()) return finish(env);
          try {
            swap(env, io, thread);
          } catch (const Napi::Error& e) {
            fail(env, Status::Error(KafkaError::kLogClosed, e.Message()));
          }
        };
        cleaner->Submit(env, cleaner->AssignThread(), std::move(t));
      } catch (const Napi::Error& e) {
        fail(env, Status::Error(KafkaError::kLogClosed, e.Message()));
      }
    };
    // Calls handler[method](arg) and `then` with its (awaited) value.
    auto call_handler = [st, fail](Napi::Env env, const char* method, Napi::Value arg,
                                   std::function<void(Napi::Env, Napi::Value)> then) {
      try {
        Napi::Object handler = st->handler.Value();
        Napi::Value value = handler.Get(method).As<Napi::Function>().Call(handler, {arg});
        auto on_error = [st, fail](const Napi::CallbackInfo& info) {
          Napi::Value reason = info[0];
          std::string message = reason.IsObject() ? reason.As<Napi::Object>().Get("message").ToString().Utf8Value()
                                                  : reason.ToString().Utf8Value();
          fail(info.Env(), Status::Error(KafkaError::kCorruptMessage, "cleaning compressed batches: " + message));
        };
        auto on_value = [then, fail](const Napi::CallbackInfo& info) {
          try {
            then(info.Env(), info[0]);
          } catch (const Napi::Error& e) {
            fail(info.Env(), Status::Error(KafkaError::kCorruptMessage, "cleaning compressed batches: " + e.Message()));
          }
        };
        Napi::Object promise = value.As<Napi::Object>();
        promise.Get("then").As<Napi::Function>().Call(promise, {Napi::Function::New(env, on_value), Napi::Function::New(env, on_error)});
      } catch (const Napi::Error& e) {
        fail(env, Status::Error(KafkaError::kCorruptMessage, "cleaning compressed batches: " + e.Message()));
      }
    };
    // The hops to TypeScript for compressed batches (see log_cleaner.h).
    auto compressed = [st, cleaner, rewrite, call_handler, fail, finish](Napi::Env env) {
      Napi::Array batches = Napi::Array::New(env, st->work.compressed.size());
      for (size_t i = 0; i < st->work.compressed.size(); ++i) {
        const std::vector<uint8_t>& b = st->work.compressed[i].bytes;
        batches.Set(static_cast<uint32_t>(i), Napi::Buffer<uint8_t>::Copy(env, b.data(), b.size()));
      }
      call_handler(env, "keys", batches, [st, cleaner, rewrite, call_handler, fail, finish](Napi::Env env, Napi::Value records) {
        if (!records.IsTypedArray()) throw Napi::TypeError::New(env, "keys() must resolve to a Buffer");
        Napi::Uint8Array bytes = records.As<Napi::Uint8Array>();
        auto copy = std::make_shared<std::vector<uint8_t>>(bytes.Data(), bytes.Data() + bytes.ByteLength());
        auto keep = std::make_shared<std::vector<uint8_t>>();
        auto t = std::make_unique<ChainTask>();
        t->work = [st, copy, keep] {
          st->status = resolve_compressed(st->plan, st->options, copy->data(), copy->size(), &st->work, keep.get(), &st->stats);
        };
        t->done = [st, keep, rewrite, call_handler, finish](Napi::Env env) {
          if (!st->status.ok()) return finish(env);
          Napi::Value mask = Napi::Buffer<uint8_t>::Copy(env, keep->data(), keep->size());
          call_handler(env, "rebuild", mask, [st, rewrite](Napi::Env env, Napi::Value value) {
            if (!value.IsArray()) throw Napi::TypeError::New(env, "rebuild() must resolve to an array");
            Napi::Array array = value.As<Napi::Array>();
            size_t n = st->work.compressed.size();
            if (array.Length() != n) throw Napi::RangeError::New(env, "rebuild() must give one entry per compressed batch");
            st->work.replacement_kind.assign(n, 0);
            st->work.replacements.assign(n, {});
            for (size_t i = 0; i < n; ++i) {
              Napi::Value v = array.Get(static_cast<uint32_t>(i));
              if (!v.IsTypedArray()) continue;  // null: keep the batch as it is
              Napi::Uint8Array b = v.As<Napi::Uint8Array>();
              if (b.ByteLength() == 0) {
                st->work.replacement_kind[i] = 1;
              } else {
                // The rebuilt batch replaces bytes in a segment: it must be
                // exactly one valid batch (framing, magic, CRC) covering no
                // offsets outside the batch it replaces.
                BatchHeader original;
                BatchHeader rebuilt;
                bool torn = false;
                const std::vector<uint8_t>& before = st->work.compressed[i].bytes;
                Status valid = check_stored_batch(b.Data(), b.ByteLength(), &rebuilt, &torn);
                if (!valid.ok() || rebuilt.size_bytes() != b.ByteLength()) {
                  throw Napi::RangeError::New(env, "rebuild() entry " + std::to_string(i) + " is not exactly one valid record batch");
                }
                if (!check_stored_batch(before.data(), before.size(), &original, &torn).ok() ||
                    rebuilt.base_offset != original.base_offset || rebuilt.last_offset() > original.last_offset()) {
                  throw Napi::RangeError::New(env, "rebuild() entry " + std::to_string(i) + " does not keep the offsets of the batch it replaces");
                }
                st->work.replacement_kind[i] = 2;
                st->work.replacements[i].assign(b.Data(), b.Data() + b.ByteLength());
              }
            }
            st->work.compressed.clear();
            st->work.compressed.shrink_to_fit();
            rewrite(env);
          });
        };
        cleaner->Submit(env, cleaner->AssignThread(), std::move(t));
      });
    };
    auto t1 = std::make_unique<ChainTask>();
    t1->work = [st, log] {
      if (st->options.now_ms < 0) st->options.now_ms = wall_clock_ms();
      st->status = log->plan_clean(st->options, &st->plan);
    };
    t1->done = [st, cleaner, finish, rewrite, compressed, with_handler](Napi::Env env) {
      if (!st->status.ok() || !st->plan.clean) return finish(env);
      try {
        auto t2 = std::make_unique<ChainTask>();
        t2->work = [st, with_handler] { st->status = build_offset_map(st->plan, st->options, with_handler, &st->work, &st->stats); };
        t2->done = [st, finish, rewrite, compressed](Napi::Env env) {
          if (!st->status.ok()) return finish(env);
          if (st->work.compressed.empty()) return rewrite(env);
          compressed(env);
        };
        cleaner->Submit(env, cleaner->AssignThread(), std::move(t2));
      } catch (const Napi::Error& e) {
        st->status = Status::Error(KafkaError::kLogClosed, e.Message());
        finish(env);
      }
    };
    Napi::Promise promise = st->deferred->Promise();
    pool_->Submit(env, thread_, std::move(t1));
    return promise;
  }

  // setRollListener(fn | null): fn() runs on the JavaScript thread when an
  // append has started a new segment, before the append's Promise resolves.
  Napi::Value SetRollListener(const Napi::CallbackInfo& info) {
    if (info[0].IsFunction()) {
      roll_listener_ = Napi::Persistent(info[0].As<Napi::Function>());
    } else if (info[0].IsNull() || info[0].IsUndefined()) {
      roll_listener_.Reset();
    } else {
      throw Napi::TypeError::New(info.Env(), "setRollListener takes a function or null");
    }
    return info.Env().Undefined();
  }

  void NotifyRolled() {
    if (roll_listener_.IsEmpty()) return;
    try {
      roll_listener_.Call({});
    } catch (const Napi::Error& e) {
      // The append succeeded: a failing listener must not turn it into an error.
      fprintf(stderr, "gregor: a roll listener threw: %s\n", e.Message().c_str());
    }
  }
  Napi::Value Roll(const Napi::CallbackInfo& info) {
    return RunSimple(info, [](PartitionLog& log) { return log.roll(wall_clock_ms()); });
  }
  Napi::Value Flush(const Napi::CallbackInfo& info) {
    return RunSimple(info, [](PartitionLog& log) { return log.flush(); });
  }
  Napi::Value SetConfig(const Napi::CallbackInfo& info) {
    LogConfig config = parse_config(info[0]);
    return RunSimple(info, [config](PartitionLog& log) {
      log.set_config(config);
      return Status::Ok();
    });
  }
  Napi::Value Close(const Napi::CallbackInfo& info) {
    bool clean = info[0].ToBoolean();
    return RunSimple(info, [clean](PartitionLog& log) { return log.close(clean); });
  }

  Napi::Value DeleteOldestSegments(const Napi::CallbackInfo& info) {
    int64_t count = offset_arg(info, 0, "count");
    if (count < 0) throw Napi::RangeError::New(info.Env(), "count must not be negative");
    std::unique_ptr<PromiseTask> owner;
    PromiseTask* t = NewTask(info, owner);
    auto deleted = std::make_shared<size_t>(0);
    std::shared_ptr<PartitionLog> log = log_;
    t->work = [t, log, count, deleted] {
      t->status = log->delete_oldest_segments(static_cast<size_t>(count), wall_clock_ms(), deleted.get());
    };
    t->result = [deleted](Napi::Env env) { return Napi::Number::New(env, static_cast<double>(*deleted)); };
    return Run(info, std::move(owner));
  }

  Napi::Value Segments(const Napi::CallbackInfo& info) {
    std::unique_ptr<PromiseTask> owner;
    PromiseTask* t = NewTask(info, owner);
    auto out = std::make_shared<std::vector<SegmentInfo>>();
    std::shared_ptr<PartitionLog> log = log_;
    t->work = [t, log, out] {
      if (log->closed()) t->status = Status::Error(KafkaError::kLogClosed, "log is closed");
      else *out = log->segments();
    };
    t->result = [out](Napi::Env env) {
      Napi::Array array = Napi::Array::New(env, out->size());
      for (size_t i = 0; i < out->size(); ++i) {
        const SegmentInfo& s = (*out)[i];
        Napi::Object o = Napi::Object::New(env);
        o.Set("baseOffset", Napi::Number::New(env, static_cast<double>(s.base_offset)));
        o.Set("nextOffset", Napi::Number::New(env, static_cast<double>(s.next_offset)));
        o.Set("sizeBytes", Napi::Number::New(env, static_cast<double>(s.size_bytes)));
        o.Set("maxTimestamp", Napi::Number::New(env, static_cast<double>(s.max_timestamp)));
        array.Set(static_cast<uint32_t>(i), o);
      }
      return array;
    };
    return Run(info, std::move(owner));
  }

  Napi::Value LogStartOffset(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), static_cast<double>(log_->log_start_offset()));
  }
  Napi::Value LogEndOffset(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), static_cast<double>(log_->log_end_offset()));
  }
  Napi::Value RecoveryPoint(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), static_cast<double>(log_->recovery_point()));
  }
  Napi::Value SizeBytes(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), static_cast<double>(log_->size_bytes()));
  }
  Napi::Value NextFileDeletionMs(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), static_cast<double>(log_->next_file_deletion_ms()));
  }
  Napi::Value RecoveredTruncatedBytes(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), static_cast<double>(log_->recovered_truncated_bytes()));
  }

  std::shared_ptr<PartitionLog> log_;
  PoolWrap* pool_ = nullptr;
  Napi::ObjectReference pool_ref_;
  size_t thread_ = 0;
  Napi::FunctionReference roll_listener_;
};

Napi::Value PoolWrap::OpenLog(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsString()) throw Napi::TypeError::New(env, "dir must be a string");
  std::string dir = info[0].As<Napi::String>();
  LogConfig config = parse_config(info[1]);
  int64_t recovery_point = offset_arg(info, 2, "recoveryPoint");
  int64_t log_start_offset = offset_arg(info, 3, "logStartOffset");
  bool clean = info[4].ToBoolean();
  auto task = std::make_unique<PromiseTask>(env);
  PromiseTask* t = task.get();
  t->keep_alive.push_back(Napi::Persistent(info.This()));
  auto log = std::make_shared<PartitionLog>(dir, config);
  size_t thread = AssignThread();
  t->work = [t, log, recovery_point, log_start_offset, clean] {
    t->status = log->open(recovery_point, log_start_offset, clean, wall_clock_ms());
    if (!t->status.ok()) log->close(false);
  };
  Napi::Object self = info.This().As<Napi::Object>();
  t->result = [log, this, thread, self_ref = std::make_shared<Napi::ObjectReference>(Napi::Persistent(self))](
                  Napi::Env env) -> Napi::Value {
    InstanceData* data = env.GetInstanceData<InstanceData>();
    Napi::Object object = data->log_constructor.New({});
    LogWrap::Unwrap(object)->Attach(log, this, self_ref->Value(), thread);
    return object;
  };
  Napi::Promise promise = t->deferred.Promise();
  Submit(env, thread, std::move(task));
  return promise;
}

Napi::Value PoolWrap::WriteFileAtomic(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsString()) throw Napi::TypeError::New(env, "path must be a string");
  if (!info[1].IsTypedArray()) throw Napi::TypeError::New(env, "contents must be a Buffer");
  std::string path = info[0].As<Napi::String>();
  Napi::Uint8Array bytes = info[1].As<Napi::Uint8Array>();
  auto task = std::make_unique<PromiseTask>(env);
  PromiseTask* t = task.get();
  t->keep_alive.push_back(Napi::Persistent(info[1]));
  const uint8_t* data = bytes.Data();
  size_t length = bytes.ByteLength();
  t->work = [t, path, data, length] {
    std::string temp = path + ".tmp";
    int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
      t->status = storage_error("create " + temp, errno);
      return;
    }
    size_t done = 0;
    while (done < length) {
      ssize_t w = ::write(fd, data + done, length - done);
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) break;
      done += static_cast<size_t>(w);
    }
    int saved = errno;
    if (done != length) {
      ::close(fd);
      t->status = storage_error("write " + temp, saved);
      return;
    }
    if (GREGOR_FAULT(kFsync) || ::fsync(fd) != 0) {
      saved = errno;
      ::close(fd);
      t->status = storage_error("fsync " + temp, saved);
      return;
    }
    ::close(fd);
    if (::rename(temp.c_str(), path.c_str()) != 0) {
      t->status = storage_error("rename " + temp, errno);
      return;
    }
    std::string dir = path.substr(0, path.find_last_of('/'));
    if (dir.empty() || path.find('/') == std::string::npos) dir = ".";
    int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0 || ::fsync(dfd) != 0) t->status = storage_error("fsync directory " + dir, errno);
    if (dfd >= 0) ::close(dfd);
  };
  Napi::Promise promise = t->deferred.Promise();
  Submit(env, AssignThread(), std::move(task));
  return promise;
}

// Kafka's `.lock` in a log directory: an exclusive flock held for as long as
// the directory is open, so that a second process fails fast instead of
// writing the same files.
Napi::Value PoolWrap::LockFile(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsString()) throw Napi::TypeError::New(env, "path must be a string");
  std::string path = info[0].As<Napi::String>();
  auto task = std::make_unique<PromiseTask>(env);
  PromiseTask* t = task.get();
  t->keep_alive.push_back(Napi::Persistent(info.This()));
  auto fd = std::make_shared<int>(-1);
  t->work = [t, path, fd] {
    int f = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (f < 0) {
      t->status = storage_error("open " + path, errno);
      return;
    }
    if (::flock(f, LOCK_EX | LOCK_NB) != 0) {
      int saved = errno;
      ::close(f);
      t->status = saved == EWOULDBLOCK
                      ? Status::Error(KafkaError::kKafkaStorageError,
                                      "Failed to acquire lock on " + path +
                                          ": another process (or another LogManager in this one) is using this directory")
                      : storage_error("lock " + path, saved);
      return;
    }
    *fd = f;
  };
  t->result = [this, fd](Napi::Env env) {
    locked_fds_.push_back(*fd);
    return Napi::Number::New(env, *fd);
  };
  Napi::Promise promise = t->deferred.Promise();
  Submit(env, AssignThread(), std::move(task));
  return promise;
}

Napi::Value Crc32c(const Napi::CallbackInfo& info) {
  if (!info[0].IsTypedArray()) throw Napi::TypeError::New(info.Env(), "crc32c takes a Buffer or Uint8Array");
  Napi::TypedArray array = info[0].As<Napi::TypedArray>();
  Napi::ArrayBuffer buffer = array.ArrayBuffer();
  const uint8_t* data = static_cast<const uint8_t*>(buffer.Data()) + array.ByteOffset();
  return Napi::Number::New(info.Env(), crc32c(data, array.ByteLength()));
}

Napi::Value Crc32cImplementation(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), crc32c_implementation());
}

Napi::Value SetFaultProbe(const Napi::CallbackInfo& info) {
  if (!info[0].IsString() || !info[1].IsNumber()) throw Napi::TypeError::New(info.Env(), "setFaultProbe(name, count)");
  std::string name = info[0].As<Napi::String>();
  FaultProbe probe = fault_probe_by_name(name.c_str());
  if (probe == FaultProbe::kCount) throw Napi::RangeError::New(info.Env(), "unknown fault probe: " + name);
  g_fault_probe_remaining[static_cast<int>(probe)].store(info[1].As<Napi::Number>().Int32Value());
  return info.Env().Undefined();
}

// Open segment files cost one descriptor each; raise the soft limit to the
// hard limit once, as Kafka's packaging does with ulimit.
void raise_fd_limit() {
  rlimit limit;
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
  }
}

}  // namespace

bool unwrap_file_region(const Napi::Value& value, FileRegion* out) {
  if (!value.IsObject()) return false;
  InstanceData* data = value.Env().GetInstanceData<InstanceData>();
  if (!value.As<Napi::Object>().InstanceOf(data->region_constructor.Value())) return false;
  RegionWrap* wrap = RegionWrap::Unwrap(value.As<Napi::Object>());
  if (!wrap->region.file) return false;
  *out = wrap->region;
  return true;
}

Napi::Object init_binding(Napi::Env env, Napi::Object exports) {
  raise_fd_limit();
  auto* data = new InstanceData();
  Napi::Function log_class = LogWrap::Define(env);
  Napi::Function region_class = RegionWrap::Define(env);
  data->log_constructor = Napi::Persistent(log_class);
  data->region_constructor = Napi::Persistent(region_class);
  env.SetInstanceData(data);
  exports.Set("IoPool", PoolWrap::Define(env));
  exports.Set("NativeLog", log_class);
  exports.Set("FileRegion", region_class);
  exports.Set("crc32c", Napi::Function::New(env, Crc32c));
  exports.Set("crc32cImplementation", Napi::Function::New(env, Crc32cImplementation));
  exports.Set("setFaultProbe", Napi::Function::New(env, SetFaultProbe));
  init_net_binding(env, exports);
  return exports;
}

}  // namespace gregor
