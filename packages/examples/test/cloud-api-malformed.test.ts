/**
 * 1 000 malformed requests, generated from a seeded random source over every endpoint: wrong
 * types, missing and unknown fields, huge strings, invalid JSON, wrong content types, bad path
 * and query parameters, bad tokens. Each gets a 4xx with a typed error body that echoes none
 * of what was sent, and afterwards both stores are byte-identical to before (no record, not even
 * an access-log record: a malformed request never reaches a business handle).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorBodySchema } from '../cloud-api/schemas.js';
import { type CloudApiWorld, changedKeys, createCloudApiWorld } from './support/cloud-api-world.js';

const REQUESTS = 1000;
/** Sent in many bodies: it must never come back in an answer. */
const CANARY_TEXT = 'canary-content-7f3a9c';
const CANARY_NUMBER = '+15558675309';

interface Malformed {
  readonly kind: string;
  readonly method: string;
  readonly path: string;
  readonly headers: Record<string, string>;
  readonly body?: string;
  /** Acceptable statuses and codes. */
  readonly status: readonly number[];
  readonly codes: readonly string[];
}

/** xorshift32: the same 1 000 requests on every run. */
function seeded(seed: number) {
  let state = seed >>> 0 || 1;
  const next = () => {
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    return state / 2 ** 32;
  };
  return {
    int: (n: number) => Math.floor(next() * n),
    pick: <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)]!,
  };
}

const WRONG_TYPES: readonly unknown[] = [0, -1, 1.5, true, false, null, [], [1], {}, { a: 1 }, '', ' ', 'x'];
const BAD_NUMBERS = [
  '',
  '+',
  '0',
  '+0123456',
  '12',
  '+155',
  'alice',
  '+1555 0123',
  '++15550123',
  '+1'.padEnd(20, '9'),
];

