/**
 * A batch of the operation log, decoded from the bytes the addon hands over (NativeBatch; the
 * layout is native/persistence/native_batch.h's).
 */
import { native, type NativeBatch } from '../../native';
import type { BatchShape, PersistenceWrite } from '../client-persistence';

/** A batch of the operation log (the C++ LogBatch): the writes of log positions firstSeq..lastSeq, in order. */
export interface LogBatch extends BatchShape {
  readonly id: number;
  readonly firstSeq: number;
  readonly lastSeq: number;
  readonly writes: PersistenceWrite[];
}

// The layout of native/persistence/native_batch.h.
const ID = 0;
const FIRST_SEQ = 2;
const LAST_SEQ = 4;
const OP_COUNT = 6;
const WORD_COUNT = 7;
const TEXT_BYTES = 8;
const FLAGS = 9;
const HEADER_WORDS = 10;
const DISTINCT_KEYS = 1;
const FAMILY_MASK = 15;
const TEXT_KEY = 15;
const OUTBOX_REMOVE = 16;
const NUMBER_SHIFT = 5;
const REMOVE_VALUE = 0xffffffff;
const KEY_FAMILIES = native.keyFamilies;

/**
 * The writes of `batch`, each value a Buffer of its own over the batch's memory (which the
 * addon allocated for this batch alone: the store may keep it).
 */
export function decodeBatch(batch: NativeBatch): LogBatch {
  const chunks = batch instanceof ArrayBuffer ? [batch] : batch;
  const first = chunks[0];
  const words = new Uint32Array(first, 0, first.byteLength >>> 2);
  const count = words[OP_COUNT];
  let text = 4 * words[WORD_COUNT];
  let textBytes: Buffer | undefined;
  const readText = (length: number): string => {
    textBytes ??= Buffer.from(first);
    text += length;
    return textBytes.toString('utf8', text - length, text);
  };
  let chunk = first;
  let nextChunk = 1;
  let cursor = text + words[TEXT_BYTES];
  let at = HEADER_WORDS;
  const writes = new Array<PersistenceWrite>(count);
  for (let i = 0; i < count; i++) {
    const keyWord = words[at];
    const length = words[at + 1];
    at += 2;
    let data: Buffer | undefined;
    if (length !== REMOVE_VALUE) {
      // The chunks are filled exactly: a value that does not fit this one starts the next.
      if (cursor + length > chunk.byteLength) {
        chunk = chunks[nextChunk++];
        cursor = 0;
      }
      data = Buffer.from(chunk, cursor, length);
      cursor += length;
    }
    const family = keyWord & FAMILY_MASK;
    const key = family === TEXT_KEY ? readText(words[at++]) : KEY_FAMILIES[family] + (keyWord >>> NUMBER_SHIFT);
    writes[i] = (keyWord & OUTBOX_REMOVE) === 0 ? { key, data } : { key, data, outboxRemove: readText(words[at++]) };
  }
  return {
    id: wide(words, ID),
    firstSeq: wide(words, FIRST_SEQ),
    lastSeq: wide(words, LAST_SEQ),
    writes,
    distinctKeys: (words[FLAGS] & DISTINCT_KEYS) !== 0,
  };
}

/** A 64-bit number from two words, low first (exact up to 2^53). */
function wide(words: Uint32Array, at: number): number {
  return words[at + 1] * 0x1_0000_0000 + words[at];
}
