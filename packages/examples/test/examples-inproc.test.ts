import { describe, expect, it } from 'vitest';
import { runInprocExample } from '../inproc/main.js';
import { silent } from '../src/format.js';

describe('in-process example', () => {
  it('a message reaches the business and its reply reaches both devices with receipts', async () => {
    const result = await runInprocExample(silent);
    expect(result.businessReceived).toEqual(['Hello from my phone']);
    expect(result.personReceived).toEqual([
      { deviceId: 1, text: 'Hi! How can we help?' },
      { deviceId: 2, text: 'Hi! How can we help?' },
    ]);
    expect(result.statuses).toEqual(['accepted', 'sent', 'delivered']);
  });
});
