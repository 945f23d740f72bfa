/**
 * The isolation matrix over HTTP: for every endpoint, a token of one business asks for the
 * other business's resource and for one that does not exist. Both answers must be the same
 * (status and body, byte for byte), and the only records that change in the stores are the
 * caller's own (its access log; an erasure also rewrites its statistics) — the other business's
 * state is untouched. Run in both
 * directions (A's token on B's resources, and B's on A's).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorBodySchema } from '../cloud-api/schemas.js';
import {
  type CloudApiWorld,
  changedKeys,
  createCloudApiWorld,
  type WorldBusiness,
} from './support/cloud-api-world.js';

const MISSING_MESSAGE = `m${'5a'.repeat(16)}`;
const MISSING_MEDIA = `f${'5a'.repeat(16)}`;
const MISSING_NUMBER_ID = '15559999';
const MISSING_BUSINESS = 'no-such-business';
const STRANGER = '+15557777';
const DAY = '2026-01-01';

interface Probe {
  readonly name: string;
  readonly method: 'GET' | 'POST' | 'DELETE';
  /** The other business's resource, and a nonexistent one. */
  readonly foreign: (caller: WorldBusiness, other: WorldBusiness) => Target;
  readonly missing: (caller: WorldBusiness, other: WorldBusiness) => Target;
  /** What both must answer. */
  readonly status: number;
}

interface Target {
  readonly path: string;
  readonly json?: unknown;
  /** A raw body (a file upload) and its headers. */
  readonly body?: string;
  readonly headers?: Record<string, string>;
}

const image = (to: string, id: string) => ({
  messaging_product: 'whatsapp',
  to,
  type: 'image',
  image: { id },
});
const file = { body: 'a file that is not yours to upload', headers: { 'content-type': 'image/png' } };

const text = (to: string) => ({
  messaging_product: 'whatsapp',
  to,
  type: 'text',
  text: { body: 'not yours' },
});

