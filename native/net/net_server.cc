// NetServer: listening socket, acceptor thread, request slots and the
// delivery queue to JavaScript (see net_server.h).
#include "net_server.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cassert>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "network_thread.h"

namespace gregor {
namespace net {
namespace {

// Out of descriptors, accept keeps failing until something closes; one log
// line per this interval says so without flooding stderr.
constexpr int64_t kAcceptErrorLogIntervalMs = 10000;

// Numeric host and port; an IPv4-mapped IPv6 address is shown as IPv4, the
// way clients and Kafka's logs name it.
void format_address(const sockaddr_storage& address, std::string* host, int* port) {
  char text[INET6_ADDRSTRLEN] = "";
  if (address.ss_family == AF_INET) {
    const auto* v4 = reinterpret_cast<const sockaddr_in*>(&address);
    ::inet_ntop(AF_INET, &v4->sin_addr, text, sizeof text);
    *port = ntohs(v4->sin_port);
  } else if (address.ss_family == AF_INET6) {
    const auto* v6 = reinterpret_cast<const sockaddr_in6*>(&address);
    if (IN6_IS_ADDR_V4MAPPED(&v6->sin6_addr)) {
      ::inet_ntop(AF_INET, &v6->sin6_addr.s6_addr[12], text, sizeof text);
    } else {
      ::inet_ntop(AF_INET6, &v6->sin6_addr, text, sizeof text);
    }
    *port = ntohs(v6->sin6_port);
  } else {
    *port = 0;
  }
  *host = text;
}

void set_int_option(int fd, int level, int name, int value) {
  // Best effort, as in Kafka: a refused buffer size leaves the OS default.
  ::setsockopt(fd, level, name, &value, sizeof value);
}

}  // namespace

NetServer::NetServer(NetConfig config) : config_(std::move(config)) {}

NetServer::~NetServer() {
  stop_now();
  threads_.clear();
  if (listen_fd_ >= 0) ::close(listen_fd_);
  if (acceptor_stop_fd_ >= 0) ::close(acceptor_stop_fd_);
}

std::string NetServer::listen(std::string* bound_host, int* bound_port) {
  if (started_) return "the server was already started";
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  std::string port_text = std::to_string(config_.port);
  const char* host = config_.host.empty() ? nullptr : config_.host.c_str();
  addrinfo* found = nullptr;
  int rc = ::getaddrinfo(host, port_text.c_str(), &hints, &found);
  if (rc != 0) return "cannot resolve listener host '" + config_.host + "': " + ::gai_strerror(rc);
  std::string error = "no address to listen on";
  int fd = -1;
  for (addrinfo* candidate = found; candidate != nullptr; candidate = candidate->ai_next) {
    fd = ::socket(candidate->ai_family, candidate->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, candidate->ai_protocol);
    if (fd < 0) {
      error = std::string("socket failed: ") + std::strerror(errno);
      continue;
    }
    set_int_option(fd, SOL_SOCKET, SO_REUSEADDR, 1);
    // On the listener, so that accepted sockets inherit it and the TCP
    // window scale is negotiated for it.
    if (config_.receive_buffer_bytes != -1) set_int_option(fd, SOL_SOCKET, SO_RCVBUF, config_.receive_buffer_bytes);
    if (::bind(fd, candidate->ai_addr, candidate->ai_addrlen) == 0 && ::listen(fd, config_.backlog) == 0) break;
    listen_errno_ = errno;
    error = "cannot listen on " + config_.host + ":" + port_text + ": " + std::strerror(errno);
    ::close(fd);
    fd = -1;
  }
  ::freeaddrinfo(found);
  if (fd < 0) return error;
  listen_errno_ = 0;
  listen_fd_ = fd;
  sockaddr_storage address{};
  socklen_t length = sizeof address;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  format_address(address, bound_host, bound_port);

  acceptor_stop_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (acceptor_stop_fd_ < 0) return std::string("eventfd failed: ") + std::strerror(errno);
  started_ = true;
  // All constructed before any runs: running threads read threads_.
  for (size_t i = 0; i < config_.network_threads; ++i) threads_.push_back(std::make_unique<NetworkThread>(*this, i));
  thread_unwoken_.assign(threads_.size(), false);
  for (auto& thread : threads_) {
    std::string thread_error = thread->start();
    if (!thread_error.empty()) {
      stop_now();
      return thread_error;
    }
  }
  running_ = true;
  acceptor_ = std::thread([this] { accept_loop(); });
  return "";
}

void NetServer::accept_loop() {
  uint64_t next_connection_id = 0;
  int64_t last_error_log_ms = -kAcceptErrorLogIntervalMs;
  bool paused = false;
  for (;;) {
    pollfd fds[2] = {{acceptor_stop_fd_, POLLIN, 0}, {listen_fd_, POLLIN, 0}};
    int ready = ::poll(fds, paused ? 1 : 2, paused ? kAcceptPauseMs : -1);
    paused = false;
    if (ready < 0) {
      if (errno == EINTR) continue;
      std::fprintf(stderr, "gregor: acceptor: poll failed: %s; no longer accepting\n", std::strerror(errno));
      return;
    }
    if (fds[0].revents != 0) return;
    if (ready == 0) continue;  // the pause is over
    for (;;) {
      sockaddr_storage address{};
      socklen_t length = sizeof address;
      int fd = ::accept4(listen_fd_, reinterpret_cast<sockaddr*>(&address), &length, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) {
        int error = errno;
        if (error == EAGAIN || error == EWOULDBLOCK) break;
        // A connection that failed before we took it; accept(2) says retry.
        if (error == EINTR || error == ECONNABORTED || error == EPROTO || error == ENETDOWN || error == ENOPROTOOPT ||
            error == EHOSTDOWN || error == ENONET || error == EHOSTUNREACH || error == EOPNOTSUPP ||
            error == ENETUNREACH || error == EPERM) {
          continue;
        }
        counters_.accept_errors++;
        if (error == EMFILE || error == ENFILE || error == ENOBUFS || error == ENOMEM) {
          int64_t now = monotonic_ms();
          if (now - last_error_log_ms >= kAcceptErrorLogIntervalMs) {
            last_error_log_ms = now;
            std::fprintf(stderr, "gregor: accept failed: %s; pausing new connections\n", std::strerror(error));
          }
          paused = true;
          break;
        }
        std::fprintf(stderr, "gregor: acceptor: accept failed: %s; no longer accepting\n", std::strerror(error));
        return;
      }
      set_int_option(fd, IPPROTO_TCP, TCP_NODELAY, 1);
      set_int_option(fd, SOL_SOCKET, SO_KEEPALIVE, 1);
      if (config_.send_buffer_bytes != -1) set_int_option(fd, SOL_SOCKET, SO_SNDBUF, config_.send_buffer_bytes);
      if (config_.receive_buffer_bytes != -1) set_int_option(fd, SOL_SOCKET, SO_RCVBUF, config_.receive_buffer_bytes);
      auto peer = std::make_shared<Peer>();
      format_address(address, &peer->host, &peer->port);
      uint64_t id = ++next_connection_id;
      counters_.connections_total++;
      threads_[id % threads_.size()]->add_connection(fd, id, std::move(peer));
    }
  }
}

void NetServer::respond(uint64_t connection_id, int64_t request_id, std::unique_ptr<Response> response) {
  if (!(running_ || stopping_) || connection_id == 0) return;
  size_t index = connection_id % threads_.size();
  threads_[index]->respond(connection_id, request_id, std::move(response));
  if (!thread_unwoken_[index]) {
    thread_unwoken_[index] = true;
    unwoken_threads_.push_back(index);
  }
}

void NetServer::park(uint64_t connection_id, int64_t request_id) {
  if (!(running_ || stopping_) || connection_id == 0) return;
  threads_[connection_id % threads_.size()]->park(connection_id, request_id);
}

void NetServer::flush_responses() {
  for (size_t index : unwoken_threads_) {
    thread_unwoken_[index] = false;
    threads_[index]->wake();
  }
  unwoken_threads_.clear();
}

void NetServer::close_connection(uint64_t connection_id) {
  if (!running_ || connection_id == 0) return;
  threads_[connection_id % threads_.size()]->close_connection(connection_id);
}

void NetServer::stop_acceptor() {
  if (acceptor_.joinable()) {
    uint64_t one = 1;
    ssize_t ignored = ::write(acceptor_stop_fd_, &one, sizeof one);
    (void)ignored;
    acceptor_.join();
  }
  // No new connections from here on; pending ones in the backlog are reset.
  if (listen_fd_ >= 0) {
    ::close(listen_fd_);
    listen_fd_ = -1;
  }
}

void NetServer::begin_stop(int64_t drain_ms) {
  if (!running_) return;
  flush_responses();
  running_ = false;
  stopping_ = true;
  stop_acceptor();  // joined first, so no connection reaches a thread after its stop
  int64_t deadline_ms = monotonic_ms() + drain_ms;
  for (auto& thread : threads_) thread->stop(deadline_ms);
}

bool NetServer::finished() const {
  return !started_ || threads_exited_.load(std::memory_order_acquire) == threads_.size();
}

void NetServer::join() {
  for (auto& thread : threads_) thread->join();
  joined_ = true;
  stopping_ = false;
}

void NetServer::stop_now() {
  if (!started_ || joined_) return;
  running_ = false;
  stopping_ = false;
  stop_acceptor();
  int64_t now = monotonic_ms();
  for (auto& thread : threads_) thread->stop(now);  // a thread already gone ignores it
  join();
}

void NetServer::take(std::vector<NetEvent>* events, std::vector<std::unique_ptr<KeepAlive>>* retired) {
  // Cleared before taking: whatever is delivered after this wakes us again.
  wakeup_pending_.store(false);
  std::lock_guard<std::mutex> lock(delivery_mutex_);
  for (NetEvent& event : delivery_) events->push_back(std::move(event));
  delivery_.clear();
  for (auto& keep_alive : retired_) retired->push_back(std::move(keep_alive));
  retired_.clear();
}

void NetServer::deliver(std::vector<NetEvent>* events, std::vector<std::unique_ptr<KeepAlive>>* retired) {
  {
    std::lock_guard<std::mutex> lock(delivery_mutex_);
    for (NetEvent& event : *events) delivery_.push_back(std::move(event));
    for (auto& keep_alive : *retired) retired_.push_back(std::move(keep_alive));
  }
  events->clear();
  retired->clear();
  if (!wakeup_pending_.exchange(true) && wakeup_) wakeup_();
}

void NetServer::thread_exited() {
  threads_exited_.fetch_add(1, std::memory_order_acq_rel);
  if (!wakeup_pending_.exchange(true) && wakeup_) wakeup_();
}

bool NetServer::try_take_request_slot() {
  int64_t queued = queued_requests_.load();
  while (queued < config_.queued_requests_max) {
    if (queued_requests_.compare_exchange_weak(queued, queued + 1)) return true;
  }
  return false;
}

bool NetServer::request_slot_available() const { return queued_requests_.load() < config_.queued_requests_max; }

void NetServer::give_back_request_slots(int64_t count) {
  int64_t before = queued_requests_.fetch_sub(count);
  assert(before >= count);  // every slot given back was taken once
  (void)before;
  // Checked after the decrement: a thread that raised its flag before our
  // decrement is woken; one that raises it later sees the free slot itself.
  for (auto& thread : threads_) thread->notify_slots_available();
}

NetStats NetServer::stats() const {
  NetStats s;
  s.connections = counters_.connections.load();
  s.connections_total = counters_.connections_total.load();
  s.connections_idle_closed = counters_.connections_idle_closed.load();
  s.queued_requests = queued_requests_.load();
  s.requests_total = counters_.requests_total.load();
  s.responses_total = counters_.responses_total.load();
  s.bytes_in = counters_.bytes_in.load();
  s.bytes_out = counters_.bytes_out.load();
  s.frames_too_large = counters_.frames_too_large.load();
  s.accept_errors = counters_.accept_errors.load();
  return s;
}

}  // namespace net
}  // namespace gregor
