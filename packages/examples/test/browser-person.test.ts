/**
 * The browser example in real headless Chromium: the page's Parley core starts a session with
 * the business, messages flow both ways, and after a reload the session continues from
 * IndexedDB (whisper messages both ways, no new handshake). Locally the test is skipped when
 * Chromium is missing; under CI (CI=true) a missing Chromium fails it.
 */
import { existsSync } from 'node:fs';
import { type Browser, chromium, type Page } from 'playwright';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChatEntry, PageApi } from '../browser/page.js';
import { type BrowserExample, BUSINESS_NUMBER, startBrowserExample } from '../browser/server.js';

const CHROMIUM = process.env.PARLEY_CHROMIUM ?? '/usr/bin/chromium';
const haveChromium = existsSync(CHROMIUM);
const mustRun = process.env.CI === 'true';
if (!haveChromium && !mustRun) {
  console.warn(`browser-person: skipped, no Chromium at ${CHROMIUM} (set PARLEY_CHROMIUM to its path)`);
}

const PERSON = '+15550123';
const WAIT = { timeout: 15_000 };

/** Waits for the page's Parley device to be ready; returns what it found in IndexedDB. */
async function whenReady(page: Page): Promise<{ restored: boolean; sessionOnLoad: boolean }> {
  await page.waitForFunction(
    () => {
      const api = (window as unknown as { parley?: PageApi }).parley;
      return api?.ready === true || api?.error !== undefined;
    },
    undefined,
    WAIT,
  );
  return page.evaluate(() => {
    const api = (window as unknown as { parley: PageApi }).parley;
    if (api.error !== undefined) throw new Error(`page failed: ${api.error}`);
    return { restored: api.restored, sessionOnLoad: api.sessionOnLoad };
  });
}

async function openPage(page: Page, url: string): Promise<{ restored: boolean; sessionOnLoad: boolean }> {
  await page.goto(`${url}?phone=${encodeURIComponent(PERSON)}`);
  return whenReady(page);
}

const send = (page: Page, text: string): Promise<ChatEntry> =>
  page.evaluate((t) => (window as unknown as { parley: PageApi }).parley.send(t), text);

/** Waits until the page has decrypted `count` messages (since it loaded); returns them. */
async function received(page: Page, count: number): Promise<ChatEntry[]> {
  await page.waitForFunction(
    (n) => (window as unknown as { parley: PageApi }).parley.received.length >= n,
    count,
    WAIT,
  );
  return page.evaluate(() => [...(window as unknown as { parley: PageApi }).parley.received]);
}

describe.skipIf(!haveChromium && !mustRun)('browser person (real Chromium, IndexedDB)', () => {
  let example: BrowserExample;
  let browser: Browser;

  beforeAll(async () => {
    if (!haveChromium)
      throw new Error(`CI=true but no Chromium at ${CHROMIUM}: the browser example must run in CI`);
    example = await startBrowserExample();
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
  });

  afterAll(async () => {
    await browser?.close();
    await example?.close();
  });

  it('starts a session, messages both ways, and continues it after a reload', async () => {
    const page = await (await browser.newContext()).newPage();
    const pageErrors: string[] = [];
    page.on('pageerror', (error) => pageErrors.push(error.message));

    // First load: a new device publishes its keys; no session yet.
    expect(await openPage(page, example.url)).toEqual({ restored: false, sessionOnLoad: false });
    expect(await send(page, 'Hello from the browser')).toEqual({ text: 'Hello from the browser', type: 3 });
    // The business's bundle carries a Kyber prekey: the page started a PQXDH (v4) session.
    expect(
      await page.evaluate(() => (window as unknown as { parley: PageApi }).parley.startedSessionVersion),
    ).toBe(4);
    expect(await received(page, 1)).toEqual([{ text: 'You said: "Hello from the browser"', type: 2 }]);
    // The business answered, so the page's session is confirmed: whisper from now on.
    expect(await send(page, 'Two loaves, please')).toEqual({ text: 'Two loaves, please', type: 2 });
    expect((await received(page, 2))[1]).toEqual({ text: 'You said: "Two loaves, please"', type: 2 });

    // Reload: identity, prekeys and the session come back from IndexedDB.
    await page.reload();
    expect(await whenReady(page)).toEqual({ restored: true, sessionOnLoad: true });
    expect(await send(page, 'Still me after a reload')).toEqual({ text: 'Still me after a reload', type: 2 });
    expect(
      await page.evaluate(() => (window as unknown as { parley: PageApi }).parley.startedSessionVersion),
    ).toBeUndefined();
    expect(await received(page, 1)).toEqual([{ text: 'You said: "Still me after a reload"', type: 2 }]);

    // The business writes while the tab is closed; the relay keeps the frame until the page confirms it.
    await page.goto('about:blank');
    const away = await example.sendFromBusiness(PERSON, 'Your order is ready for pickup.');
    await example.gateway.idle();
    expect(example.relay.pending(PERSON, 1)).toHaveLength(1);
    expect(await openPage(page, example.url)).toEqual({ restored: true, sessionOnLoad: true });
    expect(await received(page, 1)).toEqual([{ text: 'Your order is ready for pickup.', type: 2 }]);

    // What the network saw: one handshake (one prekey message, one bundle fetched), whispers otherwise.
    expect(
      example.relay.log.filter((entry) => entry.direction === 'to-business').map((entry) => entry.type),
    ).toEqual([3, 2, 2]);
    expect(
      example.relay.log.filter((entry) => entry.direction === 'to-person').map((entry) => entry.type),
    ).toEqual([2, 2, 2, 2]);
    expect(example.relay.bundlesServed.get(BUSINESS_NUMBER)).toBe(1);
    expect(example.relay.retryRequests).toEqual([]);
    expect(example.inbox.map((message) => message.text)).toEqual([
      'Hello from the browser',
      'Two loaves, please',
      'Still me after a reload',
    ]);
    // Every business message was confirmed by the page (delivery receipts over the WebSocket).
    await expect
      .poll(() => [...example.statuses.values()], WAIT)
      .toEqual(['delivered', 'delivered', 'delivered', 'delivered']);
    expect(example.statuses.get(away)).toBe('delivered');
    expect(example.relay.pending(PERSON, 1)).toEqual([]);
    expect(pageErrors).toEqual([]);
  });
});

