import { Gateway, type InboundFrame } from '@parley/core';
import type { Rng } from '../../rng.js';
import { violation } from '../classify.js';
import {
  buildGatewayFixture,
  type GatewayFixture,
  type GatewayWorld,
  N1,
  N2,
  N3,
  P1,
  P2,
  P3,
  P4,
  P5,
  P6,
  UNKNOWN_PERSON,
  UNREGISTERED_NUMBER,
} from '../gateway-fixture.js';
import { type Arg, arg, bad, describeCall, GRAMMAR_DEPTHS, judgeCall, ok } from '../grammar.js';
import type { Execution, FuzzTarget, Violation } from '../target.js';
import { RETRY_MARKER, WorldKeeper } from '../world-keeper.js';

const DAY = 24 * 60 * 60 * 1000;

interface WithStatus {
  status(messageId: string): Promise<unknown>;
}
interface WithHandles {
  forBusiness(businessId: string, options: unknown): Record<string, unknown>;
}
/** Features of the gateway under test (newer gateways have a status query and business handles). */
const HAS_STATUS = typeof (Gateway.prototype as unknown as Partial<WithStatus>).status === 'function';
const HAS_HANDLES = typeof (Gateway.prototype as unknown as Partial<WithHandles>).forBusiness === 'function';
/** Access-log records and their head: written by every business-handle call, refused or not. */
const ACCESS_LOG = /^(added|changed) meta:gw\/(b\/[^/]+\/log(\/|-head)|access-log\/key)/;

/** Argument pools drawn from the fixture: valid ones, well-formed unknown ones (no verdict), malformed ones. */
export function gatewayArgs(fixture: GatewayFixture) {
  const businessIds = [ok('acme', 'acme'), ok('beta', 'beta'), ok('nobody', '"nobody" (unknown)')];
  const badBusinessIds = [
    bad('a/b', '"a/b"'),
    bad('x'.repeat(65), '65 characters'),
    bad('acme\n', '"acme\\n"'),
    bad('../acme', '"../acme"'),
    bad('', '""'),
  ];
  const badPhones = [
    bad('15550100', 'no "+"'),
    bad('+0123456', 'leading 0'),
    bad('+1', 'too short'),
    bad(`+1${'2'.repeat(15)}`, '16 digits'),
    bad('+1555\u0660\u0661\u0662', 'Arabic-Indic digits'),
    bad(' +15550100', 'leading space'),
  ];
  const numbers = [ok(N1, 'N1'), ok(N2, 'N2'), ok(N3, 'N3'), ok(UNREGISTERED_NUMBER, 'unregistered number')];
  const people = [P1, P2, P3, P4, P5, P6]
    .map((p, i) => ok(p, `P${i + 1}`))
    .concat(ok(UNKNOWN_PERSON, 'unknown person'));
  const messageIds = [
    ...fixture.outboundIds.map((id, i) => ok(id, `outbound#${i}`)),
    ...fixture.inboundIds.slice(0, 2).map((id, i) => ok(id, `inbound#${i}`)),
    ok(`m${'0'.repeat(32)}`, 'unknown id'),
  ];
  const badMessageIds = [bad('m123', '"m123"'), bad(`m${'g'.repeat(32)}`, 'not hex'), bad('', '""')];
  const frameIds = [
    ...fixture.outboundFrameIds.map((id, i) => ok(id, `issued frame #${i}`)),
    ok(`${fixture.outboundIds[0]}.9.1`, 'unissued device'),
    ok(`m${'1'.repeat(32)}.1.1`, 'unknown message'),
  ];
  const badFrameIds = [bad('nope', '"nope"'), bad(`${fixture.outboundIds[0]}`, 'message id only')];
  return {
    businessIds,
    badBusinessIds,
    badPhones,
    numbers,
    people,
    messageIds,
    badMessageIds,
    frameIds,
    badFrameIds,
  };
}

type Args = ReturnType<typeof gatewayArgs>;

/** A call plan: the operation, its arguments, and how to run it against a world. */
export interface GatewayPlan {
  readonly op: string;
  readonly args: readonly Arg[];
  /** Healthy: nothing fuzzed in it (a background error then is a defect, not a consequence). */
  readonly healthy?: boolean;
  readonly allowed?: RegExp;
  run(world: GatewayWorld): Promise<unknown>;
}

function content(rng: Rng): Arg {
  return arg(
    rng,
    'content',
    [
      ok('hello', '"hello"'),
      ok(new Uint8Array([1, 2, 3]), '3 bytes'),
      ok('é'.repeat(100), '100 × "é"'),
      ok(new Uint8Array(64 * 1024), '64 KiB'),
      ok(new Uint8Array(8).subarray(2, 5), 'a subarray view'),
    ],
    [
      bad('', 'empty string'),
      bad(new Uint8Array(0), 'empty bytes'),
      bad('x'.repeat(64 * 1024 + 1), '64 KiB + 1 characters'),
      bad(new Uint8Array(64 * 1024 + 1), '64 KiB + 1 bytes'),
    ],
    0.35,
  );
}

