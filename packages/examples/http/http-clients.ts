/**
 * The two HTTP clients that connect Parley to a network over HTTP: the gateway's
 * `Transport` (POSTs to the relay) and the relay's route to the gateway (POSTs to the cloud API
 * server's network routes, `cloud-api/network-routes.ts`, with the network's bearer token).
 */
import {
  type DeliveryReceipt,
  type InboundFrame,
  ParleyError,
  type ReceiveOutcome,
  type Transport,
} from '@parley/core';
import type { GatewayEndpoint } from '@parley/core/testing';
import { HttpError, postJson } from '../src/http-util.js';
import { frameToJson } from '../src/wire-json.js';

/** The gateway's transport: every call is one POST to the relay; a failed POST is a failed attempt the gateway retries. */
export function createHttpTransport(relayUrl: string): Transport {
  return {
    send: (frame) => post(`${relayUrl}/v1/frames`, frameToJson(frame)).then(() => undefined),
    requestRetry: (request) => post(`${relayUrl}/v1/retry-requests`, request).then(() => undefined),
    acknowledge: (frameId) => post(`${relayUrl}/v1/acks`, { frameId }).then(() => undefined),
  };
}

/**
 * How the relay reaches the gateway: the cloud API server's network routes, with the network's
 * token; `idle` lets a step-driven network wait for background work.
 */
export function createHttpGatewayEndpoint(
  gatewayUrl: string,
  options: { readonly token: string; readonly idle?: () => Promise<void> },
): GatewayEndpoint {
  const headers = { authorization: `Bearer ${options.token}` };
  return {
    async receiveFrame(frame: InboundFrame): Promise<ReceiveOutcome> {
      return (await post(`${gatewayUrl}/v1/network/frames`, frameToJson(frame), headers))
        .json as ReceiveOutcome;
    },
    async receiveReceipt(receipt: DeliveryReceipt): Promise<void> {
      await post(`${gatewayUrl}/v1/network/receipts`, receipt, headers);
    },
    idle: options.idle,
  };
}

/** 4xx: the request was refused for good; 5xx and connection errors: try again later. */
async function post(
  url: string,
  json: unknown,
  headers: Readonly<Record<string, string>> = {},
): Promise<{ status: number; json: unknown }> {
  try {
    return await postJson(url, json, headers);
  } catch (error) {
    if (error instanceof HttpError && error.status < 500) {
      throw new ParleyError('ERR_INVALID_ARGUMENT', `the server refused the request (${error.code})`, {
        status: error.status,
      });
    }
    throw new ParleyError('ERR_TRANSPORT_FAILURE', 'the server could not be reached or failed', {
      status: error instanceof HttpError ? error.status : undefined,
    });
  }
}
