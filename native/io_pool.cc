#include "io_pool.h"

#include <algorithm>

#include "partition_log.h"

namespace gregor {

IoPool::IoPool(size_t thread_count) {
  thread_count = std::max<size_t>(1, std::min(thread_count, kThreadsMax));
  for (size_t i = 0; i < thread_count; ++i) workers_.push_back(std::make_unique<Worker>());
  for (size_t i = 0; i < thread_count; ++i) {
    threads_.emplace_back([this, i] { run(*workers_[i]); });
  }
}

IoPool::~IoPool() { stop(); }

void IoPool::submit(size_t thread, std::unique_ptr<Task> task) {
  Worker& worker = *workers_[thread % workers_.size()];
  {
    std::lock_guard<std::mutex> lock(worker.mutex);
    worker.queue.push_back(std::move(task));
  }
  worker.wake.notify_one();
}

std::vector<std::unique_ptr<Task>> IoPool::take_completed() {
  // Clear the flag first: a pass that finishes after this wakes us again.
  wakeup_pending_.store(false, std::memory_order_release);
  std::vector<std::unique_ptr<Task>> done;
  std::lock_guard<std::mutex> lock(completed_mutex_);
  done.swap(completed_);
  return done;
}

void IoPool::run(Worker& worker) {
  std::vector<std::unique_ptr<Task>> batch;
  std::vector<std::shared_ptr<PartitionLog>> to_sync;
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(worker.mutex);
      worker.wake.wait(lock, [&] { return worker.stopping || !worker.queue.empty(); });
      if (worker.queue.empty()) return;  // stopping, and nothing left to do
      batch.swap(worker.queue);
    }
    for (auto& task : batch) task->execute();
    // One fsync per log for every durable task of this pass.
    to_sync.clear();
    for (auto& task : batch) {
      if (task->sync_log && std::find(to_sync.begin(), to_sync.end(), task->sync_log) == to_sync.end()) {
        to_sync.push_back(task->sync_log);
      }
    }
    for (auto& log : to_sync) {
      Status status = log->closed() ? Status::Ok() : log->flush();
      for (auto& task : batch) {
        if (task->sync_log == log) task->sync_status = status;
      }
    }
    {
      std::lock_guard<std::mutex> lock(completed_mutex_);
      for (auto& task : batch) completed_.push_back(std::move(task));
    }
    batch.clear();
    if (!wakeup_pending_.exchange(true, std::memory_order_acq_rel) && wakeup_) wakeup_();
  }
}

void IoPool::stop() {
  if (stopped_) return;
  stopped_ = true;
  for (auto& worker : workers_) {
    {
      std::lock_guard<std::mutex> lock(worker->mutex);
      worker->stopping = true;
    }
    worker->wake.notify_one();
  }
  for (auto& thread : threads_) thread.join();
}

}  // namespace gregor
