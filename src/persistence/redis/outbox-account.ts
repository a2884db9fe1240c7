/**
 * The outbox's account in Redis (see docs/outbox.md, "Limits"): a hash `{<hash>}:outbox-account`
 * beside the stream, in its Cluster slot, with
 * - `bytes`: the stored size of the entries in the stream (their `d` fields), updated by the same
 *   script as every append, removal and move, so it is exact after a kill -9 at any instant; the
 *   depth is the stream's XLEN (O(1)), so it needs no account of its own;
 * - `clock`, `wall`: the outbox clock's checkpoint (see src/client/outbox-clock.ts).
 * Scripts use only the commands the documented ACL user has (HGET/HSET, no HINCRBY).
 * Scripts, not MULTI: a removal must subtract only what it really removed (an entry a failed
 * move left, removed twice, must not count twice), and a cap needs the account to decide.
 */
import { companionKeyName } from './options';

export function outboxAccountKeyName(hash: string): string {
  return companionKeyName(hash, 'outbox-account');
}

/** Lua: the `d` field's size of an XRANGE entry's field list. */
const SIZE_OF = `
local function sizeOf(fields)
  for j = 1, #fields, 2 do
    if fields[j] == 'd' then return #fields[j + 1], fields[j + 1] end
  end
  return 0, ''
end
`;

/**
 * Removes stream ids ARGV from KEYS[1], subtracting the bytes of those present from KEYS[2].
 * Answers how many were removed. Used by outboxRemove and inside the batch that puts c-N.
 */
export const REMOVE_SCRIPT = `${SIZE_OF}
local freed, removed = 0, 0
for i = 1, #ARGV do
  local e = redis.call('XRANGE', KEYS[1], ARGV[i], ARGV[i])
  if #e > 0 then
    freed = freed + sizeOf(e[1][2])
    redis.call('XDEL', KEYS[1], ARGV[i])
    removed = removed + 1
  end
end
if removed > 0 then
  redis.call('HSET', KEYS[2], 'bytes', tonumber(redis.call('HGET', KEYS[2], 'bytes') or '0') - freed)
end
return removed
`;

/**
 * At close: deletes the account KEYS[2] when the outbox KEYS[1] holds no entry. Its bytes are 0 and
 * its clock checkpoint dates nothing (an entry's times are its own), so the next open starts as a
 * fresh client would; without this every client id that was ever opened left its account behind.
 * The stream itself stays: its last id keeps later ids from repeating earlier ones.
 */
export const DROP_EMPTY_ACCOUNT_SCRIPT = `
if redis.call('XLEN', KEYS[1]) == 0 then return redis.call('DEL', KEYS[2]) end
return 0
`;

/** Adds ARGV[1] bytes to the account KEYS[1] (a move at an upgrade, inside its MULTI). */
export const ADD_SCRIPT = `
redis.call('HSET', KEYS[1], 'bytes', tonumber(redis.call('HGET', KEYS[1], 'bytes') or '0') + tonumber(ARGV[1]))
`;

/**
 * Appends under caps. ARGV: maxMessages (0: none), maxBytes (0: none), dropOldest (1/0), the
 * append time (field t), the number of kept stream ids, the kept ids, then pairs of stream id
 * and sealed data. Answers { rejected ids, dropped [id, data, ...], depth, bytes }. An XADD that
 * fails (an id not above the last) stops the script with the account written so far.
 */
export const APPEND_SCRIPT = `${SIZE_OF}
local stream, account = KEYS[1], KEYS[2]
local maxN, maxB, drop = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3] == '1'
local now, nkeep = ARGV[4], tonumber(ARGV[5])
local keep = {}
for i = 1, nkeep do keep[ARGV[5 + i]] = true end
local depth = redis.call('XLEN', stream)
local bytes = tonumber(redis.call('HGET', account, 'bytes') or '0')
local function fits(size)
  return (maxN == 0 or depth + 1 <= maxN) and (maxB == 0 or bytes + size <= maxB)
end
local rejected, dropped = {}, {}
local scan, exhausted = '-', false
for i = 6 + nkeep, #ARGV, 2 do
  local id, data = ARGV[i], ARGV[i + 1]
  local size = #data
  if drop and (maxB == 0 or size <= maxB) then
    while not fits(size) and not exhausted do
      local batch = redis.call('XRANGE', stream, scan, '+', 'COUNT', 64)
      if #batch == 0 then exhausted = true end
      for _, e in ipairs(batch) do
        scan = '(' .. e[1]
        if not keep[e[1]] then
          local s, d = sizeOf(e[2])
          redis.call('XDEL', stream, e[1])
          depth, bytes = depth - 1, bytes - s
          dropped[#dropped + 1] = e[1]
          dropped[#dropped + 1] = d
          if fits(size) then break end
        end
      end
    end
  end
  if fits(size) then
    local added = redis.pcall('XADD', stream, id, 'd', data, 't', now)
    if type(added) == 'table' and added.err then
      redis.call('HSET', account, 'bytes', bytes)
      return added
    end
    depth, bytes = depth + 1, bytes + size
  else
    rejected[#rejected + 1] = id
  end
end
redis.call('HSET', account, 'bytes', bytes)
return { rejected, dropped, depth, bytes }
`;

/**
 * At open: a stream written before the account existed (an older release) gets its bytes
 * counted once (one pass over the stream); afterwards a no-op. An empty or missing stream (one
 * `paho-mqtt-redis clear` deleted, say) has no bytes. Only commands the documented ACL user has.
 */
export const INIT_SCRIPT = `${SIZE_OF}
if redis.call('XLEN', KEYS[1]) == 0 then
  redis.call('HDEL', KEYS[2], 'bytes')
  return 0
end
local have = redis.call('HGET', KEYS[2], 'bytes')
if have then return tonumber(have) end
local bytes, scan = 0, '-'
while true do
  local batch = redis.call('XRANGE', KEYS[1], scan, '+', 'COUNT', 1000)
  if #batch == 0 then break end
  for _, e in ipairs(batch) do
    bytes = bytes + sizeOf(e[2])
    scan = '(' .. e[1]
  end
end
redis.call('HSET', KEYS[2], 'bytes', bytes)
return bytes
`;

/** The command (for a MULTI or alone) that removes outbox entries and their bytes from the account. */
export function removalCommand(hash: string, streamIds: readonly string[]): string[] {
  return ['eval', REMOVE_SCRIPT, '2', companionKeyName(hash, 'outbox'), outboxAccountKeyName(hash), ...streamIds];
}

/** The maxBytes default: this share of Redis's maxmemory (an entry costs Redis ~1.2x its bytes + ~64 B). */
export const DEFAULT_MAX_BYTES_SHARE = 0.25;
