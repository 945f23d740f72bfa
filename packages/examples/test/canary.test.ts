/**
 * The proof that MISSION.md's who-sees-what table holds: a gateway on two SQLite files (message
 * database and key vault), a recording transport, a recording logger and the statistics export.
 * A person whose phone number is itself a canary sends and receives messages carrying a canary
 * string; then every byte each party got is searched — raw, UTF-16LE/BE, hex and base64 (also
 * URL-safe) at all three byte alignments — for the content canary, the phone-number canary, the
 * person's pseudonym and the business's private identity key.
 *
 * Then the issue's integrity scenarios through the gateway, at the default thresholds. Media
 * blobs have their own canary run (canary-media.test.ts); the searching is shared
 * (support/canary-search.ts).
 */
import { randomBytes, randomInt } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createGateway,
  createLocalKeyProvider,
  defaultRandom,
  type Gateway,
  isParleyError,
  type MessageId,
  readMessageArchive,
  SessionManager,
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
import { createSqliteStore } from '@parley/storage-adapters/sqlite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sessionScope } from '../../core/src/gateway/durable/layout.js';
import { createAesGcmSealer } from '../../core/src/gateway/durable/record-sealer.js';
import { decodeBusinessConfig } from '../../core/src/gateway/durable/records.js';
import { derivePseudonym } from '../../core/src/gateway/pseudonym.js';
import { blob, findIn, needles, RecordingTransport, recordingLogger } from './support/canary-search.js';

const DAY_MS = 24 * 60 * 60 * 1000;
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const crypto = createNodeCrypto();

// ── The canary run ────────────────────────────────────────────────────────────────────

const BUSINESS_ID = 'canary-shop';
const BUSINESS_NUMBER = '+15550170';
const CONTENT_CANARY = `cnry-${randomBytes(12).toString('hex')}-content`;
/** A German mobile number nobody has: the phone-number canary. */
const PHONE_CANARY = `+49157${randomInt(10_000_000, 99_999_999)}`;
const PHONE_DIGITS = PHONE_CANARY.slice(1);

