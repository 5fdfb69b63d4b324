// Placeholder until the postgres warehouse lands (issue 4).
import { ConnectorError } from '../util/errors.js';
import type { StateStore, Warehouse } from './types.js';

export async function openPostgres(_url: string, _home?: string): Promise<{ warehouse: Warehouse; state: StateStore }> {
  throw new ConnectorError('config', 'the postgres warehouse is not available in this build');
}
