// Placeholder until the clickhouse warehouse lands (issue 4).
import { ConnectorError } from '../util/errors.js';
import type { StateStore, Warehouse } from './types.js';

export async function openClickHouse(_url: string, _home?: string): Promise<{ warehouse: Warehouse; state: StateStore }> {
  throw new ConnectorError('config', 'the clickhouse warehouse is not available in this build');
}
