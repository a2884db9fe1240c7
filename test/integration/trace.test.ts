import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
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

  it("leaves Paho's own trace (MQTT_C_CLIENT_TRACE) at Paho's level when no logger is installed", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pmr-paho-trace-'));
    const file = path.join(dir, 'paho.trace');
    const script = `
      const { AsyncClient } = require(${JSON.stringify(path.join(__dirname, '..', '..', 'src'))});
      (async () => {
        const client = await AsyncClient.create({ serverURI: ${JSON.stringify(broker.url)}, clientId: 'paho-trace-${process.pid}' });
        await client.connect();
        await client.disconnect({ timeout: 1000 });
        await client.close();
      })().catch((e) => { console.error(e); process.exit(1); });`;
    try {
      await promisify(execFile)(process.execPath, ['-e', script], {
        env: { ...process.env, MQTT_C_CLIENT_TRACE: file, MQTT_C_CLIENT_TRACE_LEVEL: '' },
        timeout: 30_000,
      });
      // Paho's default level traces the protocol; at 'error' the file would hold its header only.
      assert.match(fs.readFileSync(file, 'utf8'), /CONNECT/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('rejects bad levels and loggers with clear errors', () => {
    assert.throws(() => setTraceLogger('loud' as TraceLevel, () => undefined), {
      code: 'ERR_INVALID_ARG',
      message: /trace level must be one of/,
    });
    assert.throws(() => setTraceLogger('error'), { code: 'ERR_INVALID_ARG', message: /logger must be a function/ });
  });
});
