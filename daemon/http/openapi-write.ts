import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { VERSION } from '../version.js';
import { openApiDocument, serializeOpenApi } from './openapi.js';
import { routes, type HttpServices } from './routes.js';

/**
 * `npm run openapi`: writes docs/openapi.json from the route table, as relayd serves it at
 * /api/v1/openapi.json. Building the table calls no service (only its handlers do), so the
 * table is built without any.
 */
const table = routes({ version: VERSION } as HttpServices);
const target = fileURLToPath(new URL('../../../docs/openapi.json', import.meta.url));
writeFileSync(target, serializeOpenApi(openApiDocument(table, { version: VERSION })));
process.stdout.write(`wrote ${target}\n`);
