import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { AsyncClient, setTraceLogger, type TraceLevel } from '../../src';
import { startMosquitto, type MosquittoServer } from '../helpers/servers';
import { waitFor } from '../helpers/client-common';

describe('Paho trace forwarding', () => {
  let broker: MosquittoServer;
  before(async () => {
    broker = await startMosquitto();
  });
  after(async () => {
    setTraceLogger('off');
    await broker.stop();
  });

  it('delivers protocol lines at the requested level and stops when turned off', async () => {
    const lines: [TraceLevel, string][] = [];
    setTraceLogger('protocol', (level, message) => lines.push([level, message]));
    const client = await AsyncClient.create({ serverURI: broker.url, clientId: `trace-${process.pid}` });
    await client.connect();
    await client.publish('trace/a', Buffer.from('x'), { qos: 1 });
    await client.disconnect({ timeout: 1000 });
    await client.close();
    await waitFor(() => lines.some(([, m]) => m.includes('-> DISCONNECT')), 'DISCONNECT traced');
    assert.ok(
      lines.some(([, m]) => m.includes('-> CONNECT')),
      'CONNECT traced',
    );
    assert.ok(
      lines.some(([, m]) => m.includes('PUBLISH')),
      'PUBLISH traced',
    );
    assert.ok(
      lines.every(([level]) => ['protocol', 'error', 'severe', 'fatal'].includes(level)),
      'nothing below the level',
    );

    setTraceLogger('off');
    const before = lines.length;
    const quiet = await AsyncClient.create({ serverURI: broker.url, clientId: `trace-off-${process.pid}` });
    await quiet.connect();
    await quiet.disconnect({ timeout: 1000 });
    await quiet.close();
    // Lines arrive in order: once a marker client's CONNECT reached a new logger, anything the
    // quiet client traced would have arrived before it.
    const marker: string[] = [];
    setTraceLogger('protocol', (_level, message) => marker.push(message));
    const probe = await AsyncClient.create({ serverURI: broker.url, clientId: `trace-marker-${process.pid}` });
    await probe.connect();
    await waitFor(() => marker.some((m) => m.includes('-> CONNECT')), 'marker CONNECT traced');
    await probe.disconnect({ timeout: 1000 });
    await probe.close();
    setTraceLogger('off');
    assert.equal(lines.length, before, 'no lines after off');
  });

  it('rejects bad levels and loggers with clear errors', () => {
    assert.throws(() => setTraceLogger('loud' as TraceLevel, () => undefined), {
      code: 'ERR_INVALID_ARG',
      message: /trace level must be one of/,
    });
    assert.throws(() => setTraceLogger('error'), { code: 'ERR_INVALID_ARG', message: /logger must be a function/ });
  });
});
