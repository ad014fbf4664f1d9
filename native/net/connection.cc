// Connection: frame assembly and in-order response writing for one socket
// (see connection.h). Runs on the connection's network thread only.
#include "connection.h"

#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cassert>
#include <cerrno>
#include <cstring>

#include "../bytes.h"
#include "../segment.h"

namespace gregor {
namespace net {

Connection::Connection(uint64_t id, int fd, std::shared_ptr<const Peer> peer, int64_t request_bytes_max, int64_t now_ms)
    : last_active_ms(now_ms), id_(id), fd_(fd), peer_(std::move(peer)), request_bytes_max_(request_bytes_max) {}

Connection::~Connection() {
  std::free(frame_);
  ::close(fd_);
}

// ---- reading ----

bool Connection::reserve(size_t bytes) {
  if (bytes <= frame_capacity_) return true;
  // Doubling keeps growth amortized; glibc moves large blocks with mremap.
  size_t capacity = std::min(frame_bytes_, std::max(bytes, frame_capacity_ * 2));
  void* grown = std::realloc(frame_, capacity);
  if (grown == nullptr) {
    read_error_ = ReadError::kOutOfMemory;
    return false;
  }
  frame_ = static_cast<uint8_t*>(grown);
  frame_capacity_ = capacity;
  return true;
}

size_t Connection::feed(const uint8_t* data, size_t bytes) {
  if (read_error_ != ReadError::kNone) return 0;
  switch (read_state_) {
    case ReadState::kSize: {
      size_t take = std::min(sizeof size_bytes_ - size_have_, bytes);
      std::memcpy(size_bytes_ + size_have_, data, take);
      size_have_ += take;
      if (size_have_ < sizeof size_bytes_) return take;
      size_have_ = 0;
      int32_t size = load_i32_be(size_bytes_);
      if (size < 0 || size > request_bytes_max_) {
        // Checked before any allocation: the size comes from the peer.
        read_error_ = size < 0 ? ReadError::kNegativeSize : ReadError::kTooLarge;
        rejected_size_ = size;
        return take;
      }
      frame_bytes_ = static_cast<size_t>(size);
      frame_have_ = 0;
      if (frame_bytes_ == 0) {
        read_state_ = ReadState::kComplete;
        return take;
      }
      // Allocate for the bytes at hand (or a small start), not the announcement.
      if (!reserve(std::min(frame_bytes_, std::max(bytes - take, kFrameInitialBytes)))) return take;
      read_state_ = ReadState::kBody;
      return take;
    }
    case ReadState::kBody: {
      size_t take = std::min(frame_bytes_ - frame_have_, bytes);
      if (!reserve(frame_have_ + take)) return 0;
      std::memcpy(frame_ + frame_have_, data, take);
      frame_have_ += take;
      if (frame_have_ == frame_bytes_) read_state_ = ReadState::kComplete;
      return take;
    }
    case ReadState::kComplete:
      return 0;
  }
  return 0;
}

FrameBytes Connection::take_frame(size_t* bytes) {
  assert(read_state_ == ReadState::kComplete);
  assert(frame_have_ == frame_bytes_);
  FrameBytes frame(frame_);
  *bytes = frame_bytes_;
  frame_ = nullptr;
  frame_capacity_ = 0;
  frame_bytes_ = 0;
  frame_have_ = 0;
  read_state_ = ReadState::kSize;
  return frame;
}

uint8_t* Connection::direct_read_target(size_t remaining_min, size_t budget, size_t* bytes) {
  if (read_state_ != ReadState::kBody || has_leftover()) return nullptr;
  size_t remaining = frame_bytes_ - frame_have_;
  if (remaining < remaining_min) return nullptr;
  size_t want = std::min(remaining, budget);
  if (!reserve(frame_have_ + want)) return nullptr;
  *bytes = want;
  return frame_ + frame_have_;
}

void Connection::direct_read_done(size_t bytes) {
  assert(read_state_ == ReadState::kBody && frame_have_ + bytes <= frame_bytes_);
  frame_have_ += bytes;
  if (frame_have_ == frame_bytes_) read_state_ = ReadState::kComplete;
}

void Connection::save_leftover(const uint8_t* data, size_t bytes) {
  // Only called with the leftover consumed: the reader never reads the
  // socket while bytes are left over.
  assert(!has_leftover());
  leftover_.assign(data, data + bytes);
  leftover_pos_ = 0;
}

bool Connection::feed_leftover() {
  size_t taken = feed(leftover_.data() + leftover_pos_, leftover_.size() - leftover_pos_);
  leftover_pos_ += taken;
  if (!has_leftover()) {
    leftover_.clear();
    leftover_.shrink_to_fit();  // up to a read chunk per idle connection otherwise
    leftover_pos_ = 0;
  }
  return taken > 0;
}

// ---- responses ----

int64_t Connection::open_request() {
  outgoing_.emplace_back();
  return next_request_id_++;
}

Connection::Answered Connection::answer(int64_t request_id, std::unique_ptr<Response>& response) {
  if (request_id < first_request_id_ || request_id >= next_request_id_) return Answered::kNo;
  Slot& slot = outgoing_[static_cast<size_t>(request_id - first_request_id_)];
  if (slot.state != Slot::State::kUnanswered) return Answered::kNo;
  const bool held_request_slot = !slot.parked;
  if (response) {
    assert(response->size_bytes <= static_cast<uint64_t>(kFrameBytesLimit));
    store_u32_be(slot.size_prefix, static_cast<uint32_t>(response->size_bytes));
    slot.response = std::move(response);
    slot.state = Slot::State::kAnswered;
  } else {
    slot.state = Slot::State::kDropped;
  }
  return held_request_slot ? Answered::kYesReleasingSlot : Answered::kYes;
}

bool Connection::park(int64_t request_id) {
  if (request_id < first_request_id_ || request_id >= next_request_id_) return false;
  Slot& slot = outgoing_[static_cast<size_t>(request_id - first_request_id_)];
  if (slot.state != Slot::State::kUnanswered || slot.parked) return false;
  slot.parked = true;
  return true;
}

size_t Connection::pop_finished(std::vector<std::unique_ptr<KeepAlive>>* retired, FlushResult* result) {
  size_t popped = 0;
  while (!outgoing_.empty()) {
    Slot& front = outgoing_.front();
    if (front.state == Slot::State::kDropped) {
      // nothing to send
    } else if (front.done()) {
      result->responses_sent++;
    } else {
      break;
    }
    retire_response(std::move(front.response), retired);
    outgoing_.pop_front();
    first_request_id_++;
    popped++;
  }
  result->slots_done += popped;
  return popped;
}

// Moves the write position forward by `bytes` across the answered slots
// from the front, skipping dropped ones (the same walk flush gathered).
void Connection::advance(uint64_t bytes) {
  for (Slot& slot : outgoing_) {
    if (bytes == 0) return;
    if (slot.state == Slot::State::kDropped) continue;
    assert(slot.state == Slot::State::kAnswered);
    while (bytes > 0 && slot.segment < slot.segment_count()) {
      uint64_t length = slot.segment == 0 ? sizeof slot.size_prefix : slot.response->parts[slot.segment - 1].length;
      uint64_t take = std::min(bytes, length - slot.offset);
      slot.offset += take;
      bytes -= take;
      if (slot.offset == length) {
        slot.segment++;
        slot.offset = 0;
      }
    }
  }
  assert(bytes == 0);
}

Connection::FlushResult Connection::flush(std::vector<std::unique_ptr<KeepAlive>>* retired) {
  FlushResult result;
  for (;;) {
    pop_finished(retired, &result);
    if (outgoing_.empty() || outgoing_.front().state != Slot::State::kAnswered || !writable) return result;

    // Gather byte segments from the front, through as many answered slots as
    // fit, stopping at a file region or an unanswered slot.
    iovec iov[kIovecsMax];
    int count = 0;
    bool file_next = false;
    for (Slot& slot : outgoing_) {
      if (slot.state == Slot::State::kDropped) continue;
      if (slot.state == Slot::State::kUnanswered) break;
      uint64_t offset = slot.offset;
      for (size_t s = slot.segment; s < slot.segment_count() && count < kIovecsMax; ++s, offset = 0) {
        if (s == 0) {
          iov[count++] = {slot.size_prefix + offset, sizeof slot.size_prefix - offset};
          continue;
        }
        const ResponsePart& part = slot.response->parts[s - 1];
        if (part.file) {
          file_next = true;
          break;
        }
        iov[count++] = {const_cast<uint8_t*>(part.bytes) + offset, part.length - offset};
      }
      if (file_next || count == kIovecsMax) break;
    }

    ssize_t written;
    if (count > 0) {
      msghdr message{};
      message.msg_iov = iov;
      message.msg_iovlen = static_cast<size_t>(count);
      // MSG_MORE: a file region follows, so let the kernel coalesce the
      // header bytes with it instead of sending a tiny segment first.
      written = ::sendmsg(fd_, &message, MSG_NOSIGNAL | (file_next ? MSG_MORE : 0));
    } else {
      // The front segment is a file region.
      Slot& slot = outgoing_.front();
      const ResponsePart& part = slot.response->parts[slot.segment - 1];
      off_t position = static_cast<off_t>(part.position + slot.offset);
      size_t length = static_cast<size_t>(std::min<uint64_t>(part.length - slot.offset, kSendfileBytesMax));
      written = ::sendfile(fd_, part.file->fd, &position, length);
      if (written == 0) {
        // The file is shorter than the region (truncated under us). The
        // size prefix is already out, so the stream cannot be repaired.
        result.error = "file region ended " + std::to_string(part.length - slot.offset) +
                       " bytes early (segment truncated while being sent)";
        return result;
      }
    }
    if (written < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        writable = false;
        return result;
      }
      result.error = std::string("write failed: ") + std::strerror(errno);
      return result;
    }
    advance(static_cast<uint64_t>(written));
    result.bytes += static_cast<uint64_t>(written);
  }
}

size_t Connection::discard_responses(std::vector<std::unique_ptr<KeepAlive>>* retired) {
  size_t unanswered = 0;
  for (Slot& slot : outgoing_) {
    if (slot.state == Slot::State::kUnanswered && !slot.parked) unanswered++;
    retire_response(std::move(slot.response), retired);
  }
  first_request_id_ += static_cast<int64_t>(outgoing_.size());
  outgoing_.clear();
  return unanswered;
}

}  // namespace net
}  // namespace gregor
