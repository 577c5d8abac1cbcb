/** Publishers that keep publishing until stopped (or until relayd goes away), and what was acknowledged. */
export interface PublishLoad {
  /** The id of every publish answered 200, as the answers came. */
  acknowledged: string[];
  /** Stops the publishers and waits for them to end. */
  stop(): Promise<void>;
}

/** `publishers` keep-alive clients publishing through `url`'s public API with `token`, each on its own channel. */
export function publishUnderLoad(url: string, appId: string, token: string, publishers = 8): PublishLoad {
  const acknowledged: string[] = [];
  let stopped = false;
  const publisher = async (n: number): Promise<void> => {
    for (let i = 0; !stopped; i++) {
      try {
        const res = await fetch(`${url}/api/v1/apps/${appId}/events`, {
          method: 'POST',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          body: JSON.stringify({ name: `e-${n}-${i}`, channel: `c-${n}`, data: 'x' }),
        });
        if (res.status === 200) acknowledged.push(((await res.json()) as { id: string }).id);
      } catch {
        return; // relayd is gone
      }
    }
  };
  const running = Array.from({ length: publishers }, (_, n) => publisher(n));
  return {
    acknowledged,
    stop: async () => {
      stopped = true;
      await Promise.all(running);
    },
  };
}

/** Every event id in the app's history, read through the public API page by page. */
export async function historyIds(url: string, appId: string, token: string): Promise<Set<string>> {
  const stored = new Set<string>();
  for (let before: string | null = null; ; ) {
    const res = await fetch(`${url}/api/v1/apps/${appId}/history?limit=1000${before ? `&before=${before}` : ''}`, { headers: { authorization: `Bearer ${token}` } });
    if (res.status !== 200) throw new Error(`history answered ${res.status}: ${await res.text()}`);
    const page = (await res.json()) as { events: { id: string }[]; next: string | null };
    for (const e of page.events) stored.add(e.id);
    if (!page.next) return stored;
    before = page.next;
  }
}
