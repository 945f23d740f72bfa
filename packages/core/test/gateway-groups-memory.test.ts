import { describeGatewayGroupScenarios } from './support/gateway-group-scenarios.js';
import { memoryStores } from './support/gateway-network.js';

describeGatewayGroupScenarios(memoryStores);
