/**
 * The messaging network's side of the server: where the network hands in the ciphertext frames
 * people's devices sent and the devices' delivery receipts. These are the gateway's operator
 * entry points (they act for whichever business a frame is addressed to), so they take the
 * network's own token, never a business's.
 */
import type { Gateway } from '@parley/core';
import { defineRoute, type RouteSpec } from './route-spec.js';
import {
  InboundFrameSchema,
  MAX_FRAME_BASE64,
  ReceiptSchema,
  ReceiveOutcomeSchema,
  SuccessResponseSchema,
} from './schemas.js';

export interface NetworkContext {
  readonly gateway: Gateway;
}

const route = defineRoute<NetworkContext>();

export const NETWORK_ROUTES: readonly RouteSpec<NetworkContext>[] = [
  route({
    method: 'POST',
    path: '/v1/network/frames',
    operationId: 'receiveFrame',
    summary: "A person's device sent a frame to a business number",
    tag: 'network',
    security: 'network',
    body: InboundFrameSchema,
    // A frame of the largest content (64 KiB, padded, encrypted) is over the server's 64 KiB.
    bodyLimit: MAX_FRAME_BASE64 + 4096,
    response: { status: 200, description: 'What the gateway made of it', schema: ReceiveOutcomeSchema },
    errors: [404, 413, 415],
    async handler({ body }, { gateway }) {
      return gateway.receiveFrame({ ...body, body: new Uint8Array(Buffer.from(body.body, 'base64')) });
    },
  }),
  route({
    method: 'POST',
    path: '/v1/network/receipts',
    operationId: 'receiveReceipt',
    summary: "A person's device confirmed an outbound frame",
    tag: 'network',
    security: 'network',
    body: ReceiptSchema,
    response: {
      status: 200,
      description: 'Recorded (a repeat changes nothing)',
      schema: SuccessResponseSchema,
    },
    errors: [413, 415],
    async handler({ body }, { gateway }) {
      await gateway.receiveReceipt(body);
      return { success: true as const };
    },
  }),
];
