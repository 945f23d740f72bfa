/**
 * In-process example: a gateway and a simulated person in one process, connected by the
 * testing kit's step-driven network. The shortest complete wiring of `createGateway`.
 *
 *   pnpm --filter @parley/examples exec tsx --conditions=parley-source inproc/main.ts
 */
import { fileURLToPath } from 'node:url';
import type { OutboundStatus } from '@parley/core';
import { createNodeCrypto } from '@parley/core/node';
import { createSimulatedPerson, ManualClock, TestNetwork } from '@parley/core/testing';
import { type Log, maskNumber } from '../src/format.js';
import { createMemoryGateway } from '../src/shared/memory-gateway.js';

const BUSINESS_NUMBER = '+15550100';
const PERSON_NUMBER = '+15550123';

export interface InprocExampleResult {
  readonly businessReceived: string[];
  readonly personReceived: { readonly deviceId: number; readonly text: string }[];
  readonly statuses: OutboundStatus[];
}

export async function runInprocExample(log: Log = console.log): Promise<InprocExampleResult> {
  const clock = new ManualClock();
  const crypto = createNodeCrypto();
  const network = new TestNetwork();
  const gateway = createMemoryGateway({ transport: network, directory: network, crypto, clock });
  network.connect(gateway);
  try {
    await gateway.registerBusiness({ businessId: 'acme' });
    await gateway.addNumber('acme', BUSINESS_NUMBER);
    const businessReceived: string[] = [];
    const statuses: OutboundStatus[] = [];
    gateway.onMessage('acme', (message) => {
      businessReceived.push(new TextDecoder().decode(message.content));
    });
    gateway.onEvent('acme', (event) => {
      if (event.type === 'status') statuses.push(event.status);
    });

    const person = network.addPerson(
      await createSimulatedPerson({ phoneNumber: PERSON_NUMBER, devices: 2, crypto, clock }),
    );
    await person.send(BUSINESS_NUMBER, 'Hello from my phone', { deviceId: 1 });
    await network.flush();
    log(`business received ${businessReceived.length} message(s) from ${maskNumber(PERSON_NUMBER)}`);

    // The network tells the gateway which devices the person has (device 2 has not written yet).
    await gateway.setDevices(PERSON_NUMBER, person.deviceIds);
    await gateway.send({ from: BUSINESS_NUMBER, to: PERSON_NUMBER, content: 'Hi! How can we help?' });
    await network.flush();
    log(`person's devices received ${person.received.length} copies; statuses: ${statuses.join(' → ')}`);
    return {
      businessReceived,
      personReceived: person.received.map(({ deviceId, text }) => ({ deviceId, text })),
      statuses,
    };
  } finally {
    await gateway.close();
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  runInprocExample().catch((error: unknown) => {
    console.error('in-process example failed:', error instanceof Error ? error.message : 'unknown error');
    process.exit(1);
  });
}
