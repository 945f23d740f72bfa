import {
  isParleyError,
  type PreKeyBundle,
  type ProtocolAddress,
  type RandomSource,
  SessionManager,
} from '@parley/core';
import { createDeterministicRandom } from '@parley/core/testing';
import type { Rng } from '../../rng.js';
import {
  diffSnapshots,
  type StoreSnapshot,
  snapshotStore,
  type TrackedStore,
  trackWrites,
} from '../../store-snapshot.js';
import { codeOf, untypedViolation, violation } from '../classify.js';
import { hex, shrinkBytes } from '../engine.js';
import { type Arg, arg, bad, type Call, describeCall, GRAMMAR_DEPTHS, judgeCall, ok } from '../grammar.js';
import { mutate, mutateBytes } from '../mutate.js';
import { buildSessionFixture, type SessionFixture } from '../session-fixture.js';
import type { Execution, FuzzTarget, Violation } from '../target.js';
import { MESSAGE_DEPTHS, messageDepth } from './gateway-frames.js';

/**
 * One SessionManager over a restored copy of a snapshot, kept between inputs that wrote
 * nothing; randomness re-seeded per input.
 */
class SessionKeeper {
  private current: { store: TrackedStore; sessions: SessionManager; writes: number } | undefined;
  private source: RandomSource = createDeterministicRandom('unset');
  private readonly random: RandomSource = (n) => this.source(n);

  constructor(
    private readonly fixture: SessionFixture,
    private readonly snapshot: StoreSnapshot,
    private readonly scope: string,
    private readonly name: string,
    private readonly seed: string,
  ) {}

  async sessions(
    index: number,
    snapshot = this.snapshot,
  ): Promise<{ store: TrackedStore; sessions: SessionManager }> {
    this.source = createDeterministicRandom(`${this.seed}/${this.name}/${index}`);
    if (!this.current || snapshot !== this.snapshot) {
      const opened = await this.fixture.open(snapshot, this.scope, this.random);
      const store = trackWrites(opened.store);
      const sessions = new SessionManager({
        store,
        crypto: this.fixture.crypto,
        clock: { now: () => this.fixture.time },
        random: this.random,
        scope: this.scope,
      });
      const entry = { store, sessions, writes: store.writes };
      if (snapshot !== this.snapshot) return entry;
      this.current = entry;
    }
    return this.current;
  }

  /** After one input: a refused input must have written nothing; any write leaves the state dirty. */
  async settle(
    state: { store: TrackedStore },
    refused: boolean,
    context: string,
    base = this.snapshot,
  ): Promise<Violation | undefined> {
    const current = this.current;
    const writes = current?.store === state.store ? current.writes : 0;
    if (state.store.writes === writes) return undefined;
    let found: Violation | undefined;
    if (refused) {
      const changes = diffSnapshots(base, await snapshotStore(state.store), false);
      if (changes.length > 0)
        found = violation(
          'state-changed',
          new Error(`a refused input changed ${changes.length} record(s): ${changes.slice(0, 3).join(', ')}`),
          context,
        );
    }
    if (current?.store === state.store) this.current = undefined;
    return found;
  }
}

interface MessageInput {
  readonly seed: string;
  readonly steps: readonly string[];
  readonly address: ProtocolAddress;
  readonly type: 2 | 3;
  readonly body: Uint8Array;
}

