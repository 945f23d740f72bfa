/**
 * The workloads, written once against {@link BenchParty}. Each returns operations per second
 * for the timed part only; setup (parties, bundles, the handshake of a stream) is untimed.
 * Every decrypted plaintext is compared with what was sent (a wrong result aborts the run);
 * plaintexts are random bytes and never printed.
 */
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { PeerAddress } from '../../core/test/peers/types.js';
import type { Awaitable, BenchLib, BenchParty } from './libs.js';

export const MESSAGE_BYTES = 100;

/** Awaits only real promises, so synchronous parties pay no microtask per call. */
async function settle<T>(value: Awaitable<T>): Promise<T> {
  return value instanceof Promise ? await value : value;
}

function expectSame(actual: Uint8Array, expected: Uint8Array, what: string): void {
  let same = actual.length === expected.length;
  for (let i = 0; same && i < actual.length; i++) same = actual[i] === expected[i];
  // The message names the workload only: never the bytes.
  if (!same) throw new Error(`${what}: decrypted plaintext differs from the one sent`);
}

let tagCounter = 0;
/** Unique address names across rounds (some peers keep process-wide state keyed by name). */
function tag(): string {
  tagCounter += 1;
  return `r${tagCounter}`;
}

function plaintexts(count: number): Uint8Array[] {
  const pool = randomBytes(MESSAGE_BYTES * Math.min(count, 64));
  return Array.from(
    { length: count },
    (_, i) => new Uint8Array(pool.subarray((i % 64) * MESSAGE_BYTES, ((i % 64) + 1) * MESSAGE_BYTES)),
  );
}

export interface Pair {
  readonly a: BenchParty;
  readonly b: BenchParty;
}

/**
 * A with a session to B that both sides have used: A sent a prekey message, B replied, A read
 * the reply (so A's messages are plain whisper messages from here on).
 */
export async function establishedPair(
  lib: BenchLib,
  createB?: (address: PeerAddress) => Promise<BenchParty>,
): Promise<Pair> {
  const t = tag();
  const a = await lib.createParty({ name: `a-${t}`, deviceId: 1 });
  const b = await (createB ?? ((address: PeerAddress) => lib.createParty(address)))({
    name: `b-${t}`,
    deviceId: 2,
  });
  const [hello, reply] = plaintexts(2) as [Uint8Array, Uint8Array];
  await settle(a.processBundle(b.address, await settle(b.createBundle())));
  expectSame(
    await settle(b.decrypt(a.address, await settle(a.encrypt(b.address, hello)))),
    hello,
    'handshake',
  );
  expectSame(
    await settle(a.decrypt(b.address, await settle(b.encrypt(a.address, reply)))),
    reply,
    'handshake reply',
  );
  return { a, b };
}

/**
 * Sessions/s: a new initiator per session (a person's device) and one responder (the
 * business) that made a bundle per session beforehand. Timed: process the bundle, encrypt
 * the first message, decrypt it.
 */
export async function sessionsPerSecond(lib: BenchLib, count: number): Promise<number> {
  const t = tag();
  const b = await lib.createParty({ name: `b-${t}`, deviceId: 2 });
  const initiators: BenchParty[] = [];
  const bundles: unknown[] = [];
  for (let i = 0; i < count; i++) {
    initiators.push(await lib.createParty({ name: `a-${t}-${i}`, deviceId: 1 }));
    bundles.push(await settle(b.createBundle()));
  }
  const texts = plaintexts(count);
  const started = performance.now();
  for (let i = 0; i < count; i++) {
    const a = initiators[i]!;
    await settle(a.processBundle(b.address, bundles[i]));
    const message = await settle(a.encrypt(b.address, texts[i]!));
    expectSame(await settle(b.decrypt(a.address, message)), texts[i]!, 'sessions');
  }
  return count / ((performance.now() - started) / 1000);
}

export interface StreamRates {
  readonly encrypt: number;
  readonly decrypt: number;
  readonly reverse: number;
}

/** One direction on an established session: encrypt n, decrypt them in order, then m newest-first. */
export async function streamRates(lib: BenchLib, count: number, reverseCount: number): Promise<StreamRates> {
  const { a, b } = await establishedPair(lib);
  const texts = plaintexts(Math.max(count, reverseCount));
  const messages: unknown[] = new Array(count);
  let started = performance.now();
  for (let i = 0; i < count; i++) messages[i] = await settle(a.encrypt(b.address, texts[i]!));
  const encrypt = count / ((performance.now() - started) / 1000);
  started = performance.now();
  for (let i = 0; i < count; i++)
    expectSame(await settle(b.decrypt(a.address, messages[i])), texts[i]!, 'stream');
  const decrypt = count / ((performance.now() - started) / 1000);

  const late: unknown[] = new Array(reverseCount);
  for (let i = 0; i < reverseCount; i++) late[i] = await settle(a.encrypt(b.address, texts[i]!));
  started = performance.now();
  for (let i = reverseCount - 1; i >= 0; i--)
    expectSame(await settle(b.decrypt(a.address, late[i])), texts[i]!, 'reverse');
  const reverse = reverseCount / ((performance.now() - started) / 1000);
  return { encrypt, decrypt, reverse };
}

