#include "index_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

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
    // Reserve real blocks so stores through the mapping cannot SIGBUS on ENOSPC.
    int rc = ::posix_fallocate(f.fd, 0, static_cast<off_t>(capacity_bytes));
    if (rc != 0 && rc != EOPNOTSUPP && rc != EINVAL) return storage_error("fallocate " + path_, rc);
    bytes = capacity_bytes;
  }
  return map(f.fd, bytes, writable);
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