function frame(rng: Rng, fixture: GatewayFixture, a: Args): Arg {
  if (rng.chance(0.08)) return arg(rng, 'object', [], []);
  const seed = rng.pick(fixture.frames).frame;
  const fields: Record<string, Arg> = {
    frameId: arg(
      rng,
      'string',
      [ok(`f${rng.u32()}`, 'fresh id'), ok(seed.frameId, 'its own id')],
      [bad('', '""'), bad('x'.repeat(257), '257 chars')],
      0.1,
    ),
    to: arg(rng, 'string', a.numbers, a.badPhones, 0.1),
    from: arg(rng, 'string', a.people, a.badPhones, 0.1),
    deviceId: arg(
      rng,
      'number',
      [ok(seed.deviceId, 'its device'), ok(2, '2'), ok(9, '9')],
      [bad(0, '0'), bad(2 ** 31, '2^31'), bad(1.5, '1.5'), bad(-1, '-1')],
      0.1,
    ),
    type: arg(
      rng,
      'number',
      [ok(seed.type, 'its type'), ok(seed.type === 2 ? 3 : 2, 'the other type')],
      [bad(1, '1'), bad(4, '4')],
      0.1,
    ),
    body: arg(
      rng,
      'bytes',
      [
        ok(seed.body, 'a real body'),
        ok(new Uint8Array(0), 'empty body'),
        ok(new Uint8Array(300_000), '300 kB body'),
      ],
      [],
      0.1,
    ),
  };
  const value: Record<string, unknown> = {};
  for (const [key, field] of Object.entries(fields)) value[key] = field.value;
  const odd = Object.entries(fields).filter(
    ([, f]) =>
      f.label !== 'fresh id' &&
      f.label !== 'its device' &&
      f.label !== 'its type' &&
      f.label !== 'a real body',
  );
  return {
    value: value as unknown as InboundFrame,
    label: `frame{${odd.map(([k, f]) => `${k}: ${f.label}`).join(', ')}}`,
    invalid: Object.values(fields).some((f) => f.invalid),
    invalidField: Object.entries(fields).find(([, f]) => f.invalid)?.[0],
  };
}

function record(fields: Record<string, Arg>, extra?: string): Arg {
  const value: Record<string, unknown> = {};
  for (const [key, field] of Object.entries(fields))
    if (field.value !== undefined || field.invalid) value[key] = field.value;
  return {
    value,
    label: `{${Object.entries(fields)
      .map(([k, f]) => `${k}: ${f.label}`)
      .join(', ')}${extra ?? ''}}`,
    invalid: Object.values(fields).some((f) => f.invalid),
    invalidField: Object.entries(fields).find(([, f]) => f.invalid)?.[0],
  };
}

