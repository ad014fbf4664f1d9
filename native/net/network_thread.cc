// NetworkThread: the epoll loop of one network thread (see network_thread.h).
// Everything below runs on the thread itself except the public "any thread"
// entry points, which only queue a command and wake it.
#include "network_thread.h"

#include <pthread.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cassert>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>

#include "net_server.h"

namespace gregor {
namespace net {

int64_t monotonic_ms() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

namespace {
// epoll data of the wake eventfd; connection ids start at 1.
constexpr uint64_t kWakeToken = 0;
}  // namespace

NetworkThread::NetworkThread(NetServer& server, size_t index)
    : server_(server),
      index_(index),
      idle_check_interval_ms_(
          std::clamp(server.config().idle_ms_max / 4, kIdleCheckIntervalMsMin, kIdleCheckIntervalMsMax)) {}

NetworkThread::~NetworkThread() {
  join();
  for (auto& entry : connections_) entry.second->discard_responses(&retired_);
  connections_.clear();
  if (epoll_fd_ >= 0) ::close(epoll_fd_);
  if (wake_fd_ >= 0) ::close(wake_fd_);
}

std::string NetworkThread::start() {
  epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
  if (epoll_fd_ < 0) return std::string("epoll_create1 failed: ") + std::strerror(errno);
  wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake_fd_ < 0) return std::string("eventfd failed: ") + std::strerror(errno);
  epoll_event event{};
  event.events = EPOLLIN;
  event.data.u64 = kWakeToken;
  if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, wake_fd_, &event) != 0) {
    return std::string("epoll_ctl failed: ") + std::strerror(errno);
  }
  chunk_ = std::make_unique<uint8_t[]>(kReadChunkBytes);
  thread_ = std::thread([this] { run(); });
  return "";
}

// On the JavaScript thread. Commands that arrived after the thread exited
// die here: sockets it never adopted are closed, and late responses (with
// their keep-alives) are destroyed on this, the JavaScript, thread.
void NetworkThread::join() {
  if (thread_.joinable()) thread_.join();
  std::vector<Command> late;
  {
    std::lock_guard<std::mutex> lock(commands_mutex_);
    late.swap(commands_);
  }
  for (Command& command : late) {
    if (command.kind == Command::Kind::kAdd && command.fd >= 0) ::close(command.fd);
  }
}

// ---- any thread ----

void NetworkThread::post(Command command, bool wake_now) {
  {
    std::lock_guard<std::mutex> lock(commands_mutex_);
    commands_.push_back(std::move(command));
  }
  if (wake_now) wake();
}

void NetworkThread::wake() {
  // One eventfd write per batch: the thread clears the flag before it takes
  // the queue, so a command posted after that take writes again.
  if (wake_fd_ >= 0 && !wake_pending_.exchange(true)) {
    uint64_t one = 1;
    ssize_t ignored = ::write(wake_fd_, &one, sizeof one);
    (void)ignored;  // can only fail with a full counter, which still wakes
  }
}

void NetworkThread::add_connection(int fd, uint64_t connection_id, std::shared_ptr<const Peer> peer) {
  Command command{Command::Kind::kAdd};
  command.fd = fd;
  command.connection_id = connection_id;
  command.peer = std::move(peer);
  post(std::move(command));
}

void NetworkThread::respond(uint64_t connection_id, int64_t request_id, std::unique_ptr<Response> response) {
  Command command{Command::Kind::kRespond};
  command.connection_id = connection_id;
  command.request_id = request_id;
  command.response = std::move(response);
  post(std::move(command), false);
}

void NetworkThread::park(uint64_t connection_id, int64_t request_id) {
  Command command{Command::Kind::kPark};
  command.connection_id = connection_id;
  command.request_id = request_id;
  post(std::move(command));
}

void NetworkThread::close_connection(uint64_t connection_id) {
  Command command{Command::Kind::kClose};
  command.connection_id = connection_id;
  post(std::move(command));
}

void NetworkThread::stop(int64_t deadline_ms) {
  Command command{Command::Kind::kStop};
  command.deadline_ms = deadline_ms;
  post(std::move(command));
}

void NetworkThread::notify_slots_available() {
  if (slot_wait_flag_.load() && slot_wait_flag_.exchange(false)) wake();
}

// ---- the thread ----