function generate(world: CloudApiWorld): Malformed[] {
  const random = seeded(0x5eed_c0de);
  const { a } = world;
  const auth = { authorization: `Bearer ${a.token}` };
  const json = { ...auth, 'content-type': 'application/json' };
  const sendPath = `/v1/${a.numberId}/messages`;
  const valid = () => ({
    messaging_product: 'whatsapp',
    to: CANARY_NUMBER,
    type: 'text',
    text: { body: CANARY_TEXT },
  });
  const invalidArgument = { status: [400], codes: ['ERR_INVALID_ARGUMENT'] };
  const badJson = { status: [400], codes: ['ERR_BAD_JSON'] };

  /** A send body with one field broken. */
  const brokenSend = (): Malformed => {
    const body: Record<string, unknown> = valid();
    const text = body.text as Record<string, unknown>;
    switch (random.int(9)) {
      case 0:
        body[random.pick(['messaging_product', 'to', 'type', 'text'])] = random.pick(WRONG_TYPES);
        break;
      case 1:
        delete body[random.pick(['messaging_product', 'to', 'type', 'text'])];
        break;
      case 2:
        text.body = random.pick([...WRONG_TYPES.filter((v) => typeof v !== 'string'), '']);
        break;
      case 3:
        text.body = CANARY_TEXT.repeat(200 + random.int(1500)); // 4 200–35 000 characters
        break;
      case 4:
        body.to = random.pick(BAD_NUMBERS);
        break;
      case 5:
        body[random.pick(['extra', 'context', 'biz_opaque_callback_data', '__proto__x'])] = CANARY_TEXT;
        break;
      case 6:
        body.type = random.pick(['image', 'template', 'TEXT', 'audio', 'interactive']);
        break;
      case 7:
        body.messaging_product = random.pick(['sms', 'WhatsApp', 'signal']);
        break;
      default:
        text.unknown = CANARY_TEXT;
        break;
    }
    return {
      kind: 'send: wrong field',
      method: 'POST',
      path: sendPath,
      headers: json,
      body: JSON.stringify(body),
      ...invalidArgument,
    };
  };

  const generators: (() => Malformed)[] = [
    brokenSend,
    brokenSend,
    brokenSend,
    () => ({
      kind: 'send: not a JSON object',
      method: 'POST',
      path: sendPath,
      headers: json,
      body: JSON.stringify(random.pick([[valid()], CANARY_TEXT, 42, null, true])),
      ...invalidArgument,
    }),
    () => {
      const text = JSON.stringify(valid());
      const body = random.pick([
        text.slice(0, 1 + random.int(text.length - 2)),
        `${text}}`,
        text.replace(/"/g, "'"),
        `{messaging_product: whatsapp, to: ${CANARY_NUMBER}}`,
        '',
        '\u0000',
        `${text.slice(0, -1)},}`,
        '{"__proto__": {"polluted": true}}',
        '{"constructor": {"prototype": {"polluted": true}}}',
      ]);
      return { kind: 'send: invalid JSON', method: 'POST', path: sendPath, headers: json, body, ...badJson };
    },
    () => ({
      kind: 'send: wrong content type',
      method: 'POST',
      path: sendPath,
      headers: {
        ...auth,
        'content-type': random.pick([
          'text/plain',
          'application/xml',
          'application/x-www-form-urlencoded',
          'multipart/form-data; boundary=x',
          'application/octet-stream',
          'text/html',
        ]),
      },
      body: JSON.stringify(valid()),
      status: [415],
      codes: ['ERR_UNSUPPORTED_MEDIA_TYPE'],
    }),
    () => ({
      kind: 'send: body over the size limit',
      method: 'POST',
      path: sendPath,
      headers: json,
      body: JSON.stringify({ ...valid(), text: { body: CANARY_TEXT.repeat(3500 + random.int(10_000)) } }),
      status: [413],
      codes: ['ERR_TOO_LARGE'],
    }),
    () => {
      const token = random.pick([
        '',
        'Bearer',
        'Bearer ',
        `Basic ${Buffer.from(`acme:${CANARY_TEXT}`).toString('base64')}`,
        `Bearer ${a.token.slice(0, -1)}${a.token.endsWith('A') ? 'B' : 'A'}`,
        `Bearer ${a.token}x`,
        `Bearer prl_000000000000_${'A'.repeat(43)}`,
        `Bearer ${CANARY_TEXT}`,
        `Bearer ${world.networkToken}`,
        `bearer  ${a.token}`,
        `Bearer ${a.token.toUpperCase()}`,
      ]);
      const route = random.pick([
        ['POST', sendPath, JSON.stringify(valid())],
        ['GET', `/v1/messages/${a.outboundId}`, undefined],
        ['POST', `/v1/messages/${a.outboundId}/retransmit`, undefined],
        ['GET', `/v1/${a.id}/phone_numbers`, undefined],
        ['POST', `/v1/${a.id}/erasures`, JSON.stringify({ phone_number: a.customer.phoneNumber })],
        ['GET', `/v1/${a.id}/access_log`, undefined],
        ['GET', `/v1/${a.id}/access_log/verification`, undefined],
        ['GET', `/v1/${a.id}/usage?day=2026-01-01`, undefined],
      ] as const);
      return {
        kind: 'bad token',
        method: route[0],
        path: route[1],
        headers: { 'content-type': 'application/json', ...(token ? { authorization: token } : {}) },
        ...(route[2] === undefined ? {} : { body: route[2] }),
        status: [401],
        codes: ['ERR_UNAUTHORIZED'],
      };
    },
    () => {
      const id = random.pick([
        'm123',
        `M${'a'.repeat(32)}`,
        `m${'A'.repeat(32)}`,
        `m${'g'.repeat(32)}`,
        `${a.outboundId}0`,
        `x${a.outboundId.slice(1)}`,
        '%00',
        `${a.outboundId}%20`,
        'm'.repeat(300),
        '%E0%A4%A',
      ]);
      const retransmit = random.int(2) === 0;
      return {
        kind: 'bad message id',
        method: retransmit ? 'POST' : 'GET',
        path: `/v1/messages/${id}${retransmit ? '/retransmit' : ''}`,
        headers: auth,
        // An overlong or undecodable path is refused by the router itself (414, 400).
        status: [400, 414],
        codes: ['ERR_INVALID_ARGUMENT', 'ERR_TOO_LARGE', 'ERR_BAD_REQUEST'],
      };
    },
    () => ({
      kind: 'bad phone number id',
      method: 'POST',
      path: `/v1/${random.pick(['%2B15550100', '015550100', '155', 'acme', '1'.repeat(16), '15550100x'])}/messages`,
      headers: json,
      body: JSON.stringify(valid()),
      ...invalidArgument,
    }),
    () => ({
      kind: 'bad business id',
      method: 'GET',
      path: `/v1/${random.pick(['a%20b', 'x'.repeat(65), 'acme%2A', '%C3%A9'])}/phone_numbers`,
      headers: auth,
      ...invalidArgument,
    }),
    () => ({
      kind: 'bad erasure',
      method: 'POST',
      path: `/v1/${a.id}/erasures`,
      headers: json,
      body: JSON.stringify(
        random.pick([
          {},
          { phone_number: random.pick(BAD_NUMBERS) },
          { phone_number: random.pick(WRONG_TYPES) },
          { phone_number: CANARY_NUMBER, also: CANARY_TEXT },
          { phoneNumber: CANARY_NUMBER },
          [CANARY_NUMBER],
        ]),
      ),
      ...invalidArgument,
    }),
    () => ({
      kind: 'bad access-log query',
      method: 'GET',
      path: `/v1/${a.id}/access_log?${random.pick([
        'limit=0',
        'limit=1001',
        'limit=abc',
        'limit=1.5',
        'since=-1',
        'until=1e400',
        'operation=drop-tables',
        'principal=%00',
        `principal=${'p'.repeat(200)}`,
        `unknown=${CANARY_TEXT}`,
        'limit=1&limit=2',
      ])}`,
      headers: auth,
      ...invalidArgument,
    }),
    () => ({
      kind: 'bad usage query',
      method: 'GET',
      path: `/v1/${a.id}/usage?${random.pick(['', 'day=2026-13-01', 'day=yesterday', 'day=2026-1-1', 'day=2026-01-01&x=1'])}`,
      headers: auth,
      ...invalidArgument,
    }),
    () => {
      const frame: Record<string, unknown> = {
        frameId: 'f1',
        to: a.number,
        from: CANARY_NUMBER,
        deviceId: 1,
        type: 3,
        body: Buffer.from(CANARY_TEXT).toString('base64'),
      };
      // For each field, values that field can never take.
      const wrong: Record<string, readonly unknown[]> = {
        frameId: [0, null, [], {}, '', 'f'.repeat(257)],
        to: [...BAD_NUMBERS, 15550100, null],
        from: [...BAD_NUMBERS, CANARY_TEXT, null],
        deviceId: [0, -1, 1.5, 2 ** 31, '1', null],
        type: [0, 1, 4, '3', null],
        body: ['not base64!', 'AAA', 42, null, [], `${CANARY_TEXT}==`],
        extra: [CANARY_TEXT],
      };
      const field = random.pick(Object.keys(wrong));
      frame[field] = random.pick(wrong[field]!);
      return {
        kind: 'network: bad frame',
        method: 'POST',
        path: '/v1/network/frames',
        headers: { authorization: `Bearer ${world.networkToken}`, 'content-type': 'application/json' },
        body: JSON.stringify(frame),
        ...invalidArgument,
      };
    },
    () => ({
      kind: 'unknown route or method',
      method: random.pick(['GET', 'PUT', 'PATCH', 'DELETE']),
      path: random.pick([sendPath, `/v2/${a.numberId}/messages`, '/v1', '/', `/v1/${a.id}/secrets`]),
      headers: auth,
      status: [404],
      codes: ['ERR_NO_ROUTE'],
    }),
  ];
  return Array.from({ length: REQUESTS }, () => random.pick(generators)());
}

describe('cloud API: 1 000 malformed requests', () => {
  let world: CloudApiWorld;

  beforeAll(async () => {
    // A limit no test request reaches: this test is about validation, not rate limits.
    world = await createCloudApiWorld({ rateLimit: { max: 10 * REQUESTS, timeWindowMs: 60_000 } });
  });
  afterAll(async () => {
    await world?.close();
  });

  it('each gets a 4xx with a typed error that echoes nothing, and the stores are byte-identical afterwards', async () => {
    const requests = generate(world);
    await world.settle();
    const before = await world.snapshot();
    const kinds = new Map<string, number>();
    const failures: string[] = [];
    // Ten at a time: concurrency too, without flooding two shared cores.
    for (let i = 0; i < requests.length; i += 10) {
      await Promise.all(
        requests.slice(i, i + 10).map(async (request, j) => {
          kinds.set(request.kind, (kinds.get(request.kind) ?? 0) + 1);
          const response = await fetch(`${world.url}${request.path}`, {
            method: request.method,
            headers: request.headers,
            ...(request.body === undefined ? {} : { body: request.body }),
          });
          const text = await response.text();
          const parsed = ErrorBodySchema.safeParse(safeJson(text));
          const problem = !request.status.includes(response.status)
            ? `status ${response.status}`
            : !response.headers.get('content-type')?.startsWith('application/json')
              ? 'not JSON'
              : !parsed.success
                ? 'untyped error body'
                : !request.codes.includes(parsed.data.error.code)
                  ? `code ${parsed.data.error.code}`
                  : [CANARY_TEXT, CANARY_NUMBER.slice(1), world.a.token].some((secret) =>
                        text.includes(secret),
                      )
                    ? 'echoes input'
                    : undefined;
          if (problem)
            failures.push(
              `#${i + j} ${request.kind} ${request.method} ${request.path}: ${problem} ${text.slice(0, 200)}`,
            );
        }),
      );
    }
    await world.settle();
    const after = await world.snapshot();

    expect(failures).toEqual([]);
    expect(changedKeys(before, after)).toEqual([]);
    // Every family of malformation (14 generators) was exercised.
    expect(kinds.size).toBe(14);
    // And the server still serves a well-formed request.
    const ok = await world.request('GET', `/v1/messages/${world.a.outboundId}`, { token: world.a.token });
    expect(ok.status).toBe(200);
  });
});

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
