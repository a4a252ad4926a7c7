import { Command, Option } from 'commander';
import { ensureAllModels } from '@loupe/models';
import { LoupeError, Roles, type Role } from '@loupe/shared';
import { loadConfig } from '../config.js';
import { createLogger } from '../log.js';
import { openServices, printInvites, startServer, startWorker, type Services } from '../main.js';
import { handOverCommands } from './hand-over.commands.js';
import { isApiError, upload } from './upload.js';
import { readServerFile } from '../server-file.js';
import { shotSummaries, versionLabel } from '@loupe/shared';

const program = new Command()
  .name('loupe')
  .description('Loupe: a real-time review room for film and VFX teams, with AI fixes computed live in the room.')
  .option('--data <dir>', 'data folder (SQLite file and blobs)', process.env.DATA_DIR ?? 'data')
  .option('--url <url>', 'the Loupe server to talk to and to print links for (default: $LOUPE_SERVER, else the running server of --data, else http://localhost:$PORT)')
  .showHelpAfterError();

program
  .command('serve')
  .description('start the server: web app, Socket.IO, y-websocket and the fix worker on one port')
  .option('-p, --port <port>', 'port to listen on', process.env.PORT ?? '3000')
  .option('--no-demo', 'do not create a demo room on first start')
  .action(async (o: { port: string; demo: boolean }) => {
    const { data } = program.opts<{ data: string }>();
    if (process.env.ROLE === 'worker') return runWorker(data);
    await ensureAllModels({ log: (l) => console.log(l) });
    const server = await startServer({ port: Number(o.port), dataDir: loadConfig({ ...process.env, DATA_DIR: data }).dataDir }, { demoRoom: o.demo });
    console.log(`  Loupe is running on ${server.url} (data in ${data}). Ctrl+C stops it.\n`);
    const stop = async () => {
      await server.close();
      process.exit(0);
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });

program
  .command('worker')
  .description('run fix jobs for the API nodes (scale-out: needs REDIS_URL and the same database and blob folder; docs/deploy.md)')
  .action(async () => runWorker(program.opts<{ data: string }>().data));

async function runWorker(data: string) {
  await ensureAllModels({ log: (l) => console.log(l) });
  const worker = await startWorker({ dataDir: loadConfig({ ...process.env, ROLE: 'worker', DATA_DIR: data }).dataDir });
  console.log(`  Loupe fix worker is running (data in ${data}). Ctrl+C stops it after the job in hand.\n`);
  const stop = async () => {
    await worker.close();
    process.exit(0);
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

const room = program.command('room').description('manage rooms');
room
  .command('create')
  .description('create a room and print one invite link per role')
  .requiredOption('--name <name>', 'room name')
  .option('--json', 'print JSON: { room, invites: [{ role, name, token, url, expiresAt }] }')
  .option('--no-demo', 'create the room without the demo shot')
  .action(async (o: { name: string; json?: boolean; demo: boolean }) => {
    const services = await openCli();
    const { room: created, invites } = await services.roomService.create(o.name, { demo: o.demo });
    if (o.json) console.log(JSON.stringify({ room: created, invites }, null, 2));
    else printInvites(created.name, invites);
    await services.db.destroy();
  });

room
  .command('list')
  .description('list rooms')
  .option('--json', 'print JSON')
  .action(async (o: { json?: boolean }) => {
    const services = await openCli();
    const rows = await services.rooms.list();
    if (o.json) console.log(JSON.stringify(rows, null, 2));
    else for (const r of rows) console.log(`${r.id}  ${r.name}  (created ${r.createdAt})`);
    await services.db.destroy();
  });

const invite = program.command('invite').description('invite links: create, list, revoke');
invite
  .command('create')
  .description('print a new invite link for a room')
  .argument('<room>', 'room id')
  .addOption(new Option('--role <role>', 'role of the invitee').choices([...Roles]).makeOptionMandatory())
  .option('--name <name>', 'name shown to the others')
  .option('--json', 'print JSON: { id, role, name, token, url, expiresAt }')
  .action(async (roomId: string, o: { role: Role; name?: string; json?: boolean }) => {
    const services = await openCli();
    await requireRoom(services, roomId);
    const created = await services.roomService.invite(roomId, o.role, o.name);
    console.log(o.json ? JSON.stringify(created, null, 2) : created.url);
    await services.db.destroy();
  });
invite
  .command('list')
  .description("list a room's invites")
  .argument('<room>', 'room id')
  .option('--json', 'print JSON')
  .action(async (roomId: string, o: { json?: boolean }) => {
    const services = await openCli();
    await requireRoom(services, roomId);
    const rows = await services.inviteRows.listForRoom(roomId);
    if (o.json) console.log(JSON.stringify(rows, null, 2));
    else for (const r of rows) console.log(`${r.id}  ${r.role.padEnd(8)} ${r.name.padEnd(16)} ${r.revokedAt ? `revoked ${r.revokedAt}` : `expires ${r.expiresAt}`}`);
    await services.db.destroy();
  });
invite
  .command('revoke')
  .description('revoke an invite: refused from now on; the servers close its open connections within INVITE_CHECK_S (2 s)')
  .argument('<invite>', 'invite id (from `invite list`)')
  .action(async (id: string) => {
    const services = await openCli();
    if (!(await services.inviteRows.revoke(id, new Date().toISOString()))) {
      console.error(`INVITE_NOT_FOUND: no invite ${id}`);
      process.exitCode = 2;
    } else console.log(`revoked ${id}`);
    await services.db.destroy();
  });

async function requireRoom(services: Services, roomId: string) {
  if (!(await services.rooms.get(roomId))) {
    console.error(`ROOM_NOT_FOUND: no room ${roomId} in ${program.opts().data}`);
    process.exit(2);
  }
}

const shot = program.command('shot').description("a room's shots");
shot
  .command('list')
  .description("list a room's shots: id, name, versions, and the latest version with its review status")
  .argument('<room>', 'room id')
  .option('--json', 'print JSON: [{ id, name, versions, latest: { id, number, label, status } | null }]')
  .action(async (roomId: string, o: { json?: boolean }) => {
    const services = await openCli();
    await requireRoom(services, roomId);
    const list = shotSummaries(await services.rooms.shots(roomId), await services.versions.listForRoom(roomId));
    if (o.json) {
      const rows = list.map((s) => ({
        id: s.shot.id,
        name: s.shot.name,
        versions: s.versionCount,
        latest: s.latest && { id: s.latest.id, number: s.latest.number, label: versionLabel(s.latest), status: s.latest.status },
      }));
      console.log(JSON.stringify(rows, null, 2));
    } else if (list.length === 0) console.log(`No shots in room ${roomId} yet: \`loupe upload ${roomId} FILE\` makes one.`);
    else {
      const width = Math.max(...list.map((s) => s.shot.name.length));
      for (const s of list) {
        const n = `${s.versionCount} version${s.versionCount === 1 ? '' : 's'}`;
        const latest = s.latest ? `latest ${versionLabel(s.latest)} ${s.latest.status}` : 'no version yet';
        console.log(`${s.shot.id}  ${s.shot.name.padEnd(width)}  ${n.padEnd(11)}  ${latest}`);
      }
    }
    await services.db.destroy();
  });

program
  .command('upload')
  .description('upload a movie, a zip or the frames of a sequence to a room: resumable, with a progress bar')
  .argument('<room>', 'room id')
  .argument('<files...>', 'a .mp4/.mov, a .zip of frames, or frame files / a folder of frames (shot_v003.1001.exr ...)')
  .option('--shot <id>', 'add the upload as the next version of this shot (`loupe shot list ROOM` shows the ids)')
  .option('--new-shot', 'make a new shot (the default without --shot)')
  .option('--server <url>', 'the Loupe server (same as --url; default: the running server of --data)')
  .option('--token <token>', 'invite token of an artist, editor or director (default: $LOUPE_TOKEN, or one made from --data)')
  .option('--name <name>', 'name of the new shot')
  .option('--fps <fps>', 'frame rate of an image sequence that carries none (default 24)')
  .option('--json', 'print the finished upload as JSON on stdout')
  .action(async (roomId: string, files: string[], o: { shot?: string; newShot?: boolean; server?: string; token?: string; name?: string; fps?: string; json?: boolean }) => {
    if (o.shot && o.newShot) {
      console.error('BAD_REQUEST: --shot (next version of that shot) and --new-shot (a new shot) exclude each other');
      process.exitCode = 2;
      return;
    }
    const server = serverUrl(o.server);
    let token = o.token ?? process.env.LOUPE_TOKEN;
    if (!token) {
      // On the server's machine: make an artist invite from the data folder.
      const services = await openCli();
      await requireRoom(services, roomId);
      token = (await services.roomService.invite(roomId, 'artist', 'CLI upload')).token;
      await services.db.destroy();
    }
    try {
      process.exitCode = await upload({ server: server.url, room: roomId, token, files, shotId: o.shot, shotName: o.name, fps: o.fps ? Number(o.fps) : undefined, json: o.json });
    } catch (e) {
      const err = e as Error & { code?: string };
      console.error(isApiError(e) ? `${err.code}: ${err.message}` : `upload failed: ${err.message}`);
      process.exitCode = 1;
    }
  });

program
  .command('models')
  .description('build the ONNX models that are missing and list the catalogue')
  .action(async () => {
    await ensureAllModels({ log: (l) => console.log(l) });
  });

handOverCommands(program, { open: openCli, requireRoom });

/**
 * The server the CLI talks to and prints links for: --url / --server, else $LOUPE_SERVER, else the
 * running server of the data folder (its server.json), else http://localhost:$PORT.
 */
function serverUrl(given?: string): { url: string; from: string } {
  const { data, url } = program.opts<{ data: string; url?: string }>();
  const explicit = given ?? url ?? process.env.LOUPE_SERVER;
  if (explicit) return { url: explicit.replace(/\/+$/, ''), from: 'given' };
  const running = readServerFile(loadConfig({ ...process.env, DATA_DIR: data }).dataDir);
  if (running) return { url: running.url.replace(/\/+$/, ''), from: `the server running on ${data} (pid ${running.pid})` };
  return { url: `http://localhost:${process.env.PORT ?? 3000}`, from: 'the default' };
}

function openCli(): Promise<Services> {
  const { data } = program.opts<{ data: string }>();
  const env = { ...process.env, DATA_DIR: data };
  // Printed links open the server that serves this data folder (PUBLIC_URL wins when set).
  const config = loadConfig(env, { publicUrl: process.env.PUBLIC_URL ?? serverUrl().url });
  // Progress goes to stderr so that --json output stays parseable.
  const log = createLogger('silent');
  return openServices(config, log, (m) => process.stderr.write(m + '\n'));
}

program.parseAsync().catch((e: Error) => {
  // A refusal with a code (e.g. BLOB_BUCKET_NOT_FOUND at start) is printed with it.
  console.error(e instanceof LoupeError && !e.message.includes(e.code) ? `${e.code}: ${e.message}` : e.message);
  process.exit(1);
});
