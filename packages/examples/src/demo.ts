/**
 * `pnpm demo`: a business and a person's two devices holding Signal-protocol sessions
 * through Parley. Prints what happened — never keys, plaintext bytes on the wire or numbers.
 */
import { performance } from 'node:perf_hooks';
import { createMemoryStore, type ProtocolAddress, SessionManager } from '@parley/core';
import { createNodeCrypto } from '@parley/core/node';

const crypto = createNodeCrypto();
const encoder = new TextEncoder();
const decoder = new TextDecoder();
const started = performance.now();

function log(step: string, detail = ''): void {
  const ms = (performance.now() - started).toFixed(1).padStart(7);
  console.log(`${ms} ms  ${step}${detail ? `  — ${detail}` : ''}`);
}

async function main(): Promise<void> {
  console.log('Parley demo: a business talks to a person with two devices over Signal-protocol sessions.\n');
  const business = new SessionManager({ store: createMemoryStore(), crypto, scope: 'business-number-1' });
  const businessAddress: ProtocolAddress = { name: 'business', deviceId: 1 };
  await business.initializeIdentity();
  await business.generateSignedPreKey(1);
  await business.generateOneTimePreKeys(1, 5);
  log('business keys generated', 'identity, signed prekey 1, one-time prekeys 1–5');

  const devices = [1, 2].map((deviceId) => ({
    address: { name: 'person', deviceId } satisfies ProtocolAddress,
    sessions: new SessionManager({ store: createMemoryStore(), crypto, scope: `person-device-${deviceId}` }),
  }));
  // A person's linked devices share the account's identity key (as in Signal).
  const personIdentity = await devices[0]!.sessions.initializeIdentity();
  await devices[1]!.sessions.initializeIdentity({ identityKeyPair: personIdentity.identityKeyPair });

  for (const [i, device] of devices.entries()) {
    const bundle = await business.createBundle({ deviceId: 1, signedPreKeyId: 1, preKeyId: i + 1 });
    await device.sessions.processBundle(businessAddress, bundle);
    log(`device ${device.address.deviceId} processed the business's bundle`, `one-time prekey ${i + 1}`);
  }

  for (const device of devices) {
    const message = await device.sessions.encrypt(
      businessAddress,
      encoder.encode(`Hello from device ${device.address.deviceId}`),
    );
    const result = await business.decrypt(device.address, message);
    log(
      `business decrypted a message from device ${device.address.deviceId}`,
      `type ${message.type === 3 ? 'prekey' : 'whisper'}, ${message.body.length} bytes on the wire, ${result.newSession ? 'new session' : 'existing session'}`,
    );
  }

  let roundTrips = 0;
  for (const device of devices) {
    const reply = await business.encrypt(device.address, encoder.encode('Thanks, how can we help?'));
    const opened = await device.sessions.decrypt(businessAddress, reply);
    if (decoder.decode(opened.plaintext) !== 'Thanks, how can we help?')
      throw new Error('demo: reply mismatch');
    roundTrips++;
  }
  log('business replied to both devices', `${roundTrips} replies decrypted`);

  const burst = [];
  for (let i = 0; i < 5; i++)
    burst.push(await devices[0]!.sessions.encrypt(businessAddress, encoder.encode(`burst ${i}`)));
  for (const message of burst.reverse()) await business.decrypt(devices[0]!.address, message);
  log('a burst of 5 messages arrived in reverse order', 'all decrypted');

  const replay = await business
    .decrypt(devices[0]!.address, burst[0]!)
    .catch((error: { code?: string }) => error.code);
  log('a replayed message was refused', String(replay));

  console.log('\nDone: sessions established, messages both ways, reordering handled, replay refused.');
}

main().catch((error: unknown) => {
  console.error('demo failed:', error instanceof Error ? `${error.name}: ${error.message}` : 'unknown error');
  process.exit(1);
});
