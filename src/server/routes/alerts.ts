/**
 * The alert routes, the web API's side of `rakuten-connector alerts` (the same App.alerts):
 * GET /api/alerts (channels, targets masked, and the recent history), POST /api/alerts (a channel),
 * DELETE /api/alerts/:id, POST /api/alerts/test and /api/alerts/:id/test. Split from api.ts by resource.
 */
import type { Hono } from 'hono';
import { z } from 'zod';
import { ConnectorError } from '../../util/errors.js';
import { HttpError, send } from '../respond.js';
import { emptySchema, limitQuerySchema, NAME_RE } from '../validate.js';
import { readJson, readQuery, type ServerContext } from './common.js';

const channelSchema = z
  .object({
    kind: z.enum(['webhook', 'slack', 'email'], { errorMap: () => ({ message: 'choose webhook, slack or email' }) }),
    target: z.string({ required_error: 'give the URL or the address', invalid_type_error: 'give the URL or the address' }).trim().min(1, 'give the URL or the address').max(2048, 'too long'),
    connector: z.string().regex(NAME_RE, 'no such connector').nullable().optional(),
  })
  .strict();

export function alertRoutes(http: Hono, ctx: ServerContext): void {
  const { app } = ctx;

  http.get('/api/alerts', async (c) => {
    const q = readQuery(c, limitQuerySchema);
    const [channels, deliveries] = await Promise.all([app.alerts.list(), app.alerts.history(q.limit ?? 50)]);
    return send(c, 200, { channels, deliveries });
  });

  http.post('/api/alerts', async (c) => {
    const b = await readJson(c, channelSchema);
    try {
      return send(c, 201, { channel: await app.alerts.add(b.kind, b.target, b.connector ?? null) });
    } catch (e) {
      // Named by this request's fields: an unknown connector is `connector`, a bad URL or address `target`.
      if (e instanceof ConnectorError && e.kind === 'config') {
        throw new HttpError(400, { [e.field === 'name' ? 'connector' : 'target']: e.hint ? `${e.message} (${e.hint})` : e.message });
      }
      throw e;
    }
  });

  http.delete('/api/alerts/:id', async (c) => {
    const id = c.req.param('id');
    if (!(await app.alerts.list()).some((ch) => ch.id === id)) throw new HttpError(404, { id: `no alert channel with id "${id}"` });
    await app.alerts.remove(id);
    return send(c, 200, { removed: id });
  });

  http.post('/api/alerts/test', async (c) => {
    await readJson(c, emptySchema);
    return send(c, 200, { deliveries: await app.alerts.test() });
  });

  http.post('/api/alerts/:id/test', async (c) => {
    await readJson(c, emptySchema);
    return send(c, 200, { deliveries: await app.alerts.test(c.req.param('id')) });
  });
}
