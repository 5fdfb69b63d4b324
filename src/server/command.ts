// Placeholder until the web app lands (issue 3).
import type { Output } from '../cli/output.js';

export async function serveCommand(o: { home: string; warehouse?: string; out: Output; host: string; port: number; onClose?: () => Promise<void> | void }): Promise<void> {
  o.out.log('warn', 'the web app is not available in this build yet');
  await o.onClose?.();
}
