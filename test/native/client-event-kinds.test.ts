/**
 * The native client sends each burst entry's kind as an index into EVENT_KINDS: the C++
 * EventBurst::Kind enum's order on one side, EVENT_KINDS on the other. The addon exports its order.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { native } from '../../src/native';
import { EVENT_KINDS } from '../../src/client/event-burst';

describe('client event kinds', () => {
  it("the addon's clientEventKinds is EVENT_KINDS, index by index", () => {
    assert.deepEqual([...native.clientEventKinds], [...EVENT_KINDS]);
  });
});
