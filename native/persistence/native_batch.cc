#include "persistence/native_batch.h"

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "persistence/paho_keys.h"

namespace paho_redis {

namespace {

// The key word of a Paho key: its family and its number, when JS spells the key back exactly
// from them (decimal digits without a leading zero, below 2^27); else kTextKey.
uint32_t KeyWordOf(const std::string& key) {
  KeyFamily family = FamilyOf(key.c_str());
  if (family == KeyFamily::kOther) return kTextKey;
  size_t at = strlen(kFamilyPrefixes[static_cast<size_t>(family)]);
  size_t digits = key.size() - at;
  if (digits == 0 || digits > 9 || (key[at] == '0' && digits > 1)) return kTextKey;
  uint32_t number = 0;
  for (size_t i = at; i < key.size(); ++i) {
    if (key[i] < '0' || key[i] > '9') return kTextKey;
    number = number * 10 + static_cast<uint32_t>(key[i] - '0');
  }
  if (number >= (uint32_t{1} << (32 - kNumberShift))) return kTextKey;
  return static_cast<uint32_t>(family) | number << kNumberShift;
}

// Whether no key occurs twice, judged from the key words (none of them kTextKey).
bool DistinctKeys(std::vector<uint32_t> words) {
  for (uint32_t& word : words) word &= ~kOutboxRemove;
  std::sort(words.begin(), words.end());
  return std::adjacent_find(words.begin(), words.end()) == words.end();
}

void WriteWord(uint8_t* at, uint32_t word) { memcpy(at, &word, sizeof word); }

}  // namespace

Napi::Value NativeBatchOf(Napi::Env env, const LogBatch& batch) {
  const std::vector<LogOp>& ops = batch.ops;
  // First pass: the key words, the words and text the first chunk needs, and the chunks'
  // value bytes (a value that does not fit the current chunk's room starts the next one).
  std::vector<uint32_t> key_words(ops.size());
  size_t words = kHeaderWords + 2 * ops.size();
  size_t text_bytes = 0;
  bool text_keys = false;
  std::vector<size_t> chunk_bytes{0};
  size_t values_in_chunk = 0;
  for (size_t i = 0; i < ops.size(); ++i) {
    const LogOp& op = ops[i];
    uint32_t word = KeyWordOf(op.key);
    if (word == kTextKey) {
      text_keys = true;
      ++words;
      text_bytes += op.key.size();
    }
    if (!op.outbox_remove.empty()) {
      word |= kOutboxRemove;
      ++words;
      text_bytes += op.outbox_remove.size();
    }
    key_words[i] = word;
    if (!op.data) continue;
    size_t size = op.data->size();
    if (size >= kRemoveValue) throw Napi::Error::New(env, "a persistence value of 4 GiB or more");
    if (values_in_chunk > 0 && size > 0 && chunk_bytes.back() + size > kChunkValueBytes) {
      chunk_bytes.push_back(0);
      values_in_chunk = 0;
    }
    chunk_bytes.back() += size;
    ++values_in_chunk;
  }

  size_t values_at = 4 * words + text_bytes;
  std::vector<Napi::ArrayBuffer> chunks;
  chunks.reserve(chunk_bytes.size());
  chunks.push_back(Napi::ArrayBuffer::New(env, values_at + chunk_bytes[0]));
  for (size_t c = 1; c < chunk_bytes.size(); ++c)
    chunks.push_back(Napi::ArrayBuffer::New(env, chunk_bytes[c]));

  uint8_t* head = static_cast<uint8_t*>(chunks[0].Data());
  const uint64_t header64[] = {batch.id, batch.first_seq, batch.last_seq};
  for (size_t i = 0; i < 3; ++i) {
    WriteWord(head + 8 * i, static_cast<uint32_t>(header64[i]));
    WriteWord(head + 8 * i + 4, static_cast<uint32_t>(header64[i] >> 32));
  }
  WriteWord(head + 4 * kOpCount, static_cast<uint32_t>(ops.size()));
  WriteWord(head + 4 * kWordCount, static_cast<uint32_t>(words));
  WriteWord(head + 4 * kTextBytes, static_cast<uint32_t>(text_bytes));
  WriteWord(head + 4 * kBatchFlags, !text_keys && DistinctKeys(key_words) ? kDistinctKeys : 0);

  // Second pass: the op words, the text and the values.
  uint8_t* word_at = head + 4 * kHeaderWords;
  uint8_t* text_at = head + 4 * words;
  size_t chunk = 0;
  uint8_t* values = head;
  size_t cursor = values_at;
  size_t chunk_end = values_at + chunk_bytes[0];
  auto put_text = [&](const std::string& text) {
    WriteWord(word_at, static_cast<uint32_t>(text.size()));
    word_at += 4;
    memcpy(text_at, text.data(), text.size());
    text_at += text.size();
  };
  for (size_t i = 0; i < ops.size(); ++i) {
    const LogOp& op = ops[i];
    WriteWord(word_at, key_words[i]);
    if (op.data) {
      size_t size = op.data->size();
      if (cursor + size > chunk_end) {  // as the decoder moves on: the chunks are filled exactly
        ++chunk;
        values = static_cast<uint8_t*>(chunks[chunk].Data());
        cursor = 0;
        chunk_end = chunk_bytes[chunk];
      }
      if (size > 0) memcpy(values + cursor, op.data->data(), size);
      cursor += size;
      WriteWord(word_at + 4, static_cast<uint32_t>(size));
    } else {
      WriteWord(word_at + 4, kRemoveValue);
    }
    word_at += 8;
    if ((key_words[i] & kFamilyMask) == kTextKey) put_text(op.key);
    if ((key_words[i] & kOutboxRemove) != 0) put_text(op.outbox_remove);
  }

  if (chunks.size() == 1) return chunks[0];
  Napi::Array all = Napi::Array::New(env, chunks.size());
  for (size_t c = 0; c < chunks.size(); ++c)
    all.Set(static_cast<uint32_t>(c), static_cast<napi_value>(chunks[c]));
  return all;
}

}  // namespace paho_redis
