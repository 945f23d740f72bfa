/**
 * Garbage-frame flood (run by `pnpm crash-test`, or alone: `tsx campaigns/flood.ts [--quick]`):
 * 100 000 garbage frames into `receiveFrame` — random bytes, mutated real frames, frames
 * under other people's numbers and from a thousand attacker numbers, forged whisper messages
 * with counter jumps — while other devices send real traffic, then forged frames claiming a
 * 25 000-message jump from one device. Prints memory (heap and RSS after GC) and the other
 * devices' throughput next to their baseline. Asserted: no untyped throw, every real message
 * accepted, the retained heap bounded, and a genuine 25 000-message gap still decrypts.
 * Throughput is printed, never asserted (no timing thresholds).
 */
import { performance } from 'node:perf_hooks';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import {
  createGateway,
  createLocalKeyProvider,
  createMemoryStore,
  type Gateway,
  type InboundFrame,
  isParleyError,
  NAMESPACES,
  type ReceiveOutcome,
  type Store,
} from '@parley/core';
import { createNodeCrypto } from '@parley/core/node';
import {
  createDeterministicRandom,
  createSimulatedPerson,
  ManualClock,
  type SimulatedPerson,
  TestNetwork,
} from '@parley/core/testing';
import { appendMac, decodeSignalMessage, encodeSignalMessageBody } from '../../core/src/wire/index.js';
import { bump } from './fuzz/engine.js';
import { mutate } from './fuzz/mutate.js';
import { Rng } from './rng.js';

const NUMBER = '+15550100';
const MIB = 1024 * 1024;
/** The flood's offered load: this many garbage frames per real message. */
const GARBAGE_PER_TURN = 10;
/** Retained heap may grow by at most this over the flood: anything per frame would be far more. */
export const HEAP_GROWTH_LIMIT_MIB = 64;

export interface FloodOptions {
  readonly seed: string;
  readonly quick: boolean;
  readonly garbage?: number;
}

const describe = (outcome: ReceiveOutcome) =>
  outcome.kind === 'undecryptable' ? `refused (${outcome.reason})` : outcome.kind;

