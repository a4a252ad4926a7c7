#!/usr/bin/env node
// A DCC tool talking to a Loupe room: the stand-in for a Nuke, Maya or RV plug-in.
//
// It connects to the room's Yjs document with the stock y-websocket client, prints the notes
// (threads with replies, by frame), draws an arrow on a frame, optionally writes a note holding the
// arrow, and checks with a second connection that the server kept them. Any Yjs client (Python's
// pycrdt / y-py, Rust's yrs) can do the same; the document's schema is in docs/annotations.md.
//
//   npx loupe invite create ROOM_ID --role artist --name "Nuke" --json   # a token for the tool
//   node examples/yjs-plugin.mjs --server http://localhost:3000 --room ROOM_ID --token TOKEN \
//     [--version VERSION_ID] [--frame 42] [--note "Roto edge chatters here"] [--no-draw] [--watch] [--json]
//
// Without --version it draws on the version of the first note. Run from the repository root (it
// uses the workspace's yjs, y-websocket and ws packages).
import { parseArgs } from 'node:util';
import * as Y from 'yjs';
import { WebsocketProvider } from 'y-websocket';
import WebSocket from 'ws';

const { values: args } = parseArgs({
  options: {
    server: { type: 'string', default: process.env.LOUPE_SERVER ?? 'http://localhost:3000' },
    room: { type: 'string' },
    token: { type: 'string', default: process.env.LOUPE_TOKEN },
    version: { type: 'string' },
    frame: { type: 'string', default: '0' },
    note: { type: 'string' },
    color: { type: 'string', default: '#ffd166' },
    'no-draw': { type: 'boolean', default: false },
    watch: { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
  },
});
if (!args.room || !args.token) {
  console.error('usage: node examples/yjs-plugin.mjs --server URL --room ROOM_ID --token TOKEN [--version ID] [--frame N] [--note TEXT] [--no-draw] [--watch] [--json]');
  process.exit(2);
}

// The invite token is a JWT: its subject is our member id, which every drawing must carry as author.
const claims = JSON.parse(Buffer.from(args.token.split('.')[1] ?? '', 'base64url').toString() || '{}');
const me = { id: claims.sub, name: claims.name ?? 'DCC tool' };
const wsUrl = args.server.replace(/^http/, 'ws').replace(/\/$/, '') + '/yjs';

/** Opens the room document and resolves once it is in sync with the server. */
function open() {
  const doc = new Y.Doc();
  const provider = new WebsocketProvider(wsUrl, args.room, doc, { params: { token: args.token }, WebSocketPolyfill: WebSocket, disableBc: true });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no sync with ${wsUrl}/${args.room} in 10 s (is the server up, the token right?)`)), 10_000);
    provider.on('connection-close', (e) => e && e.code !== 1000 && console.error(`connection closed: ${e.code} ${e.reason ?? ''}`));
    provider.once('sync', () => {
      clearTimeout(timer);
      resolve({ doc, provider });
    });
  });
}

/** Top-level notes with their replies, by frame then time (a reply is a note with parentId). */
function threads(doc) {
  const all = [...doc.getMap('notes').values()];
  const byTime = (a, b) => a.createdAt.localeCompare(b.createdAt);
  return all
    .filter((n) => n.parentId === null)
    .sort((a, b) => a.frame - b.frame || byTime(a, b))
    .map((note) => ({ note, replies: all.filter((r) => r.parentId === note.id).sort(byTime) }));
}

const { doc, provider } = await open();
const found = threads(doc);
if (!args.json) {
  console.log(`${found.length} note(s) in room ${args.room}:`);
  for (const { note, replies } of found) {
    console.log(`  frame ${note.frame}${note.frameEnd > note.frame ? `-${note.frameEnd}` : ''} [${note.status}] ${note.author.name}: ${note.text}`);
    for (const r of replies) console.log(`      ${r.author.name}: ${r.text}`);
  }
}

let arrow = null;
let note = null;
if (!args['no-draw']) {
  const versionId = args.version ?? found[0]?.note.versionId;
  if (!versionId) {
    console.error('No --version given and no note to take one from: pass --version (a version id from the room).');
    process.exit(2);
  }
  const frame = Number(args.frame);
  const now = new Date().toISOString();
  // Coordinates are 0..1 of the picture from its top-left; size is a fraction of its height.
  arrow = {
    id: crypto.randomUUID(), kind: 'arrow', versionId, frame, frameEnd: frame,
    points: [[0.2, 0.2, 0.5], [0.4, 0.35, 0.5]], color: args.color, size: 0.004,
    author: me, createdAt: now,
  };
  if (args.note) {
    note = {
      id: crypto.randomUUID(), parentId: null, versionId, frame, frameEnd: frame, text: args.note,
      author: me, createdAt: now, status: 'open', resolvedBy: null, annotationIds: [arrow.id],
    };
  }
  // One gesture, one transaction: the arrow and its note arrive together.
  doc.transact(() => {
    doc.getMap('annotations').set(arrow.id, arrow);
    if (note) doc.getMap('notes').set(note.id, note);
  });
}

if (args.watch) {
  console.log('watching for notes (Ctrl+C stops)');
  doc.getMap('notes').observe((e) => {
    for (const [id, change] of e.changes.keys) {
      if (change.action === 'add') {
        const n = doc.getMap('notes').get(id);
        console.log(`${n.parentId ? '  reply' : 'note'} on frame ${n.frame} by ${n.author.name}: ${n.text}`);
      }
    }
  });
} else {
  // y-websocket has no acknowledgements: read the room again on a second connection to be sure.
  let kept = true;
  if (arrow) {
    await new Promise((r) => setTimeout(r, 200));
    const check = await open();
    kept = check.doc.getMap('annotations').has(arrow.id) && (!note || check.doc.getMap('notes').has(note.id));
    check.provider.destroy();
  }
  provider.destroy();
  if (args.json) console.log(JSON.stringify({ notes: found, arrow, note, kept }));
  else if (arrow) console.log(kept ? `drew arrow ${arrow.id} on frame ${arrow.frame}${note ? ' with a note' : ''}` : 'the server did not keep the arrow (is this a viewer token?)');
  process.exit(kept ? 0 : 1);
}
