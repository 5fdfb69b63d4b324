/**
 * For a warehouse's replaceWindow: the rows of the ReportBody it is handed (src/model/report-body.ts).
 * Every warehouse takes `rows` bodies; the engine hands `canonical-csv` bodies only to a warehouse
 * with capabilities.canonicalCsv, so one reaching any other warehouse is a bug, said clearly.
 */
import type { ReportBody } from '../model/report-body.js';
import type { ReportRow } from '../model/schema.js';
import { ConnectorError } from '../util/errors.js';

/**
 * The row batches of a `rows` body. Any other form is closed unread (a download behind it stops)
 * and refused with an internal ConnectorError naming the warehouse.
 */
export async function rowBatches(body: ReportBody, warehouse: string): Promise<AsyncIterable<ReportRow[]>> {
  if (body.format === 'rows') return body.batches;
  await Promise.resolve(body.parts[Symbol.asyncIterator]().return?.()).catch(() => undefined);
  throw new ConnectorError('internal', `the ${warehouse} warehouse loads "rows" bodies, not "${body.format}" (its capabilities.canonicalCsv is false)`);
}
