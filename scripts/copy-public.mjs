// Part of `npm run build`: the web app's files (src/server/public: plain browser ES modules, CSS,
// HTML; not compiled) are read at run time next to the server's code (src/server/pages.ts reads
// `./public/` from its own location), so the compiled server in dist/server needs a copy of them.
// Copied in place (no delete first), so a CLI started from dist meanwhile never finds them missing.
import { cpSync } from 'node:fs';

const from = new URL('../src/server/public/', import.meta.url);
const to = new URL('../dist/server/public/', import.meta.url);
cpSync(from, to, { recursive: true, filter: (src) => !src.endsWith('tsconfig.json') && !src.endsWith('.d.ts') });
