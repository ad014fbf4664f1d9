// IoPool: the native io threads (num.io.threads). Each partition is pinned to
// one thread, so its operations run in submission order without locks, and
// JavaScript never waits on disk: it submits a Task and gets a Promise.
//
// Group commit: a thread takes every task queued since its last pass, runs
// them all, then issues one fsync per log that any of them asked to make
// durable, and only then completes them. While that fsync runs, new tasks
// queue up and share the next one.
//
// Completion: finished tasks go to one completion queue per pool; the pool
// wakes the JavaScript thread once per pass (not once per task), and the
// JavaScript side drains the queue and settles the Promises.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "errors.h"

struct napi_env__;

namespace gregor {

class PartitionLog;

class Task {
 public:
  virtual ~Task() = default;
  // Runs on the io thread.
  virtual void execute() = 0;
  // Runs on the JavaScript thread after execute (and the fsync it asked for).
  virtual void complete(napi_env__* env) = 0;

  // Set by execute when the result must be durable before completion.
  std::shared_ptr<PartitionLog> sync_log;
  // The fsync's outcome, filled in by the pool.
  Status sync_status;
};

class IoPool {
 public:
  // Limit on threads: more than this is a configuration mistake, not a speedup.
  static constexpr size_t kThreadsMax = 256;

  explicit IoPool(size_t thread_count);
  ~IoPool();
  IoPool(const IoPool&) = delete;
  IoPool& operator=(const IoPool&) = delete;

  size_t thread_count() const { return threads_.size(); }
  // The next thread in round-robin order, for pinning a new partition.
  size_t assign_thread() { return next_thread_.fetch_add(1, std::memory_order_relaxed) % threads_.size(); }
  void submit(size_t thread, std::unique_ptr<Task> task);
  // Called on an io thread whenever completions become available (at most
  // once until take_completed runs).
  void set_wakeup(std::function<void()> wakeup) { wakeup_ = std::move(wakeup); }
  std::vector<std::unique_ptr<Task>> take_completed();
  // Finishes queued tasks, then stops and joins the threads.
  void stop();

 private:
  struct Worker {
    std::mutex mutex;
    std::condition_variable wake;
    std::vector<std::unique_ptr<Task>> queue;
    bool stopping = false;
  };
  void run(Worker& worker);

  std::vector<std::unique_ptr<Worker>> workers_;
  std::vector<std::thread> threads_;
  std::atomic<size_t> next_thread_{0};
  std::function<void()> wakeup_;
  std::mutex completed_mutex_;
  std::vector<std::unique_ptr<Task>> completed_;
  std::atomic<bool> wakeup_pending_{false};
  bool stopped_ = false;
};

}  // namespace gregor
