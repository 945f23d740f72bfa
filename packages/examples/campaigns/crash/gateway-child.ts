/**
 * The gateway process of the crash test: a gateway on two SQLite files whose transport,
 * directory and business handler are the parent (over stdin/stdout, see line-protocol.ts).
 * Armed by the parent, it kills itself with SIGKILL at a chosen commit — before it, inside
 * it (between two writes of the SQLite transaction) or right after it — having first written
 * a marker line. Started by crash-test.ts from an esbuild bundle of this file:
 *
 *   node gateway-child.mjs <messages.db> <vault.db> <kek hex> <random seed> <start time>
 */
import { createInterface } from 'node:readline';
import {
  type CommitOptions,
  createGateway,
  createLocalKeyProvider,
  type Directory,
  type Gateway,
  type Mutation,
  type Store,
  type Transport,
  type WriteOperation,
} from '@parley/core';
import { createNodeCrypto } from '@parley/core/node';
import { createDeterministicRandom } from '@parley/core/testing';
import { createSqliteStore } from '@parley/storage-adapters/sqlite';
import { decodeLine, errorJson, type Line, writeLineSync } from './line-protocol.js';

const [messagesPath, vaultPath, kekHex, randomSeed, startTime] = process.argv.slice(2);
if (!messagesPath || !vaultPath || !kekHex || !randomSeed || !startTime)
  throw new Error('usage: see the header');

const STDOUT = 1;
const send = (line: Line) => writeLineSync(STDOUT, line);

/** The parent's virtual clock: every request carries the time; it never goes back. */
const clock = {
  time: Number(startTime),
  now() {
    return this.time;
  },
};

// ── Crash injection ─────────────────────────────────────────────────────────────────

interface Arming {
  readonly at: number;
  readonly mode: 'before' | 'inside' | 'after';
  /** For `inside`: the write of the commit to die before (clamped to the commit's size). */
  readonly index: number;
}
let arming: Arming | undefined;
let commitsSinceArmed = 0;
let dieInside: number | undefined;
let during = 'startup';
let lastOp = 'startup';
let writes = 0;

function die(mode: string): never {
  send({ t: 'crash', commit: commitsSinceArmed, mode, during, writes });
  process.kill(process.pid, 'SIGKILL');
  // SIGKILL is not delivered synchronously everywhere: never run another line of the gateway.
  for (;;) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1000);
}

const testHooks = {
  beforeWrite(_operation: WriteOperation, index: number) {
    if (dieInside !== undefined && index >= dieInside) die('inside');
  },
};

function armed(inner: Store): Store {
  return {
    kind: inner.kind,
    region: inner.region,
    location: inner.location,
    get: (namespace, key) => inner.get(namespace, key),
    getMany: (namespace, keys) => inner.getMany(namespace, keys),
    list: (namespace, options) => inner.list(namespace, options),
    sweepExpired: (now) => inner.sweepExpired(now),
    close: () => inner.close(),
    async commit(mutation: Mutation, options?: CommitOptions) {
      writes += 1;
      if (arming) {
        commitsSinceArmed += 1;
        if (commitsSinceArmed === arming.at) {
          if (arming.mode === 'before') die('before');
          if (arming.mode === 'inside') dieInside = Math.min(arming.index, Math.max(mutation.length - 1, 0));
          if (arming.mode === 'after') {
            await inner.commit(mutation, options);
            die('after');
          }
        }
      }
      return inner.commit(mutation, options);
    },
  };
}

const store = armed(createSqliteStore({ path: messagesPath, clock, testHooks }));
const vaultStore = armed(createSqliteStore({ path: vaultPath, clock, testHooks }));

// ── Calls into the parent ───────────────────────────────────────────────────────────

let nextCall = 1;
const calls = new Map<number, { resolve: (value: unknown) => void; reject: (error: unknown) => void }>();
function call(op: string, args: unknown): Promise<unknown> {
  const id = nextCall++;
  return new Promise((resolve, reject) => {
    calls.set(id, { resolve, reject });
    send({ t: 'creq', id, op, args });
  });
}

/** An error the parent's network or directory threw, as the gateway would see it from a real one. */
class RemoteError extends Error {
  constructor(
    readonly code: string | undefined,
    message: string,
  ) {
    super(message);
    this.name = 'RemoteError';
  }
}

