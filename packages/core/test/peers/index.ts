/**
 * Real Signal-protocol peers for byte-compatibility tests, all behind one {@link PeerClient}
 * interface. See /work/shared/docs/WIRE.md for the families and which of them interoperate.
 */
import {
  type LibsignalNodeKind,
  libsignalNodeFactories,
  libsignalNodePeerFactory,
} from './libsignal-node.js';
import { type LscKind, lscFactories, lscKinds, lscPeerFactory } from './lsc.js';
import {
  PRIVACYRESEARCH_KIND,
  privacyResearchFactory,
  privacyResearchPeerFactory,
} from './privacyresearch.js';
import type { PeerFactory, TrustMode } from './types.js';

export * from './libsignal-node.js';
export * from './lsc.js';
export * from './privacyresearch.js';
export * from './types.js';

export const allPeers: Record<string, PeerFactory> = {
  ...lscFactories,
  ...libsignalNodeFactories,
  [PRIVACYRESEARCH_KIND]: privacyResearchFactory,
};

function pick(kinds: readonly string[]): Record<string, PeerFactory> {
  return Object.fromEntries(
    kinds.map((kind) => {
      const factory = allPeers[kind];
      if (!factory) throw new Error(`unknown peer ${kind}`);
      return [kind, factory];
    }),
  );
}

/** v3 (version byte 0x33, X3DH + Double Ratchet). */
export const v3PeerKinds = [
  'lsc-0.23.1',
  'libsignal-6.0.0',
  'libsignal-2.0.1',
  PRIVACYRESEARCH_KIND,
] as const;
/** v4 without SPQR (PQXDH + Double Ratchet; 0.75.1/0.90.0 offer SPQR but fall back). */
export const v4PeerKinds = ['lsc-0.72.1', 'lsc-0.75.1', 'lsc-0.90.0'] as const;
/** Current libsignal: v4 with SPQR required. */
export const currentPeerKind = 'lsc-0.103.0';

export const v3Peers: Record<string, PeerFactory> = pick(v3PeerKinds);
export const v4Peers: Record<string, PeerFactory> = pick(v4PeerKinds);
export const currentPeer: PeerFactory = allPeers[currentPeerKind]!;

/** Which peers can make bundles with a Kyber prekey. */
export function supportsKyber(kind: string): boolean {
  return kind.startsWith('lsc-') && kind !== 'lsc-0.23.1';
}

export interface PeerOptions {
  /** Identity trust policy (default 'tofu'). */
  trust?: TrustMode;
  /** SPQR switch; only lsc-0.75.1 has one (see LscPeerOptions.pqRatchet). */
  pqRatchet?: boolean;
}

/** A factory for any peer kind with non-default options. */
export function makePeerFactory(kind: string, options: PeerOptions = {}): PeerFactory {
  if ((lscKinds as readonly string[]).includes(kind)) return lscPeerFactory(kind as LscKind, options);
  if (options.pqRatchet !== undefined) throw new Error(`${kind} has no SPQR switch`);
  const trust = options.trust === undefined ? {} : { trust: options.trust };
  if (kind === PRIVACYRESEARCH_KIND) return privacyResearchPeerFactory(trust);
  if (kind in libsignalNodeFactories) return libsignalNodePeerFactory(kind as LibsignalNodeKind, trust);
  throw new Error(`unknown peer ${kind}`);
}
