/**
 * `pnpm crash-test`: a gateway process on SQLite killed with SIGKILL again and again — at a
 * random commit (before it, between two writes inside it, right after it), at random moments,
 * inside `addNumber` — while people's devices (real SessionManagers, here in the parent) and
 * the business send traffic both ways; restarted each time on the same files. A ledger of
 * what the business's handler, its event handler and every device saw must show 0 lost
 * messages, duplicates only under the same message id, 0 broken sessions and 0 lost status
 * events. Then a garbage-frame flood (flood.ts). See campaigns/README.md.
 *
 *   pnpm crash-test --quick          CI slice (about 2 minutes)
 *   pnpm crash-test                  full run
 *   options: --seed=S  --lives=N  --steps=N (traffic steps per life)  --skip-flood  --only-flood  --verbose
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { type DeliveryReceipt, type InboundFrame, isParleyError, type ReceiveOutcome } from '@parley/core';
import { createNodeCrypto } from '@parley/core/node';
import {
  createDeterministicRandom,
  createSimulatedPerson,
  DEFAULT_TEST_TIME,
  type GatewayEndpoint,
  type SimulatedPerson,
  TestNetwork,
} from '@parley/core/testing';
import { bundleChild, ChildLink } from './crash/child-link.js';
import { fmt, Ledger } from './crash/ledger.js';
import { runFlood } from './flood.js';
import { bump } from './fuzz/engine.js';
import { freshSeed, Rng } from './rng.js';

const argv = process.argv.slice(2);
const option = (name: string) => argv.find((arg) => arg.startsWith(`--${name}=`))?.slice(name.length + 3);
const quick = argv.includes('--quick');
const seedOption = option('seed') ?? 'parley';
const seed = seedOption === 'random' ? freshSeed() : seedOption;
const LIVES = Number(option('lives') ?? (quick ? 40 : 400));
const STEPS = Number(option('steps') ?? (quick ? 24 : 40));
const MINUTE = 60_000;
const VERBOSE = argv.includes('--verbose');
/** `--verbose`: what each life planned and how it ended (to find the life behind a finding). */
const verbose = (text: string) => {
  if (VERBOSE) process.stdout.write(`  · ${text}\n`);
};

const BUSINESSES = [
  { id: 'acme', numbers: ['+15550100'] },
  { id: 'beta', numbers: ['+15550200'] },
] as const;
const PEOPLE: readonly [string, number][] = [
  ['+15550123', 2],
  ['+15550124', 1],
  ['+15550125', 3],
  ['+15550126', 1],
  ['+15550127', 2],
];

process.stdout.write(
  `pnpm crash-test ${quick ? '--quick ' : ''}— seed "${seed}" (replay with --seed=${seed})\n\n`,
);
let failed = false;
if (!argv.includes('--only-flood')) failed = (await crashCampaign()) || failed;
if (!argv.includes('--skip-flood')) failed = (await runFlood({ seed, quick })) || failed;
process.stdout.write(failed ? 'FAILED\n' : 'PASSED\n');
process.exit(failed ? 1 : 0);