const transport: Transport = {
  send: async (frame) => void (await call('send', frame)),
  requestRetry: async (request) => void (await call('requestRetry', request)),
  acknowledge: async (frameId) => void (await call('acknowledge', frameId)),
};
const directory: Directory = {
  publish: async (upload) => void (await call('publish', upload)),
  availableOneTimePreKeys: async (number) => (await call('availableOneTimePreKeys', number)) as number,
  availableOneTimeKyberPreKeys: async (number) =>
    (await call('availableOneTimeKyberPreKeys', number)) as number,
  fetchDevices: async (phone) => (await call('fetchDevices', phone)) as number[],
  fetchBundle: async (phone, deviceId) => (await call('fetchBundle', { phone, deviceId })) as never,
};

// ── The gateway ─────────────────────────────────────────────────────────────────────

const crypto = createNodeCrypto();
const gateway: Gateway = createGateway({
  store,
  vaultStore,
  keyProvider: createLocalKeyProvider({ kek: Buffer.from(kekHex, 'hex'), crypto }),
  transport,
  directory,
  crypto,
  random: createDeterministicRandom(randomSeed),
  clock,
  timer: false,
  // Small batches: an addNumber is a dozen commits, like the 13 crash points.
  preKeys: { batchSize: 10, lowWaterMark: 3, kyberBatchSize: 4, kyberLowWaterMark: 2 },
});
gateway.onError((error) => send({ t: 'error', error: errorJson(error) }));
const handled = new Set<string>();
function handle(businessId: string): void {
  if (handled.has(businessId)) return;
  handled.add(businessId);
  gateway.onEvent(businessId, (event) => send({ t: 'event', event: { ...event } }));
  gateway.onMessage(businessId, async (message) => {
    await call('deliver', {
      id: message.id,
      businessId: message.businessId,
      to: message.to,
      from: message.from,
      deviceId: message.deviceId,
      attempt: message.attempt,
      text: new TextDecoder().decode(message.content),
    });
  });
}

const status = (gateway as unknown as { status?: (id: string) => Promise<unknown> }).status;

async function perform(op: string, args: Record<string, unknown>): Promise<unknown> {
  switch (op) {
    case 'arm':
      arming = args as unknown as Arming;
      commitsSinceArmed = 0;
      return undefined;
    case 'handle':
      for (const id of args.businesses as string[]) handle(id);
      return undefined;
    case 'registerBusiness':
      return gateway.registerBusiness(args as never);
    case 'addNumber':
      return gateway.addNumber(args.businessId as string, args.number as string);
    case 'numbers':
      return gateway.numbers(args.businessId as string);
    case 'send':
      return gateway.send(args as never);
    case 'receiveFrame':
      return gateway.receiveFrame(args as never);
    case 'receiveReceipt':
      return gateway.receiveReceipt(args as never);
    case 'tick':
      return gateway.tick();
    case 'idle':
      return gateway.idle();
    case 'status':
      return status?.call(gateway, args.messageId as string);
    case 'close':
      await gateway.close();
      await store.close();
      await vaultStore.close();
      return undefined;
    default:
      throw new Error(`unknown op ${op}`);
  }
}

const input = createInterface({ input: process.stdin });
input.on('line', (text) => {
  const line = decodeLine(text);
  if (line.t === 'cres') {
    const pending = calls.get(line.id);
    calls.delete(line.id);
    if (!pending) return;
    if (line.ok) pending.resolve(line.value);
    else pending.reject(new RemoteError(line.error?.code, line.error?.message ?? 'remote failure'));
    return;
  }
  if (line.t !== 'req') return;
  clock.time = Math.max(clock.time, line.now);
  // Waiting for background work: what runs then is the work the previous request started.
  during = line.op === 'idle' ? `background work after ${lastOp}` : line.op;
  if (line.op !== 'idle') lastOp = line.op;
  perform(line.op, (line.args ?? {}) as Record<string, unknown>).then(
    (value) => send({ t: 'res', id: line.id, ok: true, value }),
    (error) => send({ t: 'res', id: line.id, ok: false, error: errorJson(error) }),
  );
});
input.on('close', () => process.exit(0));
send({ t: 'ready', capabilities: { status: typeof status === 'function' } });
