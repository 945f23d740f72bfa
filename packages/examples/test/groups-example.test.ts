/**
 * The groups example: a business in a group with a person on libsignal-client 0.103.0 (two
 * devices, the library's own sender keys) and people on Parley's testing kit. Runs the
 * example's own function and checks what every member device read.
 */
import { describe, expect, it } from 'vitest';
import { runGroupExample } from '../groups/main.js';

describe('groups example', () => {
  it('a libsignal-client device reads the business group messages and posts to the group; membership changes rotate', async () => {
    const lines: string[] = [];
    const result = await runGroupExample((line) => lines.push(line));
    const sent = [
      'Welcome to the Sunday ride!',
      'We meet at 9:00 at the bridge.',
      'Carol joins us this week.',
      'See you Sunday!',
      'Route: along the river.',
    ];
    const readBy = (who: string) =>
      result.read.filter((line) => line.startsWith(`${who}:`)).map((line) => line.slice(who.length + 2));
    // Alice's two libsignal-client devices read everything sent while she was a member
    // (one of them "See you Sunday!" through the resend after its lost distribution message).
    for (const device of ['Alice/1', 'Alice/2'])
      expect(readBy(device).sort()).toEqual(sent.slice(0, 4).sort());
    expect(readBy('Bob/1')).toEqual(sent.slice(0, 3));
    // Carol, added later, reads from her first message on, never earlier ones.
    expect(readBy('Carol/1')).toEqual(sent.slice(2));
    expect(result.refusals).toEqual([
      'Carol, the welcome: ERR_SENDER_KEY_NOT_FOUND',
      'Bob, after he left: ERR_SENDER_KEY_NOT_FOUND',
      'Alice (libsignal-client), after she left: no sender key state',
    ]);
    expect(result.businessReceived).toEqual(["Alice: I'll bring coffee.", 'Bob: Count me in.']);
    // One sender-key message per member device; distribution messages only where the chain
    // was missing: the first send, Carol's first, after each removal (a new chain).
    // One copy went again over 1:1, to the device whose distribution message was lost.
    expect(result.frames).toEqual([
      { groupFrames: 3, distributions: 3, resent: 0 },
      { groupFrames: 3, distributions: 0, resent: 0 },
      { groupFrames: 4, distributions: 1, resent: 0 },
      { groupFrames: 3, distributions: 3, resent: 1 },
      { groupFrames: 1, distributions: 1, resent: 0 },
    ]);
    expect(result.statuses).toEqual([3, 3, 4, 3, 1].map((devices) => Array(devices).fill('delivered')));
    expect(lines.at(-1)).toMatch(/^5 group messages sent/);
  });
});
