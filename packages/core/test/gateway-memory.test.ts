import { memoryStores } from './support/gateway-network.js';
import { describeGatewayScenarios } from './support/gateway-scenarios.js';

describeGatewayScenarios(memoryStores);