describe('browser example server', () => {
  let example: BrowserExample;
  beforeAll(async () => {
    example = await startBrowserExample({ storage: 'memory' });
  });
  afterAll(async () => {
    await example?.close();
  });

  const post = (path: string, body: string, type = 'application/json') =>
    fetch(new URL(path, example.url), { method: 'POST', headers: { 'content-type': type }, body });

  it('serves the bundled page', async () => {
    const script = await fetch(new URL('/app.js', example.url));
    expect(script.status).toBe(200);
    expect(script.headers.get('content-type')).toContain('javascript');
    const text = await script.text();
    expect(text).toContain('SessionManager');
    expect(text).not.toMatch(/from\s*["']node:/);
  });

  it('answers bad requests with a 4xx JSON error and keeps serving', async () => {
    const cases: [Response, number][] = [
      [await post('/api/frames', '{not json'), 400],
      [await post('/api/frames', '{}', 'text/plain'), 415],
      [
        await post(
          '/api/frames',
          JSON.stringify({ frameId: 'x', to: BUSINESS_NUMBER, from: PERSON, deviceId: 1, type: 7, body: '' }),
        ),
        400,
      ],
      [
        await post(
          '/api/frames',
          JSON.stringify({
            frameId: 'x',
            to: BUSINESS_NUMBER,
            from: 'alice',
            deviceId: 1,
            type: 2,
            body: 'AAAA',
          }),
        ),
        400,
      ],
      [
        await post(
          '/api/frames',
          JSON.stringify({ frameId: 'x', to: '+15559999', from: PERSON, deviceId: 1, type: 2, body: 'AAAA' }),
        ),
        404,
      ],
      [await post('/api/keys', JSON.stringify({ phoneNumber: PERSON, deviceId: 1, identityKey: '%%' })), 400],
      [await fetch(new URL('/api/bundle/%2B15559999', example.url)), 404],
      [await fetch(new URL('/nope', example.url)), 404],
    ];
    for (const [response, status] of cases) {
      expect(response.status).toBe(status);
      expect(await response.json()).toEqual({ error: expect.any(String) });
    }
    // A well-formed frame the gateway cannot decrypt is not a crash either.
    const garbage = await post(
      '/api/frames',
      JSON.stringify({
        frameId: 'g1',
        to: BUSINESS_NUMBER,
        from: PERSON,
        deviceId: 1,
        type: 2,
        body: 'AAAA',
      }),
    );
    expect(garbage.status).toBe(200);
    expect(await garbage.json()).toEqual({ outcome: 'undecryptable' });
    expect((await fetch(new URL('/api/config', example.url))).status).toBe(200);
  });
});
