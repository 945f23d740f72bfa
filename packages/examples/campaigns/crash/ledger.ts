import type { Delivery, SimulatedPerson } from '@parley/core/testing';
import { bump } from '../fuzz/engine.js';
import type { Line } from './line-protocol.js';

/** Message id of an outbound frame id (`{messageId}.{deviceId}.{attempt}`). */
export const messageIdOfFrame = (frameId: string) => frameId.split('.')[0]!;

interface OutboundEntry {
  readonly person: string;
  readonly number: string;
  /** Known once `send` resolved; undefined: the process died first (in doubt). */
  id?: string;
}

/**
 * What everyone saw: the people's devices, the business's handler and event handler, the
 * network, and the kills. `verdict()` turns it into the campaign's figures and violations.
 */
export class Ledger {
  readonly inboundSent = new Map<string, { person: string; deviceId: number; number: string }>();
  /** token → message ids the business handler got it under, and how many times. */
  readonly handlerSaw = new Map<string, { ids: Set<string>; times: number }>();
  readonly outbound = new Map<string, OutboundEntry>();
  readonly tokenOfId = new Map<string, string>();
  /** message id → statuses the business's event handler got (in order). */
  readonly statuses = new Map<string, string[]>();
  readonly eventIds = new Set<string>();
  duplicateEvents = 0;
  droppedEvents = 0;
  readonly crashes: Extract<Line, { t: 'crash' }>[] = [];
  readonly kills = new Map<string, number>();
  readonly backgroundCodes = new Map<string, number>();
  /** The first message of each background error code, for the report. */
  readonly backgroundExamples = new Map<string, string>();
  readonly untyped: string[] = [];
  readonly numbers = new Map<string, 'added' | 'in doubt' | 'retried ok' | string>();
  /** Numbers whose keys reached the directory. */
  readonly publishedNumbers = new Set<string>();
  readonly probes = {
    inboundSent: 0,
    inboundLost: 0,
    outboundSent: 0,
    deviceMissing: 0,
    failures: [] as string[],
  };
  restarts = 0;

  event(event: Record<string, unknown>): void {
    const id = (event.id ?? event.eventId) as string | undefined;
    if (id !== undefined) {
      if (this.eventIds.has(id)) {
        this.duplicateEvents += 1;
        return;
      }
      this.eventIds.add(id);
    }
    if (event.type === 'dropped') this.droppedEvents += 1;
    if (event.type !== 'status') return;
    const messageId = String(event.messageId);
    const list = this.statuses.get(messageId) ?? [];
    list.push(String(event.status));
    this.statuses.set(messageId, list);
  }

  handler(message: { id: string; text: string }): void {
    const seen = this.handlerSaw.get(message.text) ?? { ids: new Set<string>(), times: 0 };
    seen.ids.add(message.id);
    seen.times += 1;
    this.handlerSaw.set(message.text, seen);
  }

  backgroundError(error: { code?: string; name: string; message: string }): void {
    if (error.name === 'ParleyError' && error.code) {
      bump(this.backgroundCodes, error.code);
      if (!this.backgroundExamples.has(error.code)) this.backgroundExamples.set(error.code, error.message);
    } else this.untyped.push(`background: ${error.name}: ${error.message}`);
  }

