/**
 * The messaging network's HTTP side, as the gateway sees it: the gateway POSTs outbound
 * frames, retry requests and acknowledgements here. Behind it a `TestNetwork` stands in for
 * the network (routing to people's devices, the key directory).
 */
import type { TestNetwork } from '@parley/core/testing';
import { type RunningServer, startJsonServer } from '../src/http-util.js';
import { frameFromJson, receiptFromJson, record, retryRequestFromJson, text } from '../src/wire-json.js';

export async function startRelayServer(network: TestNetwork): Promise<RunningServer> {
  return startJsonServer({
    'POST /v1/frames': async (_request, body) => {
      // A refusal by the network is a ParleyError ERR_TRANSPORT_FAILURE: 503, and the gateway retries.
      await network.send(frameFromJson(body));
      return { status: 202, json: { accepted: true } };
    },
    'POST /v1/retry-requests': async (_request, body) => {
      await network.requestRetry(retryRequestFromJson(body));
      return { status: 202, json: { accepted: true } };
    },
    'POST /v1/acks': async (_request, body) => {
      await network.acknowledge(receiptFromJson(body).frameId);
      return { status: 204 };
    },
    'GET /v1/health': async () => ({ status: 200, json: { ok: true } }),
    // Unused by the gateway; shows that field checks apply to every route.
    'POST /v1/echo': async (_request, body) => ({
      status: 200,
      json: { text: text(record(body, 'echo').text, 'text') },
    }),
  });
}