/** `SessionManager.decrypt` with real unread messages, mutated (and sometimes misaddressed). */
export const sessionDecryptTarget: FuzzTarget<MessageInput> = {
  name: 'session.decrypt',
  depths: MESSAGE_DEPTHS,
  inputs: { quick: 3_000, full: 100_000 },
  async setup(seed) {
    const fixture = await buildSessionFixture(seed);
    const keeper = new SessionKeeper(
      fixture,
      fixture.receiver,
      fixture.receiverScope,
      'session.decrypt',
      seed,
    );
    return {
      generate(rng: Rng): MessageInput {
        const s = rng.pick(fixture.seeds);
        const steps: string[] = [];
        let address = s.sender;
        let type = s.type;
        if (rng.chance(0.06)) {
          address = rng.pick([
            { name: 'carol', deviceId: 2 },
            { name: 'alice4', deviceId: 1 },
            { name: 'carol', deviceId: 1 },
            { name: 'stranger', deviceId: 1 },
          ]);
          steps.push(`address ${address.name}/${address.deviceId}`);
        }
        if (rng.chance(0.04)) {
          type = type === 2 ? 3 : 2;
          steps.push(`type ${type}`);
        }
        let body = s.body;
        if (steps.length === 0 || rng.chance(0.5)) {
          const shape = s.type === 3 ? 'prekey-message' : 'signal-message';
          const mutated = mutate(
            rng,
            s.body,
            shape,
            fixture.seeds.filter((o) => o.type === s.type).map((o) => o.body),
          );
          body = mutated.bytes;
          steps.push(...mutated.steps);
        }
        return { seed: s.label, steps, address, type, body };
      },
      describe: (input) =>
        `seed "${input.seed}", mutations [${input.steps.join(', ')}], decrypt({name:"${input.address.name}", deviceId:${
          input.address.deviceId
        }}, {type:${input.type}, body (${input.body.length} bytes): ${hex(input.body)}})`,
      *shrink(input) {
        for (const body of shrinkBytes(input.body, 1)) yield { ...input, body };
      },
      async execute(input, index): Promise<Execution> {
        const state = await keeper.sessions(index);
        let outcome = 'accepted';
        let refused = false;
        let found: Violation | undefined;
        let depth: number;
        try {
          await state.sessions.decrypt(input.address, { type: input.type, body: input.body });
          depth = 4;
        } catch (error) {
          refused = true;
          outcome = codeOf(error);
          if (!isParleyError(error)) found = untypedViolation(error, 'decrypt');
          depth = messageDepth(input.type, input.body, outcome, error);
        }
        found ??= await keeper.settle(state, refused, 'decrypt');
        return { outcome, depth, violation: found };
      },
    };
  },
};

// ── processBundle ───────────────────────────────────────────────────────────────────

interface BundleInput {
  readonly address: Arg;
  readonly bundle: Arg;
}

function mutateBundle(rng: Rng, bundle: PreKeyBundle): Arg {
  if (rng.chance(0.06))
    return rng.pick([bad(null, 'null'), bad(undefined, 'undefined'), bad({}, '{}'), bad(5, '5')]);
  const out: Record<string, unknown> = { ...bundle };
  const changed: string[] = [];
  let invalid = false;
  for (const field of Object.keys(bundle) as (keyof PreKeyBundle)[]) {
    if (!rng.chance(0.2)) continue;
    const value = bundle[field];
    if (value instanceof Uint8Array) {
      if (rng.chance(0.15)) {
        out[field] = rng.pick([undefined, 'bytes', new Uint8Array(0)]);
        // An absent one-time prekey (with its id) is a valid bundle; anything else here is not.
        invalid ||= !(out[field] === undefined && (field === 'preKey' || field === 'kyberPreKey'));
      } else if (rng.chance(0.6)) {
        // Same length, other bits: gets past the length checks to the curve and signature checks.
        const flipped = value.slice();
        const at = rng.int(flipped.length);
        flipped[at] = flipped[at]! ^ (1 << rng.int(8));
        out[field] = flipped;
      } else out[field] = mutateBytes(rng, value, 0, []).bytes;
    } else if (typeof value === 'number' || value === undefined) {
      out[field] = rng.pick([0, 1, 2, 0xff_ffff, 0xffff_ffff, 2 ** 32, -1, 1.5, Number.NaN, undefined, '1']);
      invalid ||= typeof out[field] === 'string' || Number.isNaN(out[field]) || (out[field] as number) < 0;
    }
    changed.push(field);
  }
  return {
    value: out,
    label: `bundle with ${changed.length ? changed.join(', ') : 'nothing'} changed`,
    invalid,
  };
}

