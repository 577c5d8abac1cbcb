import { Command, Option } from 'commander';
import { SETTINGS, loadConfig, type SettingKey, type WrittenConfig } from './config.js';
import { createLogger } from './log.js';
import { startDaemon } from './server.js';
import { VERSION } from './version.js';

const program = new Command('relayd')
  .description('The Relay daemon: WebSocket and HTTP event relay with an embedded SQLite store.')
  .version(VERSION)
  .showHelpAfterError();
for (const setting of Object.values(SETTINGS)) {
  // A flag without a <value> is a switch; its variable says true or false.
  const values = setting.flag.includes('<') ? '' : ': true/false/1/0';
  const option = new Option(setting.flag, `${setting.doc} (env ${setting.env}${values})`);
  // The default is shown, not applied: an unset flag must let the environment variable win.
  program.addOption(setting.default === null ? option : option.default(undefined, setting.default));
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

try {
  const daemon = await startDaemon(result.config, log);
  let stopping = false;
  const shutdown = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down');
    const hard = setTimeout(() => {
      log.error('shutdown deadline passed; exiting');
      process.exit(1);
    }, result.config.shutdownTimeoutMs + 2000);
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
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
} catch (err) {
  const error = err as NodeJS.ErrnoException;
  if (error.code === 'EADDRINUSE') {
    log.error(`port ${result.config.port} on ${result.config.host} is in use: is another relayd running? Use --port or RELAY_PORT to pick another`);
  } else {
    log.error({ err }, 'relayd could not start');
  }
  process.exit(1);
}
