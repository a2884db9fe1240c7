/**
 * The bridge dispatches each Paho persistence call to JS as an op index (NativeOpIndex): the C++
 * PersistenceOp enum's order on one side, PERSISTENCE_OPS on the other. The addon exports its order.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { native } from '../../src/native';
import { PERSISTENCE_OPS } from '../../src/persistence/client-persistence';

describe('persistence op order', () => {
  it("the addon's persistenceOps is PERSISTENCE_OPS, index by index", () => {
    assert.deepEqual([...native.persistenceOps], [...PERSISTENCE_OPS]);
  });
});
