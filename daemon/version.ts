import { readFileSync } from 'node:fs';

/** The package version, read once (the file sits two levels above dist/daemon/). */
export const VERSION: string = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
