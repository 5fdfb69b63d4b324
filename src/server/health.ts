/**
 * What GET /healthz reports: the real state, not just "the listener is up". A server whose
 * scheduler is not running, or whose warehouse does not answer, is not healthy (503), so a health
 * check or orchestrator notices it. The warehouse is probed with one cheap read (App.probe: a
 * connector lookup by an impossible name) with a short timeout; concurrent checks share one probe,
 * so /healthz (unauthenticated) cannot pile up queries.
 */

export interface Health {
  ok: boolean;
  warehouse: 'ok' | 'unreachable';
  scheduler: 'running' | 'stopped';
}

export const HEALTH_PROBE_TIMEOUT_MS = 3_000;

export function healthCheck(o: { probe: () => Promise<unknown>; schedulerRunning: () => boolean; timeoutMs?: number }): () => Promise<Health> {
  let inflight: Promise<Health['warehouse']> | undefined;
  const probe = async (): Promise<Health['warehouse']> => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('timeout')), o.timeoutMs ?? HEALTH_PROBE_TIMEOUT_MS);
      timer.unref?.();
    });
    try {
      await Promise.race([o.probe(), timeout]);
      return 'ok';
    } catch {
      return 'unreachable';
    } finally {
      clearTimeout(timer);
    }
  };
  return async () => {
    const scheduler = o.schedulerRunning() ? 'running' : 'stopped';
    inflight ??= probe().finally(() => (inflight = undefined));
    const warehouse = await inflight;
    return { ok: warehouse === 'ok' && scheduler === 'running', warehouse, scheduler };
  };
}
