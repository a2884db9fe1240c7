/**
 * A RedisPersistence batch sent as one MULTI/EXEC carries only the final state of each key
 * (src/persistence/redis/final-state.ts): one HSET, one HDEL, each key once.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { finalStateCommands } from '../../src/persistence/redis/final-state';

const put = (key: string, text: string): { key: string; data: Buffer } => ({ key, data: Buffer.from(text) });
const remove = (key: string): { key: string; data: undefined } => ({ key, data: undefined });
const plain = {
  seal: (_key: string, data: Buffer): Buffer => data,
  outboxRemoval: (ids: string[]): string[] => ['xdel', 'outbox', ...ids],
};
const asText = (commands: (string | Buffer)[][]): string[][] => commands.map((c) => c.map((part) => part.toString()));

test('alternating puts and removes become one HSET and one HDEL', () => {
  const commands = finalStateCommands('h', [put('c-1', 'a'), remove('s-7'), put('s-1', 'b'), remove('c-7')], plain);
  assert.deepEqual(asText(commands), [
    ['hset', 'h', 'c-1', 'a', 's-1', 'b'],
    ['hdel', 'h', 's-7', 'c-7'],
  ]);
});

test("a key's last write decides: removed then put again is a put, put then removed a remove", () => {
  const commands = finalStateCommands(
    'h',
    [remove('s-5'), put('s-5', 'new'), put('c-2', 'old'), put('c-2', 'newer'), put('s-9', 'x'), remove('s-9')],
    plain,
  );
  assert.deepEqual(asText(commands), [
    ['hset', 'h', 's-5', 'new', 'c-2', 'newer'],
    ['hdel', 'h', 's-9'],
  ]);
});

test('only puts, only removes, or nothing: no empty command', () => {
  assert.deepEqual(asText(finalStateCommands('h', [put('c-1', 'a')], plain)), [['hset', 'h', 'c-1', 'a']]);
  assert.deepEqual(asText(finalStateCommands('h', [remove('c-1')], plain)), [['hdel', 'h', 'c-1']]);
  assert.deepEqual(finalStateCommands('h', [], plain), []);
});

test('only the value that stays is sealed', () => {
  const sealed: string[] = [];
  const seal = (key: string, data: Buffer): Buffer => {
    sealed.push(`${key}=${data.toString()}`);
    return data;
  };
  finalStateCommands('h', [put('c-1', 'first'), put('c-1', 'second'), put('s-1', 'x'), remove('s-1')], {
    ...plain,
    seal,
  });
  assert.deepEqual(sealed, ['c-1=second']);
});

test('every outbox move is kept, also on a write its key later supersedes, as one XDEL', () => {
  const commands = finalStateCommands(
    'h',
    [
      { key: 'c-1', data: Buffer.from('a'), outboxRemove: '5' },
      { key: 'c-1', data: undefined, outboxRemove: '6' },
      { key: 'c-2', data: Buffer.from('b'), outboxRemove: '7' },
    ],
    plain,
  );
  assert.deepEqual(asText(commands), [
    ['hset', 'h', 'c-2', 'b'],
    ['hdel', 'h', 'c-1'],
    ['xdel', 'outbox', '5', '6', '7'],
  ]);
});

test('a batch known to have distinct keys gives the same commands, each write taken as it comes', () => {
  const writes = [
    put('c-1', 'a'),
    remove('s-7'),
    { key: 'c-2', data: Buffer.from('b'), outboxRemove: '9' },
    put('s-1', 'b'),
    remove('c-7'),
  ];
  const sealed: string[] = [];
  const seal = (key: string, data: Buffer): Buffer => {
    sealed.push(key);
    return Buffer.concat([Buffer.from('sealed:'), data]);
  };
  const distinct = finalStateCommands('h', writes, { ...plain, seal }, true);
  assert.deepEqual(asText(distinct), [
    ['hset', 'h', 'c-1', 'sealed:a', 'c-2', 'sealed:b', 's-1', 'sealed:b'],
    ['hdel', 'h', 's-7', 'c-7'],
    ['xdel', 'outbox', '9'],
  ]);
  assert.deepEqual(sealed, ['c-1', 'c-2', 's-1']);
  assert.deepEqual(asText(finalStateCommands('h', writes, { ...plain, seal }, false)), asText(distinct));
});
