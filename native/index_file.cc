#include "index_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "fault_probe.h"

namespace gregor {

namespace {
struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};
}  // namespace

IndexFile::~IndexFile() { unmap(); }

void IndexFile::unmap() {
  if (data_ != nullptr) ::munmap(data_, mapped_bytes_);
  data_ = nullptr;
  mapped_bytes_ = 0;
}

void IndexFile::close() {
  unmap();
  entries_ = 0;
  capacity_bytes_ = 0;
  writable_ = false;
}

Status IndexFile::map(int fd, size_t bytes, bool writable) {
  unmap();
  writable_ = writable;
  capacity_bytes_ = bytes - bytes % entry_bytes_;
  if (capacity_bytes_ == 0) return Status::Ok();  // mmap of 0 bytes is invalid
  void* p = ::mmap(nullptr, capacity_bytes_, writable ? PROT_READ | PROT_WRITE : PROT_READ,
                   MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) return storage_error("mmap " + path_, errno);
  data_ = static_cast<uint8_t*>(p);
  mapped_bytes_ = capacity_bytes_;
  return Status::Ok();
}

Status IndexFile::open(bool writable, size_t capacity_bytes) {
  Fd f;
  f.fd = ::open(path_.c_str(), (writable ? O_RDWR | O_CREAT : O_RDONLY) | O_CLOEXEC, 0644);
  if (f.fd < 0) return storage_error("open " + path_, errno);
  struct stat st;
  if (::fstat(f.fd, &st) != 0) return storage_error("stat " + path_, errno);
  file_bytes_on_open_ = static_cast<size_t>(st.st_size);
  entries_ = file_bytes_on_open_ / entry_bytes_;
  size_t bytes = file_bytes_on_open_;
  if (writable) {
    capacity_bytes = capacity_bytes - capacity_bytes % entry_bytes_;
    if (capacity_bytes < file_bytes_on_open_) capacity_bytes = file_bytes_on_open_ - file_bytes_on_open_ % entry_bytes_;
    if (::ftruncate(f.fd, static_cast<off_t>(capacity_bytes)) != 0) {
      return storage_error("resize " + path_, errno);
    }
    bytes = capacity_bytes;
    // The file is sparse up to its capacity; real blocks are reserved just
    // ahead of the entries (see reserve_for_next_entry), so that a store
    // through the mapping never meets a hole on a full disk (SIGBUS) and an
    // idle partition does not cost segment.index.bytes of disk.
    allocated_bytes_ = 0;
    Status s = map(f.fd, bytes, writable);
    if (!s.ok()) return s;
    if (writable && !reserve(f.fd, entries_ * entry_bytes_ + kReserveAheadBytes)) {
      return storage_error("fallocate " + path_, ENOSPC);
    }
    return Status::Ok();
  }
  return map(f.fd, bytes, writable);
}

bool IndexFile::reserve(int fd, size_t through_bytes) {
  through_bytes = std::min(through_bytes, capacity_bytes_);
  if (through_bytes <= allocated_bytes_) return true;
  int rc = ::posix_fallocate(fd, 0, static_cast<off_t>(through_bytes));
  // Filesystems without fallocate: blocks come on write, as with any file.
  if (rc != 0 && rc != EOPNOTSUPP && rc != EINVAL) return false;
  allocated_bytes_ = through_bytes;
  return true;
}

uint8_t* IndexFile::append_slot() {
  if (!writable_ || entries_ >= capacity_entries()) return nullptr;
  size_t end = (entries_ + 1) * entry_bytes_;
  if (end > allocated_bytes_) {
    Fd f;
    f.fd = ::open(path_.c_str(), O_RDWR | O_CLOEXEC);
    // No room on disk: the entry is skipped, which only makes the index sparser.
    if (f.fd < 0 || !reserve(f.fd, end + kReserveAheadBytes)) return nullptr;
  }
  return data_ + entries_ * entry_bytes_;
}

Status IndexFile::make_writable(size_t capacity_bytes) {
  size_t entries = entries_;
  Status s = open(true, capacity_bytes);
  if (!s.ok()) return s;
  entries_ = entries;
  return Status::Ok();
}

Status IndexFile::trim() {
  if (GREGOR_FAULT(kIndexTrim)) return Status::Error(KafkaError::kKafkaStorageError, "injected fault: index trim");
  size_t used = entries_ * entry_bytes_;
  if (writable_ && data_ != nullptr && ::msync(data_, mapped_bytes_, MS_SYNC) != 0) {
    return storage_error("msync " + path_, errno);
  }
  unmap();
  Fd f;
  f.fd = ::open(path_.c_str(), O_RDWR | O_CLOEXEC);
  if (f.fd < 0) return storage_error("open " + path_, errno);
  if (::ftruncate(f.fd, static_cast<off_t>(used)) != 0) return storage_error("trim " + path_, errno);
  if (::fdatasync(f.fd) != 0) return storage_error("fsync " + path_, errno);
  size_t entries = entries_;
  Status s = map(f.fd, used, false);
  entries_ = entries;
  dirty_ = false;
  return s;
}

void IndexFile::truncate_entries(size_t entries) {
  if (entries < entries_) {
    entries_ = entries;
    dirty_ = true;
  }
}

Status IndexFile::reset(bool writable, size_t capacity_bytes) {
  unmap();
  entries_ = 0;
  if (::unlink(path_.c_str()) != 0 && errno != ENOENT) return storage_error("unlink " + path_, errno);
  Status s = open(writable, capacity_bytes);
  entries_ = 0;
  return s;
}

Status IndexFile::flush() {
  if (!dirty_ || data_ == nullptr) return Status::Ok();
  if (::msync(data_, mapped_bytes_, MS_SYNC) != 0) return storage_error("msync " + path_, errno);
  dirty_ = false;
  return Status::Ok();
}

Status IndexFile::remove() {
  close();
  if (::unlink(path_.c_str()) != 0 && errno != ENOENT) return storage_error("unlink " + path_, errno);
  return Status::Ok();
}

}  // namespace gregor
