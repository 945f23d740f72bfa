/**
 * The network's key directory, one for the whole deployment (the harness holds it; every
 * gateway process reaches it over IPC): the business number's published keys, each one-time
 * prekey served once, and the people's devices and bundles. It also counts what was published,
 * so that a doubled replenishment (two instances topping up the same pool) shows in the figures.
 */
import { ParleyError, type PreKeyBundle, type PreKeyUpload, type SignedPublicPreKey } from '@parley/core';
import type { SimulatedPerson } from '@parley/core/testing';

interface Published {
  registrationId: number;
  identityKey: Uint8Array;
  signedPreKey: SignedPublicPreKey;
  pool: { id: number; publicKey: Uint8Array }[];
  lastResortKyberPreKey: SignedPublicPreKey;
  kyberPool: SignedPublicPreKey[];
}

export interface PublishFigures {
  readonly uploads: number;
  readonly oneTimePreKeys: number;
  readonly oneTimeKyberPreKeys: number;
  /** One-time prekey ids published more than once (the same key offered twice). */
  readonly repeatedIds: number;
  /** One-time prekey ids (EC or Kyber) handed to more than one device. */
  readonly servedTwice: number;
}

export class SharedDirectory {
  private readonly published = new Map<string, Published>();
  private readonly people = new Map<string, SimulatedPerson>();
  private readonly seenIds = new Set<string>();
  private readonly servedIds = new Set<string>();
  private servedTwice = 0;
  private uploads = 0;
  private oneTime = 0;
  private oneTimeKyber = 0;
  private repeated = 0;

  addPerson(person: SimulatedPerson): void {
    this.people.set(person.phoneNumber, person);
  }

  person(phoneNumber: string): SimulatedPerson | undefined {
    return this.people.get(phoneNumber);
  }

  publish(upload: PreKeyUpload): void {
    this.uploads += 1;
    this.oneTime += upload.oneTimePreKeys.length;
    this.oneTimeKyber += upload.oneTimeKyberPreKeys.length;
    for (const key of upload.oneTimePreKeys) this.noteId(upload.number, 'ec', key.id);
    for (const key of upload.oneTimeKyberPreKeys) this.noteId(upload.number, 'kyber', key.id);
    const entry = this.published.get(upload.number);
    if (!entry) {
      this.published.set(upload.number, {
        registrationId: upload.registrationId,
        identityKey: upload.identityKey,
        signedPreKey: upload.signedPreKey,
        pool: [...upload.oneTimePreKeys],
        lastResortKyberPreKey: upload.lastResortKyberPreKey,
        kyberPool: [...upload.oneTimeKyberPreKeys],
      });
      return;
    }
    entry.signedPreKey = upload.signedPreKey;
    entry.lastResortKyberPreKey = upload.lastResortKyberPreKey;
    entry.pool.push(...upload.oneTimePreKeys);
    entry.kyberPool.push(...upload.oneTimeKyberPreKeys);
  }

  availableOneTimePreKeys(number: string): number {
    return this.published.get(number)?.pool.length ?? 0;
  }

  availableOneTimeKyberPreKeys(number: string): number {
    return this.published.get(number)?.kyberPool.length ?? 0;
  }

  fetchDevices(phoneNumber: string): number[] {
    return [...(this.people.get(phoneNumber)?.deviceIds ?? [])];
  }

  fetchBundle(phoneNumber: string, deviceId: number): Promise<PreKeyBundle> {
    const person = this.people.get(phoneNumber);
    if (!person) throw new ParleyError('ERR_NOT_FOUND', 'no such person on the network');
    return person.bundle(deviceId);
  }

  /** A business number's bundle as a person's client fetches it: each one-time prekey served once. */
  businessBundle(number: string): PreKeyBundle {
    const entry = this.published.get(number);
    if (!entry) throw new ParleyError('ERR_NOT_FOUND', 'this business number has published no keys');
    const oneTime = entry.pool.shift();
    const oneTimeKyber = entry.kyberPool.shift();
    const kyber = oneTimeKyber ?? entry.lastResortKyberPreKey;
    if (oneTime) this.noteServed(number, 'ec', oneTime.id);
    if (oneTimeKyber) this.noteServed(number, 'kyber', oneTimeKyber.id);
    return {
      registrationId: entry.registrationId,
      deviceId: 1,
      identityKey: entry.identityKey,
      signedPreKeyId: entry.signedPreKey.id,
      signedPreKey: entry.signedPreKey.publicKey,
      signedPreKeySignature: entry.signedPreKey.signature,
      preKeyId: oneTime?.id,
      preKey: oneTime?.publicKey,
      kyberPreKeyId: kyber.id,
      kyberPreKey: kyber.publicKey,
      kyberPreKeySignature: kyber.signature,
    };
  }

  figures(): PublishFigures {
    return {
      uploads: this.uploads,
      oneTimePreKeys: this.oneTime,
      oneTimeKyberPreKeys: this.oneTimeKyber,
      repeatedIds: this.repeated,
      servedTwice: this.servedTwice,
    };
  }

  private noteServed(number: string, kind: string, id: number): void {
    const key = `${number}/${kind}/${id}`;
    if (this.servedIds.has(key)) this.servedTwice += 1;
    this.servedIds.add(key);
  }

  private noteId(number: string, kind: string, id: number): void {
    const key = `${number}/${kind}/${id}`;
    if (this.seenIds.has(key)) this.repeated += 1;
    this.seenIds.add(key);
  }
}
