/**
 * @autonomy-os/sdk/testing — test doubles for what lies outside Autonomy OS. Node only (it starts HTTP servers), so
 * it is a subpath of its own and the main entry stays browser-safe. Anything exported here is public API.
 */
export { startScriptedModelServer } from './scripted-model-server.js';
export type {
  ScriptStep,
  ScriptedModelServer,
  ScriptedModelServerOptions,
  ScriptedRequest,
  ScriptedToolCall,
  ScriptedUsage,
} from './scripted-model-server.js';
