import { isParleyError, type RandomSource } from '@parley/core';
import { createDeterministicRandom } from '@parley/core/testing';
import { diffSnapshots, type StoreSnapshot, snapshotStore } from '../store-snapshot.js';
import { untypedViolation, violation } from './classify.js';
import type { GatewayFixture, GatewayWorld } from './gateway-fixture.js';
import type { Violation } from './target.js';

/**
 * Keeps a gateway world at the fixture's state between inputs: an input that wrote anything
 * (other than what `allowed` names) or moved the clock leaves the world dirty, and the next
 * input gets a fresh one restored from the fixture. Parley's randomness is re-seeded per
 * input, so input i behaves the same however many inputs ran before it.
 */
export class WorldKeeper {
  private current: GatewayWorld | undefined;
  private writes = 0;
  private vaultWrites = 0;
  private time = 0;
  private source: RandomSource = createDeterministicRandom('unset');
  readonly random: RandomSource = (length) => this.source(length);
  /** Worlds created (restores), for the report. */
  restores = 0;
  /** Allowed changes earlier inputs left in the current world (not this input's doing). */
  private tolerated = new Set<string>();

  constructor(
    readonly fixture: GatewayFixture,
    private readonly seed: string,
    private readonly name: string,
    private readonly stores?: { store: StoreSnapshot; vault: StoreSnapshot },
  ) {}

  async world(index: number): Promise<GatewayWorld> {
    this.source = createDeterministicRandom(`${this.seed}/${this.name}/${index}`);
    if (!this.current) {
      this.current = await this.fixture.open(this.random, this.stores);
      this.restores += 1;
      this.tolerated = new Set();
      this.writes = this.current.store.writes;
      this.vaultWrites = this.current.vault.writes;
      this.time = this.current.clock.now();
    }
    return this.current;
  }

  /** Throw the world away (after an accepted input, or one that closed the gateway). */
  async discard(): Promise<void> {
    const world = this.current;
    this.current = undefined;
    if (world) await world.gateway.close().catch(() => undefined);
  }

  /**
   * After one input (background work settled): untyped errors reported to `onError`, and,
   * for a refused input, any stored change beyond `allowed`. Returns the typed background
   * codes too. Leaves the world dirty when anything but an allowed record changed.
   */
  async settle(
    world: GatewayWorld,
    options: { readonly refused: boolean; readonly allowed?: RegExp; readonly context: string },
  ): Promise<{ violation?: Violation; backgroundCodes: string[]; firstBackground?: string }> {
    await world.gateway.idle();
    const backgroundCodes: string[] = [];
    let found: Violation | undefined;
    let firstBackground: string | undefined;
    for (const error of world.takeErrors()) {
      if (isParleyError(error)) {
        backgroundCodes.push(error.code);
        firstBackground ??= `${error.code}: ${error.message}`;
      } else found ??= untypedViolation(error, `${options.context} (background, onError)`);
    }
    const wrote = world.store.writes !== this.writes || world.vault.writes !== this.vaultWrites;
    const moved = world.clock.now() !== this.time;
    if (!wrote && !moved) return { violation: found, backgroundCodes, firstBackground };
    const changes = (wrote ? await this.changes(world) : []).filter((change) => !this.tolerated.has(change));
    const unexpected = changes.filter((change) => !options.allowed?.test(change));
    if (options.refused && unexpected.length > 0) {
      found ??= violation(
        'state-changed',
        new Error(
          `a refused input changed ${unexpected.length} record(s): ${unexpected.slice(0, 4).join(', ')}`,
        ),
        `${options.context}: ${[...new Set(unexpected.map(family))].join(', ')}`,
      );
    }
    if (moved || unexpected.length > 0) await this.discard();
    else {
      for (const change of changes) this.tolerated.add(change);
      this.writes = world.store.writes;
      this.vaultWrites = world.vault.writes;
    }
    return { violation: found, backgroundCodes, firstBackground };
  }

  /** Record keys changed against the fixture (values and expiry; a restored copy has new versions). */
  async changes(world: GatewayWorld): Promise<string[]> {
    const base = this.stores ?? this.fixture;
    return [
      ...diffSnapshots(base.store, await snapshotStore(world.store), false),
      ...diffSnapshots(base.vault, await snapshotStore(world.vault), false).map((c) => `vault ${c}`),
    ];
  }
}

/** A change with its ids, numbers and pseudonyms masked: one signature per family of records. */
export function family(change: string): string {
  return change
    .replace(/[0-9a-f]{64,}/g, '*')
    .replace(/m[0-9a-f]{32}/g, '*')
    .replace(/[0-9a-f]{32}/g, '*')
    .replace(/\+\d+/g, '*')
    .replace(/gw\/b\/[^/]+\//, 'gw/b/*/')
    .replace(/gw%2F[^/]+/, 'scope')
    .replace(/\/\d+(\/|$)/g, '/N$1')
    .replace(/\/\*(\/\*)+/g, '/*');
}

/**
 * Retry-request markers: the one write an undecryptable frame is meant to leave — the rate
 * limit's count of decryption errors sent to that device in the retry interval (added, or
 * counted up), and its session-reset marker.
 */
export const RETRY_MARKER = /^(added|changed) meta:gw\/b\/[^/]+\/r\//;
