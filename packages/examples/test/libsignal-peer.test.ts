/**
 * The libsignal-peer example: a business served by a Parley gateway and people whose phones
 * run real, independent Signal-protocol libraries. Runs the example's own function for each
 * library and checks the conversation it reports.
 */
import { describe, expect, it } from 'vitest';
import { PEER_LIBRARIES, runLibsignalPeerExample } from '../libsignal-peer/main.js';

const expected = [
  // Alice starts the session (her library does X3DH with the gateway's published bundle).
  ['to-business', 'Alice', 'prekey', 'Hi! Has my order shipped?'],
  ['to-person', 'Alice', 'whisper', 'Yes, it left our warehouse this morning.'],
  ['to-business', 'Alice', 'whisper', 'Great, thanks!'],
  // Out of order, both ways.
  ['to-person', 'Alice', 'whisper', 'Tracking update 3/3'],
  ['to-person', 'Alice', 'whisper', 'Tracking update 2/3'],
  ['to-person', 'Alice', 'whisper', 'Tracking update 1/3'],
  ['to-business', 'Alice', 'whisper', 'Can I change the address?'],
  ['to-business', 'Alice', 'whisper', 'One more question…'],
  ['to-person', 'Alice', 'whisper', 'Sure, reply with the new address.'],
  // The gateway starts the session with Bob from his library's bundle.
  ['to-person', 'Bob', 'prekey', 'Your appointment is confirmed for Tuesday at 10:00.'],
  ['to-business', 'Bob', 'whisper', 'Thanks, see you then.'],
  ['to-person', 'Bob', 'whisper', 'Great!'],
].map(([direction, person, type, text]) => ({ direction, person, type, text }));

describe('libsignal-peer example', () => {
  it('covers both libraries', () => {
    expect(PEER_LIBRARIES).toEqual(['lsc-0-23', 'libsignal-6']);
  });

  it.each([
    ['lsc-0-23', '@signalapp/libsignal-client 0.23.1'],
    ['libsignal-6', 'libsignal (libsignal-node) 6.0.0'],
  ] as const)('talks both ways with a person on %s', async (library, name) => {
    const lines: string[] = [];
    const result = await runLibsignalPeerExample(library, (line) => lines.push(line));
    expect(result.library).toBe(name);
    expect(result.transcript).toEqual(expected);
    expect(result.statuses).toEqual(Array(7).fill('delivered'));
    expect(result.retryRequests).toBe(0);
    expect(lines.at(-1)).toBe('12 messages decrypted; 7/7 business messages delivered (receipts)');
  });
});
