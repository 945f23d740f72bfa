import { createNodeCrypto } from '@parley/core/node';
import { ManualClock, TestNetwork } from '@parley/core/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGatewayServer } from '../http/gateway-server.js';
import { runHttpExample } from '../http/main.js';
import { startRelayServer } from '../http/relay-server.js';
import { silent } from '../src/format.js';
import type { RunningServer } from '../src/http-util.js';
import { createMemoryGateway } from '../src/shared/memory-gateway.js';

describe('HTTP webhook example', () => {
  it('runs: webhook delivery, a reply through the API, receipts, and a 400 for a malformed request', async () => {
    const result = await runHttpExample(silent);
    expect(result.businessReceived).toEqual(['Hello over HTTP']);
    expect(result.personReceived).toEqual(['Hi! Thanks for writing.']);
    expect(result.statuses).toEqual(['accepted', 'sent', 'delivered']);
    expect(result.badRequest).toEqual({ status: 400, code: 'ERR_INVALID_ARGUMENT' });
  });
});

describe('HTTP servers refuse bad requests with a 4xx JSON error and keep serving', () => {
  const clock = new ManualClock();
  const crypto = createNodeCrypto();
  const network = new TestNetwork();
  const gateway = createMemoryGateway({ transport: network, directory: network, crypto, clock });
  let api: RunningServer;
  let relay: RunningServer;

  beforeAll(async () => {
    await gateway.registerBusiness({ businessId: 'acme' });
    await gateway.addNumber('acme', '+15550100');
    api = await startGatewayServer({ gateway, webhooks: {} });
    relay = await startRelayServer(network);
  });
  afterAll(async () => {
    await gateway.close();
    await api?.close();
    await relay?.close();
  });

  const frame = { frameId: 'f1', to: '+15550100', from: '+15550123', deviceId: 1, type: 3, body: 'AAAA' };
  const cases: [string, string, RequestInit, number, string][] = [
    ['invalid JSON', '/v1/network/frames', { method: 'POST', body: '{"frameId":' }, 400, 'ERR_BAD_JSON'],
    ['a JSON array', '/v1/network/frames', { method: 'POST', body: '[]' }, 400, 'ERR_INVALID_ARGUMENT'],
    [
      'a missing field',
      '/v1/network/frames',
      { method: 'POST', body: JSON.stringify({ ...frame, to: undefined }) },
      400,
      'ERR_INVALID_ARGUMENT',
    ],
    [
      'a bad message type',
      '/v1/network/frames',
      { method: 'POST', body: JSON.stringify({ ...frame, type: 1 }) },
      400,
      'ERR_INVALID_ARGUMENT',
    ],
    [
      'a body that is not base64',
      '/v1/network/frames',
      { method: 'POST', body: JSON.stringify({ ...frame, body: 'not base64!' }) },
      400,
      'ERR_INVALID_ARGUMENT',
    ],
    [
      'a number that is not E.164',
      '/v1/network/frames',
      { method: 'POST', body: JSON.stringify({ ...frame, from: 'alice' }) },
      400,
      'ERR_INVALID_ARGUMENT',
    ],
    [
      'an unregistered business number',
      '/v1/network/frames',
      { method: 'POST', body: JSON.stringify({ ...frame, to: '+15559999' }) },
      404,
      'ERR_NOT_FOUND',
    ],
    [
      'a receipt for a frame never issued',
      '/v1/network/receipts',
      { method: 'POST', body: '{"frameId":"nope"}' },
      400,
      'ERR_INVALID_ARGUMENT',
    ],
    [
      'a send without text',
      '/v1/messages',
      { method: 'POST', body: '{"from":"+15550100","to":"+15550123"}' },
      400,
      'ERR_INVALID_ARGUMENT',
    ],
    [
      'a send from an unknown number',
      '/v1/messages',
      { method: 'POST', body: '{"from":"+15559999","to":"+15550123","text":"x"}' },
      404,
      'ERR_NOT_FOUND',
    ],
    ['an unknown path', '/v1/nothing', { method: 'POST', body: '{}' }, 404, 'ERR_NO_ROUTE'],
    ['a wrong method', '/v1/messages', { method: 'GET' }, 405, 'ERR_METHOD_NOT_ALLOWED'],
    [
      'an oversized body',
      '/v1/messages',
      { method: 'POST', body: `"${'x'.repeat(300_000)}"` },
      413,
      'ERR_TOO_LARGE',
    ],
  ];

  it.each(cases)('gateway server: %s', async (_name, path, init, status, code) => {
    const response = await fetch(`${api.url}${path}`, {
      ...init,
      headers: { 'content-type': 'application/json' },
    });
    expect(response.status).toBe(status);
    expect(response.headers.get('content-type')).toBe('application/json');
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe(code);
  });

  it('gateway server: garbage ciphertext is answered, not crashed on', async () => {
    const response = await fetch(`${api.url}/v1/network/frames`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ ...frame, body: Buffer.from('garbage ciphertext').toString('base64') }),
    });
    expect(response.status).toBe(200);
    expect(((await response.json()) as { kind: string }).kind).toBe('undecryptable');
  });

  it('relay: a wrong content type is 415 and a bad frame 400; it still serves afterwards', async () => {
    const plain = await fetch(`${relay.url}/v1/frames`, { method: 'POST', body: 'hello' });
    expect(plain.status).toBe(415);
    const bad = await fetch(`${relay.url}/v1/frames`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ frameId: 'x' }),
    });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { message: string } }).error.message).toMatch(/"to"/);
    const health = await fetch(`${relay.url}/v1/health`);
    expect(await health.json()).toEqual({ ok: true });
  });

  it('relay: a frame the network refuses is 503, so the gateway retries', async () => {
    network.refuseNextSends(1);
    const response = await fetch(`${relay.url}/v1/frames`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ ...frame, to: '+15550123', from: '+15550100' }),
    });
    expect(response.status).toBe(503);
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe('ERR_TRANSPORT_FAILURE');
  });
});
