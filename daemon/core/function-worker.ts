import { parentPort } from 'node:worker_threads';
import { FunctionSandbox } from './function-sandbox.js';
import type { ToWorker } from './function-host.js';

/**
 * The thread edge functions run on (see function-host.ts): the sandbox, and the sources of the
 * versions it was sent, by key. Messages are handled one at a time, in the order they came:
 * the host counts on that to know which call is running.
 */
const port = parentPort;
if (!port) throw new Error('function-worker.js runs as a worker thread of relayd');
const sandbox = await FunctionSandbox.load();
const sources = new Map<string, string>();

port.on('message', (message: ToWorker) => {
  switch (message.op) {
    case 'call': {
      if (message.source !== undefined) sources.set(message.key, message.source);
      const source = sources.get(message.key);
      if (source === undefined) {
        port.postMessage({ id: message.id, outcome: { ok: false, kind: 'error', message: 'the function is not loaded; call it again', logs: [], publishes: [], durationMs: 0 } });
        return;
      }
      port.postMessage({ id: message.id, outcome: sandbox.call(message.key, source, message.limits, message.input, message.ctx) });
      return;
    }
    case 'check':
      port.postMessage({ id: message.id, problem: sandbox.check(message.source, message.limits) });
      return;
    case 'drop':
      for (const key of sources.keys()) if (key.startsWith(message.prefix)) sources.delete(key);
      sandbox.drop(message.prefix);
      return;
  }
});
port.postMessage({ ready: true });