describe('canary: the who-sees-what table holds on SQLite', () => {
  const dir = mkdtempSync(join(tmpdir(), 'parley-canary-'));
  const clock = new ManualClock();
  const kek = randomBytes(32);
  const keyProvider = createLocalKeyProvider({ kek, crypto });
  let store: Store;
  let vaultStore: Store;
  let gateway: Gateway;
  let network: TestNetwork;
  let transport: RecordingTransport;
  let person: SimulatedPerson;
  const logger = recordingLogger();
  const thrown: unknown[] = [];
  const background: unknown[] = [];
  const received: string[] = [];
  const sentIds: MessageId[] = [];
  let identityPrivateKey: Uint8Array;
  let identityPublicKey: Uint8Array;
  let pseudonymOfCanary: string;
  let exports: Buffer;

  /** Every file in the folder: both databases, their WAL and shared-memory files. */
  const databaseFiles = () =>
    readdirSync(dir).map((name) => ({ name, bytes: readFileSync(join(dir, name)) }));
  const databaseBytes = (prefix: string) =>
    Buffer.concat(
      databaseFiles()
        .filter((file) => file.name.startsWith(prefix))
        .map((file) => file.bytes),
    );

  async function expectThrown(promise: Promise<unknown>, code: string): Promise<void> {
    const error = await promise.then(
      () => undefined,
      (caught: unknown) => caught,
    );
    thrown.push(error);
    expect(isParleyError(error) ? error.code : error).toBe(code);
  }

  beforeAll(async () => {
    store = createSqliteStore({ path: join(dir, 'messages.db'), clock });
    vaultStore = createSqliteStore({ path: join(dir, 'vault.db'), clock });
    network = new TestNetwork();
    transport = new RecordingTransport(network);
    gateway = createGateway({
      store,
      vaultStore,
      keyProvider,
      transport,
      directory: transport,
      crypto,
      clock,
      timer: false,
      logger,
      // Small Kyber pools keep the run fast (Kyber-1024 key generation is the slow part).
      preKeys: { kyberBatchSize: 4, kyberLowWaterMark: 2 },
    });
    gateway.onError((error) => background.push(error));
    transport.connect(gateway);
    await gateway.registerBusiness({ businessId: BUSINESS_ID, retentionDays: 30 });
    await gateway.addNumber(BUSINESS_ID, BUSINESS_NUMBER);
    let failHandler = 1;
    gateway.onMessage(BUSINESS_ID, (message) => {
      const text = new TextDecoder().decode(message.content);
      // The business's own failure, naming the content: the gateway must not repeat it.
      if (failHandler-- > 0) throw new Error(`handler could not file "${text}" from ${message.from}`);
      received.push(text);
    });
    person = network.addPerson(
      await createSimulatedPerson({ phoneNumber: PHONE_CANARY, devices: 2, crypto, clock }),
    );

    // Person → business from both devices (prekey messages, then a whisper message).
    await person.send(BUSINESS_NUMBER, `hello ${CONTENT_CANARY} from device 1`, { deviceId: 1 });
    await person.send(BUSINESS_NUMBER, `hello ${CONTENT_CANARY} from device 2`, { deviceId: 2 });
    await network.flush();
    await person.send(BUSINESS_NUMBER, `again ${CONTENT_CANARY}`, { deviceId: 1 });
    await network.flush();
    // The first delivery failed in the handler; the redelivery is due after the backoff.
    clock.advance(10 * MINUTE);
    await gateway.tick();
    await network.flush();

    // Business → person, the first attempt refused by the transport with its own error.
    transport.failNextSends = 1;
    sentIds.push(
      await gateway.send({ from: BUSINESS_NUMBER, to: PHONE_CANARY, content: `reply ${CONTENT_CANARY}` }),
    );
    await network.flush();
    clock.advance(10 * MINUTE);
    await gateway.tick();
    await network.flush();
    sentIds.push(
      await gateway.send({
        from: BUSINESS_NUMBER,
        to: PHONE_CANARY,
        content: new TextEncoder().encode(`bytes ${CONTENT_CANARY}`),
      }),
    );
    await network.flush();

    // An undecryptable frame from the canary number (the gateway asks for a retry).
    await gateway.receiveFrame({
      frameId: 'garbage-1',
      to: BUSINESS_NUMBER,
      from: PHONE_CANARY,
      deviceId: 1,
      type: 2,
      body: new TextEncoder().encode(`not a signal message ${CONTENT_CANARY}`),
    });
    // The person reports the business's first message (by the frame id the network saw).
    const firstFrame = network.sent.find((frame) => frame.frameId.startsWith(sentIds[0]!))!;
    transport.record('spamReport', {
      reporter: PHONE_CANARY,
      to: BUSINESS_NUMBER,
      frameId: firstFrame.frameId,
    });
    const outcome = await gateway.receiveSpamReport({
      reporter: PHONE_CANARY,
      to: BUSINESS_NUMBER,
      messageId: firstFrame.frameId,
    });
    transport.record('spamReportOutcome', outcome);
    expect(outcome).toBe('counted');

    // Errors the business (or the transport) provokes, each carrying a canary in its input.
    await expectThrown(
      gateway.send({ from: BUSINESS_NUMBER, to: `${PHONE_CANARY}99999`, content: CONTENT_CANARY }),
      'ERR_INVALID_ARGUMENT',
    );
    await expectThrown(
      gateway.send({ from: BUSINESS_NUMBER, to: CONTENT_CANARY, content: CONTENT_CANARY }),
      'ERR_INVALID_ARGUMENT',
    );
    await expectThrown(
      gateway.send({ from: '+15559999999', to: PHONE_CANARY, content: CONTENT_CANARY }),
      'ERR_NOT_FOUND',
    );
    await expectThrown(
      gateway.send({ from: BUSINESS_NUMBER, to: PHONE_CANARY, content: CONTENT_CANARY.repeat(3_000) }),
      'ERR_INVALID_ARGUMENT',
    );
    await expectThrown(
      gateway.erase(BUSINESS_ID, `${PHONE_CANARY}-${CONTENT_CANARY}`),
      'ERR_INVALID_ARGUMENT',
    );
    await expectThrown(gateway.erase('no-such-business', PHONE_CANARY), 'ERR_NOT_FOUND');
    await expectThrown(gateway.retransmit(CONTENT_CANARY), 'ERR_NOT_FOUND');
    await expectThrown(gateway.setDevices(CONTENT_CANARY, [1]), 'ERR_INVALID_ARGUMENT');
    await expectThrown(
      gateway.receiveSpamReport({ reporter: PHONE_CANARY, to: '+15559999999', messageId: sentIds[0]! }),
      'ERR_NOT_FOUND',
    );
    await expectThrown(
      gateway.receiveSpamReport({ reporter: PHONE_CANARY, to: BUSINESS_NUMBER, messageId: CONTENT_CANARY }),
      'ERR_INVALID_ARGUMENT',
    );
    await expectThrown(
      gateway.receiveFrame({
        frameId: 'x',
        to: '+15559999999',
        from: PHONE_CANARY,
        deviceId: 1,
        type: 2,
        body: new Uint8Array(8),
      }),
      'ERR_NOT_FOUND',
    );
    await expectThrown(
      gateway.registerBusiness({ businessId: BUSINESS_ID, retentionDays: 31 }),
      'ERR_CONFIGURATION',
    );

    // The business's private identity key, as only the operator's key opens it.
    const config = decodeBusinessConfig((await store.get('meta', `gw/business/${BUSINESS_ID}`))!.value);
    const recordKey = await keyProvider.unwrapKey(config.wrappedRecordKey, `parley/records/${BUSINESS_ID}`);
    const sealed = new SessionManager({
      store,
      crypto,
      clock,
      scope: sessionScope(BUSINESS_ID, BUSINESS_NUMBER),
      sealer: createAesGcmSealer(crypto, defaultRandom, recordKey),
    });
    const identity = await sealed.localIdentity();
    identityPrivateKey = identity.identityKeyPair.privateKey;
    identityPublicKey = identity.identityKeyPair.publicKey;
    const pseudonymKey = await keyProvider.unwrapKey(
      config.wrappedPseudonymKey,
      `parley/pseudonym/${BUSINESS_ID}`,
    );
    pseudonymOfCanary = derivePseudonym(crypto, pseudonymKey, PHONE_CANARY);

    // What the rest of the platform and the transport side got.
    const { statistics, billing } = gateway.statisticsExport();
    const signals = gateway.integritySignals();
    exports = Buffer.concat([
      ...statistics
        .days()
        .flatMap((day) => [
          Buffer.from(JSON.stringify(statistics.snapshot(day))),
          Buffer.from(JSON.stringify(billing.snapshot(day))),
        ]),
      Buffer.from(JSON.stringify(signals.signal(BUSINESS_ID))),
    ]);
    transport.record('integritySignal', signals.signal(BUSINESS_ID));
    await gateway.idle();
  }, 60_000);

  afterAll(async () => {
    await gateway.close();
    await store.close();
    await vaultStore.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const logBytes = () => Buffer.from(logger.lines.map((line) => JSON.stringify(line)).join('\n'));
  const errorBytes = () => blob([...thrown, ...background]);

  it('the searcher finds a secret in every encoding it looks for (and the run really carried the canaries)', () => {
    for (const [name, secret] of [
      ['text', CONTENT_CANARY],
      ['bytes', randomBytes(32)],
    ] as const) {
      for (const needle of needles(name, secret)) {
        const haystack = Buffer.concat([randomBytes(7), needle.bytes, randomBytes(5)]);
        expect(findIn(haystack, [needle])).toEqual([needle.label]);
      }
      // Base64 of the secret inside other bytes, at each alignment, is found.
      for (const align of [0, 1, 2]) {
        const wrapped = Buffer.concat([randomBytes(align), Buffer.from(secret), randomBytes(4)]);
        expect(
          findIn(Buffer.from(`x${wrapped.toString('base64')}y`), needles(name, secret)).length,
        ).toBeGreaterThan(0);
        expect(
          findIn(Buffer.from(wrapped.toString('base64url')), needles(name, secret)).length,
        ).toBeGreaterThan(0);
      }
      expect(findIn(randomBytes(4096), needles(name, secret))).toEqual([]);
    }
    // The flows ran: the business read the canary, the person decrypted it, stats counted it.
    expect(received.filter((text) => text.includes(CONTENT_CANARY))).toHaveLength(3);
    expect(person.textsFrom(BUSINESS_NUMBER).filter((text) => text.includes(CONTENT_CANARY))).toHaveLength(4);
    expect(exports.toString()).toContain('"messagesIn":3');
    expect(identityPrivateKey).toHaveLength(32);
    for (const message of [
      'inbound frame could not be decrypted',
      'message handler failed; redelivery scheduled',
      'sending attempt failed; retry scheduled',
      'spam report',
    ])
      expect(logger.lines.map((line) => line.message)).toContain(message);
  });

  it('the content canary is nowhere: database files and WALs, transport, logs, errors, statistics, integrity', () => {
    const search = needles('content', CONTENT_CANARY);
    const files = databaseFiles();
    expect(files.map((file) => file.name)).toEqual(
      expect.arrayContaining(['messages.db', 'messages.db-wal', 'vault.db']),
    );
    for (const file of files) expect(findIn(file.bytes, search), file.name).toEqual([]);
    expect(findIn(transport.all(), search)).toEqual([]);
    expect(findIn(logBytes(), search)).toEqual([]);
    expect(findIn(errorBytes(), search)).toEqual([]);
    expect(findIn(exports, search)).toEqual([]);
  });

  it('the private identity key is only in the database, and sealed there', () => {
    const search = needles('identity key', identityPrivateKey);
    for (const file of databaseFiles()) expect(findIn(file.bytes, search), file.name).toEqual([]);
    expect(findIn(transport.all(), search)).toEqual([]);
    expect(findIn(logBytes(), search)).toEqual([]);
    expect(findIn(errorBytes(), search)).toEqual([]);
    expect(findIn(exports, search)).toEqual([]);
    // The search works on these bytes: the public half was published through the transport.
    expect(findIn(transport.all(), needles('public key', identityPublicKey))).toContain('public key raw');
  });

  it('the phone-number canary is only in transport frames (routing) and next to messages in the database', async () => {
    for (const [name, secret] of [
      ['phone', PHONE_CANARY],
      ['phone digits', PHONE_DIGITS],
      ['pseudonym', pseudonymOfCanary],
    ] as const) {
      const search = needles(name, secret);
      expect(findIn(logBytes(), search), name).toEqual([]);
      expect(findIn(errorBytes(), search), name).toEqual([]);
      expect(findIn(exports, search), name).toEqual([]);
      expect(findIn(databaseBytes('vault'), search), name).toEqual([]);
    }
    // Routing: the transport sees the number (and only as routing; never the pseudonym).
    expect(findIn(transport.all(), needles('phone', PHONE_CANARY))).toContain('phone raw');
    expect(findIn(transport.all(), needles('pseudonym', pseudonymOfCanary))).toEqual([]);
    // In the message database the number rests sealed next to its messages: not in clear…
    expect(findIn(databaseBytes('messages'), needles('phone', PHONE_CANARY))).toEqual([]);
    // …but the operator's key opens it there, with the content.
    const archive = await readMessageArchive({
      store,
      vaultStore,
      keyProvider,
      businessId: BUSINESS_ID,
      crypto,
    });
    expect(archive.length).toBeGreaterThanOrEqual(5);
    expect(new Set(archive.map((message) => message.phoneNumber))).toEqual(new Set([PHONE_CANARY]));
    expect(archive.filter((m) => new TextDecoder().decode(m.content).includes(CONTENT_CANARY)).length).toBe(
      5,
    );
  });

  it('errors thrown to the business or logged carry no content, key or phone number; log fields are flat and non-personal', () => {
    expect(thrown).toHaveLength(12);
    for (const error of thrown) expect(isParleyError(error)).toBe(true);
    const everything = [
      ...needles('content', CONTENT_CANARY),
      ...needles('phone', PHONE_CANARY),
      ...needles('digits', PHONE_DIGITS),
      ...needles('key', identityPrivateKey),
    ];
    expect(findIn(errorBytes(), everything)).toEqual([]);
    for (const line of logger.lines) {
      for (const value of Object.values(line.fields ?? {}))
        expect(['string', 'number', 'boolean', 'undefined']).toContain(typeof value);
    }
    // The transport's own error named the recipient; the log has only its code.
    const retry = logger.lines.find((line) => line.message === 'sending attempt failed; retry scheduled');
    expect(retry?.fields?.code).toBe('ERR_TRANSPORT_FAILURE');
  });

  it('after the retention window and a sweep the phone number is gone from the database file and its WAL', async () => {
    clock.advance(31 * DAY_MS);
    const swept = await gateway.sweep();
    expect(swept.records).toBeGreaterThan(0);
    expect(swept.periodKeys).toBeGreaterThan(0);
    expect(
      await readMessageArchive({ store, vaultStore, keyProvider, businessId: BUSINESS_ID, crypto }),
    ).toEqual([]);
    const search = [
      ...needles('phone', PHONE_CANARY),
      ...needles('digits', PHONE_DIGITS),
      ...needles('content', CONTENT_CANARY),
    ];
    for (const file of databaseFiles()) expect(findIn(file.bytes, search), file.name).toEqual([]);
    expect(existsSync(join(dir, 'messages.db-wal'))).toBe(true);
    expect(readFileSync(join(dir, 'messages.db-wal')).length).toBe(0);
  });
});

// ── The issue's integrity scenarios, through the gateway, at the default thresholds ───

/** A tiny reproducible PRNG (mulberry32) for traffic shapes. */
function prng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('integrity scenarios through the gateway (SQLite, default thresholds)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'parley-integrity-'));
  const clock = new ManualClock();
  let store: Store;
  let vaultStore: Store;
  let gateway: Gateway;
  let network: TestNetwork;
  const logger = recordingLogger();
  const contacts: SimulatedPerson[] = [];
  const statuses = new Map<string, string>();
  const CONTACTS = 60;

  async function business(businessId: string, number: string): Promise<void> {
    await gateway.registerBusiness({ businessId });
    await gateway.addNumber(businessId, number);
    gateway.onMessage(businessId, () => undefined);
    gateway.onEvent(businessId, (event) => {
      if (event.type === 'status')
        statuses.set(event.messageId, `${event.status}${event.reason ? `:${event.reason}` : ''}`);
    });
  }

  /** Each contact writes to the number once, spread over `spreadMs`. */
  async function everyoneWritesIn(number: string, spreadMs: number): Promise<void> {
    for (const contact of contacts) {
      await contact.send(number, 'hello');
      await network.flush();
      clock.advance(Math.floor(spreadMs / contacts.length));
    }
  }

  beforeAll(async () => {
    store = createSqliteStore({ path: join(dir, 'messages.db'), clock });
    vaultStore = createSqliteStore({ path: join(dir, 'vault.db'), clock });
    network = new TestNetwork();
    gateway = createGateway({
      store,
      vaultStore,
      keyProvider: createLocalKeyProvider({ kek: randomBytes(32), crypto }),
      transport: network,
      directory: network,
      crypto,
      clock,
      timer: false,
      logger,
      preKeys: { kyberBatchSize: 4, kyberLowWaterMark: 2 },
      // Distinct counts are approximate: a fixed seed fixes the sketch and pseudonym keys, so
      // where the thresholds trip does not vary from run to run.
      random: createDeterministicRandom('integrity-scenarios'),
    });
    network.connect(gateway);
    for (let i = 0; i < CONTACTS; i++) {
      contacts.push(
        network.addPerson(
          await createSimulatedPerson({ phoneNumber: `+4916${String(10_000_000 + i)}`, crypto, clock }),
        ),
      );
    }
  }, 60_000);

  afterAll(async () => {
    await gateway.close();
    await store.close();
    await vaultStore.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a business that messages all of its contacts at once is throttled, then blocked; it recovers after the hour', async () => {
    const number = '+15550201';
    await business('blaster', number);
    // Over two weeks every contact wrote in once; a day later none is in the reply window.
    await everyoneWritesIn(number, 14 * DAY_MS);
    clock.advance(DAY_MS);
    const signals = gateway.integritySignals();
    expect(signals.signal('blaster').level).toBe('ok');
    // Approximate (a 256-register sketch), and its key is drawn from the seeded stream after
    // every earlier draw: 60 contacts read as 55+ on one stream and 52 once addNumber sealed one
    // more record. Most of them, as for the salon below.
    expect(signals.signal('blaster').snapshot.knownContacts).toBeGreaterThanOrEqual(50);

    const levels: string[] = [];
    const accepted: MessageId[] = [];
    let refused: unknown;
    for (const contact of contacts) {
      try {
        accepted.push(await gateway.send({ from: number, to: contact.phoneNumber, content: 'BIG SALE' }));
      } catch (error) {
        refused = error;
        break;
      }
      const level = signals.signal('blaster').level;
      if (levels.at(-1) !== level) levels.push(level);
    }
    expect(levels).toEqual(['ok', 'warn', 'throttle', 'block']);
    expect(isParleyError(refused, 'ERR_INTEGRITY_BLOCKED')).toBe(true);
    expect((refused as Error).message).toMatch(/messaged \d+ % of known contacts within 1 h/);
    // 80 % of 60 contacts, give or take the distinct-count estimate.
    expect(accepted.length).toBeGreaterThanOrEqual(44);
    expect(accepted.length).toBeLessThanOrEqual(52);
    const reason = signals.signal('blaster').reasons[0]!;
    expect(reason).toMatchObject({ rule: 'contact-share', level: 'block' });

    // Throttled messages waited for their slot (3 s apart); at their slot the business is blocked.
    await gateway.idle();
    const handedOver = new Set(network.sent.map((frame) => frame.frameId.split('.')[0]));
    const held = accepted.filter((id) => !handedOver.has(id));
    expect(held.length).toBeGreaterThan(0);
    clock.advance(10 * MINUTE);
    await gateway.tick();
    await network.flush();
    for (const id of held) expect(statuses.get(id)).toBe('failed:ERR_INTEGRITY_BLOCKED');
    expect(network.sent.some((frame) => held.includes(frame.frameId.split('.')[0] as MessageId))).toBe(false);

    // An hour later the window has slid past the blast.
    clock.advance(HOUR);
    expect(signals.signal('blaster').level).toBe('ok');
    const after = await gateway.send({
      from: number,
      to: contacts[0]!.phoneNumber,
      content: 'sorry about that',
    });
    await network.flush();
    expect(statuses.get(after)).toBe('delivered');
    const changes = logger.lines.filter(
      (line) => line.message === 'integrity level changed' && line.fields?.businessId === 'blaster',
    );
    expect(changes.map((line) => line.fields?.level)).toEqual(['warn', 'throttle', 'block', 'ok']);
  });

  it('steady conversational traffic stays ok for two days', async () => {
    const number = '+15550301';
    await business('salon', number);
    const random = prng(7);
    const signals = gateway.integritySignals();
    const seen = new Set<string>();
    const wroteAt = new Map<SimulatedPerson, number>();
    let sent = 0;
    for (let step = 0; step < (2 * DAY_MS) / (15 * MINUTE); step++) {
      clock.advance(15 * MINUTE);
      // Someone writes in and gets an answer.
      const contact = contacts[Math.floor(random() * contacts.length)]!;
      await contact.send(number, 'can I book for Friday?');
      await network.flush();
      wroteAt.set(contact, clock.now());
      await gateway.send({ from: number, to: contact.phoneNumber, content: 'Friday 10:00 is yours' });
      sent++;
      // Every two hours a follow-up to someone who wrote more than a day ago (unsolicited).
      if (step % 8 === 0) {
        const quiet = [...wroteAt].find(([, at]) => clock.now() - at > DAY_MS)?.[0];
        if (quiet) {
          await gateway.send({ from: number, to: quiet.phoneNumber, content: 'how was your visit?' });
          wroteAt.set(quiet, clock.now());
          sent++;
        }
      }
      await network.flush();
      seen.add(signals.signal('salon').level);
    }
    expect([...seen]).toEqual(['ok']);
    expect(sent).toBeGreaterThan(190);
    expect(signals.signal('salon').snapshot.knownContacts).toBeGreaterThanOrEqual(50);
    const { statistics } = gateway.statisticsExport();
    const salonOut = statistics
      .days()
      .flatMap((day) => statistics.snapshot(day).businesses)
      .filter((row) => row.businessId === 'salon')
      .reduce((sum, row) => sum + row.messagesOut, 0);
    expect(salonOut).toBe(sent);
  });

  it('a burst of spam reports flips the signal to block; it recovers after the quality window', async () => {
    const number = '+15550401';
    await business('spammy', number);
    const reporters = contacts.slice(0, 20);
    const ids = new Map<SimulatedPerson, MessageId>();
    for (const contact of reporters) {
      await contact.send(number, 'hi');
      await network.flush();
      ids.set(contact, await gateway.send({ from: number, to: contact.phoneNumber, content: 'buy now' }));
    }
    await network.flush();
    const signals = gateway.integritySignals();
    expect(signals.signal('spammy').snapshot.delivered).toBe(20);
    expect(signals.signal('spammy').level).toBe('ok');
    // A report by someone the message did not reach, and a repeated report, do not count.
    expect(
      await gateway.receiveSpamReport({
        reporter: contacts[30]!.phoneNumber,
        to: number,
        messageId: ids.get(reporters[0]!)!,
      }),
    ).toBe('not-delivered');
    const levels: string[] = [];
    for (const contact of reporters.slice(0, 5)) {
      const report = { reporter: contact.phoneNumber, to: 'spammy', messageId: ids.get(contact)! };
      expect(await gateway.receiveSpamReport(report)).toBe('counted');
      expect(await gateway.receiveSpamReport(report)).toBe('duplicate');
      levels.push(signals.signal('spammy').level);
    }
    expect(levels).toEqual(['ok', 'ok', 'ok', 'ok', 'block']);
    const flipped = signals.signal('spammy');
    expect(flipped.reasons[0]?.message).toBe('spam reports above 2 % of deliveries within 24 h (5 reports)');
    await expect(
      gateway.send({ from: number, to: reporters[10]!.phoneNumber, content: 'one more' }),
    ).rejects.toMatchObject({ code: 'ERR_INTEGRITY_BLOCKED' });

    clock.advance(DAY_MS + HOUR);
    expect(signals.signal('spammy').level).toBe('ok');
    const billing = gateway.statisticsExport().billing;
    const spammyDays = gateway
      .statisticsExport()
      .statistics.days()
      .flatMap((day) => billing.snapshot(day).businesses)
      .filter((row) => row.businessId === 'spammy');
    // Replies within 24 h of the person writing are not business-initiated.
    expect(spammyDays.reduce((sum, row) => sum + row.businessInitiatedDelivered, 0)).toBe(0);
    expect(spammyDays.reduce((sum, row) => sum + row.conversationsOpened, 0)).toBe(20);
  });
});
