import { Command, Option } from 'commander';
import { SETTINGS, loadConfig, type SettingKey, type WrittenConfig } from './config.js';
import { createLogger } from './log.js';
import { startDaemon, type RunningDaemon } from './server.js';
import { StartupError } from './startup-error.js';
import { VERSION } from './version.js';
import { defaultDataDir } from '../src/shared/address.js';

// Before anything is created: every file relayd makes (the database, its -wal and -shm, which
// SQLite opens from this and the checkpointer's thread, the key, the token) is its user's alone.
process.umask(0o077);

const program = new Command('relayd')
  .description('The Relay daemon: WebSocket and HTTP event relay with an embedded SQLite store.')
  .version(VERSION)
  .showHelpAfterError();
const dataDirDefault = await defaultDataDir();
for (const setting of Object.values(SETTINGS)) {
  // A flag without a <value> is a switch; its variable says true or false. The default is
  // shown, not applied here: an unset flag must let the environment variable win.
  const isSwitch = !setting.flag.includes('<');
  const shown = isSwitch ? 'off' : (setting.default ?? dataDirDefault);
  program.addOption(new Option(setting.flag, `${setting.doc} (default ${shown}; env ${setting.env}${isSwitch ? ': true/false/1/0' : ''})`));
}
program.parse();

// A flag without a value (`--webhook-allow-private`) is `true` here; the schema reads it as the text the environment would hold.
const flags = program.opts<Record<string, string | true | undefined>>();
const written: WrittenConfig = {};
for (const key of Object.keys(SETTINGS) as SettingKey[]) {
  const value = flags[key];
  if (value !== undefined) written[key] = value === true ? 'true' : value;
}
const result = await loadConfig(written, process.env);
if (!result.config) {
  for (const error of result.errors) process.stderr.write(`relayd: ${error}\n`);
  process.exit(2);
}
const log = createLogger(result.config.logLevel);
for (const warning of result.warnings) log.warn(warning);

const config = result.config;

function stop(daemon: RunningDaemon, signal: string): void {
  log.info({ signal }, 'shutting down');
  const hard = setTimeout(() => {
    log.error('shutdown deadline passed; exiting');
    process.exit(1);
  }, config.shutdownTimeoutMs + 2000);
  hard.unref();
  daemon.stop().then(
    () => {
      log.info('stopped');
      process.exit(0);
    },
    (err: unknown) => {
      log.error({ err }, 'error while stopping');
      process.exit(1);
    },
  );
}

// Handled from the start: a signal that comes while relayd starts stops it cleanly once it
// has (letting go of the data dir), instead of killing it half-way; a second one does not wait.
let daemon: RunningDaemon | null = null;
let signalled = null as string | null;
const shutdown = (signal: string): void => {
  if (signalled !== null) {
    if (!daemon) process.exit(1);
    return;
  }
  signalled = signal;
  if (daemon) stop(daemon, signal);
};
process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGINT', () => shutdown('SIGINT'));

try {
  daemon = await startDaemon(config, log);
} catch (err) {
  const error = err as NodeJS.ErrnoException;
  if (error instanceof StartupError) {
    log.error(`relayd will not start: ${error.message}`);
  } else if (error.code === 'EADDRINUSE') {
    log.error(`port ${config.port} on ${config.host} is in use: is another relayd running? Use --port or RELAY_PORT to pick another`);
  } else {
    log.error({ err }, 'relayd could not start');
  }
  process.exit(1);
}
if (signalled !== null) stop(daemon, signalled);
