import { parentPort } from 'node:worker_threads';
import { FunctionSandbox } from './function-sandbox.js';
import type { FromWorker, ToWorker } from './function-host.js';

/**
 * The thread edge functions run on (see function-host.ts): the sandbox, and the sources of the
 * versions it was sent, by key. Messages are handled one at a time, in the order they came:
 * the host counts on that to know which call is running.
 */
const port = parentPort;
if (!port) throw new Error('function-worker.js runs as a worker thread of relayd');
const sandbox = await FunctionSandbox.load();
const sources = new Map<string, string>();

/** Answers are sent when a batch is done, or at once after a call that took a while, so that the host's watchdog sees progress. */
const SEND_AFTER_MS = 2;

port.on('message', (batch: ToWorker[]) => {
  let answers: Extract<FromWorker, { answers: unknown }>['answers'] = [];
  const send = (): void => {
    if (answers.length === 0) return;
    port.postMessage({ answers } satisfies FromWorker);
    answers = [];
  };
  for (const message of batch) {
    const started = performance.now();
    switch (message.op) {
      case 'call': {
        if (message.source !== undefined) sources.set(message.key, message.source);
        const source = sources.get(message.key);
        answers.push({
          id: message.id,
          outcome:
            source === undefined
              ? { ok: false, kind: 'error', message: 'the function is not loaded; call it again', logs: [], publishes: [], durationMs: 0 }
              : sandbox.call(message.key, source, message.limits, message.input, message.ctx),
        });
        break;
      }
      case 'check':
        answers.push({ id: message.id, problem: sandbox.check(message.source, message.limits) });
        break;
      case 'drop':
        for (const key of sources.keys()) if (key.startsWith(message.prefix)) sources.delete(key);
        sandbox.drop(message.prefix);
        break;
    }
    if (performance.now() - started > SEND_AFTER_MS) send();
  }
  send();
});
port.postMessage({ ready: true } satisfies FromWorker);