/** One row per endpoint (and per kind of resource an endpoint takes). */
const MATRIX: readonly Probe[] = [
  {
    name: 'send from the other business’s number',
    method: 'POST',
    foreign: (_c, other) => ({
      path: `/v1/${other.numberId}/messages`,
      json: text(other.customer.phoneNumber),
    }),
    missing: (_c, other) => ({
      path: `/v1/${MISSING_NUMBER_ID}/messages`,
      json: text(other.customer.phoneNumber),
    }),
    status: 404,
  },
  {
    name: 'status of the other business’s outbound message',
    method: 'GET',
    foreign: (_c, other) => ({ path: `/v1/messages/${other.outboundId}` }),
    missing: () => ({ path: `/v1/messages/${MISSING_MESSAGE}` }),
    status: 404,
  },
  {
    name: 'status of the other business’s inbound message',
    method: 'GET',
    foreign: (_c, other) => ({ path: `/v1/messages/${other.inboundId}` }),
    missing: () => ({ path: `/v1/messages/${MISSING_MESSAGE}` }),
    status: 404,
  },
  {
    name: 'retransmit the other business’s message',
    method: 'POST',
    foreign: (_c, other) => ({ path: `/v1/messages/${other.outboundId}/retransmit` }),
    missing: () => ({ path: `/v1/messages/${MISSING_MESSAGE}/retransmit` }),
    status: 404,
  },
  {
    name: 'upload a file to the other business’s number',
    method: 'POST',
    foreign: (_c, other) => ({ path: `/v1/${other.numberId}/media`, ...file }),
    missing: () => ({ path: `/v1/${MISSING_NUMBER_ID}/media`, ...file }),
    status: 404,
  },
  {
    name: 'facts of the other business’s file',
    method: 'GET',
    foreign: (_c, other) => ({ path: `/v1/media/${other.mediaId}` }),
    missing: () => ({ path: `/v1/media/${MISSING_MEDIA}` }),
    status: 404,
  },
  {
    name: 'download the other business’s file',
    method: 'GET',
    foreign: (_c, other) => ({ path: `/v1/media/${other.mediaId}/content` }),
    missing: () => ({ path: `/v1/media/${MISSING_MEDIA}/content` }),
    status: 404,
  },
  {
    name: 'delete the other business’s file',
    method: 'DELETE',
    foreign: (_c, other) => ({ path: `/v1/media/${other.mediaId}` }),
    missing: () => ({ path: `/v1/media/${MISSING_MEDIA}` }),
    status: 404,
  },
  {
    name: 'send the other business’s file from one’s own number',
    method: 'POST',
    foreign: (caller, other) => ({
      path: `/v1/${caller.numberId}/messages`,
      json: image(caller.customer.phoneNumber, other.mediaId),
    }),
    missing: (caller) => ({
      path: `/v1/${caller.numberId}/messages`,
      json: image(caller.customer.phoneNumber, MISSING_MEDIA),
    }),
    status: 404,
  },
  {
    name: 'list the other business’s numbers',
    method: 'GET',
    foreign: (_c, other) => ({ path: `/v1/${other.id}/phone_numbers` }),
    missing: () => ({ path: `/v1/${MISSING_BUSINESS}/phone_numbers` }),
    status: 404,
  },
  {
    name: 'erase through the other business',
    method: 'POST',
    foreign: (_c, other) => ({
      path: `/v1/${other.id}/erasures`,
      json: { phone_number: other.customer.phoneNumber },
    }),
    missing: (_c, other) => ({
      path: `/v1/${MISSING_BUSINESS}/erasures`,
      json: { phone_number: other.customer.phoneNumber },
    }),
    status: 404,
  },
  {
    // Allowed, and a no-op: the caller holds nothing about the other business's customer.
    name: 'erase the other business’s customer from one’s own business',
    method: 'POST',
    foreign: (caller, other) => ({
      path: `/v1/${caller.id}/erasures`,
      json: { phone_number: other.customer.phoneNumber },
    }),
    missing: (caller) => ({ path: `/v1/${caller.id}/erasures`, json: { phone_number: STRANGER } }),
    status: 200,
  },
  {
    name: 'read the other business’s access log',
    method: 'GET',
    foreign: (_c, other) => ({ path: `/v1/${other.id}/access_log` }),
    missing: () => ({ path: `/v1/${MISSING_BUSINESS}/access_log` }),
    status: 404,
  },
  {
    name: 'verify the other business’s access log',
    method: 'GET',
    foreign: (_c, other) => ({ path: `/v1/${other.id}/access_log/verification` }),
    missing: () => ({ path: `/v1/${MISSING_BUSINESS}/access_log/verification` }),
    status: 404,
  },
  {
    name: 'read the other business’s usage',
    method: 'GET',
    foreign: (_c, other) => ({ path: `/v1/${other.id}/usage?day=${DAY}` }),
    missing: () => ({ path: `/v1/${MISSING_BUSINESS}/usage?day=${DAY}` }),
    status: 404,
  },
];

