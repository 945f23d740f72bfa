/**
 * Bearer tokens of the cloud API: one per (business, principal). A token is random, shown once
 * when it is issued and kept only as its SHA-256; presenting it finds the record by the token's
 * public id and compares the hashes in constant time. The records live in a Parley store (the
 * gateway's own, for a server that restarts, or a memory store), under `meta api/tokens/{id}`.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import {
  type Clock,
  createMemoryStore,
  ParleyError,
  type RandomSource,
  type Store,
  systemClock,
} from '@parley/core';

/** What a token stands for. */
export interface TokenGrant {
  /** Public: it names the token in lists and logs, and proves nothing. */
  readonly tokenId: string;
  readonly businessId: string;
  /** The access log's principal for every call made with this token. */
  readonly principal: string;
  readonly createdAt: number;
}

export interface IssuedToken extends TokenGrant {
  /** The bearer token itself: shown this once, never stored. */
  readonly token: string;
}

export interface TokenStoreOptions {
  /** Where the hashed records live (default: a new memory store). */
  readonly store?: Store;
  readonly random?: RandomSource;
  readonly clock?: Clock;
}

const PREFIX = 'api/tokens/';
const TOKEN_FORMAT = 1;
/** `prl_` + 12 hex characters of id + `_` + 43 base64url characters (256 random bits). */
const TOKEN = /^prl_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$/;
const SECRET_BYTES = 32;
const ID_BYTES = 6;
// The same shapes the gateway accepts (see BusinessHandle): refused here, at issue time, rather
// than on every request made with a token that can never work.
const BUSINESS_ID = /^[A-Za-z0-9_-]{1,64}$/;
const PRINCIPAL = /^[\x21-\x7e][\x20-\x7e]{0,127}$/;

interface TokenRecord {
  readonly v: number;
  readonly sha256: string;
  readonly businessId: string;
  readonly principal: string;
  readonly createdAt: number;
}

export class TokenStore {
  readonly #store: Store;
  readonly #random: RandomSource;
  readonly #clock: Clock;

  constructor(options: TokenStoreOptions = {}) {
    this.#clock = options.clock ?? systemClock;
    this.#store = options.store ?? createMemoryStore({ clock: this.#clock });
    this.#random = options.random ?? ((length) => new Uint8Array(randomBytes(length)));
  }

  /** A new token for `principal` acting for `businessId`. */
  async issue(grant: { readonly businessId: string; readonly principal: string }): Promise<IssuedToken> {
    if (typeof grant?.businessId !== 'string' || !BUSINESS_ID.test(grant.businessId)) {
      throw new ParleyError(
        'ERR_INVALID_ARGUMENT',
        '"businessId" expected 1–64 characters of A–Z, a–z, 0–9, _ or -',
        {
          field: 'businessId',
        },
      );
    }
    if (typeof grant.principal !== 'string' || !PRINCIPAL.test(grant.principal)) {
      throw new ParleyError('ERR_INVALID_ARGUMENT', '"principal" expected 1–128 printable ASCII characters', {
        field: 'principal',
      });
    }
    const tokenId = Buffer.from(this.#random(ID_BYTES)).toString('hex');
    const token = `prl_${tokenId}_${Buffer.from(this.#random(SECRET_BYTES)).toString('base64url')}`;
    const record: TokenRecord = {
      v: TOKEN_FORMAT,
      sha256: sha256(token).toString('hex'),
      businessId: grant.businessId,
      principal: grant.principal,
      createdAt: this.#clock.now(),
    };
    // version 0: a (vanishingly unlikely) id collision fails instead of replacing a token.
    await this.#store.commit(
      [{ type: 'put', namespace: 'meta', key: PREFIX + tokenId, value: encode(record) }],
      {
        expectVersions: [{ namespace: 'meta', key: PREFIX + tokenId, version: 0 }],
      },
    );
    return { token, ...toGrant(tokenId, record) };
  }

  /** The grant of a valid token; `undefined` for anything else (malformed, unknown, revoked). */
  async authenticate(token: string): Promise<TokenGrant | undefined> {
    const match = typeof token === 'string' ? TOKEN.exec(token) : null;
    if (!match) return undefined;
    const tokenId = match[1]!;
    const stored = await this.#store.get('meta', PREFIX + tokenId);
    const record = stored && decode(stored.value);
    const presented = sha256(token);
    // Compared even when the id is unknown, so both answers take the same time.
    const expected = record ? Buffer.from(record.sha256, 'hex') : Buffer.alloc(presented.length);
    const equal = expected.length === presented.length && timingSafeEqual(expected, presented);
    return record && equal ? toGrant(tokenId, record) : undefined;
  }

  /** Revokes a token by its public id; false when there was none. */
  async revoke(tokenId: string): Promise<boolean> {
    if (typeof tokenId !== 'string' || !/^[0-9a-f]{12}$/.test(tokenId)) return false;
    const stored = await this.#store.get('meta', PREFIX + tokenId);
    if (!stored) return false;
    await this.#store.commit([{ type: 'delete', namespace: 'meta', key: PREFIX + tokenId }]);
    return true;
  }

  /** The grants (never the tokens, never their hashes), of one business or of all. */
  async list(businessId?: string): Promise<TokenGrant[]> {
    const out: TokenGrant[] = [];
    for (const stored of await this.#store.list('meta', { prefix: PREFIX })) {
      const record = decode(stored.value);
      if (!record || (businessId !== undefined && record.businessId !== businessId)) continue;
      out.push(toGrant(stored.key.slice(PREFIX.length), record));
    }
    return out;
  }
}

/** SHA-256 of a token's text: what is stored and compared, never the token. */
export function sha256(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

function toGrant(tokenId: string, record: TokenRecord): TokenGrant {
  return { tokenId, businessId: record.businessId, principal: record.principal, createdAt: record.createdAt };
}

function encode(record: TokenRecord): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(record));
}

/** An unreadable record is treated as no token at all (it can authorize nothing). */
function decode(bytes: Uint8Array): TokenRecord | undefined {
  try {
    const record = JSON.parse(
      new TextDecoder('utf-8', { fatal: true }).decode(bytes),
    ) as Partial<TokenRecord>;
    if (
      record.v !== TOKEN_FORMAT ||
      typeof record.sha256 !== 'string' ||
      !/^[0-9a-f]{64}$/.test(record.sha256) ||
      typeof record.businessId !== 'string' ||
      typeof record.principal !== 'string' ||
      typeof record.createdAt !== 'number'
    ) {
      return undefined;
    }
    return record as TokenRecord;
  } catch {
    return undefined;
  }
}
