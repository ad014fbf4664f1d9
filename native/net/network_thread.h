// NetworkThread: one of num.network.threads (Kafka's Processor). It owns the
// connections the acceptor hands it, waits on its own epoll instance
// (edge-triggered: a connection's interest set never changes, the thread just
// remembers whether it may read or write), reads whole frames, hands them to
// the server's delivery queue, and writes responses in request order.
//
// Threading: the thread's state is private to it. Other threads talk to it
// only through post(): a command queue under a mutex plus an eventfd that
// wakes epoll_wait (written once per batch of commands, not per command).
//
// Limits that stop reading a connection (its bytes then wait in the kernel's
// socket buffer, and TCP flow control pushes back on the client):
//   - the server's request slots (queued.max.requests) are all taken;
//   - the connection has kInFlightRequestsMax requests without a written
//     response;
//   - a read budget per connection per pass, for fairness between them.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "connection.h"
#include "net_types.h"

namespace gregor {
namespace net {

class NetServer;

class NetworkThread {
 public:
  // Requests per connection delivered without a written response. Clients
  // pipeline (librdkafka allows up to 1000000 in flight, the Java client 5),
  // and every in-flight request pins a frame and a response; 100 keeps a
  // misbehaving client's footprint bounded while never limiting a normal
  // one. Beyond it the connection is simply not read until responses leave.
  static constexpr size_t kInFlightRequestsMax = 100;
  // Bytes read from one connection per pass before the others get a turn.
  static constexpr size_t kReadBudgetBytes = 256 * 1024;
  // The thread's read buffer: small frames are parsed out of it; the body of
  // a larger frame is read straight into the frame's own buffer.
  static constexpr size_t kReadChunkBytes = 64 * 1024;
  // epoll events taken per epoll_wait.
  static constexpr int kEpollEventsMax = 256;
  // Idle checks run every idle limit / 4, within these bounds.
  static constexpr int64_t kIdleCheckIntervalMsMin = 10;
  static constexpr int64_t kIdleCheckIntervalMsMax = 1000;

  NetworkThread(NetServer& server, size_t index);
  ~NetworkThread();  // joins; closes whatever is left
  NetworkThread(const NetworkThread&) = delete;
  NetworkThread& operator=(const NetworkThread&) = delete;

  // Returns an error sentence, or "" once the thread runs.
  std::string start();
  // JavaScript thread, after stop(): waits for the thread and drops the
  // commands it never took.
  void join();

  // ---- any thread ----
  void add_connection(int fd, uint64_t connection_id, std::shared_ptr<const Peer> peer);
  // `response` null: no response for this request (it still frees its slot).
  // Queued without waking the thread: the caller batches responses and
  // calls wake() once for all of them (one eventfd write, one wake-up).
  void respond(uint64_t connection_id, int64_t request_id, std::unique_ptr<Response> response);
  // Gives back the request slot of a request that waits in its handler.
  void park(uint64_t connection_id, int64_t request_id);
  void wake();
  void close_connection(uint64_t connection_id);
  // Stop reading; keep writing answers to requests already delivered (in
  // order, including answers that arrive meanwhile), closing each connection
  // once it has nothing in flight; at `deadline_ms` (monotonic) close the
  // rest and exit.
  void stop(int64_t deadline_ms);
  // The server gave back request slots: if this thread has connections
  // waiting for one, wake it (Dekker-style with wait_for_slot's flag).
  void notify_slots_available();

 private:
  struct Command {
    enum class Kind { kAdd, kRespond, kPark, kClose, kStop } kind;
    uint64_t connection_id = 0;
    int64_t request_id = 0;
    int fd = -1;
    std::shared_ptr<const Peer> peer;
    std::unique_ptr<Response> response;
    int64_t deadline_ms = 0;
  };

  void post(Command command, bool wake_now = true);
  void run();
  void run_commands(int64_t now_ms);
  void begin_stop(int64_t deadline_ms);
  void on_event(uint64_t connection_id, uint32_t events);
  void service_read(Connection& connection);
  void reject_frame(Connection& connection);
  bool queue_frame(Connection& connection);
  bool take_slot();
  bool slots_available_or_wait(Connection& connection);
  void resume_slot_waiters();
  void flush(Connection& connection);
  void mark_ready(Connection& connection);
  void mark_flush(Connection& connection);
  bool maybe_close_after_eof(Connection& connection);
  void close(Connection& connection, const std::string& reason);
  void close_idle();
  void publish();
  Connection* find(uint64_t connection_id);

  NetServer& server_;
  const size_t index_;
  std::thread thread_;
  int epoll_fd_ = -1;
  int wake_fd_ = -1;  // eventfd

  std::mutex commands_mutex_;
  std::vector<Command> commands_;
  std::atomic<bool> wake_pending_{false};
  // Set by this thread before its last attempt to take a slot; cleared by
  // whichever thread gives one back, which then wakes this one.
  std::atomic<bool> slot_wait_flag_{false};

  // ---- owned by the thread ----
  std::unordered_map<uint64_t, std::unique_ptr<Connection>> connections_;
  std::vector<uint64_t> ready_;          // may read now (edge seen, budget or block lifted)
  std::vector<uint64_t> flush_list_;     // have newly answered responses
  std::vector<uint64_t> slot_waiters_;   // blocked on queued.max.requests
  std::vector<NetEvent> events_;         // for the delivery queue, published once per pass
  std::vector<std::unique_ptr<KeepAlive>> retired_;
  std::unique_ptr<uint8_t[]> chunk_;     // kReadChunkBytes
  int64_t now_ms_ = 0;
  int64_t idle_check_interval_ms_;
  bool stopping_ = false;
  int64_t stop_deadline_ms_ = 0;
};

// Monotonic milliseconds, for idle and stop deadlines.
int64_t monotonic_ms();

}  // namespace net
}  // namespace gregor
