// Connection: one client socket, with its two halves.
//
//   Reading: frames are a 4-byte big-endian size, then that many bytes. The
//   reader assembles one frame at a time into a malloc'ed buffer that grows
//   with the bytes that actually arrive (a peer that announces a large frame
//   and sends nothing costs almost nothing), never beyond the announced size,
//   and never from a size above socket.request.max.bytes.
//
//   Writing: every delivered request owns one slot in `outgoing_`, in request
//   order. respond() fills a slot (or marks it dropped); the writer sends the
//   slots from the front while they are filled, gathering consecutive byte
//   parts of several responses into one sendmsg and sending file regions with
//   sendfile(2). A later response waits behind an earlier unanswered one, so
//   responses leave in request order whatever order JavaScript answers in.
//
// Threading: a Connection belongs to one NetworkThread and is only touched by
// it; it knows nothing about the server, epoll or limits other than its own.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "net_types.h"

namespace gregor {
namespace net {

class Connection {
 public:
  // A frame's first allocation when more bytes have not arrived yet; later
  // growth doubles, up to the announced size.
  static constexpr size_t kFrameInitialBytes = 16 * 1024;
  // Parts gathered into one sendmsg call (IOV_MAX is 1024 on Linux; 64
  // parts already amortize the syscall well).
  static constexpr int kIovecsMax = 64;
  // Bytes per sendfile(2) call, so that one huge region does not monopolize
  // the thread between checks of the socket's state.
  static constexpr size_t kSendfileBytesMax = 8 * 1024 * 1024;

  enum class ReadError { kNone, kNegativeSize, kTooLarge, kOutOfMemory };

  Connection(uint64_t id, int fd, std::shared_ptr<const Peer> peer, int64_t request_bytes_max, int64_t now_ms);
  ~Connection();  // closes the socket; call discard_responses first
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  uint64_t id() const { return id_; }
  int fd() const { return fd_; }
  const std::shared_ptr<const Peer>& peer() const { return peer_; }

  // ---- reading ----

  // Consumes bytes into the frame being assembled and returns how many it
  // took; it stops at the end of a frame (frame_complete()) or on an error
  // (read_error()). Returns 0 only when a frame is complete or on an error.
  size_t feed(const uint8_t* data, size_t bytes);
  bool frame_complete() const { return read_state_ == ReadState::kComplete; }
  // Some bytes of a next frame have arrived but not all of it.
  bool frame_partial() const { return size_have_ > 0 || read_state_ == ReadState::kBody; }
  ReadError read_error() const { return read_error_; }
  int64_t rejected_size() const { return rejected_size_; }
  // Hands over the completed frame; the reader starts on the next one.
  FrameBytes take_frame(size_t* bytes);
  // For the rest of a large frame body: where to read up to `budget` bytes
  // straight into the frame (no staging copy), or null if the remainder is
  // below `remaining_min` or memory ran out (then read_error() says so).
  uint8_t* direct_read_target(size_t remaining_min, size_t budget, size_t* bytes);
  void direct_read_done(size_t bytes);

  // Bytes read from the socket but not yet fed (the reader stopped at a frame
  // that could not be queued). At most one read chunk.
  bool has_leftover() const { return leftover_pos_ < leftover_.size(); }
  void save_leftover(const uint8_t* data, size_t bytes);
  // Feeds from the leftover; returns false if nothing could be consumed.
  bool feed_leftover();

  // ---- responses ----

  // Opens the next request's slot and returns its request id.
  int64_t open_request();
  // Requests delivered whose response is not yet written or dropped.
  size_t in_flight() const { return outgoing_.size(); }
  enum class Answered : uint8_t {
    kNo,                 // unknown or repeated id: `response` stays with the caller
    kYes,                // answered; its request slot was given back when it was parked
    kYesReleasingSlot,   // answered; the caller gives its request slot back
  };
  // Fills request `request_id`'s slot (null = no response).
  Answered answer(int64_t request_id, std::unique_ptr<Response>& response);
  // The request is parked (it waits in a handler, as in Kafka's purgatory):
  // true if it still held its request slot, which the caller gives back now.
  bool park(int64_t request_id);

  struct FlushResult {
    uint64_t bytes = 0;          // written to the socket
    size_t slots_done = 0;       // slots removed from the front (sent or dropped)
    size_t responses_sent = 0;   // of which sent
    std::string error;           // non-empty: the connection is broken
  };
  // Writes answered slots from the front until an unanswered one, the end,
  // or a full socket (then writable() turns false until EPOLLOUT).
  FlushResult flush(std::vector<std::unique_ptr<KeepAlive>>* retired);
  // Drops every slot; returns how many were still unanswered and holding
  // their request slot (those must be given back).
  size_t discard_responses(std::vector<std::unique_ptr<KeepAlive>>* retired);

  // ---- state kept for the network thread ----
  bool readable = false;            // an EPOLLIN edge arrived and read() has not hit EAGAIN
  bool writable = true;             // sendmsg/sendfile has not hit EAGAIN since the last EPOLLOUT
  bool eof = false;                 // the peer shut down its sending side
  bool in_ready_list = false;
  bool in_flush_list = false;
  bool waiting_for_slot = false;    // blocked: queued.max.requests reached
  bool waiting_for_responses = false;  // blocked: its own in-flight limit reached
  int64_t last_active_ms;           // last byte read or written

 private:
  enum class ReadState : uint8_t { kSize, kBody, kComplete };
  struct Slot {
    enum class State : uint8_t { kUnanswered, kAnswered, kDropped };
    State state = State::kUnanswered;
    bool parked = false;  // its request slot was given back before the answer
    std::unique_ptr<Response> response;
    uint8_t size_prefix[4] = {0, 0, 0, 0};
    size_t segment = 0;    // next segment to write: 0 = size prefix, i = parts[i - 1]
    uint64_t offset = 0;   // bytes of that segment already written
    size_t segment_count() const { return response ? 1 + response->parts.size() : 0; }
    bool done() const { return state == State::kAnswered && segment == segment_count(); }
  };

  bool reserve(size_t bytes);
  void advance(uint64_t bytes);
  size_t pop_finished(std::vector<std::unique_ptr<KeepAlive>>* retired, FlushResult* result);

  const uint64_t id_;
  const int fd_;
  const std::shared_ptr<const Peer> peer_;
  const int64_t request_bytes_max_;

  ReadState read_state_ = ReadState::kSize;
  ReadError read_error_ = ReadError::kNone;
  int64_t rejected_size_ = 0;
  uint8_t size_bytes_[4] = {0, 0, 0, 0};
  size_t size_have_ = 0;
  uint8_t* frame_ = nullptr;  // malloc'ed; ownership moves out in take_frame
  size_t frame_bytes_ = 0;
  size_t frame_have_ = 0;
  size_t frame_capacity_ = 0;
  std::vector<uint8_t> leftover_;
  size_t leftover_pos_ = 0;

  std::deque<Slot> outgoing_;  // slot of request first_request_id_ first
  int64_t first_request_id_ = 0;
  int64_t next_request_id_ = 0;
};

}  // namespace net
}  // namespace gregor