void NetworkThread::run() {
  // sendfile(2) to a reset socket raises SIGPIPE (sendmsg has MSG_NOSIGNAL).
  // Node ignores it process-wide, but an embedder might not: blocked here, a
  // write-triggered SIGPIPE stays pending on this thread and does nothing.
  sigset_t pipe_only;
  sigemptyset(&pipe_only);
  sigaddset(&pipe_only, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe_only, nullptr);

  std::vector<epoll_event> events(kEpollEventsMax);
  now_ms_ = monotonic_ms();
  int64_t next_idle_check_ms = now_ms_ + idle_check_interval_ms_;
  for (;;) {
    int timeout_ms = 0;
    if (ready_.empty()) {
      int64_t until_ms = next_idle_check_ms;
      if (stopping_) until_ms = std::min(until_ms, stop_deadline_ms_);
      timeout_ms = static_cast<int>(std::clamp<int64_t>(until_ms - now_ms_, 0, INT_MAX));
    }
    int count = ::epoll_wait(epoll_fd_, events.data(), kEpollEventsMax, timeout_ms);
    if (count < 0) {
      if (errno != EINTR) {
        std::fprintf(stderr, "gregor: network thread %zu: epoll_wait failed: %s\n", index_, std::strerror(errno));
        break;
      }
      count = 0;
    }
    now_ms_ = monotonic_ms();
    for (int i = 0; i < count; ++i) {
      if (events[i].data.u64 == kWakeToken) {
        uint64_t value;
        ssize_t ignored = ::read(wake_fd_, &value, sizeof value);
        (void)ignored;
        wake_pending_.store(false);
      } else {
        on_event(events[i].data.u64, events[i].events);
      }
    }
    run_commands(now_ms_);
    if (!stopping_) {
      resume_slot_waiters();
      std::vector<uint64_t> ready;
      ready.swap(ready_);
      for (uint64_t id : ready) {
        Connection* connection = find(id);
        if (connection == nullptr) continue;
        connection->in_ready_list = false;
        service_read(*connection);
      }
    }
    std::vector<uint64_t> to_flush;
    to_flush.swap(flush_list_);
    for (uint64_t id : to_flush) {
      Connection* connection = find(id);
      if (connection == nullptr) continue;
      connection->in_flush_list = false;
      flush(*connection);
    }
    if (now_ms_ >= next_idle_check_ms) {
      close_idle();
      next_idle_check_ms = now_ms_ + idle_check_interval_ms_;
    }
    publish();
    if (stopping_ && (connections_.empty() || now_ms_ >= stop_deadline_ms_)) break;
  }
  std::vector<uint64_t> remaining;
  for (auto& entry : connections_) remaining.push_back(entry.first);
  for (uint64_t id : remaining) close(*find(id), "server stopping");
  publish();
  server_.thread_exited();
}

void NetworkThread::run_commands(int64_t now_ms) {
  std::vector<Command> batch;
  {
    std::lock_guard<std::mutex> lock(commands_mutex_);
    batch.swap(commands_);
  }
  for (Command& command : batch) {
    switch (command.kind) {
      case Command::Kind::kAdd: {
        if (stopping_) {
          ::close(command.fd);
          break;
        }
        auto connection = std::make_unique<Connection>(command.connection_id, command.fd, std::move(command.peer),
                                                       server_.config().request_bytes_max, now_ms);
        // Edge-triggered with both directions for the connection's lifetime:
        // pausing and resuming never costs an epoll_ctl.
        epoll_event event{};
        event.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
        event.data.u64 = command.connection_id;
        if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, command.fd, &event) != 0) {
          std::fprintf(stderr, "gregor: network thread %zu: epoll_ctl failed: %s\n", index_, std::strerror(errno));
          break;  // the Connection closes the socket
        }
        server_.counters().connections++;
        connections_.emplace(command.connection_id, std::move(connection));
        break;
      }
      case Command::Kind::kRespond: {
        Connection* connection = find(command.connection_id);
        Connection::Answered answered = connection == nullptr ? Connection::Answered::kNo : connection->answer(command.request_id, command.response);
        if (answered == Connection::Answered::kYesReleasingSlot) server_.give_back_request_slots(1);
        if (answered != Connection::Answered::kNo) mark_flush(*connection);
        // A closed connection, or an unknown or repeated request id.
        retire_response(std::move(command.response), &retired_);
        break;
      }
      case Command::Kind::kPark: {
        Connection* connection = find(command.connection_id);
        if (connection != nullptr && connection->park(command.request_id)) server_.give_back_request_slots(1);
        break;
      }
      case Command::Kind::kClose: {
        Connection* connection = find(command.connection_id);
        if (connection != nullptr) close(*connection, "closed by the server");
        break;
      }
      case Command::Kind::kStop:
        begin_stop(command.deadline_ms);
        break;
    }
  }
}

