// NetServer: the broker's socket server, Kafka's SocketServer on native
// threads. An acceptor thread takes connections off the listening socket and
// hands them round-robin to num.network.threads NetworkThreads; connection
// ids encode that choice (thread = id % threads), so a response finds its
// thread without a lookup table.
//
// Delivery: network threads append completed frames (and connection-closed
// events) to one delivery queue and wake JavaScript at most once until it
// drains the queue, so one wake-up carries every frame that arrived
// meanwhile. Keep-alives of sent responses travel back the same way, to be
// destroyed on the JavaScript thread.
//
// Backpressure: a request slot is taken when a frame completes and given
// back when JavaScript answers it (respond with bytes or null), parks it
// (park: it waits in a handler) or its connection closes. With all
// queued.max.requests slots taken, network threads stop reading sockets
// until a slot comes back.
//
// Threading:
//   JavaScript thread  listen, respond, close_connection, begin_stop,
//                      finished, join, stop_now, take, stats.
//   acceptor thread    accept4 + socket options, then add_connection.
//   network threads    everything that touches a connection.
//   Shared: the delivery queue (mutex), the slot counter and statistics
//   (atomics), each thread's command queue (mutex).
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "net_types.h"

namespace gregor {
namespace net {

class NetworkThread;

// Counters updated by the network and acceptor threads.
struct NetCounters {
  std::atomic<int64_t> connections{0};
  std::atomic<int64_t> connections_total{0};
  std::atomic<int64_t> connections_idle_closed{0};
  std::atomic<int64_t> requests_total{0};
  std::atomic<int64_t> responses_total{0};
  std::atomic<int64_t> bytes_in{0};
  std::atomic<int64_t> bytes_out{0};
  std::atomic<int64_t> frames_too_large{0};
  std::atomic<int64_t> accept_errors{0};
};

class NetServer {
 public:
  // After accept(2) fails for lack of descriptors or memory, the acceptor
  // waits this long before trying again (the pending connection stays in
  // the backlog; retrying at once would spin).
  static constexpr int kAcceptPauseMs = 100;

  explicit NetServer(NetConfig config);
  ~NetServer();  // stop_now
  NetServer(const NetServer&) = delete;
  NetServer& operator=(const NetServer&) = delete;

  const NetConfig& config() const { return config_; }
  // Called on a network thread whenever the delivery queue becomes
  // non-empty after a take (at most once until the next take).
  void set_wakeup(std::function<void()> wakeup) { wakeup_ = std::move(wakeup); }

  // ---- JavaScript thread ----
  // Resolves the host, binds, listens and starts the threads. Returns an
  // error sentence, or "" with the bound address.
  std::string listen(std::string* bound_host, int* bound_port);
  // errno of the last failed bind/listen (EADDRINUSE, EACCES, ...), or 0.
  int listen_errno() const { return listen_errno_; }
  // Queues a response (null: none) for the connection's thread; accepted
  // while listening and while stopping (a stopping thread still sends
  // answers to delivered requests). The thread is woken by the next
  // flush_responses(): one wake-up per batch instead of one per response.
  void respond(uint64_t connection_id, int64_t request_id, std::unique_ptr<Response> response);
  // A request that will wait in its handler (a JoinGroup until the
  // rebalance, a long-poll Fetch) gives its request slot back now: the
  // queued.max.requests bound is on requests waiting to be handled, as in
  // Kafka, not on requests parked in a handler.
  void park(uint64_t connection_id, int64_t request_id);
  void flush_responses();
  void close_connection(uint64_t connection_id);
  // Stops accepting and reading now; every network thread then keeps
  // writing answers to delivered requests for up to `drain_ms` before it
  // closes its connections and exits. finished() turns true (and the wakeup
  // fires) when all have.
  void begin_stop(int64_t drain_ms);
  bool running() const { return running_; }
  bool finished() const;
  void join();
  // Closes everything at once and joins (environment teardown, destructor).
  void stop_now();
  void take(std::vector<NetEvent>* events, std::vector<std::unique_ptr<KeepAlive>>* retired);
  NetStats stats() const;

  // ---- network threads ----
  bool try_take_request_slot();
  bool request_slot_available() const;
  void give_back_request_slots(int64_t count);
  void deliver(std::vector<NetEvent>* events, std::vector<std::unique_ptr<KeepAlive>>* retired);
  void thread_exited();
  NetCounters& counters() { return counters_; }

 private:
  void accept_loop();
  void stop_acceptor();

  const NetConfig config_;
  std::function<void()> wakeup_;
  std::vector<std::unique_ptr<NetworkThread>> threads_;
  std::thread acceptor_;
  int listen_fd_ = -1;
  int acceptor_stop_fd_ = -1;  // eventfd
  int listen_errno_ = 0;
  bool running_ = false;       // listening and not stopping (JavaScript thread)
  bool stopping_ = false;      // begin_stop ran, threads not yet joined (JavaScript thread)
  bool started_ = false;       // threads were started (JavaScript thread)
  bool joined_ = false;
  std::vector<size_t> unwoken_threads_;  // got responses since the last flush (JavaScript thread)
  std::vector<bool> thread_unwoken_;

  std::atomic<int64_t> queued_requests_{0};
  std::atomic<size_t> threads_exited_{0};
  NetCounters counters_;

  std::mutex delivery_mutex_;
  std::vector<NetEvent> delivery_;
  std::vector<std::unique_ptr<KeepAlive>> retired_;
  std::atomic<bool> wakeup_pending_{false};
};

}  // namespace net
}  // namespace gregor
