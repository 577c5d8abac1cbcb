import { HOW_TO_START, POSTGRES_URL, REDIS_URL, reachable, type Service } from '../../bench/lib/services.js';

export { POSTGRES_URL, REDIS_URL, createTestDatabase, createTestRedisPrefix, postgresUrlFor, uniqueName, type Service } from '../../bench/lib/services.js';

/*
 * Every machine of this project runs PostgreSQL and Redis (CI included); a developer's may
 * not. Outside CI an unreachable service skips the tests that need it, with one line saying
 * how to enable them; with CI=true it fails them.
 */

/**
 * Whether the tests that need these services can run: true when all are reachable. When one
 * is not, false with one visible line outside CI; with CI=true it throws, so the file fails.
 */
export async function servicesFor(needs: Service[], what: string): Promise<boolean> {
  const down: Service[] = [];
  for (const service of needs) if (!(await reachable(service === 'postgres' ? POSTGRES_URL : REDIS_URL))) down.push(service);
  if (down.length === 0) return true;
  const why = down.map((service) => HOW_TO_START[service]).join('; ');
  if (process.env.CI === 'true' || process.env.CI === '1') throw new Error(`${what} need ${why}: it is not reachable, and CI=true makes that a failure`);
  console.warn(`skipping ${what}: ${why} is not reachable`);
  return false;
}

