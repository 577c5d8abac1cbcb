import { USAGE_LATENCY_BOUNDS_MS, type UsageCounts } from './store.js';

/** Counts of nothing: where a bucket starts. */
export function emptyUsage(): UsageCounts {
  return {
    publishedApi: 0,
    publishedRest: 0,
    publishedClient: 0,
    delivered: 0,
    connectionsPeak: 0,
    connectionMinutes: 0,
    channelsPeak: 0,
    agentAccepted: 0,
    agentRejected: 0,
    agentReplied: 0,
    agentFailed: 0,
    agentLatency: new Array<number>(USAGE_LATENCY_BOUNDS_MS.length + 1).fill(0),
    webhooksOk: 0,
    webhooksFailed: 0,
    rateLimited: 0,
    bytesIn: 0,
    bytesOut: 0,
  };
}

/** The same app and place, one span of time after another (one node's flushes, minutes into an hour): peaks take the larger. */
export function mergeUsageOverTime(a: UsageCounts, b: UsageCounts): UsageCounts {
  return merge(a, b, Math.max);
}

/** The same span of time on several nodes: peaks add (each node's own connections were open at once). */
export function mergeUsageSideBySide(a: UsageCounts, b: UsageCounts): UsageCounts {
  return merge(a, b, (x, y) => x + y);
}

function merge(a: UsageCounts, b: UsageCounts, peak: (x: number, y: number) => number): UsageCounts {
  const latency = emptyUsage().agentLatency.map((_, i) => (a.agentLatency[i] ?? 0) + (b.agentLatency[i] ?? 0));
  return {
    publishedApi: a.publishedApi + b.publishedApi,
    publishedRest: a.publishedRest + b.publishedRest,
    publishedClient: a.publishedClient + b.publishedClient,
    delivered: a.delivered + b.delivered,
    connectionsPeak: peak(a.connectionsPeak, b.connectionsPeak),
    connectionMinutes: a.connectionMinutes + b.connectionMinutes,
    channelsPeak: peak(a.channelsPeak, b.channelsPeak),
    agentAccepted: a.agentAccepted + b.agentAccepted,
    agentRejected: a.agentRejected + b.agentRejected,
    agentReplied: a.agentReplied + b.agentReplied,
    agentFailed: a.agentFailed + b.agentFailed,
    agentLatency: latency,
    webhooksOk: a.webhooksOk + b.webhooksOk,
    webhooksFailed: a.webhooksFailed + b.webhooksFailed,
    rateLimited: a.rateLimited + b.rateLimited,
    bytesIn: a.bytesIn + b.bytesIn,
    bytesOut: a.bytesOut + b.bytesOut,
  };
}

/** Counts read back from a row's JSON: a field a newer or older relayd did not write counts as nothing. */
export function usageFromJson(text: string): UsageCounts {
  const parsed = JSON.parse(text) as Partial<UsageCounts>;
  return mergeUsageOverTime(emptyUsage(), { ...emptyUsage(), ...parsed });
}
