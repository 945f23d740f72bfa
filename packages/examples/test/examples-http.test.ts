import { createNodeCrypto } from '@parley/core/node';
import { ManualClock, TestNetwork } from '@parley/core/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCloudApiExample } from '../cloud-api/main.js';
import { startRelayServer } from '../http/relay-server.js';
import { silent } from '../src/format.js';
import type { RunningServer } from '../src/http-util.js';
import { createMemoryGateway } from '../src/shared/memory-gateway.js';

describe('cloud API example (network over HTTP)', () => {
  it('runs: a signed webhook, a reply through the API, receipts, a 400 for a malformed request, a verified access log', async () => {
    const result = await runCloudApiExample(silent);
    expect(result.businessReceived).toEqual(['Hello over HTTP']);
    expect(result.personReceived).toEqual(['Hi! Thanks for writing.']);
    expect(result.statuses).toEqual(['accepted', 'sent', 'delivered']);
    expect(result.badRequest).toEqual({ status: 400, code: 'ERR_INVALID_ARGUMENT' });
    expect(result.accessLogVerified).toBe(true);
  });
});

describe('the relay (the network over HTTP) refuses bad requests with a 4xx JSON error and keeps serving', () => {
  const clock = new ManualClock();
  const crypto = createNodeCrypto();
  const network = new TestNetwork();
  const gateway = createMemoryGateway({ transport: network, directory: network, crypto, clock });
  let relay: RunningServer;

  beforeAll(async () => {
    await gateway.registerBusiness({ businessId: 'acme' });
    await gateway.addNumber('acme', '+15550100');
    relay = await startRelayServer(network);
  });
  afterAll(async () => {
    await gateway.close();
    await relay?.close();
  });

  const frame = { frameId: 'f1', to: '+15550123', from: '+15550100', deviceId: 1, type: 3, body: 'AAAA' };

  it('a wrong content type is 415 and a bad frame 400; it still serves afterwards', async () => {
    const plain = await fetch(`${relay.url}/v1/frames`, { method: 'POST', body: 'hello' });
    expect(plain.status).toBe(415);
    const bad = await fetch(`${relay.url}/v1/frames`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ frameId: 'x' }),
    });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { message: string } }).error.message).toMatch(/"to"/);
    const invalid = await fetch(`${relay.url}/v1/frames`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"frameId":',
    });
    expect(((await invalid.json()) as { error: { code: string } }).error.code).toBe('ERR_BAD_JSON');
    const health = await fetch(`${relay.url}/v1/health`);
    expect(await health.json()).toEqual({ ok: true });
  });

  it('a frame the network refuses is 503, so the gateway retries', async () => {
    network.refuseNextSends(1);
    const response = await fetch(`${relay.url}/v1/frames`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(frame),
    });
    expect(response.status).toBe(503);
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe('ERR_TRANSPORT_FAILURE');
  });
});