/** `SessionManager.processBundle` on a fresh initiator with bundles mutated field by field. */
export const processBundleTarget: FuzzTarget<BundleInput> = {
  name: 'session.processBundle',
  depths: ['boundary (argument refused)', 'keys and signatures', 'accepted'],
  inputs: { quick: 1_500, full: 40_000 },
  async setup(seed) {
    const fixture = await buildSessionFixture(seed);
    const keeper = new SessionKeeper(
      fixture,
      fixture.initiator,
      fixture.initiatorScope,
      'session.processBundle',
      seed,
    );
    const addresses = [ok({ name: 'bob', deviceId: 1 }, 'bob/1'), ok({ name: 'bob', deviceId: 7 }, 'bob/7')];
    const badAddresses = [
      bad({ name: '', deviceId: 1 }, 'empty name'),
      bad({ name: 'bob', deviceId: 0 }, 'device 0'),
      bad({ name: 'bob', deviceId: 1.5 }, 'device 1.5'),
      bad({ name: 'b'.repeat(300), deviceId: 1 }, 'long name'),
      bad('bob', '"bob"'),
    ];
    return {
      generate: (rng: Rng) => ({
        address: arg(rng, 'object', addresses, badAddresses, 0.08),
        bundle: mutateBundle(rng, rng.pick(fixture.bundles)),
      }),
      describe: (input) =>
        `processBundle(${input.address.label}, ${input.bundle.label}: ${JSON.stringify(
          input.bundle.value,
          (_k, v) => (v instanceof Uint8Array ? hex(v, 64) : typeof v === 'bigint' ? `${v}n` : v),
        )})`,
      async execute(input, index): Promise<Execution> {
        const state = await keeper.sessions(index);
        const call: Call = {
          op: 'processBundle',
          args: [input.address, input.bundle],
          run: () =>
            state.sessions.processBundle(
              input.address.value as ProtocolAddress,
              input.bundle.value as PreKeyBundle,
            ),
        };
        const judged = await judgeCall(call);
        const settled = await keeper.settle(state, judged.refused, 'processBundle');
        const found = judged.violation ?? settled;
        // The boundary: a malformed address or a bundle that is not an object. Key and
        // signature checks inside a well-formed bundle count as deeper.
        const boundary =
          input.address.invalid || typeof input.bundle.value !== 'object' || input.bundle.value === null;
        const depth = !judged.refused ? 2 : boundary ? 0 : 1;
        return { outcome: judged.outcome, depth, violation: found };
      },
    };
  },
};

// ── The rest of the SessionManager surface ──────────────────────────────────────────

const ADDRESSES = [ok({ name: 'carol', deviceId: 1 }, 'carol/1'), ok({ name: 'zed', deviceId: 1 }, 'zed/1')];
const BAD_ADDRESSES = [
  bad({ name: '', deviceId: 1 }, 'empty name'),
  bad({ name: 'carol', deviceId: 0 }, 'device 0'),
  bad({ name: 'carol', deviceId: '1' }, 'device "1"'),
  bad({ name: 5, deviceId: 1 }, 'name 5'),
  bad('carol', '"carol"'),
];
const IDS = [ok(1, '1'), ok(2, '2'), ok(99, '99')];
const BAD_IDS = [
  bad(-1, '-1'),
  bad(1.5, '1.5'),
  bad(Number.NaN, 'NaN'),
  bad('1', '"1"'),
  bad(2 ** 32, '2^32'),
];

type SessionOp =
  | 'encrypt'
  | 'hasSession'
  | 'deleteSession'
  | 'createBundle'
  | 'generateOneTimePreKeys'
  | 'generateSignedPreKey'
  | 'generateKyberPreKey'
  | 'removePreKey'
  | 'initializeIdentity'
  | 'localIdentity';

interface Plan {
  readonly op: SessionOp;
  readonly args: readonly Arg[];
}

