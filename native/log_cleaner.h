// Log compaction (Kafka's LogCleaner), in three steps so that the heavy part
// never blocks a partition's io thread:
//
//   1. PartitionLog::plan_clean (io thread): picks the cleanable range, from
//      the first dirty offset (the cleaner-offset-checkpoint) to the first
//      uncleanable offset (the active segment's base, or the first segment
//      younger than min.compaction.lag.ms), computes the dirty ratio and
//      decides; snapshots the segments to rewrite (their LogFile references
//      keep them readable whatever happens to the log meanwhile).
//   2. clean_segments (a cleaner thread, log.cleaner.threads): builds the
//      offset map key -> latest offset over the dirty range, then rewrites
//      the segments from the log start to the end of that range into
//      `<base>.log.cleaned` files, a group of segments (up to segment.bytes)
//      per file, keeping a record iff it is the latest of its key. Record
//      bytes are copied as they are (offsets, timestamps, headers survive);
//      a batch keeps its base offset and lastOffsetDelta, and a batch left
//      without records is dropped.
//   3. PartitionLog::swap_cleaned (io thread): per group, `.cleaned` ->
//      `.swap`, the old segments -> `.deleted` (file.delete.delay.ms), `.swap`
//      -> `.log`, indexes rebuilt. PartitionLog::open completes a `.swap`
//      left by a crash and deletes a `.cleaned` one.
//
// Compressed batches: the codecs live in TypeScript, so step 2 has two hops
// to JavaScript in the middle (both only when the range holds compressed
// batches): build_offset_map hands over copies of the compressed batches;
// TypeScript decompresses them and returns each record's key, offset and
// whether it is a tombstone; resolve_compressed adds those keys to the map
// and answers, per record, keep or drop; TypeScript rebuilds each batch that
// loses records (same codec, base offset, lastOffsetDelta and header
// fields), and rewrite_segments copies everything else natively. Without a
// JavaScript handler (clean_segments) compressed batches are kept whole.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "errors.h"
#include "segment.h"

namespace gregor {

struct CleanOptions {
  int64_t first_dirty_offset = 0;   // from cleaner-offset-checkpoint (clamped to the log)
  int64_t now_ms = 0;
  double min_cleanable_ratio = 0.5;       // min.cleanable.dirty.ratio
  int64_t min_compaction_lag_ms = 0;      // min.compaction.lag.ms
  int64_t max_compaction_lag_ms = INT64_MAX;  // max.compaction.lag.ms
  int64_t delete_retention_ms = 86400000;     // delete.retention.ms
  bool force = false;                     // clean whatever is cleanable, ignoring the ratio
};

struct CleanSegment {
  int64_t base_offset = 0;
  int64_t next_offset = 0;
  uint64_t size_bytes = 0;
  int64_t last_modified_ms = 0;
  std::shared_ptr<LogFile> file;
};

struct CleanPlan {
  std::string dir;
  bool clean = false;               // the log needs (and gets) cleaning
  int64_t log_start_offset = 0;
  int64_t first_dirty_offset = 0;
  int64_t first_uncleanable_offset = 0;
  uint64_t clean_bytes = 0;
  uint64_t dirty_bytes = 0;
  double dirty_ratio = 0;
  bool max_lag_exceeded = false;
  // Segments wholly below first_uncleanable_offset, oldest first.
  std::vector<CleanSegment> segments;
  // Index of the first dirty segment in `segments`.
  size_t first_dirty_segment = 0;
  // [begin, end) ranges of `segments` rewritten into one file each.
  std::vector<std::pair<size_t, size_t>> groups;
  int64_t segment_bytes = 0;
  int64_t segment_index_bytes = 0;
  int64_t index_interval_bytes = 0;
};

struct CleanedFile {
  size_t group = 0;
  int64_t base_offset = 0;
  std::string path;  // <dir>/<base>.log.cleaned
  uint64_t size_bytes = 0;
};

struct CleanStats {
  uint64_t bytes_read = 0;
  uint64_t bytes_written = 0;
  uint64_t records_read = 0;
  uint64_t records_kept = 0;
  uint64_t tombstones_removed = 0;
  uint64_t keys = 0;
  uint64_t segments_swapped = 0;
  int64_t map_ms = 0;
  int64_t rewrite_ms = 0;
};

class OffsetMap;

// A compressed batch of the rewritten range, as handed to TypeScript.
struct CompressedBatch {
  size_t segment = 0;     // index in plan.segments
  std::vector<uint8_t> bytes;
};

// What step 2 carries between its parts.
struct CleanWork {
  CleanWork();
  ~CleanWork();
  std::unique_ptr<OffsetMap> map;
  std::vector<CompressedBatch> compressed;
  // Per compressed batch, after TypeScript rebuilt them: 0 keep as is,
  // 1 drop (no record left), 2 write `replacements[i]` instead.
  std::vector<uint8_t> replacement_kind;
  std::vector<std::vector<uint8_t>> replacements;
  // Per segment: it holds a tombstone from the dirty part that stays.
  std::vector<uint8_t> dirty_tombstone;
};

// Step 2, on a cleaner thread, touching only the plan's files.
// 2a: the offset map over the dirty range (uncompressed records), and copies
// of the compressed batches of the whole range if `collect_compressed`.
Status build_offset_map(const CleanPlan& plan, const CleanOptions& options, bool collect_compressed, CleanWork* work,
                        CleanStats* stats);
// 2b: `records` describes every record of work->compressed, in order:
// i32 key length (-1: null key), key bytes, i64 offset, u8 null value. Dirty
// keys enter the map; `keep` gets 1 per record to keep, 0 to drop.
Status resolve_compressed(const CleanPlan& plan, const CleanOptions& options, const uint8_t* records, size_t bytes,
                          CleanWork* work, std::vector<uint8_t>* keep, CleanStats* stats);
// 2c: the rewrite into `.cleaned` files.
Status rewrite_segments(const CleanPlan& plan, const CleanOptions& options, CleanWork* work,
                        std::vector<CleanedFile>* out, CleanStats* stats);
// 2a + 2c, compressed batches kept whole.
Status clean_segments(const CleanPlan& plan, const CleanOptions& options, std::vector<CleanedFile>* out,
                      CleanStats* stats);

}  // namespace gregor
