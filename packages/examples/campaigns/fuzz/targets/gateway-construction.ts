import {
  createGateway,
  createLocalKeyProvider,
  createMemoryStore,
  isParleyError,
  type KeyProvider,
  readMessageArchive,
} from '@parley/core';
import type { Rng } from '../../rng.js';
import { codeOf, untypedViolation } from '../classify.js';
import { buildGatewayFixture, type GatewayWorld } from '../gateway-fixture.js';
import { type Arg, arg, bad, describeCall, GRAMMAR_DEPTHS, judgeCall, ok } from '../grammar.js';
import type { Execution, FuzzTarget, Violation } from '../target.js';
import { WorldKeeper } from '../world-keeper.js';

interface ConstructionPlan {
  readonly op: string;
  readonly args: readonly Arg[];
  run(world: GatewayWorld, reported: unknown[]): Promise<unknown>;
}

const positive = (rng: Rng, valid: number) =>
  arg(
    rng,
    'number',
    [ok(valid, String(valid)), ok(undefined, 'absent')],
    [bad(0, '0'), bad(-1, '-1'), bad(Number.POSITIVE_INFINITY, 'Infinity')],
    P_INVALID,
  );

/** Share of generated options that are wrong: the rest must construct a working gateway. */
const P_INVALID = 0.3;

/** One option of `createGateway` replaced by a generated value; the rest are the world's. */
function gatewayOption(rng: Rng, world: GatewayWorld): { name: string; value: Arg } {
  const name = rng.pick([
    'store',
    'vaultStore',
    'keyProvider',
    'transport',
    'directory',
    'crypto',
    'random',
    'clock',
    'padding',
    'periodMs',
    'redelivery',
    'sending',
    'retryRequestIntervalMs',
    'inactivityMs',
    'preKeys',
    'plaintextTtlMs',
    'timer',
    'integrity',
    'statistics',
    'logger',
  ] as const);
  /** A required option: the world's value, or a wrong one. */
  const objects = (valid: unknown, label: string, invalids: Arg[]) =>
    arg(rng, 'object', [ok(valid, label)], invalids, P_INVALID);
  /** An optional option: absent is valid too. */
  const optional = (valid: unknown, label: string, invalids: Arg[]) =>
    arg(rng, 'object', [ok(valid, label), ok(undefined, 'absent')], invalids, P_INVALID);
  switch (name) {
    case 'store':
      return {
        name,
        value: objects(world.store, 'the store', [
          bad(world.vault, 'the vault store (same as vaultStore)'),
          bad({}, '{}'),
        ]),
      };
    case 'vaultStore':
      return {
        name,
        value: objects(world.vault, 'the vault', [
          bad(world.store, 'the message store (same as store)'),
          bad({}, '{}'),
        ]),
      };
    case 'keyProvider':
      return {
        name,
        value: objects(world.keyProvider, 'the key provider', [bad({ name: 'x' }, 'no methods')]),
      };
    case 'transport':
      return { name, value: objects(world.network, 'the network', [bad({}, '{}')]) };
    case 'directory':
      return { name, value: objects(world.network, 'the network', [bad({}, '{}')]) };
    case 'crypto':
      return { name, value: arg(rng, 'object', [ok(undefined, 'default')], [bad({}, '{}')], P_INVALID) };
    case 'random':
      return {
        name,
        value: arg(
          rng,
          'object',
          [ok(undefined, 'default')],
          [bad(5, '5'), bad(() => 'x', 'returns a string')],
          P_INVALID,
        ),
      };
    case 'clock':
      return {
        name,
        value: arg(
          rng,
          'object',
          // Absent: the system clock.
          [ok(world.clock, 'the clock'), ok(undefined, 'absent')],
          [bad({}, '{}'), bad({ now: () => Number.NaN }, 'now() = NaN')],
          P_INVALID,
        ),
      };
    case 'padding':
      return {
        name,
        value: arg(
          rng,
          'number',
          [ok(false, 'false'), ok(1, '1'), ok(65_536, '65536'), ok(undefined, 'absent')],
          [bad(0, '0'), bad(1.5, '1.5'), bad(70_000, '70000')],
          P_INVALID,
        ),
      };
    case 'periodMs':
    case 'retryRequestIntervalMs':
    case 'inactivityMs':
    case 'plaintextTtlMs':
      return { name, value: positive(rng, 60_000) };
    case 'redelivery':
      return {
        name,
        value: optional({ limitMs: 60_000 }, '{limitMs: 60000}', [
          bad({ limitMs: 0 }, '{limitMs: 0}'),
          bad({ backoff: { initialMs: -1, maxMs: 5 } }, '{backoff: {initialMs: -1}}'),
          bad({ backoff: { initialMs: Number.NaN, maxMs: 5 } }, '{backoff: {initialMs: NaN}}'),
        ]),
      };
    case 'sending':
      return {
        name,
        value: optional({ maxAttempts: 3 }, '{maxAttempts: 3}', [
          bad({ maxAttempts: 0 }, '{maxAttempts: 0}'),
          bad({ maxAttempts: 1.5 }, '{maxAttempts: 1.5}'),
          bad({ backoff: { initialMs: 5, maxMs: -5 } }, '{backoff: {maxMs: -5}}'),
        ]),
      };
    case 'preKeys':
      return {
        name,
        value: optional({ batchSize: 3 }, '{batchSize: 3}', [
          bad({ batchSize: 0 }, '{batchSize: 0}'),
          bad({ batchSize: 1.5 }, '{batchSize: 1.5}'),
          bad({ lowWaterMark: -1 }, '{lowWaterMark: -1}'),
          bad({ kyberBatchSize: 0 }, '{kyberBatchSize: 0}'),
          bad({ batchSize: 20_000 }, '{batchSize: 20000}'),
        ]),
      };
    case 'timer':
      return {
        name,
        value: arg(
          rng,
          'object',
          [ok(false, 'false'), ok({ intervalMs: 60_000 }, '{intervalMs: 60000}'), ok(undefined, 'absent')],
          [
            bad({ intervalMs: 0 }, '{intervalMs: 0}'),
            bad({ intervalMs: 2 ** 40 }, '{intervalMs: 2^40}'),
            bad({}, '{}'),
          ],
          P_INVALID,
        ),
      };
    case 'integrity':
    case 'statistics':
      return {
        name,
        value: arg(
          rng,
          'object',
          [ok(false, 'false'), ok(undefined, 'default')],
          [bad(5, '5'), bad('on', '"on"')],
          P_INVALID,
        ),
      };
    case 'logger':
      return {
        name,
        value: arg(rng, 'object', [ok(undefined, 'none')], [bad(5, '5'), bad({}, '{}')], P_INVALID),
      };
  }
}