void NetworkThread::begin_stop(int64_t deadline_ms) {
  if (stopping_) {
    stop_deadline_ms_ = std::min(stop_deadline_ms_, deadline_ms);
    return;
  }
  stopping_ = true;
  stop_deadline_ms_ = deadline_ms;
  ready_.clear();
  slot_waiters_.clear();
  std::vector<uint64_t> ids;
  for (auto& entry : connections_) ids.push_back(entry.first);
  for (uint64_t id : ids) {
    Connection& connection = *find(id);
    connection.in_ready_list = false;
    connection.waiting_for_slot = false;
    // Nothing more is read. A connection with delivered requests stays until
    // they are answered and written (or the deadline passes).
    if (connection.in_flight() == 0) {
      close(connection, "server stopping");
    } else {
      mark_flush(connection);
    }
  }
}

void NetworkThread::on_event(uint64_t connection_id, uint32_t events) {
  Connection* connection = find(connection_id);
  if (connection == nullptr) return;  // closed earlier in this pass
  if (events & EPOLLERR) {
    int error = 0;
    socklen_t length = sizeof error;
    ::getsockopt(connection->fd(), SOL_SOCKET, SO_ERROR, &error, &length);
    close(*connection, error != 0 ? std::string("connection error: ") + std::strerror(error) : "connection error");
    return;
  }
  if (events & EPOLLHUP) {
    // Both directions are down (a reset): nothing can be sent any more.
    close(*connection, "peer closed the connection");
    return;
  }
  if (events & EPOLLOUT) {
    connection->writable = true;
    mark_flush(*connection);
  }
  if (events & (EPOLLIN | EPOLLRDHUP)) {
    connection->readable = true;
    mark_ready(*connection);
  }
}

void NetworkThread::service_read(Connection& connection) {
  size_t budget = kReadBudgetBytes;
  for (;;) {
    if (connection.read_error() != Connection::ReadError::kNone) {
      reject_frame(connection);
      return;
    }
    if (connection.frame_complete()) {
      if (!queue_frame(connection)) return;
      continue;
    }
    if (connection.has_leftover()) {
      bool progressed = connection.feed_leftover();
      assert(progressed || connection.frame_complete() || connection.read_error() != Connection::ReadError::kNone);
      (void)progressed;
      continue;
    }
    if (connection.eof || !connection.readable) break;
    // Stop reading (rather than buffer) while a limit holds.
    if (connection.in_flight() >= kInFlightRequestsMax) {
      connection.waiting_for_responses = true;
      return;
    }
    if (!slots_available_or_wait(connection)) return;
    if (budget == 0) {
      mark_ready(connection);  // more next pass, after the others
      return;
    }
    size_t want = 0;
    uint8_t* target = connection.direct_read_target(kReadChunkBytes, budget, &want);
    if (connection.read_error() != Connection::ReadError::kNone) continue;
    bool direct = target != nullptr;
    if (!direct) {
      target = chunk_.get();
      want = std::min(kReadChunkBytes, budget);
    }
    ssize_t got = ::read(connection.fd(), target, want);
    if (got < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        connection.readable = false;
        break;
      }
      close(connection, std::string("read failed: ") + std::strerror(errno));
      return;
    }
    if (got == 0) {
      connection.eof = true;
      connection.readable = false;
      break;
    }
    budget -= static_cast<size_t>(got);
    server_.counters().bytes_in += got;
    connection.last_active_ms = now_ms_;
    if (direct) {
      connection.direct_read_done(static_cast<size_t>(got));
      continue;
    }
    size_t position = 0;
    size_t end = static_cast<size_t>(got);
    while (position < end) {
      position += connection.feed(target + position, end - position);
      if (connection.read_error() != Connection::ReadError::kNone) {
        reject_frame(connection);
        return;
      }
      if (connection.frame_complete() && !queue_frame(connection)) {
        connection.save_leftover(target + position, end - position);
        return;
      }
    }
  }
  if (connection.eof) maybe_close_after_eof(connection);
}

void NetworkThread::reject_frame(Connection& connection) {
  const Peer& peer = *connection.peer();
  std::string reason;
  switch (connection.read_error()) {
    case Connection::ReadError::kTooLarge:
      reason = "request of " + std::to_string(connection.rejected_size()) +
               " bytes exceeds socket.request.max.bytes (" + std::to_string(server_.config().request_bytes_max) + ")";
      server_.counters().frames_too_large++;
      break;
    case Connection::ReadError::kNegativeSize:
      reason = "invalid request size " + std::to_string(connection.rejected_size());
      server_.counters().frames_too_large++;
      break;
    case Connection::ReadError::kOutOfMemory:
      reason = "out of memory while reading a request";
      break;
    case Connection::ReadError::kNone:
      return;
  }
  std::fprintf(stderr, "gregor: closing connection from %s:%d: %s\n", peer.host.c_str(), peer.port, reason.c_str());
  close(connection, reason);
}