export async function runFlood(options: FloodOptions): Promise<boolean> {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const settledMemory = async () => {
    for (let i = 0; i < 4; i++) {
      gc();
      await nextTurn();
    }
    return process.memoryUsage();
  };
  const rng = new Rng(`${options.seed}/flood`);
  const garbageCount = options.garbage ?? (options.quick ? 20_000 : 100_000);
  const crypto = createNodeCrypto();
  const clock = new ManualClock();
  // Memory stores: the retained heap then counts what the flood leaves in the store too, and
  // no disk flush hides the gateway's CPU cost per frame.
  const store = createMemoryStore({ clock });
  const vaultStore = createMemoryStore({ clock });
  const network = new TestNetwork({ random: createDeterministicRandom(`${options.seed}/flood/network`) });
  const gateway: Gateway = createGateway({
    store,
    vaultStore,
    keyProvider: createLocalKeyProvider({
      kek: createDeterministicRandom(`${options.seed}/flood/kek`)(32),
      crypto,
    }),
    transport: network,
    directory: network,
    crypto,
    clock,
    random: createDeterministicRandom(`${options.seed}/flood/gateway`),
    timer: false,
    preKeys: { batchSize: 20, kyberBatchSize: 10 },
  });
  network.connect(gateway);
  const errors: unknown[] = [];
  gateway.onError((error) => errors.push(error));
  let handled = 0;
  gateway.onMessage('acme', () => {
    handled += 1;
  });
  await gateway.registerBusiness({ businessId: 'acme' });
  await gateway.addNumber('acme', NUMBER);

  const person = async (phoneNumber: string) =>
    network.addPerson(
      await createSimulatedPerson({
        phoneNumber,
        crypto,
        clock,
        random: createDeterministicRandom(`${options.seed}/flood/${phoneNumber}`),
      }),
    );
  const legit: SimulatedPerson[] = [];
  for (let i = 0; i < 4; i++) legit.push(await person(`+1555060000${i}`));
  const attacker = await person('+15550700000');
  for (const p of [...legit, attacker]) await p.send(NUMBER, 'hello');
  await network.flush();
  // The gateway answers everyone once: from then on each session is established (whisper messages).
  for (const p of [...legit, attacker])
    await gateway.send({ from: NUMBER, to: p.phoneNumber, content: 'welcome' });
  await network.flush();
  const seeds: InboundFrame[] = [];
  for (const p of [...legit, attacker]) seeds.push(await p.encrypt(NUMBER, 'a seed message to mutate'));

  const violations: string[] = [];
  const outcomes = new Map<string, number>();
  const receive = async (frame: InboundFrame): Promise<void> => {
    try {
      const result = await gateway.receiveFrame(frame);
      bump(outcomes, result.kind === 'undecryptable' ? result.reason : result.kind);
    } catch (error) {
      bump(outcomes, isParleyError(error) ? error.code : 'UNTYPED');
      if (!isParleyError(error)) violations.push(`untyped throw from receiveFrame: ${String(error)}`);
    }
  };

  // Real traffic: the legit devices in turn, each message awaited; all must be accepted.
  let legitSent = 0;
  let legitRefused = 0;
  const legitLoop = async (until: () => boolean, limit = Number.POSITIVE_INFINITY) => {
    const started = performance.now();
    let sent = 0;
    while (!until() && sent < limit) {
      const p = legit[sent % legit.length]!;
      const frame = await p.encrypt(NUMBER, `real ${legitSent}`);
      const result = await gateway.receiveFrame(frame);
      if (result.kind !== 'accepted') legitRefused += 1;
      sent += 1;
      legitSent += 1;
      await nextTurn();
    }
    return { sent, seconds: (performance.now() - started) / 1000 };
  };

  const frameId = () => `g${rng.u32().toString(16)}${rng.u32().toString(16)}`;
  const attackers = Array.from({ length: 1_000 }, (_, i) => `+1555080${String(i).padStart(4, '0')}`);
  const attackerSeed = decodeSignalMessage(seeds.at(-1)!.body);
  const forged = (jump: number): InboundFrame => {
    const body = encodeSignalMessageBody({ ...attackerSeed, counter: attackerSeed.counter + jump });
    return { ...seeds.at(-1)!, frameId: frameId(), body: appendMac(body, rng.bytes(8)) };
  };
  const garbage = (): InboundFrame => {
    const kind = rng.weighted([
      ['random bytes', 4],
      ['mutated real frame', 3],
      ['under a real person', 2],
      ['forged jump ≤ 200', 1],
    ] as const);
    const seed = rng.pick(seeds);
    switch (kind) {
      case 'random bytes':
        return {
          frameId: frameId(),
          to: NUMBER,
          from: rng.pick(attackers),
          deviceId: rng.between(1, 3),
          type: rng.pick([2, 3] as const),
          body: rng.bytes(rng.between(1, 300)),
        };
      case 'mutated real frame':
        return {
          ...seed,
          frameId: frameId(),
          from: attacker.phoneNumber,
          body: mutate(rng, seed.body, 'signal-message', []).bytes,
        };
      case 'under a real person':
        return { ...seed, frameId: frameId(), body: mutate(rng, seed.body, 'signal-message', []).bytes };
      case 'forged jump ≤ 200':
        return forged(rng.between(1, 200));
    }
  };

  const baselineMemory = await settledMemory();
  const records = async (s: Store) => {
    let all = 0;
    let markers = 0;
    for (const namespace of NAMESPACES) {
      for (const record of await s.list(namespace)) {
        all += 1;
        if (/^gw\/b\/[^/]+\/r\//.test(record.key)) markers += 1;
      }
    }
    return { all, markers };
  };
  const recordsBefore = await records(store);
  const baseline = await legitLoop(() => false, options.quick ? 200 : 600);
  const baselineRate = baseline.sent / baseline.seconds;

  // Phase A: the garbage flood with real traffic alongside. Each side yields to the event loop
  // after every frame, so the two take turns as concurrent requests to one server would: the
  // real devices' share of the turns shows what a garbage frame costs next to a real one.
  let done = 0;
  let peakRss = 0;
  let peakHeap = 0;
  const startedA = performance.now();
  const floodA = (async () => {
    for (let i = 0; i < garbageCount; i++) {
      await receive(garbage());
      if (i % 5_000 === 0) {
        const m = process.memoryUsage();
        peakRss = Math.max(peakRss, m.rss);
        peakHeap = Math.max(peakHeap, m.heapUsed);
      }
      done = i + 1;
      // GARBAGE_PER_TURN frames arrive for each real message.
      if (done % GARBAGE_PER_TURN === 0) await nextTurn();
    }
  })();
  const duringA = await legitLoop(() => done >= garbageCount);
  await floodA;
  const secondsA = (performance.now() - startedA) / 1000;
  const afterMemory = await settledMemory();
  const recordsAfter = await records(store);

  // Phase B: forged frames claiming a 25 000-message jump from one device.
  const forgedCount = options.quick ? 20 : 60;
  let forgedDone = 0;
  const startedB = performance.now();
  const floodB = (async () => {
    for (let i = 0; i < forgedCount; i++) {
      await receive(forged(24_999 - rng.int(10)));
      forgedDone += 1;
      await nextTurn();
    }
  })();
  const duringB = await legitLoop(() => forgedDone >= forgedCount);
  await floodB;
  const secondsB = (performance.now() - startedB) / 1000;

  // Genuine gaps of 24 999 messages still decrypt: from a device that never forged anything,
  // and from the forging device once a minute has passed (a gateway may make a device that
  // just forged wait for its share of work: that one is printed, not asserted).
  const address = { name: NUMBER, deviceId: 1 };
  const gapFrame = async (who: SimulatedPerson, text: string) => {
    for (let i = 0; i < 24_999; i++) await who.device().sessions.encrypt(address, new Uint8Array(1));
    return who.encrypt(NUMBER, text);
  };
  const genuineOther = await gateway.receiveFrame(await gapFrame(legit[0]!, 'after a long silence'));
  // The same frame from the forging device, at once and again (the network redelivers it) a minute later.
  const fromForger = await gapFrame(attacker, 'after forging');
  const genuineAtOnce = await gateway.receiveFrame(fromForger);
  clock.advance(60_000);
  const genuine = await gateway.receiveFrame(fromForger);
  // Decrypted at once (the forger's budget had room), the redelivery is a duplicate: that gap
  // decrypted too.
  const decrypted =
    genuine.kind === 'accepted' || (genuineAtOnce.kind === 'accepted' && genuine.kind === 'duplicate');
  if (!decrypted)
    violations.push(
      `a genuine 24 999-message gap from the forging device, a minute later, was refused (${JSON.stringify(genuine)})`,
    );

  await gateway.idle();
  for (const error of errors)
    if (!isParleyError(error)) violations.push(`untyped background error: ${String(error)}`);
  if (legitRefused > 0) violations.push(`${legitRefused} real messages were refused during the flood`);
  const heapGrowth = (afterMemory.heapUsed - baselineMemory.heapUsed) / MIB;
  if (heapGrowth > HEAP_GROWTH_LIMIT_MIB)
    violations.push(`retained heap grew by ${heapGrowth.toFixed(0)} MiB over the flood`);
  await gateway.close();
  await store.close();
  await vaultStore.close();

  const rateA = duringA.sent / duringA.seconds;
  const rateB = duringB.sent / duringB.seconds;
  const mib = (bytes: number) => `${(bytes / MIB).toFixed(0)} MiB`;
  process.stdout.write(
    [
      `Garbage-frame flood: ${garbageCount.toLocaleString('en')} garbage frames in ${secondsA.toFixed(1)} s (${(garbageCount / secondsA).toFixed(0)}/s), then ${forgedCount} forged 25 000-jump frames in ${secondsB.toFixed(1)} s`,
      `  garbage outcomes: ${[...outcomes]
        .sort((a, b) => b[1] - a[1])
        .map(([c, n]) => `${c} ${n}`)
        .join(', ')}`,
      `  memory after GC: heap ${mib(baselineMemory.heapUsed)} → ${mib(afterMemory.heapUsed)} (retained growth ${heapGrowth.toFixed(1)} MiB, limit ${HEAP_GROWTH_LIMIT_MIB}), ` +
        `RSS ${mib(baselineMemory.rss)} → ${mib(afterMemory.rss)}; peaks during the flood: heap ${mib(peakHeap)}, RSS ${mib(peakRss)}`,
      `  stored records (memory store): ${recordsBefore.all} → ${recordsAfter.all}, of which retry-request markers ${recordsBefore.markers} → ${recordsAfter.markers} ` +
        `(garbage came from ${attackers.length} attacker numbers × 3 devices; one marker per device per hour)`,
      `  other devices' throughput: baseline ${baselineRate.toFixed(0)} msg/s; during the garbage flood (${GARBAGE_PER_TURN} garbage frames per real one) ${rateA.toFixed(0)} msg/s ` +
        `(×${(rateA / baselineRate).toFixed(2)}); during the forged 25 000-jump frames ${rateB.toFixed(0)} msg/s (×${(rateB / baselineRate).toFixed(2)}; target ≥ ×0.5, printed, not asserted)`,
      `  real messages: ${legitSent} sent, ${legitRefused} refused, ${handled} handed to the business; genuine 24 999 gaps: ` +
        `another device ${describe(genuineOther)}, the forging device at once ${describe(genuineAtOnce)}, a minute later ${describe(genuine)}`,
      violations.length > 0
        ? `  VIOLATIONS:\n${violations.map((v) => `    - ${v}`).join('\n')}`
        : '  no violations',
      '',
      '',
    ].join('\n'),
  );
  return violations.length > 0;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const argv = process.argv.slice(2);
  const seed = argv.find((a) => a.startsWith('--seed='))?.slice(7) ?? 'parley';
  const failed = await runFlood({ seed, quick: argv.includes('--quick') });
  process.exit(failed ? 1 : 0);
}
