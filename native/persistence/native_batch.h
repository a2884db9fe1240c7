// A batch of the operation log as JS receives it (NativeBatch in src/native.ts, decoded by
// decodeBatch in src/persistence/bridge/apply-batch.ts). Built with one napi call (two or more
// only for a batch whose values exceed one chunk) instead of a JS string, a Buffer and array
// stores per write: the batch is bytes in ArrayBuffers ("chunks"), and JS makes the keys and
// the value views.
//
// The first chunk, in 32-bit words of native byte order (JS reads it with a Uint32Array):
//   header   kHeaderWords words (NativeBatchHeader)
//   per op   key word: family (KeyFamily, or kTextKey) | kOutboxRemove | number << kNumberShift
//            value word: the put's value length, or kRemoveValue
//            [key's text length, if family is kTextKey] [outbox id's text length, if kOutboxRemove]
//   text     UTF-8 of the keys that are not family + number, and of the outbox ids, in op order
//   values   the puts' values, in op order, as many as fit the chunk (kChunkValueBytes)
// Further chunks hold only values, each filled exactly (so a value goes to the next chunk
// exactly when it does not fit the rest of the current one). Every chunk is a fresh
// ArrayBuffer the store may keep views of; a chunk bounds what one kept value holds alive.
#pragma once

#include <napi.h>

#include <cstddef>
#include <cstdint>

#include "persistence/operation_log.h"

namespace paho_redis {

enum NativeBatchHeader : uint32_t {
  kBatchIdLow,
  kBatchIdHigh,
  kFirstSeqLow,
  kFirstSeqHigh,
  kLastSeqLow,
  kLastSeqHigh,
  kOpCount,
  kWordCount,  // header and op words: the text starts after them
  kTextBytes,
  kBatchFlags,
  kHeaderWords
};

// kBatchFlags: no key occurs twice in the batch (known for family + number keys only).
constexpr uint32_t kDistinctKeys = 1;
// Key words.
constexpr uint32_t kFamilyMask = 15;
constexpr uint32_t kTextKey = 15;
constexpr uint32_t kOutboxRemove = 16;
constexpr uint32_t kNumberShift = 5;
constexpr uint32_t kRemoveValue = 0xFFFFFFFF;
// Values per chunk: Node's own Buffer pool slab is 8 KiB, so a kept view holds no more alive
// than a pooled Buffer would. A larger value gets a chunk of its own.
constexpr size_t kChunkValueBytes = 8192;

// JS thread: the batch as an ArrayBuffer, or an array of them when its values need more
// than one chunk.
Napi::Value NativeBatchOf(Napi::Env env, const LogBatch& batch);

}  // namespace paho_redis