async function crashCampaign(): Promise<boolean> {
  const started = performance.now();
  const directory = mkdtempSync(join(tmpdir(), 'parley-crash-'));
  const messagesPath = join(directory, 'messages.db');
  const vaultPath = join(directory, 'vault.db');
  const bundle = await bundleChild();
  const crypto = createNodeCrypto();
  const ledger = new Ledger();
  const crashPoints = new Map<string, number>();
  const finalStatus = new Map<string, string>();
  const kek = Buffer.from(createDeterministicRandom(`${seed}/kek`)(32)).toString('hex');
  let now = DEFAULT_TEST_TIME;
  const clock = { now: () => now };
  const network = new TestNetwork({ random: createDeterministicRandom(`${seed}/network`) });
  const people: SimulatedPerson[] = [];
  for (const [phoneNumber, devices] of PEOPLE) {
    people.push(
      network.addPerson(
        await createSimulatedPerson({
          phoneNumber,
          devices,
          crypto,
          clock,
          random: createDeterministicRandom(`${seed}/person/${phoneNumber}`),
        }),
      ),
    );
  }
  const numbers = new Map<string, string>(); // number → business, once addNumber resolved
  const published = new Set<string>();
  let child: ChildLink | undefined;
  const gatewayCall = async (op: string, args: unknown = {}): Promise<unknown> => {
    if (!child) throw new Error('no gateway process');
    try {
      return await child.request(op, now, args);
    } catch (error) {
      if (!isParleyError(error) && error instanceof Error) ledger.untyped.push(`${op}: ${error.message}`);
      throw error;
    }
  };
  const endpoint: GatewayEndpoint = {
    receiveFrame: (frame: InboundFrame) => gatewayCall('receiveFrame', frame) as Promise<ReceiveOutcome>,
    receiveReceipt: async (receipt: DeliveryReceipt) => {
      await gatewayCall('receiveReceipt', receipt);
      verbose(`receipt ${receipt.frameId} taken at ${now}`);
    },
    idle: async () => void (await gatewayCall('idle').catch(() => undefined)),
  };
  network.connect(endpoint);
  const serve = async (op: string, args: unknown): Promise<unknown> => {
    const a = args as Record<string, unknown>;
    switch (op) {
      case 'send':
        return network.send(args as never);
      case 'requestRetry':
        return network.requestRetry(args as never);
      case 'acknowledge':
        return network.acknowledge(args as string);
      case 'publish':
        await network.publish(args as never);
        published.add(a.number as string);
        ledger.publishedNumbers.add(a.number as string);
        return undefined;
      case 'availableOneTimePreKeys':
        return network.availableOneTimePreKeys(args as string);
      case 'availableOneTimeKyberPreKeys':
        return network.availableOneTimeKyberPreKeys(args as string);
      case 'fetchDevices':
        return network.fetchDevices(args as string);
      case 'fetchBundle':
        return network.fetchBundle(a.phone as string, a.deviceId as number);
      case 'deliver':
        ledger.handler(args as { id: string; text: string });
        return undefined;
      default:
        throw new Error(`unknown request ${op}`);
    }
  };

  let token = 0;
  let extraNumber = 0;
  const addNumber = async (businessId: string, number: string) => {
    ledger.numbers.set(number, 'in doubt');
    await gatewayCall('addNumber', { businessId, number });
    ledger.numbers.set(number, 'added');
    numbers.set(number, businessId);
  };
  const usable = () => [...numbers.keys()].filter((n) => published.has(n));

  for (let life = 0; life <= LIVES; life++) {
    const final = life === LIVES;
    // One stream per life: a timer kill that cut the previous life short does not shift the
    // plans of the lives after it.
    const rng = new Rng(`${seed}/crash/life/${life}`);
    const link = new ChildLink(
      bundle,
      [messagesPath, vaultPath, kek, `${seed}/life/${life}`, String(now)],
      serve,
      {
        onEvent: (event) => ledger.event(event),
        onError: (error) => ledger.backgroundError(error),
        onCrash: (marker) => ledger.crashes.push(marker),
      },
      fileURLToPath(new URL('.', import.meta.url)),
    );
    child = link;
    const capabilities = await link.ready;
    if (life > 0) ledger.restarts += 1;
    let timer: NodeJS.Timeout | undefined;
    try {
      await gatewayCall('handle', { businesses: BUSINESSES.map((b) => b.id) });
      if (life === 0) {
        for (const b of BUSINESSES) await gatewayCall('registerBusiness', { businessId: b.id });
        for (const b of BUSINESSES) for (const n of b.numbers) await addNumber(b.id, n);
      }
      // The operator retries an addNumber whose outcome it never learned.
      for (const [number, state] of [...ledger.numbers]) {
        if (state !== 'in doubt') continue;
        try {
          await gatewayCall('addNumber', { businessId: 'acme', number });
          ledger.numbers.set(number, 'retried ok');
          numbers.set(number, 'acme');
        } catch (error) {
          if (link.dead) throw error;
          // "Already registered" is fine when it is this business's, complete registration.
          const listed = (await gatewayCall('numbers', { businessId: 'acme' })) as string[];
          if (isParleyError(error, 'ERR_CONFIGURATION') && listed.includes(number)) {
            ledger.numbers.set(number, 'retried: already registered (complete)');
            numbers.set(number, 'acme');
          } else {
            ledger.numbers.set(
              number,
              `retry refused with ${isParleyError(error) ? error.code : String(error)}`,
            );
          }
          verbose(`life ${life}: retrying addNumber(${number}) refused: ${String(error)}`);
        }
      }
      await gatewayCall('tick');
      // Armed right before the network delivers (frames to the gateway, receipts): a kill
      // among the commits of receiveFrame and receiveReceipt.
      let armAtDelivery: number | undefined;
      let killAt: { step: number; delayMs: number } | undefined;
      let armAtReceipts: number | undefined;
      if (!final) {
        const kind: string = rng.weighted([
          ['addNumber', 2],
          ['commit', 5],
          ['delivery', 3],
          ['receipts', 2],
          ['timer', 2],
        ] as const);
        verbose(`life ${life}: kill kind ${kind}`);
        const arming = { mode: rng.pick(['before', 'inside', 'after'] as const), index: rng.int(6) };
        if (kind === 'commit') await gatewayCall('arm', { ...arming, at: rng.between(1, 150) });
        // A random moment: a few milliseconds into a random traffic step, whatever runs then.
        if (kind === 'timer') killAt = { step: rng.int(STEPS), delayMs: rng.between(0, 25) };
        if (kind === 'delivery') armAtDelivery = rng.int(STEPS);
        // Among the commits of receiveReceipt: the network is about to hand receipts over.
        if (kind === 'receipts') armAtReceipts = rng.int(STEPS);
        if (kind === 'addNumber') {
          const armed = { ...arming, at: rng.between(1, 14) };
          await gatewayCall('arm', armed);
          extraNumber += 1;
          verbose(
            `life ${life}: addNumber(+1555030${String(extraNumber).padStart(4, '0')}) armed ${JSON.stringify(armed)}`,
          );
          await addNumber('acme', `+1555030${String(extraNumber).padStart(4, '0')}`);
        }
      }
      for (let step = 0; step < (final ? 0 : STEPS) && !link.dead; step++) {
        if (killAt?.step === step) {
          timer = setTimeout(() => {
            if (link.dead) return;
            bump(ledger.kills, 'at a random moment (timer)');
            link.kill();
          }, killAt.delayMs);
        }
        const action = rng.weighted([
          ['person', 4],
          ['business', 3],
          ['deliver', 3],
          ['time', 1],
          ['outage', 0.3],
        ] as const);
        if (action === 'person') {
          const person = rng.pick(people);
          const deviceId = rng.pick(person.deviceIds);
          const to = rng.pick(usable());
          const text = `in:${token++}`;
          ledger.inboundSent.set(text, { person: person.phoneNumber, deviceId, number: to });
          await person.send(to, text, { deviceId });
        } else if (action === 'business') {
          const from = rng.pick(usable());
          const person = rng.pick(people);
          const text = `out:${token++}`;
          const entry: { person: string; number: string; id?: string } = {
            person: person.phoneNumber,
            number: from,
          };
          ledger.outbound.set(text, entry);
          entry.id = (await gatewayCall('send', { from, to: person.phoneNumber, content: text })) as string;
          verbose(`life ${life}: ${text} sent as ${entry.id} at ${now}`);
          ledger.tokenOfId.set(entry.id, text);
        } else if (action === 'deliver') {
          if (
            armAtReceipts !== undefined &&
            step >= armAtReceipts &&
            network.pending({ kind: 'receipt' }).length > 0
          ) {
            armAtReceipts = undefined;
            await gatewayCall('arm', {
              mode: rng.pick(['before', 'inside', 'after'] as const),
              index: rng.int(3),
              at: rng.between(1, 3),
            });
          }
          if (armAtDelivery !== undefined && step >= armAtDelivery) {
            armAtDelivery = undefined;
            await gatewayCall('arm', {
              mode: rng.pick(['before', 'inside', 'after'] as const),
              index: rng.int(6),
              at: rng.between(1, 6),
            });
          }
          await network.step();
        } else if (action === 'time') {
          now += rng.between(5_000, 2 * MINUTE);
          await gatewayCall('tick');
        } else network.refuseNextSends(rng.between(1, 2));
        await gatewayCall('idle');
      }
      if (final) await drainAndProbe(capabilities.status);
    } catch (error) {
      if (!link.dead) throw error;
    } finally {
      clearTimeout(timer);
    }
    if (!final) {
      if (!link.dead) bump(ledger.kills, 'at rest (the armed commit never came)');
      link.kill();
    } else {
      await gatewayCall('close').catch(() => undefined);
      link.end();
    }
    const exit = await link.exited;
    if (!final && exit.signal !== 'SIGKILL')
      throw new Error(`the gateway exited on its own (${exit.code}): ${link.stderr}`);
    verbose(
      `life ${life}: ended with ${exit.signal ?? exit.code}; markers ${JSON.stringify(ledger.crashes)}`,
    );
    for (const marker of ledger.crashes.splice(0)) {
      bump(ledger.kills, `inside commit ${marker.mode}`);
      bump(crashPoints, `${marker.during} (${marker.mode})`);
    }
    // Time passes between lives, as it would while a process restarts.
    now += rng.between(1_000, MINUTE);
  }

  async function drainAndProbe(hasStatus: boolean): Promise<void> {
    // Long enough for every retry schedule (5 s doubling to 10 min, 6 attempts) to run out.
    for (let round = 0; round < 30; round++) {
      now += 2 * MINUTE;
      await gatewayCall('tick');
      await network.flush();
    }
    // Probes: every device of every person to every usable number, and back.
    for (const person of people) {
      for (const deviceId of person.deviceIds) {
        for (const to of usable()) {
          const text = `probe-in:${token++}`;
          ledger.probes.inboundSent += 1;
          ledger.inboundSent.set(text, { person: person.phoneNumber, deviceId, number: to });
          await person.send(to, text, { deviceId });
        }
      }
    }
    await network.flush();
    for (const person of people) {
      for (const from of usable()) {
        const text = `probe-out:${token++}`;
        const before = person.received.length;
        ledger.probes.outboundSent += 1;
        const id = (await gatewayCall('send', { from, to: person.phoneNumber, content: text })) as string;
        ledger.outbound.set(text, { person: person.phoneNumber, number: from, id });
        await gatewayCall('idle');
        await network.flush();
        const got = new Set(
          person.received
            .slice(before)
            .filter((m) => m.text === text)
            .map((m) => m.deviceId),
        );
        for (const deviceId of person.deviceIds) {
          if (!got.has(deviceId)) ledger.probes.deviceMissing += 1;
        }
      }
    }
    for (let round = 0; round < 3; round++) {
      now += MINUTE;
      await gatewayCall('tick');
      await network.flush();
    }
    for (const [text, sent] of ledger.inboundSent) {
      if (text.startsWith('probe-in:') && !ledger.handlerSaw.has(text))
        ledger.probes.failures.push(
          `${sent.person}/${sent.deviceId} → ${sent.number} did not reach the business`,
        );
    }
    if (hasStatus) {
      for (const [, entry] of ledger.outbound) {
        if (!entry.id) continue;
        const value = (await gatewayCall('status', { messageId: entry.id })) as
          | { status?: string }
          | string
          | undefined;
        const status = typeof value === 'string' ? value : value?.status;
        if (status) finalStatus.set(entry.id, status);
      }
    }
  }

  const verdict = ledger.verdict(people, network.log, finalStatus);
  for (const lost of verdict.lostStatusEvents) {
    const id = lost.split(':')[0]!;
    const receipts = network.log
      .filter((d) => d.packet.kind === 'receipt' && d.packet.receipt.frameId.startsWith(`${id}.`))
      .map((d) => `${d.packet.kind === 'receipt' ? d.packet.receipt.frameId : ''} ${d.result}`);
    verbose(
      `lost event ${lost}: events ${JSON.stringify(ledger.statuses.get(id) ?? [])}, status() ${finalStatus.get(id)}, receipts ${receipts.join('; ')}`,
    );
  }
  rmSync(directory, { recursive: true, force: true });
  const seconds = (performance.now() - started) / 1000;
  const violations = verdict.violations();
  process.stdout.write(
    [
      `Crash campaign: ${LIVES} lives, ${ledger.restarts} restarts on SQLite, ${seconds.toFixed(0)} s`,
      `  kills: ${fmt(ledger.kills)}`,
      `  kill points (operation under way when the child killed itself inside a commit): ${fmt(crashPoints)}`,
      `  inbound: ${ledger.inboundSent.size} frames sent by devices, ${verdict.inboundDelivered} reached the business ` +
        `(${verdict.inboundDuplicates} redeliveries, ${verdict.inboundDuplicateIds.length} under another id), ${verdict.inboundLost.length} lost`,
      `  outbound: ${verdict.outboundAccepted} accepted sends (ids known), ${verdict.outboundAllDevices} reached every device of the person, ` +
        `${verdict.deviceSkipped.length} skipped some device, ${verdict.outboundLost.length} lost, ${verdict.outboundDuplicates} device-level duplicates ` +
        `(${verdict.outboundDuplicateIds.length} under another id); in doubt (process died before send() returned): ` +
        `${verdict.inDoubtDelivered} delivered, ${verdict.inDoubtNotDelivered} not`,
      `  status events: ${verdict.lostStatusEvents.length} messages with a lost event, ${ledger.duplicateEvents} repeated events (same id), ` +
        `${ledger.droppedEvents} inbound drops; status query: ${finalStatus.size > 0 ? `${finalStatus.size} answered` : 'not available'}`,
      `  sessions: ${verdict.brokenSessions} broken (person refused ${fmt(verdict.personRefused)}; gateway undecryptable ${fmt(
        verdict.gatewayUndecryptable,
      )}; gateway refused ${fmt(verdict.gatewayRefused)}); final probes: ${ledger.probes.inboundSent} in, ${ledger.probes.outboundSent} out, ` +
        `${ledger.probes.failures.length} failed, ${ledger.probes.deviceMissing} device deliveries missing`,
      `  numbers: ${[...ledger.numbers].map(([n, s]) => `${n} ${s}`).join(', ')}`,
      `  background errors: ${fmt(ledger.backgroundCodes)}${[...ledger.backgroundExamples]
        .map(([code, message]) => ` (${code}: "${message}")`)
        .join('')}; untyped: ${ledger.untyped.length}`,
      violations.length > 0
        ? `  VIOLATIONS:\n${violations.map((v) => `    - ${v}`).join('\n')}`
        : '  no violations',
      '',
      '',
    ].join('\n'),
  );
  return violations.length > 0;
}
