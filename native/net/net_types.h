// The values that travel between the network layer's threads: the server
// configuration (Kafka's names in comments), request and connection-closed
// events going to JavaScript, and responses coming back from it.
//
// Threading: plain data. A NetEvent is built on a network thread and consumed
// on the JavaScript thread; a Response is built on the JavaScript thread and
// consumed on a network thread. A Response's KeepAlive is the one exception
// to "any thread may destroy it": it must be destroyed on the JavaScript
// thread (see retire_response).
#pragma once

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

namespace gregor {

struct LogFile;

namespace net {

// More threads than this is a configuration mistake, not a speedup (Kafka
// deployments run 3 to 16); it also keeps per-thread state small.
constexpr size_t kNetworkThreadsMax = 256;
// The size prefix of a frame is an int32, so no limit can exceed it.
constexpr int64_t kFrameBytesLimit = INT32_MAX;

struct NetConfig {
  std::string host = "0.0.0.0";
  int port = 0;                               // 0: an ephemeral port
  size_t network_threads = 3;                 // num.network.threads
  int64_t request_bytes_max = 104857600;      // socket.request.max.bytes
  int64_t queued_requests_max = 500;          // queued.max.requests
  int64_t idle_ms_max = 600000;               // connections.max.idle.ms
  int send_buffer_bytes = 102400;             // socket.send.buffer.bytes (-1: OS default)
  int receive_buffer_bytes = 102400;          // socket.receive.buffer.bytes (-1: OS default)
  int backlog = 50;                           // socket.listen.backlog.size
};

// The client end of a connection, shared by all of its events.
struct Peer {
  std::string host;
  int port = 0;
};

struct FreeDeleter {
  void operator()(uint8_t* p) const { std::free(p); }
};
// Request bytes, malloc'ed so that JavaScript can adopt them as a Buffer
// whose finalizer calls free (no copy on the way in).
using FrameBytes = std::unique_ptr<uint8_t, FreeDeleter>;

// One entry of the delivery queue: a request, or the end of a connection.
struct NetEvent {
  uint64_t connection_id = 0;
  int64_t request_id = -1;       // request events: the per-connection sequence number
  FrameBytes frame;              // request events: the bytes after the size prefix (null if empty)
  size_t frame_bytes = 0;
  std::shared_ptr<const Peer> peer;
  bool closed = false;           // connection-closed events
  std::string reason;            // connection-closed events: why, in a sentence
};

// Whatever keeps a response's referenced bytes alive (JavaScript references
// to Buffers). Network threads never destroy one: they hand it back through
// NetServer::retire so that it dies on the JavaScript thread.
class KeepAlive {
 public:
  virtual ~KeepAlive() = default;
};

// One piece of a response: bytes in memory, or a region of a segment file
// that is sent with sendfile(2). The shared LogFile keeps the descriptor
// open (even after the segment is deleted) until the part is sent.
struct ResponsePart {
  const uint8_t* bytes = nullptr;
  std::shared_ptr<LogFile> file;
  uint64_t position = 0;  // file parts: offset of the region in the file
  uint64_t length = 0;    // never 0 (empty parts are left out)
};

// A response as JavaScript handed it over, without its size prefix: the
// network thread writes the prefix (the sum of the part lengths) itself.
struct Response {
  std::vector<ResponsePart> parts;
  std::unique_ptr<uint8_t[]> copies;      // small byte parts, copied at respond()
  std::unique_ptr<KeepAlive> keep_alive;  // large byte parts are referenced instead
  uint64_t size_bytes = 0;                // sum of part lengths, <= kFrameBytesLimit
};

// Destroys a response off the JavaScript thread: its keep-alive (if any)
// goes to `retired`, to be destroyed on the JavaScript thread later.
inline void retire_response(std::unique_ptr<Response> response, std::vector<std::unique_ptr<KeepAlive>>* retired) {
  if (response && response->keep_alive) retired->push_back(std::move(response->keep_alive));
}

// A snapshot of the server's counters.
struct NetStats {
  int64_t connections = 0;              // open now
  int64_t connections_total = 0;        // accepted since listen
  int64_t connections_idle_closed = 0;  // closed by connections.max.idle.ms
  int64_t queued_requests = 0;          // delivered, not yet responded to
  int64_t requests_total = 0;
  int64_t responses_total = 0;          // written completely (dropped ones excluded)
  int64_t bytes_in = 0;                 // including size prefixes
  int64_t bytes_out = 0;                // including size prefixes
  int64_t frames_too_large = 0;         // connections closed for an oversized or negative size
  int64_t accept_errors = 0;            // accept(2) failures other than "try again"
};

}  // namespace net
}  // namespace gregor
