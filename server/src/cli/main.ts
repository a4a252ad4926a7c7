import { Command, Option } from 'commander';
import { ensureAllModels } from '@loupe/models';
import { Roles, type Role } from '@loupe/shared';
import { loadConfig } from '../config.js';
import { createLogger } from '../log.js';
import { openServices, printInvites, startServer } from '../main.js';

const program = new Command()
  .name('loupe')
  .description('Loupe: a real-time review room for film and VFX teams, with AI fixes computed live in the room.')
  .option('--data <dir>', 'data folder (SQLite file and blobs)', process.env.DATA_DIR ?? 'data')
  .showHelpAfterError();

program
  .command('serve')
  .description('start the server: web app, Socket.IO, y-websocket and the fix worker on one port')
  .option('-p, --port <port>', 'port to listen on', process.env.PORT ?? '3000')
  .option('--no-demo', 'do not create a demo room on first start')
  .action(async (o: { port: string; demo: boolean }) => {
    const { data } = program.opts<{ data: string }>();
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

const room = program.command('room').description('manage rooms');
room
  .command('create')
  .description('create a room and print one invite link per role')
  .requiredOption('--name <name>', 'room name')
  .option('--json', 'print JSON: { room, invites: [{ role, name, token, url, expiresAt }] }')
  .option('--no-demo', 'create the room without the demo shot')
  .action(async (o: { name: string; json?: boolean; demo: boolean }) => {
    const services = openCli();
    const { room: created, invites } = await services.roomService.create(o.name, { demo: o.demo });
    if (o.json) console.log(JSON.stringify({ room: created, invites }, null, 2));
    else printInvites(created.name, invites);
    services.db.close();
  });

room
  .command('list')
  .description('list rooms')
  .option('--json', 'print JSON')
  .action((o: { json?: boolean }) => {
    const services = openCli();
    const rows = services.rooms.list();
    if (o.json) console.log(JSON.stringify(rows, null, 2));
    else for (const r of rows) console.log(`${r.id}  ${r.name}  (created ${r.createdAt})`);
    services.db.close();
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
    const services = openCli();
    requireRoom(services, roomId);
    const created = await services.roomService.invite(roomId, o.role, o.name);
    console.log(o.json ? JSON.stringify(created, null, 2) : created.url);
    services.db.close();
  });
invite
  .command('list')
  .description("list a room's invites")
  .argument('<room>', 'room id')
  .option('--json', 'print JSON')
  .action((roomId: string, o: { json?: boolean }) => {
    const services = openCli();
    requireRoom(services, roomId);
    const rows = services.inviteRows.listForRoom(roomId);
    if (o.json) console.log(JSON.stringify(rows, null, 2));
    else for (const r of rows) console.log(`${r.id}  ${r.role.padEnd(8)} ${r.name.padEnd(16)} ${r.revokedAt ? `revoked ${r.revokedAt}` : `expires ${r.expiresAt}`}`);
    services.db.close();
  });
invite
  .command('revoke')
  .description('revoke an invite: it stops working at its next connection')
  .argument('<invite>', 'invite id (from `invite list`)')
  .action((id: string) => {
    const services = openCli();
    if (!services.inviteRows.revoke(id, new Date().toISOString())) {
      console.error(`INVITE_NOT_FOUND: no invite ${id}`);
      process.exitCode = 2;
    } else console.log(`revoked ${id}`);
    services.db.close();
  });

function requireRoom(services: ReturnType<typeof openCli>, roomId: string) {
  if (!services.rooms.get(roomId)) {
    console.error(`ROOM_NOT_FOUND: no room ${roomId} in ${program.opts().data}`);
    process.exit(2);
  }
}

program
  .command('models')
  .description('build the ONNX models that are missing and list the catalogue')
  .action(async () => {
    await ensureAllModels({ log: (l) => console.log(l) });
  });

function openCli() {
  const { data } = program.opts<{ data: string }>();
  const config = loadConfig({ ...process.env, DATA_DIR: data });
  // Progress goes to stderr so that --json output stays parseable.
  const log = createLogger('silent');
  return openServices(config, log, (m) => process.stderr.write(m + '\n'));
}

program.parseAsync().catch((e: Error) => {
  console.error(e.message);
  process.exit(1);
});