bool NetworkThread::queue_frame(Connection& connection) {
  if (connection.in_flight() >= kInFlightRequestsMax) {
    connection.waiting_for_responses = true;
    return false;
  }
  if (!take_slot()) {
    if (!connection.waiting_for_slot) {
      connection.waiting_for_slot = true;
      slot_waiters_.push_back(connection.id());
    }
    return false;
  }
  NetEvent event;
  event.connection_id = connection.id();
  event.frame = connection.take_frame(&event.frame_bytes);
  event.request_id = connection.open_request();
  event.peer = connection.peer();
  events_.push_back(std::move(event));
  server_.counters().requests_total++;
  return true;
}

// The flag is raised before the last attempt, so a slot given back between
// a failed attempt and going to sleep always finds it and wakes us.
bool NetworkThread::take_slot() {
  if (server_.try_take_request_slot()) return true;
  slot_wait_flag_.store(true);
  return server_.try_take_request_slot();
}

bool NetworkThread::slots_available_or_wait(Connection& connection) {
  if (server_.request_slot_available()) return true;
  slot_wait_flag_.store(true);
  if (server_.request_slot_available()) return true;
  if (!connection.waiting_for_slot) {
    connection.waiting_for_slot = true;
    slot_waiters_.push_back(connection.id());
  }
  return false;
}

void NetworkThread::resume_slot_waiters() {
  // The flag is cleared by whoever gave a slot back; while it is still set,
  // nothing came back since the waiters failed.
  if (slot_waiters_.empty() || slot_wait_flag_.load()) return;
  std::vector<uint64_t> waiters;
  waiters.swap(slot_waiters_);
  for (uint64_t id : waiters) {
    Connection* connection = find(id);
    if (connection == nullptr) continue;
    connection->waiting_for_slot = false;
    mark_ready(*connection);
  }
}

void NetworkThread::flush(Connection& connection) {
  Connection::FlushResult result = connection.flush(&retired_);
  if (result.bytes > 0) {
    server_.counters().bytes_out += static_cast<int64_t>(result.bytes);
    connection.last_active_ms = now_ms_;
  }
  if (result.responses_sent > 0) server_.counters().responses_total += static_cast<int64_t>(result.responses_sent);
  if (!result.error.empty()) {
    close(connection, result.error);
    return;
  }
  if (result.slots_done > 0) {
    if (connection.waiting_for_responses && connection.in_flight() < kInFlightRequestsMax) {
      connection.waiting_for_responses = false;
      mark_ready(connection);
    }
    if (maybe_close_after_eof(connection)) return;
  }
  if (stopping_ && connection.in_flight() == 0) close(connection, "server stopping");
}

void NetworkThread::mark_ready(Connection& connection) {
  if (connection.in_ready_list || stopping_) return;
  connection.in_ready_list = true;
  ready_.push_back(connection.id());
}

void NetworkThread::mark_flush(Connection& connection) {
  if (connection.in_flush_list) return;
  connection.in_flush_list = true;
  flush_list_.push_back(connection.id());
}

// A peer that shut down its sending side still gets the responses to what
// it sent; the connection closes when nothing is left to read or write.
bool NetworkThread::maybe_close_after_eof(Connection& connection) {
  if (!connection.eof || connection.in_flight() > 0 || connection.frame_complete() || connection.has_leftover()) {
    return false;
  }
  close(connection, "peer closed the connection");
  return true;
}

void NetworkThread::close(Connection& connection, const std::string& reason) {
  size_t unanswered = connection.discard_responses(&retired_);
  if (unanswered > 0) server_.give_back_request_slots(static_cast<int64_t>(unanswered));
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, connection.fd(), nullptr);
  NetEvent event;
  event.connection_id = connection.id();
  event.closed = true;
  event.reason = reason;
  event.peer = connection.peer();
  events_.push_back(std::move(event));
  server_.counters().connections--;
  connections_.erase(connection.id());  // closes the socket
}

void NetworkThread::close_idle() {
  if (stopping_) return;
  const int64_t idle_ms_max = server_.config().idle_ms_max;
  std::vector<uint64_t> idle;
  for (auto& entry : connections_) {
    const Connection& connection = *entry.second;
    // A connection held back by queued.max.requests is not idle: it waits for us.
    if (connection.in_flight() == 0 && !connection.waiting_for_slot &&
        now_ms_ - connection.last_active_ms >= idle_ms_max) {
      idle.push_back(entry.first);
    }
  }
  for (uint64_t id : idle) {
    server_.counters().connections_idle_closed++;
    close(*find(id), "idle for longer than connections.max.idle.ms (" + std::to_string(idle_ms_max) + " ms)");
  }
}

void NetworkThread::publish() {
  if (!events_.empty() || !retired_.empty()) server_.deliver(&events_, &retired_);
}

Connection* NetworkThread::find(uint64_t connection_id) {
  auto it = connections_.find(connection_id);
  return it == connections_.end() ? nullptr : it->second.get();
}

}  // namespace net
}  // namespace gregor