function planCall(rng: Rng): Plan {
  const op = rng.pick<SessionOp>([
    'encrypt',
    'hasSession',
    'deleteSession',
    'createBundle',
    'generateOneTimePreKeys',
    'generateSignedPreKey',
    'generateKyberPreKey',
    'removePreKey',
    'initializeIdentity',
    'localIdentity',
  ]);
  switch (op) {
    case 'encrypt':
      return {
        op,
        args: [
          arg(rng, 'object', ADDRESSES, BAD_ADDRESSES, 0.15),
          arg(
            rng,
            'bytes',
            [
              ok(new Uint8Array(10), '10 bytes'),
              ok(new Uint8Array(0), 'empty bytes'),
              ok(new Uint8Array(70_000), '70 000 bytes'),
            ],
            [],
            0.25,
          ),
        ],
      };
    case 'hasSession':
    case 'deleteSession':
      return { op, args: [arg(rng, 'object', ADDRESSES, BAD_ADDRESSES, 0.3)] };
    case 'createBundle': {
      if (rng.chance(0.05)) return { op, args: [bad(undefined, 'undefined')] };
      const fields: Record<string, unknown> = { deviceId: 1, signedPreKeyId: 1 };
      const labels: string[] = [];
      let invalid = false;
      for (const field of ['deviceId', 'signedPreKeyId', 'preKeyId', 'kyberPreKeyId']) {
        if (!rng.chance(0.4)) continue;
        const value = arg(rng, 'number', IDS, BAD_IDS, 0.4);
        fields[field] = value.value;
        labels.push(`${field}=${value.label}`);
        // The one-time and Kyber prekey ids are optional: `undefined` there means "none".
        const optional = field === 'preKeyId' || field === 'kyberPreKeyId';
        invalid ||= value.invalid === true && !(optional && value.value === undefined);
      }
      return { op, args: [{ value: fields, label: `{${labels.join(', ')}}`, invalid }] };
    }
    case 'generateOneTimePreKeys':
      return {
        op,
        args: [
          arg(rng, 'number', IDS, BAD_IDS, 0.2),
          arg(
            rng,
            'number',
            [ok(1, '1'), ok(3, '3')],
            [bad(0, '0'), bad(-1, '-1'), bad(10_001, '10 001'), bad(1.5, '1.5')],
            0.3,
          ),
        ],
      };
    case 'generateSignedPreKey':
      return { op, args: [arg(rng, 'number', IDS, BAD_IDS, 0.3)] };
    case 'generateKyberPreKey':
      return {
        op,
        args: [
          arg(rng, 'number', IDS, BAD_IDS, 0.3),
          arg(
            rng,
            'object',
            [ok(undefined, 'no options'), ok({ lastResort: true }, '{lastResort:true}')],
            [bad({ lastResort: 'yes' }, '{lastResort:"yes"}')],
            0.2,
          ),
        ],
      };
    case 'removePreKey':
      return {
        op,
        args: [
          arg(
            rng,
            'string',
            [ok('one-time', 'one-time'), ok('signed', 'signed'), ok('kyber', 'kyber')],
            [bad('bogus', '"bogus"')],
            0.2,
          ),
          arg(rng, 'number', IDS, BAD_IDS, 0.2),
        ],
      };
    case 'initializeIdentity':
      // On a manager with no identity yet: a given identity is stored as is, so it must be checked.
      return {
        op,
        args: [
          arg(
            rng,
            'object',
            [
              ok(undefined, 'no identity given'),
              ok({}, '{}'),
              ok({ registrationId: 7 }, '{registrationId: 7}'),
            ],
            [
              bad({ registrationId: -1 }, '{registrationId: -1}'),
              bad({ registrationId: 2 ** 40 }, '{registrationId: 2^40}'),
              bad(
                { identityKeyPair: { publicKey: new Uint8Array(3), privateKey: new Uint8Array(32) } },
                'a 3-byte public key',
              ),
              bad({ identityKeyPair: null }, '{identityKeyPair: null}'),
              bad({ identityKeyPair: {} }, '{identityKeyPair: {}}'),
            ],
            0.5,
          ),
        ],
      };
    case 'localIdentity':
      return { op, args: [] };
  }
}

function invoke(plan: Plan, sessions: SessionManager, fresh: SessionManager): Promise<unknown> {
  const [a, b] = plan.args.map((x) => x.value) as [never, never];
  switch (plan.op) {
    case 'encrypt':
      return sessions.encrypt(a, b);
    case 'hasSession':
      return sessions.hasSession(a);
    case 'deleteSession':
      return sessions.deleteSession(a);
    case 'createBundle':
      return sessions.createBundle(a);
    case 'generateOneTimePreKeys':
      return sessions.generateOneTimePreKeys(a, b);
    case 'generateSignedPreKey':
      return sessions.generateSignedPreKey(a);
    case 'generateKyberPreKey':
      return sessions.generateKyberPreKey(a, b);
    case 'removePreKey':
      return sessions.removePreKey(a, b);
    case 'initializeIdentity':
      return fresh.initializeIdentity(a);
    case 'localIdentity':
      return sessions.localIdentity();
  }
}

/** The rest of the SessionManager surface, with valid and invalid arguments. */
export const sessionApiTarget: FuzzTarget<Plan> = {
  name: 'session.api',
  depths: GRAMMAR_DEPTHS,
  inputs: { quick: 1_500, full: 40_000 },
  async setup(seed) {
    const fixture = await buildSessionFixture(seed);
    const keeper = new SessionKeeper(fixture, fixture.receiver, fixture.receiverScope, 'session.api', seed);
    const empty: StoreSnapshot = new Map();
    return {
      generate: planCall,
      describe: (plan) => describeCall({ ...plan, run: async () => undefined }),
      async execute(plan, index): Promise<Execution> {
        const state = await keeper.sessions(index);
        const fresh = await keeper.sessions(index, empty);
        const judged = await judgeCall({
          ...plan,
          run: async () => invoke(plan, state.sessions, fresh.sessions),
        });
        const settled =
          plan.op === 'initializeIdentity'
            ? await keeper.settle(fresh, judged.refused, plan.op, empty)
            : await keeper.settle(state, judged.refused, plan.op);
        const found = judged.violation ?? settled;
        return { outcome: judged.outcome, depth: judged.depth, violation: found };
      },
    };
  },
};