  /** The figures and the violations, from the ledger and the network's log. */
  verdict(
    people: readonly SimulatedPerson[],
    log: readonly Delivery[],
    finalStatus: ReadonlyMap<string, string>,
  ): Verdict {
    const v = new Verdict();
    // Inbound: every frame a person sent reached the business, under one id.
    for (const [token] of this.inboundSent) {
      const seen = this.handlerSaw.get(token);
      if (!seen) v.inboundLost.push(token);
      else {
        v.inboundDelivered += 1;
        v.inboundDuplicates += seen.times - 1;
        if (seen.ids.size > 1) v.inboundDuplicateIds.push(token);
      }
    }
    // Outbound: what each device of the person decrypted, by message id.
    const received = new Map<string, Map<number, Set<string>>>();
    for (const person of people) {
      for (const message of person.received) {
        const byDevice = received.get(message.text) ?? new Map<number, Set<string>>();
        const ids = byDevice.get(message.deviceId) ?? new Set<string>();
        if (ids.has(messageIdOfFrame(message.frameId)) || ids.size > 0) v.outboundDuplicates += 1;
        ids.add(messageIdOfFrame(message.frameId));
        byDevice.set(message.deviceId, ids);
        received.set(message.text, byDevice);
      }
    }
    const devicesOf = new Map(people.map((p) => [p.phoneNumber, p.deviceIds]));
    for (const [token, entry] of this.outbound) {
      const byDevice = received.get(token);
      if (entry.id === undefined) {
        if (byDevice) v.inDoubtDelivered += 1;
        else v.inDoubtNotDelivered += 1;
        continue;
      }
      v.outboundAccepted += 1;
      if (!byDevice) {
        v.outboundLost.push(`${token} (${entry.id})`);
        continue;
      }
      const ids = new Set([...byDevice.values()].flatMap((s) => [...s]));
      if (ids.size > 1) v.outboundDuplicateIds.push(token);
      const missing = (devicesOf.get(entry.person) ?? []).filter((d) => !byDevice.has(d));
      if (missing.length > 0)
        v.deviceSkipped.push(`${token}: devices ${missing.join(',')} of ${byDevice.size + missing.length}`);
      else v.outboundAllDevices += 1;
    }
    // Status events: what the business must have been told, given what the network saw.
    const receipted = new Set<string>();
    for (const d of log)
      if (d.result === 'receipt' && d.packet.kind === 'receipt')
        receipted.add(messageIdOfFrame(d.packet.receipt.frameId));
    const personGot = new Set<string>();
    for (const person of people) for (const m of person.received) personGot.add(messageIdOfFrame(m.frameId));
    for (const [, entry] of this.outbound) {
      const id = entry.id;
      if (id === undefined) continue;
      const seen = this.statuses.get(id) ?? [];
      const missing: string[] = [];
      if (!seen.includes('accepted')) missing.push('accepted');
      if (personGot.has(id) && !seen.some((s) => s === 'sent' || s === 'delivered')) missing.push('sent');
      if (receipted.has(id) && !seen.includes('delivered')) missing.push('delivered');
      const final = finalStatus.get(id);
      if (final !== undefined && !seen.includes(final) && !missing.includes(final))
        missing.push(`${final} (from status())`);
      if (missing.length > 0) v.lostStatusEvents.push(`${id}: ${missing.join(', ')}`);
    }
    // Sessions: a genuine frame refused by either side means a broken session.
    for (const d of log) {
      if (d.result === 'refused' && d.packet.direction === 'to-person' && d.code !== 'ERR_DUPLICATE_MESSAGE')
        bump(v.personRefused, d.code);
      if (d.result === 'accepted' && d.outcome.kind === 'undecryptable')
        bump(v.gatewayUndecryptable, d.outcome.reason);
      if (d.result === 'refused' && d.packet.direction === 'to-gateway') bump(v.gatewayRefused, d.code);
    }
    v.probeFailures = this.probes.failures;
    for (const [number, state] of this.numbers) {
      const usable =
        state === 'added' || state === 'retried ok' || state.startsWith('retried: already registered');
      if (!usable) v.unusableNumbers.push(`${number}: ${state}`);
      else if (!this.publishedNumbers.has(number))
        v.unusableNumbers.push(`${number}: ${state}, but never published`);
    }
    v.untyped = this.untyped;
    return v;
  }
}

export class Verdict {
  inboundDelivered = 0;
  inboundDuplicates = 0;
  readonly inboundLost: string[] = [];
  readonly inboundDuplicateIds: string[] = [];
  outboundAccepted = 0;
  outboundAllDevices = 0;
  outboundDuplicates = 0;
  inDoubtDelivered = 0;
  inDoubtNotDelivered = 0;
  readonly outboundLost: string[] = [];
  readonly outboundDuplicateIds: string[] = [];
  readonly deviceSkipped: string[] = [];
  readonly lostStatusEvents: string[] = [];
  readonly personRefused = new Map<string, number>();
  readonly gatewayUndecryptable = new Map<string, number>();
  readonly gatewayRefused = new Map<string, number>();
  probeFailures: string[] = [];
  readonly unusableNumbers: string[] = [];
  untyped: string[] = [];

  get brokenSessions(): number {
    let n = this.probeFailures.length;
    for (const count of this.personRefused.values()) n += count;
    for (const count of this.gatewayUndecryptable.values()) n += count;
    return n;
  }

  /** Each violated guarantee, with a few examples. */
  violations(): string[] {
    const out: string[] = [];
    const add = (what: string, list: readonly string[]) => {
      if (list.length > 0) out.push(`${what}: ${list.length} (e.g. ${list.slice(0, 3).join('; ')})`);
    };
    add('lost inbound messages', this.inboundLost);
    add('inbound duplicates under different ids', this.inboundDuplicateIds);
    add('lost outbound messages', this.outboundLost);
    add('outbound duplicates under different ids', this.outboundDuplicateIds);
    add("messages that skipped some of the person's devices", this.deviceSkipped);
    add('lost status events', this.lostStatusEvents);
    add('numbers unusable after a crash', this.unusableNumbers);
    add('untyped errors', this.untyped);
    if (this.brokenSessions > 0)
      out.push(
        `broken sessions: ${this.brokenSessions} (person refused ${fmt(this.personRefused)}; gateway undecryptable ${fmt(
          this.gatewayUndecryptable,
        )}; final probes ${this.probeFailures.slice(0, 3).join('; ') || 'ok'})`,
      );
    return out;
  }
}

export const fmt = (map: ReadonlyMap<string, number>) =>
  map.size === 0 ? 'none' : [...map].map(([k, n]) => `${k} ${n}`).join(', ');
