/**
 * The messaging network the example stands in for: a relay that queues the gateway's frames
 * per device until the device confirms them (a receipt), and the key directory (Signal's key
 * server) where business numbers and people's devices publish prekeys; each one-time prekey
 * is served at most once. It sees routing and ciphertext only.
 *
 * The mailboxes and the directory are the examples' shared in-memory network
 * (`src/shared/memory-network.ts`); the relay adds its log and pushes to connected pages.
 */
import type { OutboundFrame } from '@parley/core';
import { deviceKey, MemoryNetwork } from '../src/shared/memory-network.js';

/** What the relay saw: routing and message types, never content. */
export interface RelayLogEntry {
  readonly direction: 'to-business' | 'to-person';
  readonly frameId: string;
  readonly type: 2 | 3 | 7 | 8;
}

type Listener = (frame: OutboundFrame) => void;

export class Relay extends MemoryNetwork {
  private readonly listeners = new Map<string, Set<Listener>>();
  readonly log: RelayLogEntry[] = [];

  /** A frame from a person's device, on its way to the gateway. */
  noteInbound(frameId: string, type: 2 | 3 | 8): void {
    this.log.push({ direction: 'to-business', frameId, type });
  }

  /** Calls `listener` for every new frame to a device; returns the unsubscribe function. */
  subscribe(phoneNumber: string, deviceId: number, listener: Listener): () => void {
    const key = deviceKey(phoneNumber, deviceId);
    const set = this.listeners.get(key) ?? new Set<Listener>();
    this.listeners.set(key, set);
    set.add(listener);
    return () => set.delete(listener);
  }

  /** The gateway hands a frame to the relay: it waits in the mailbox until the device confirms it. */
  protected override deliver(frame: OutboundFrame): void {
    super.deliver(frame);
    this.log.push({ direction: 'to-person', frameId: frame.frameId, type: frame.type });
    for (const listener of this.listeners.get(deviceKey(frame.to, frame.deviceId)) ?? []) listener(frame);
  }
}
