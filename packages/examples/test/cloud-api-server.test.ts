/**
 * The cloud API server's own guarantees: the OpenAPI document covers every route it serves
 * (and the checked-in file is current), tokens rest only as hashes and can be revoked, the
 * access log records each HTTP call with the token's principal and verifies (and a tampered
 * record is reported), rate limits are per token, and the network's entry points answer
 * garbage without crashing.
 */
import { readFileSync } from 'node:fs';
import { isParleyError, NAMESPACES } from '@parley/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AccessLogResponseSchema,
  AccessLogVerificationSchema,
  ErrorBodySchema,
  MessageStatusResponseSchema,
  PhoneNumbersResponseSchema,
  SendMessageResponseSchema,
} from '../cloud-api/schemas.js';
import { cloudApiDocument } from '../cloud-api/server.js';
import { TokenStore } from '../cloud-api/token-store.js';
import { OPENAPI_FILE } from '../cloud-api/write-openapi.js';
import { type CloudApiWorld, createCloudApiWorld } from './support/cloud-api-world.js';

describe('cloud API server', () => {
  let world: CloudApiWorld;

  beforeAll(async () => {
    world = await createCloudApiWorld();
  });
  afterAll(async () => {
    await world?.close();
  });

  describe('OpenAPI', () => {
    it('the served document lists every route the router serves, and nothing else', async () => {
      const answer = await world.request('GET', '/openapi.json');
      expect(answer.status).toBe(200);
      const document = answer.json as { openapi: string; paths: Record<string, Record<string, unknown>> };
      expect(document.openapi).toBe('3.1.0');
      const documented = Object.entries(document.paths)
        .flatMap(([path, operations]) =>
          Object.keys(operations).map(
            (method) => `${method.toUpperCase()} ${path.replace(/\{([a-z_]+)\}/g, ':$1')}`,
          ),
        )
        .sort();
      expect(documented).toEqual([...world.server.routes].sort());
      expect(documented).toContain('POST /v1/:phone_number_id/messages');
      expect(documented).toContain('POST /v1/:phone_number_id/media');
      expect(documented.length).toBe(15);
    });

    it('every operation documents its answers, its parameters and its security', () => {
      const document = cloudApiDocument() as {
        paths: Record<
          string,
          Record<
            string,
            { parameters?: { name: string; in: string }[]; responses: object; security: object[] }
          >
        >;
      };
      for (const [path, operations] of Object.entries(document.paths)) {
        for (const operation of Object.values(operations)) {
          const statuses = Object.keys(operation.responses);
          expect(statuses).toContain('400');
          expect(statuses.some((status) => status.startsWith('2'))).toBe(true);
          const pathParameters = [...path.matchAll(/\{([a-z_]+)\}/g)].map((match) => match[1]);
          expect(operation.parameters?.filter((p) => p.in === 'path').map((p) => p.name) ?? []).toEqual(
            pathParameters,
          );
          if (path !== '/openapi.json') expect(operation.security).toHaveLength(1);
        }
      }
    });

    it('the checked-in cloud-api/openapi.json is the generated document (pnpm --filter @parley/examples openapi)', () => {
      expect(JSON.parse(readFileSync(OPENAPI_FILE, 'utf8'))).toEqual(cloudApiDocument());
    });
  });

  describe('answers match the documented schemas', () => {
    it('send, status, numbers and the access log', async () => {
      const sent = await world.request('POST', `/v1/${world.a.numberId}/messages`, {
        token: world.a.token,
        json: {
          messaging_product: 'whatsapp',
          to: world.a.customer.phoneNumber.slice(1),
          type: 'text',
          text: { body: 'ok' },
        },
      });
      expect(sent.status).toBe(200);
      const id = SendMessageResponseSchema.parse(sent.json).messages[0]!.id;
      await world.settle();
      const status = MessageStatusResponseSchema.parse(
        (await world.request('GET', `/v1/messages/${id}`, { token: world.a.token })).json,
      );
      expect(status).toMatchObject({
        id,
        direction: 'outbound',
        status: 'delivered',
        devices: [{ device_id: 1, state: 'delivered' }],
      });
      PhoneNumbersResponseSchema.parse(
        (await world.request('GET', `/v1/${world.a.id}/phone_numbers`, { token: world.a.token })).json,
      );
      AccessLogResponseSchema.parse(
        (await world.request('GET', `/v1/${world.a.id}/access_log`, { token: world.a.token })).json,
      );
    });
  });

  describe('tokens', () => {
    it('rest only as SHA-256: no byte of any store holds a token or its secret part', async () => {
      const { token } = await world.server.tokens.issue({ businessId: world.a.id, principal: 'hash-check' });
      // prl_<12 hex>_<43 base64url>: the secret may itself contain "_", so cut at a fixed offset.
      const secretOf = (issued: string) => issued.slice('prl_'.length + 12 + 1);
      const secret = secretOf(token);
      const everything: string[] = [];
      for (const store of [world.store, world.vaultStore]) {
        for (const namespace of NAMESPACES) {
          for (const record of await store.list(namespace)) {
            everything.push(record.key, Buffer.from(record.value).toString('latin1'));
          }
        }
      }
      const haystack = everything.join('\n');
      for (const issued of [token, world.a.token, world.b.token]) {
        expect(haystack).not.toContain(issued);
        expect(secretOf(issued)).toHaveLength(43);
        expect(haystack).not.toContain(secretOf(issued));
      }
      expect(haystack).not.toContain(secret);
      const { createHash } = await import('node:crypto');
      expect(haystack).toContain(createHash('sha256').update(token).digest('hex'));
      // Lists show grants, never tokens or hashes.
      const listed = JSON.stringify(await world.server.tokens.list(world.a.id));
      expect(listed).toContain('hash-check');
      expect(listed).not.toContain(secret);
      expect(listed).not.toMatch(/[0-9a-f]{64}/);
    });

    it('a token survives a restart (a new token store on the same store) and stops working when revoked', async () => {
      const issued = await world.server.tokens.issue({ businessId: world.a.id, principal: 'revocable' });
      const again = new TokenStore({ store: world.store, clock: world.clock });
      expect(await again.authenticate(issued.token)).toMatchObject({
        businessId: world.a.id,
        principal: 'revocable',
      });
      const path = `/v1/${world.a.id}/phone_numbers`;
      expect((await world.request('GET', path, { token: issued.token })).status).toBe(200);
      expect(await again.revoke(issued.tokenId)).toBe(true);
      const refused = await world.request('GET', path, { token: issued.token });
      expect(refused.status).toBe(401);
      expect(ErrorBodySchema.parse(refused.json).error).toEqual({
        code: 'ERR_UNAUTHORIZED',
        type: 'authentication',
        message: 'a valid bearer token is required',
      });
      expect(await again.revoke(issued.tokenId)).toBe(false);
    });

    it('refuses a grant the gateway could never serve', async () => {
      for (const grant of [
        { businessId: 'a b', principal: 'x' },
        { businessId: 'acme', principal: '' },
        { businessId: 'acme', principal: 'tab\tseparated' },
        { businessId: 'acme', principal: 'p'.repeat(129) },
      ]) {
        await expect(world.server.tokens.issue(grant)).rejects.toSatisfy((error) =>
          isParleyError(error, 'ERR_INVALID_ARGUMENT'),
        );
      }
    });
  });

  describe('access log over HTTP', () => {
    it("records each call with the token's principal, the message id and the person's pseudonym, and verifies", async () => {
      const { token } = await world.server.tokens.issue({
        businessId: world.a.id,
        principal: 'auditor@acme',
      });
      const since = world.clock.now();
      const sent = await world.request('POST', `/v1/${world.a.numberId}/messages`, {
        token,
        json: {
          messaging_product: 'whatsapp',
          to: world.a.customer.phoneNumber,
          type: 'text',
          text: { body: 'audit me' },
        },
      });
      const id = SendMessageResponseSchema.parse(sent.json).messages[0]!.id;
      await world.settle();
      await world.request('GET', `/v1/messages/${id}`, { token });
      await world.request('GET', `/v1/messages/m${'0'.repeat(32)}`, { token });
      await world.request('POST', `/v1/messages/${id}/retransmit`, { token });
      await world.request('GET', `/v1/${world.a.id}/phone_numbers`, { token });
      await world.request('POST', `/v1/${world.a.id}/erasures`, {
        token,
        json: { phone_number: '+15557777' },
      });

      const log = await world.request(
        'GET',
        `/v1/${world.a.id}/access_log?principal=auditor%40acme&since=${since}`,
        {
          token,
        },
      );
      expect(log.status).toBe(200);
      const records = AccessLogResponseSchema.parse(log.json).data;
      expect(records.map((record) => [record.operation, record.outcome, record.message_id])).toEqual([
        ['send', 'ok', id],
        ['status', 'ok', id],
        ['status', 'ERR_NOT_FOUND', null],
        ['retransmit', 'ok', id],
        ['numbers', 'ok', null],
        ['erase', 'ok', null],
      ]);
      expect(
        records.every((record) => record.principal === 'auditor@acme' && record.business_id === world.a.id),
      ).toBe(true);
      // The person as the business's pseudonym: the same for send and erase of the same number, never the number.
      expect(records[0]!.person).toMatch(/^[0-9a-f]{64}$/);
      expect(log.text).not.toContain(world.a.customer.phoneNumber.slice(1));
      expect(log.text).not.toContain('5557777');
      // A chain: each record names the MAC of the one before.
      for (let i = 1; i < records.length; i++) {
        if (records[i]!.seq === records[i - 1]!.seq + 1)
          expect(records[i]!.previous_mac).toBe(records[i - 1]!.mac);
      }

      const verification = AccessLogVerificationSchema.parse(
        (await world.request('GET', `/v1/${world.a.id}/access_log/verification`, { token })).json,
      );
      expect(verification).toMatchObject({ ok: true, first_seq: 1, problem: null });
      expect(await world.gateway.accessLog().verify(world.a.id)).toMatchObject({ ok: true });
      // Reading the log was logged too, under the same principal.
      const reads = await world.gateway
        .accessLog()
        .query(world.a.id, { principal: 'auditor@acme', operation: 'access-log' });
      expect(reads.length).toBe(2);
    });

    it('an edited record is reported by the verification endpoint', async () => {
      const key = `gw/b/${world.a.id}/log/${'2'.padStart(16, '0')}`;
      const stored = (await world.store.get('meta', key))!;
      const edited = Uint8Array.from(stored.value);
      edited[20]! ^= 0x01;
      await world.store.commit([
        { type: 'put', namespace: 'meta', key, value: edited, expiresAt: stored.expiresAt },
      ]);
      try {
        const answer = await world.request('GET', `/v1/${world.a.id}/access_log/verification`, {
          token: world.a.token,
        });
        expect(AccessLogVerificationSchema.parse(answer.json)).toMatchObject({
          ok: false,
          problem: { seq: 2, reason: 'record edited (MAC does not match)' },
        });
      } finally {
        await world.store.commit([
          { type: 'put', namespace: 'meta', key, value: stored.value, expiresAt: stored.expiresAt },
        ]);
      }
      expect(await world.gateway.accessLog().verify(world.a.id)).toMatchObject({ ok: true });
    });
  });

  describe('the network side', () => {
    const frame = (to: string) => ({
      frameId: 'f-garbage',
      to,
      from: '+15550999',
      deviceId: 1,
      type: 3,
      body: '',
    });

    it('garbage ciphertext is answered (undecryptable), an unknown business number is 404, an unknown receipt 400', async () => {
      const network = { token: world.networkToken };
      const garbage = await world.request('POST', '/v1/network/frames', {
        ...network,
        json: { ...frame(world.a.number), body: Buffer.from('garbage ciphertext').toString('base64') },
      });
      expect(garbage.status).toBe(200);
      expect((garbage.json as { kind: string }).kind).toBe('undecryptable');
      // A frame as large as the largest message makes is read (the network route's own body limit).
      const large = await world.request('POST', '/v1/network/frames', {
        ...network,
        json: {
          ...frame(world.a.number),
          frameId: 'f-large',
          body: Buffer.alloc(100 * 1024, 7).toString('base64'),
        },
      });
      expect(large.status).toBe(200);
      expect((large.json as { kind: string }).kind).toBe('undecryptable');
      const unknown = await world.request('POST', '/v1/network/frames', {
        ...network,
        json: { ...frame('+15559999'), body: 'AAAA' },
      });
      expect(unknown.status).toBe(404);
      expect(ErrorBodySchema.parse(unknown.json).error.code).toBe('ERR_NOT_FOUND');
      const receipt = await world.request('POST', '/v1/network/receipts', {
        ...network,
        json: { frameId: 'nope' },
      });
      expect(receipt.status).toBe(400);
      expect(ErrorBodySchema.parse(receipt.json).error.code).toBe('ERR_INVALID_ARGUMENT');
    });
  });
});