describe('cloud API: a token of one business reaches nothing of another', () => {
  let world: CloudApiWorld;

  beforeAll(async () => {
    world = await createCloudApiWorld();
  });
  afterAll(async () => {
    await world?.close();
  });

  /**
   * Records the caller's own request may change: its own business's (the access log, and its
   * statistics, which an erasure rewrites). Anything else — the other business's records, the
   * message index, sessions, the vault — must stay byte-identical.
   */
  const ownRecord = (caller: WorldBusiness) => (key: string) =>
    /^store\/(meta|counters)\/gw\/[bj]\/([^/]+)\//.exec(key)?.[2] === caller.id ||
    // The operator's upkeep (settle() runs tick(): the sweep's lease), not the caller's request.
    key.startsWith('store/meta/gw/lease/');

  for (const direction of ['A on B', 'B on A'] as const) {
    describe(direction, () => {
      const pick = (): readonly [WorldBusiness, WorldBusiness] =>
        direction === 'A on B' ? [world.a, world.b] : [world.b, world.a];

      it.each(MATRIX.map((probe) => [probe.name, probe] as const))(
        '%s: same answer as a nonexistent one, nothing of the other changes',
        async (_name, probe) => {
          const [caller, other] = pick();
          await world.settle();
          const before = await world.snapshot();
          const receivedBefore = other.customer.received.length;
          const foreign = probe.foreign(caller, other);
          const missing = probe.missing(caller, other);
          const ask = (target: Target) =>
            world.request(probe.method, target.path, {
              token: caller.token,
              json: target.json,
              ...(target.body === undefined ? {} : { body: target.body }),
              ...(target.headers === undefined ? {} : { headers: target.headers }),
            });
          const foreignAnswer = await ask(foreign);
          const missingAnswer = await ask(missing);
          await world.settle();
          const after = await world.snapshot();

          expect(foreignAnswer.status).toBe(probe.status);
          expect(foreignAnswer.status).toBe(missingAnswer.status);
          expect(foreignAnswer.text).toBe(missingAnswer.text);
          if (probe.status === 404) {
            expect(ErrorBodySchema.parse(foreignAnswer.json).error.code).toBe('ERR_NOT_FOUND');
          }
          // Nothing of the other business's (nor anything shared): only the caller's own records moved.
          expect(changedKeys(before, after).filter((key) => !ownRecord(caller)(key))).toEqual([]);
          expect(other.customer.received.length).toBe(receivedBefore);
          // Never an echo of the other business's ids or its customer's number.
          for (const secret of [
            other.outboundId,
            other.inboundId,
            other.mediaId,
            other.customer.phoneNumber.slice(1),
          ]) {
            expect(foreignAnswer.text).not.toContain(secret);
          }
        },
      );

      it('the other business still has everything (its token reads its own resources)', async () => {
        const [, other] = pick();
        for (const id of [other.outboundId, other.inboundId]) {
          const answer = await world.request('GET', `/v1/messages/${id}`, { token: other.token });
          expect(answer.status).toBe(200);
        }
        const media = await world.request('GET', `/v1/media/${other.mediaId}/content`, {
          token: other.token,
        });
        expect(media.status).toBe(200);
        expect(media.text).toBe(`${other.id}'s logo`);
        const numbers = await world.request('GET', `/v1/${other.id}/phone_numbers`, { token: other.token });
        expect(numbers.json).toEqual({ data: [{ id: other.numberId, display_phone_number: other.number }] });
      });

      it("the caller's access log records its refused attempts without the other business's ids", async () => {
        const [caller, other] = pick();
        const log = await world.request('GET', `/v1/${caller.id}/access_log?limit=1000`, {
          token: caller.token,
        });
        const records = (
          log.json as { data: { message_id: string | null; outcome: string; principal: string }[] }
        ).data;
        expect(
          records.some(
            (record) => record.outcome === 'ERR_NOT_FOUND' && record.principal === caller.principal,
          ),
        ).toBe(true);
        expect(log.text).not.toContain(other.outboundId);
        expect(log.text).not.toContain(other.inboundId);
        expect(log.text).not.toContain(other.mediaId);
        expect(log.text).not.toContain(other.customer.phoneNumber.slice(1));
      });
    });
  }

  it("each business's webhook received its own messages and statuses and nothing of the other's", () => {
    for (const [own, other] of [
      [world.a, world.b],
      [world.b, world.a],
    ] as const) {
      expect(own.receiver.messages.map((message) => message.id)).toEqual([own.inboundId]);
      const statusIds = new Set(own.receiver.statuses.map((status) => status.id));
      expect([...statusIds]).toEqual([own.outboundId]);
      expect(statusIds.has(other.outboundId)).toBe(false);
    }
  });

  it('a business token opens no network route, and the network token opens no business route', async () => {
    const frame = {
      frameId: 'f1',
      to: world.a.number,
      from: '+15550123',
      deviceId: 1,
      type: 3,
      body: 'AAAA',
    };
    for (const token of [world.a.token, world.b.token]) {
      const answer = await world.request('POST', '/v1/network/frames', { token, json: frame });
      expect(answer.status).toBe(401);
      expect(ErrorBodySchema.parse(answer.json).error.code).toBe('ERR_UNAUTHORIZED');
    }
    const answer = await world.request('GET', `/v1/messages/${world.a.outboundId}`, {
      token: world.networkToken,
    });
    expect(answer.status).toBe(401);
  });
});