function plan(rng: Rng): (world: GatewayWorld) => ConstructionPlan {
  const which = rng.weighted([
    ['createGateway', 5],
    ['createLocalKeyProvider', 3],
    ['readMessageArchive', 2],
  ] as const);
  // The plan depends on the world (its stores are arguments): generated from a fixed stream.
  const state = rng.u32();
  return (world) => {
    const r = new (rng.constructor as new (seed: string) => Rng)(`construction/${state}`);
    if (which === 'createGateway') {
      if (r.chance(0.06)) {
        const options = arg(r, 'object', [], []);
        return {
          op: 'createGateway',
          args: [options],
          run: async () => createGateway(options.value as never),
        };
      }
      const { name, value } = gatewayOption(r, world);
      const option: Arg = { ...value, label: `${name}: ${value.label}`, invalidField: name };
      return {
        op: 'createGateway',
        args: [option],
        async run(w, reported) {
          const gateway = createGateway({
            store: w.store,
            vaultStore: w.vault,
            keyProvider: w.keyProvider,
            transport: w.network,
            directory: w.network,
            clock: w.clock,
            timer: false,
            [name]: value.value,
          } as never);
          gateway.onError((error) => reported.push(error));
          try {
            // Construction accepted it: the first scheduled work must then live with it.
            gateway.integritySignals?.().signal('acme');
            await gateway.numbers('acme');
            await gateway.tick();
          } finally {
            await gateway.close();
          }
        },
      };
    }
    if (which === 'createLocalKeyProvider') {
      const options = r.chance(0.1)
        ? arg(r, 'object', [], [])
        : {
            ...arg(
              r,
              'object',
              [
                ok({ kek: new Uint8Array(32) }, '{kek: 32 bytes}'),
                ok({ kek: new Uint8Array(32), region: 'eu' }, '{kek, region: "eu"}'),
              ],
              [
                bad({ kek: new Uint8Array(31) }, '{kek: 31 bytes}'),
                bad({ kek: 'k'.repeat(32) }, '{kek: 32-character string}'),
                bad({ kek: Array(32).fill(0) }, '{kek: array of 32}'),
                bad({ kek: new Uint8Array(32), crypto: {} }, '{kek, crypto: {}}'),
                bad({ kek: new Uint8Array(32), random: 5 }, '{kek, random: 5}'),
                bad({ kek: new Uint8Array(32), region: 5 }, '{kek, region: 5}'),
              ],
              0.3,
            ),
          };
      const use = r.pick(['wrap', 'unwrap', 'none'] as const);
      const dataKey = arg(r, 'bytes', [ok(new Uint8Array(32), '32 bytes')], [], 0.2);
      const context = arg(r, 'string', [ok('parley/test', '"parley/test"')], [], 0.2);
      const wrapped = arg(r, 'bytes', [ok(new Uint8Array(45), '45 zero bytes (does not open)')], [], 0.2);
      const args =
        use === 'wrap'
          ? [options, dataKey, context]
          : use === 'unwrap'
            ? [options, wrapped, context]
            : [options];
      return {
        op: `createLocalKeyProvider${use === 'none' ? '' : `().${use}Key`}`,
        args,
        async run() {
          const provider: KeyProvider = createLocalKeyProvider(options.value as never);
          if (use === 'wrap') await provider.wrapKey(dataKey.value as never, context.value as never);
          // Zero bytes never open: the refusal must be typed (ERR_DECRYPTION_FAILED).
          if (use === 'unwrap')
            await provider.unwrapKey(wrapped.value as never, context.value as never).catch((e) => {
              if (!isParleyError(e) || wrapped.invalid || context.invalid) throw e;
            });
        },
      };
    }
    const fields: Record<string, Arg> = {
      store: arg(
        r,
        'object',
        [ok(w0(world).store, 'the store'), ok(createMemoryStore(), 'an empty store')],
        [bad({}, '{}')],
        0.15,
      ),
      vaultStore: arg(r, 'object', [ok(world.vault, 'the vault')], [bad({}, '{}')], 0.15),
      keyProvider: arg(
        r,
        'object',
        [
          ok(world.keyProvider, 'the key provider'),
          ok(createLocalKeyProvider({ kek: new Uint8Array(32) }), 'another KEK'),
        ],
        [bad({}, '{}')],
        0.15,
      ),
      businessId: arg(
        r,
        'string',
        [ok('acme', 'acme'), ok('beta', 'beta'), ok('nobody', 'nobody')],
        [bad('a/b', '"a/b"')],
        0.15,
      ),
    };
    const options: Arg = r.chance(0.1)
      ? arg(r, 'object', [], [])
      : {
          value: Object.fromEntries(Object.entries(fields).map(([k, f]) => [k, f.value])),
          label: `{${Object.entries(fields)
            .map(([k, f]) => `${k}: ${f.label}`)
            .join(', ')}}`,
          invalid: Object.values(fields).some((f) => f.invalid),
        };
    return {
      op: 'readMessageArchive',
      args: [options],
      run: () => readMessageArchive(options.value as never),
    };
  };
}

