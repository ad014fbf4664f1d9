// The N-API surface of the addon. This is the whole boundary between
// TypeScript and C++ (src/native.ts is the only module that loads it):
//
//   crc32c(buffer) -> number                       CPU only, synchronous
//   crc32cImplementation() -> string
//   setFaultProbe(name, count)                     tests: fail the next N passes
//   new IoPool(threads)                            num.io.threads native threads
//     .openLog(dir, config, recoveryPoint, logStartOffset, clean) -> Promise<NativeLog>
//     .writeFileAtomic(path, buffer) -> Promise<void>   temp + fsync + rename + fsync dir
//     .close()
//   NativeLog (one partition, pinned to one io thread; every method that
//   touches disk returns a Promise and runs on that thread)
//     .append(buffer, keepOffsets, durable)  .read(offset, maxBytes)
//     .readRegion(offset, maxBytes)  .offsetForTimestamp(ts)
//     .offsetOfMaxTimestamp()  .truncateTo(offset)  .deleteRecordsBefore(offset)
//     .deleteOldestSegments(count)  .deleteOldSegments() (retention)
//     .deleteExpiredFiles()  .roll()  .flush()  .segments()
//     .setConfig(config)  .setRollListener(fn)  .close(clean)
//     getters: logStartOffset, logEndOffset, recoveryPoint, sizeBytes,
//              nextFileDeletionMs
//   FileRegion { fd, position, length, firstOffset, release() }
//   new NetServer(options, onRequests)             the network layer: see net_binding.cc
//
// Arguments are validated in TypeScript; here they are checked only for type
// and range so that a wrong call throws instead of corrupting anything.
#pragma once

#include <napi.h>

#include "partition_log.h"

namespace gregor {
Napi::Object init_binding(Napi::Env env, Napi::Object exports);

// For other parts of the addon (the network layer's sendfile responses):
// copies the region held by a FileRegion object, sharing its file reference.
// Returns false if `value` is not a FileRegion or was released.
bool unwrap_file_region(const Napi::Value& value, FileRegion* out);

// The network layer's exports (NetServer), in net_binding.cc.
Napi::Object init_net_binding(Napi::Env env, Napi::Object exports);
}