describe('cloud API rate limits', () => {
  let world: CloudApiWorld;

  beforeAll(async () => {
    world = await createCloudApiWorld({ rateLimit: { max: 5, timeWindowMs: 60_000 } });
  });
  afterAll(async () => {
    await world?.close();
  });

  it("count every request a token makes, malformed ones too; another business's token is not affected", async () => {
    const path = `/v1/${world.a.id}/phone_numbers`;
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) {
      // Every other one malformed: a refused request still counts.
      const answer =
        i % 2 === 0
          ? await world.request('GET', path, { token: world.a.token })
          : await world.request('POST', `/v1/${world.a.numberId}/messages`, {
              token: world.a.token,
              body: '{',
              headers: { 'content-type': 'application/json' },
            });
      statuses.push(answer.status);
    }
    // The world's setup already sent one message and uploaded one file with this token: 3 more
    // pass, then 429.
    expect(statuses).toEqual([200, 400, 200, 429, 429, 429]);
    const limited = await world.request('GET', path, { token: world.a.token });
    expect(limited.status).toBe(429);
    expect(ErrorBodySchema.parse(limited.json).error).toMatchObject({
      code: 'ERR_RATE_LIMITED',
      type: 'rate_limit',
    });
    expect(
      (await world.request('GET', `/v1/${world.b.id}/phone_numbers`, { token: world.b.token })).status,
    ).toBe(200);
  });
});