const w0 = (world: GatewayWorld) => world;

interface ConstructionInput {
  readonly make: (world: GatewayWorld) => ConstructionPlan;
}

/**
 * `createGateway` (one option at a time), `createLocalKeyProvider` and its two methods, and
 * `readMessageArchive` — constructors and options (the ship-it issue's side of "validate
 * every argument"), reported apart from the per-call arguments of `gateway.api`.
 */
export const gatewayConstructionTarget: FuzzTarget<ConstructionInput> = {
  name: 'gateway.construction',
  depths: GRAMMAR_DEPTHS,
  inputs: { quick: 600, full: 15_000 },
  async setup(seed) {
    const fixture = await buildGatewayFixture(seed);
    const keeper = new WorldKeeper(fixture, seed, 'gateway.construction');
    let described: GatewayWorld | undefined;
    return {
      generate: (rng: Rng) => ({ make: plan(rng) }),
      describe(input) {
        const world = described;
        if (!world) return 'a construction call';
        const p = input.make(world);
        return describeCall({ op: p.op, args: p.args, run: async () => undefined });
      },
      async execute(input, index): Promise<Execution> {
        const world = await keeper.world(index);
        described = world;
        const p = input.make(world);
        const reported: unknown[] = [];
        const judged = await judgeCall({ op: p.op, args: p.args, run: () => p.run(world, reported) });
        const settled = await keeper.settle(world, { refused: judged.refused, context: p.op });
        let found: Violation | undefined = judged.violation ?? settled.violation;
        for (const error of reported) {
          if (!isParleyError(error))
            found ??= untypedViolation(error, `${p.op} (background of the constructed gateway)`);
        }
        return {
          outcome: judged.outcome,
          depth: judged.depth,
          violation: found,
          backgroundCodes: reported.map(codeOf),
        };
      },
      close: () => keeper.discard(),
    };
  },
};