export function planGatewayCall(rng: Rng, fixture: GatewayFixture, a: Args): GatewayPlan {
  const op = rng.weighted([
    ['registerBusiness', 2],
    ['addNumber', 1],
    ['numbers', 1],
    ['send', 5],
    ['retransmit', 2],
    ['receiveReceipt', 2],
    ['setDevices', 2],
    ['erase', 2],
    ['receiveSpamReport', 2],
    ['receiveFrame', 3],
    ['integritySignals', 1],
    ['statisticsExport', 1],
    ['advanceAndTick', 2],
    ['runDue', 1],
    ['onMessage', 1],
    ['status', HAS_STATUS ? 2 : 0],
    ['forBusiness', HAS_HANDLES ? 4 : 0],
  ] as const);
  switch (op) {
    case 'registerBusiness': {
      const registration = rng.chance(0.12)
        ? arg(rng, 'object', [], [])
        : record({
            businessId: arg(
              rng,
              'string',
              [...a.businessIds, ok('newbiz', '"newbiz"')],
              a.badBusinessIds,
              0.2,
            ),
            retentionDays: arg(
              rng,
              'number',
              [ok(undefined, 'default'), ok(30, '30'), ok(7, '7'), ok(1, '1')],
              [bad(0, '0'), bad(31, '31'), bad(1.5, '1.5'), bad(-1, '-1')],
              0.25,
            ),
            region: arg(rng, 'string', [ok(undefined, 'none'), ok('eu', '"eu"')], [bad('', '""')], 0.15),
          });
      return {
        op,
        args: [registration],
        run: (w) => w.gateway.registerBusiness(registration.value as never),
      };
    }
    case 'addNumber': {
      const biz = arg(rng, 'string', a.businessIds, a.badBusinessIds, 0.2);
      const number = arg(rng, 'string', [ok('+15550190', 'a new number'), ...a.numbers], a.badPhones, 0.25);
      return {
        op,
        args: [biz, number],
        run: (w) => w.gateway.addNumber(biz.value as string, number.value as string),
      };
    }
    case 'numbers': {
      const biz = arg(rng, 'string', a.businessIds, a.badBusinessIds, 0.3);
      return { op, args: [biz], run: (w) => w.gateway.numbers(biz.value as string) };
    }
    case 'send': {
      const request = rng.chance(0.06)
        ? arg(rng, 'object', [], [])
        : record({
            from: arg(rng, 'string', a.numbers, a.badPhones, 0.12),
            to: arg(rng, 'string', a.people, a.badPhones, 0.12),
            content: content(rng),
          });
      return { op, args: [request], run: (w) => w.gateway.send(request.value as never) };
    }
    case 'retransmit': {
      const id = arg(rng, 'string', a.messageIds, a.badMessageIds, 0.3);
      return { op, args: [id], run: (w) => w.gateway.retransmit(id.value as string) };
    }
    case 'receiveReceipt': {
      const receipt = rng.chance(0.1)
        ? arg(rng, 'object', [], [])
        : record({ frameId: arg(rng, 'string', a.frameIds, a.badFrameIds, 0.25) });
      return { op, args: [receipt], run: (w) => w.gateway.receiveReceipt(receipt.value as never) };
    }
    case 'setDevices': {
      const phone = arg(rng, 'string', a.people, a.badPhones, 0.2);
      const ids = arg(
        rng,
        'array',
        [ok([1], '[1]'), ok([1, 2], '[1,2]'), ok([2], '[2]'), ok([1, 1], '[1,1]'), ok([], '[]')],
        [
          bad([0], '[0]'),
          bad([1.5], '[1.5]'),
          bad(['1'], '["1"]'),
          bad([2 ** 31], '[2^31]'),
          bad([null], '[null]'),
        ],
        0.3,
      );
      return {
        op,
        args: [phone, ids],
        run: (w) => w.gateway.setDevices(phone.value as string, ids.value as number[]),
      };
    }
    case 'erase': {
      const biz = arg(rng, 'string', a.businessIds, a.badBusinessIds, 0.2);
      const phone = arg(rng, 'string', a.people, a.badPhones, 0.2);
      return {
        op,
        args: [biz, phone],
        run: (w) => w.gateway.erase(biz.value as string, phone.value as string),
      };
    }
    case 'receiveSpamReport': {
      const report = rng.chance(0.08)
        ? arg(rng, 'object', [], [])
        : record({
            reporter: arg(rng, 'string', a.people, a.badPhones, 0.15),
            to: arg(rng, 'string', [...a.numbers, ...a.businessIds], [bad(5, '5')], 0.15),
            messageId: arg(rng, 'string', [...a.messageIds, ...a.frameIds], a.badMessageIds, 0.15),
          });
      return { op, args: [report], run: (w) => w.gateway.receiveSpamReport(report.value as never) };
    }
    case 'receiveFrame': {
      const f = frame(rng, fixture, a);
      return {
        op,
        args: [f],
        allowed: RETRY_MARKER,
        run: (w) => w.gateway.receiveFrame(f.value as InboundFrame),
      };
    }
    case 'integritySignals': {
      const biz = arg(rng, 'string', a.businessIds, a.badBusinessIds, 0.3);
      return { op, args: [biz], run: async (w) => w.gateway.integritySignals().signal(biz.value as string) };
    }
    case 'statisticsExport': {
      const day = arg(
        rng,
        'string',
        [ok('2026-01-01', '2026-01-01'), ok('2025-12-31', '2025-12-31')],
        [bad('2026-13-01', '2026-13-01'), bad('yesterday', '"yesterday"')],
        0.3,
      );
      const which = rng.pick(['statistics', 'billing', 'days'] as const);
      return {
        op: `statisticsExport().${which}`,
        args: which === 'days' ? [] : [day],
        run: async (w) => {
          const exported = w.gateway.statisticsExport();
          if (which === 'days') return exported.statistics.days();
          return exported[which].snapshot(day.value as never);
        },
      };
    }
    case 'advanceAndTick': {
      const ms = rng.pick([
        1_000,
        10 * 60_000,
        60 * 60_000,
        DAY,
        8 * DAY,
        31 * DAY,
        64 * DAY,
        91 * DAY,
        400 * DAY,
      ]);
      const label = ms >= DAY ? `${ms / DAY} days` : `${ms / 60_000} min`;
      return {
        op: 'advance clock, tick()',
        args: [ok(ms, label)],
        healthy: true,
        run: async (w) => {
          w.clock.advance(ms);
          await w.gateway.tick();
        },
      };
    }
    case 'runDue': {
      const biz = arg(rng, 'string', [ok(undefined, 'all'), ...a.businessIds], a.badBusinessIds, 0.3);
      return { op, args: [biz], run: (w) => w.gateway.runDue(biz.value as string | undefined) };
    }
    case 'status': {
      const id = arg(rng, 'string', a.messageIds, a.badMessageIds, 0.3);
      return { op, args: [id], run: (w) => (w.gateway as unknown as WithStatus).status(id.value as string) };
    }
    case 'forBusiness': {
      const biz = arg(rng, 'string', a.businessIds, a.badBusinessIds, 0.15);
      const options = arg(
        rng,
        'object',
        [ok({ principal: 'agent-7' }, '{principal: "agent-7"}')],
        [bad({ principal: '' }, '{principal: ""}'), bad({ principal: 5 }, '{principal: 5}'), bad({}, '{}')],
        0.15,
      );
      const method = rng.pick([
        'send',
        'retransmit',
        'status',
        'erase',
        'numbers',
        'usage',
        'accessLog',
        'verifyAccessLog',
      ] as const);
      const params: Arg[] =
        method === 'send'
          ? [
              record({
                from: arg(rng, 'string', a.numbers, a.badPhones, 0.1),
                to: arg(rng, 'string', a.people, a.badPhones, 0.1),
                content: content(rng),
              }),
            ]
          : method === 'retransmit' || method === 'status'
            ? [arg(rng, 'string', a.messageIds, a.badMessageIds, 0.25)]
            : method === 'erase'
              ? [arg(rng, 'string', a.people, a.badPhones, 0.25)]
              : method === 'usage'
                ? [
                    arg(
                      rng,
                      'string',
                      [ok('2026-01-01', '2026-01-01')],
                      [bad('2026-13-01', '2026-13-01')],
                      0.3,
                    ),
                  ]
                : method === 'accessLog'
                  ? [
                      arg(
                        rng,
                        'object',
                        [ok(undefined, 'no query'), ok({}, '{}'), ok({ limit: 5 }, '{limit: 5}')],
                        [bad({ limit: -1 }, '{limit: -1}')],
                        0.3,
                      ),
                    ]
                  : [];
      return {
        op: `forBusiness().${method}`,
        args: [biz, options, ...params],
        // Every call of a business handle appends to the business's access log, refused or not.
        allowed: ACCESS_LOG,
        run: async (w) => {
          const handle = (w.gateway as unknown as WithHandles).forBusiness(
            biz.value as string,
            options.value,
          );
          const fn = handle[method] as (...args: unknown[]) => Promise<unknown>;
          return fn.apply(
            handle,
            params.map((p) => p.value),
          );
        },
      };
    }
    case 'onMessage': {
      const biz = arg(rng, 'string', a.businessIds, a.badBusinessIds, 0.3);
      const handler = arg(rng, 'function', [ok(() => undefined, 'a handler')], [], 0.3);
      return {
        op,
        args: [biz, handler],
        run: async (w: GatewayWorld) =>
          (w.gateway as Gateway).onMessage(biz.value as string, handler.value as never),
      };
    }
  }
}