/** Round trips/s: every message answers the other side's, so each decrypt takes a DH ratchet step. */
export async function pingPongsPerSecond(lib: BenchLib, count: number): Promise<number> {
  const { a, b } = await establishedPair(lib);
  const texts = plaintexts(2);
  const [ping, pong] = texts as [Uint8Array, Uint8Array];
  const started = performance.now();
  for (let i = 0; i < count; i++) {
    expectSame(await settle(b.decrypt(a.address, await settle(a.encrypt(b.address, ping)))), ping, 'ping');
    expectSame(await settle(a.decrypt(b.address, await settle(b.encrypt(a.address, pong)))), pong, 'pong');
  }
  return count / ((performance.now() - started) / 1000);
}

export interface RecordSizes {
  /** Initiator's record after `checkpoints[i]` ping-pongs. */
  readonly initiator: Record<string, number | undefined>;
  readonly responder: Record<string, number | undefined>;
}

/** Stored session record size (bytes) after ping-pongs, at each checkpoint. */
export async function recordSizes(lib: BenchLib, checkpoints: readonly number[]): Promise<RecordSizes> {
  const { a, b } = await establishedPair(lib);
  const texts = plaintexts(2);
  const [ping, pong] = texts as [Uint8Array, Uint8Array];
  const initiator: Record<string, number | undefined> = {};
  const responder: Record<string, number | undefined> = {};
  const last = Math.max(...checkpoints);
  for (let i = 1; i <= last; i++) {
    await settle(b.decrypt(a.address, await settle(a.encrypt(b.address, ping))));
    await settle(a.decrypt(b.address, await settle(b.encrypt(a.address, pong))));
    if (checkpoints.includes(i)) {
      initiator[i] = a.recordSize ? await settle(a.recordSize(b.address)) : undefined;
      responder[i] = b.recordSize ? await settle(b.recordSize(a.address)) : undefined;
    }
  }
  return { initiator, responder };
}

/**
 * Decrypt-and-persist msgs/s and CPU µs per message: B's session lives in the given store and
 * every decrypt is one commit (the session API has no batched decrypt, so there is no batched
 * variant).
 */
export async function persistedDecryptsPerSecond(
  lib: BenchLib,
  createB: (address: PeerAddress) => Promise<BenchParty>,
  count: number,
): Promise<{ readonly rate: number; readonly cpuMicros: number }> {
  const { a, b } = await establishedPair(lib, createB);
  const texts = plaintexts(count);
  const messages: unknown[] = [];
  for (let i = 0; i < count; i++) messages.push(await settle(a.encrypt(b.address, texts[i]!)));
  const cpu = process.cpuUsage();
  const started = performance.now();
  for (let i = 0; i < count; i++)
    expectSame(await settle(b.decrypt(a.address, messages[i])), texts[i]!, 'storage');
  const seconds = (performance.now() - started) / 1000;
  const used = process.cpuUsage(cpu);
  return { rate: count / seconds, cpuMicros: (used.user + used.system) / count };
}

/**
 * Holds `count` established sessions in one party (the hub: it initiates, sends one message
 * and reads the reply, as a business does). The other sides are short-lived clients, each
 * dropped after 50 sessions so that only the hub's state stays reachable.
 */
export async function holdSessions(
  lib: BenchLib,
  hub: BenchParty,
  count: number,
  namePrefix: string,
): Promise<void> {
  const [hello, reply] = plaintexts(2) as [Uint8Array, Uint8Array];
  let client: BenchParty | undefined;
  for (let i = 0; i < count; i++) {
    if (i % 50 === 0) client = await lib.createParty({ name: `client-${namePrefix}-${i}`, deviceId: 1 });
    const remote: PeerAddress = { name: `${namePrefix}-${i}`, deviceId: 1 };
    await settle(hub.processBundle(remote, await settle(client!.createBundle())));
    expectSame(
      await settle(client!.decrypt(hub.address, await settle(hub.encrypt(remote, hello)))),
      hello,
      'hold',
    );
    expectSame(
      await settle(hub.decrypt(remote, await settle(client!.encrypt(hub.address, reply)))),
      reply,
      'hold reply',
    );
  }
}
