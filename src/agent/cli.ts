/**
 * The agent alone, as its own entry point: what scripts/build-agent.mjs bundles into one file
 * (dist/agent-bundle/neocloud-agent.mjs, no dependencies but an optional `nats`) to copy onto a GPU
 * server that has Node 20 and nothing else.
 */
import { agentMain } from './agent-main.js';

await agentMain(process.argv.slice(2));
