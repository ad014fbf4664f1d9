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
//     .deleteOldestSegments(count)  .roll()  .flush()  .segments()
//     .setConfig(config)  .close(clean)
//     getters: logStartOffset, logEndOffset, recoveryPoint, sizeBytes
//   FileRegion { fd, position, length, firstOffset, release() }
//
// Arguments are validated in TypeScript; here they are checked only for type
// and range so that a wrong call throws instead of corrupting anything.
#pragma once

#include <napi.h>

namespace gregor {
Napi::Object init_binding(Napi::Env env, Napi::Object exports);
}