/** Every public method of the gateway with valid, unknown and malformed arguments. */
export const gatewayApiTarget: FuzzTarget<GatewayPlan> = {
  name: 'gateway.api',
  depths: GRAMMAR_DEPTHS,
  inputs: { quick: 2_500, full: 60_000 },
  async setup(seed) {
    const fixture = await buildGatewayFixture(seed);
    const keeper = new WorldKeeper(fixture, seed, 'gateway.api');
    const a = gatewayArgs(fixture);
    return {
      generate: (rng: Rng) => planGatewayCall(rng, fixture, a),
      describe: (plan) => describeCall({ ...plan, run: async () => undefined }),
      async execute(plan, index): Promise<Execution> {
        const world = await keeper.world(index);
        const judged = await judgeCall({ op: plan.op, args: plan.args, run: () => plan.run(world) });
        const settled = await keeper.settle(world, {
          refused: judged.refused,
          allowed: plan.allowed,
          context: plan.op,
        });
        let found: Violation | undefined = judged.violation ?? settled.violation;
        if (!found && plan.healthy && settled.backgroundCodes.length > 0) {
          const error = new Error(`background work failed in a healthy world: ${settled.firstBackground}`);
          found = violation(
            'background-error',
            error,
            `${plan.op}: ${[...new Set(settled.backgroundCodes)].join(', ')}`,
          );
        }
        return {
          outcome: judged.outcome,
          depth: judged.depth,
          violation: found,
          backgroundCodes: settled.backgroundCodes,
        };
      },
      close: () => keeper.discard(),
    };
  },
};
