import fs from 'node:fs';
import path from 'node:path';
import { Option, type Command } from 'commander';
import { ExportFormats, LoupeError, type ExportFormat } from '@loupe/shared';
import type { Services } from '../main.js';
import { openExports } from '../review/hand-over.js';
import { WebhookRepository } from '../store/webhook.repository.js';
import { checkWebhookUrl, webhookSettings } from '../review/webhook.service.js';

/**
 * `loupe export` and `loupe webhook ...`: hand-over from the data folder, with or without a server
 * running on it (docs/exports.md).
 */
export function handOverCommands(program: Command, cli: { open: () => Promise<Services>; requireRoom: (s: Services, roomId: string) => Promise<void> }) {
  program
    .command('export')
    .description('export a room: notes (csv, pdf), markers (edl, otio), approved media (zip) or the session event log (events)')
    .argument('<room>', 'room id')
    .addOption(new Option('--format <format>', 'what to export').choices(Object.keys(ExportFormats)).makeOptionMandatory())
    .option('--out <file>', 'where to write it ("-" for stdout; default: <room name>-<file> here)')
    .option('--approved-only', 'edl, otio: leave out shots with nothing approved')
    .action(async (roomId: string, o: { format: ExportFormat; out?: string; approvedOnly?: boolean }) => {
      const services = await cli.open();
      await cli.requireRoom(services, roomId);
      const exports = openExports(services);
      const progress = (line: string) => process.stderr.write(line + '\n');
      try {
        if (o.out === '-') {
          await exports.write(roomId, o.format, process.stdout, { approvedOnly: o.approvedOnly, progress });
          return;
        }
        const out = path.resolve(o.out ?? (await exports.fileName(roomId, o.format)));
        // Written beside the target and renamed at the end: a failed export leaves no half file.
        const tmp = `${out}.${process.pid}.part`;
        try {
          await exports.write(roomId, o.format, fs.createWriteStream(tmp), { approvedOnly: o.approvedOnly, progress });
          await fs.promises.rename(tmp, out);
        } finally {
          await fs.promises.rm(tmp, { force: true });
        }
        progress(`wrote ${out} (${(await fs.promises.stat(out)).size} bytes)`);
        console.log(out);
      } catch (e) {
        console.error(e instanceof LoupeError ? `${e.code}: ${e.message}` : `export failed: ${(e as Error).message}`);
        process.exitCode = 1;
      } finally {
        await services.db.destroy();
      }
    });

  const webhook = program.command('webhook').description('webhooks: signed POSTs on approvals, finished fixes and new notes');
  webhook
    .command('add')
    .description("call a URL on a room's events (LOUPE_WEBHOOKS adds URLs for every room)")
    .argument('<room>', 'room id')
    .argument('<url>', 'http:// or https:// URL')
    .action(async (roomId: string, url: string) => {
      const services = await cli.open();
      await cli.requireRoom(services, roomId);
      try {
        const row = await new WebhookRepository(services.db).add(roomId, checkWebhookUrl(url));
        console.log(row.id);
        process.stderr.write(`webhook ${row.id}: ${row.url} gets room ${roomId}'s events, signed with the secret \`loupe webhook secret\` prints\n`);
      } catch (e) {
        console.error(e instanceof LoupeError ? `${e.code}: ${e.message}` : (e as Error).message);
        process.exitCode = 2;
      } finally {
        await services.db.destroy();
      }
    });
  webhook
    .command('list')
    .description('list webhooks (of one room, or all) and the server-wide ones from LOUPE_WEBHOOKS')
    .argument('[room]', 'room id')
    .option('--json', 'print JSON')
    .action(async (roomId: string | undefined, o: { json?: boolean }) => {
      const services = await cli.open();
      const rows = await new WebhookRepository(services.db).list(roomId);
      const global = webhookSettings(process.env).urls.map((url) => ({ id: 'env', roomId: '*', url, createdAt: null }));
      const all = [...global, ...rows];
      if (o.json) console.log(JSON.stringify(all, null, 2));
      else for (const r of all) console.log(`${r.id.padEnd(8)}  ${r.roomId.padEnd(12)}  ${r.url}`);
      await services.db.destroy();
    });
  webhook
    .command('remove')
    .description('stop calling a webhook')
    .argument('<id>', 'webhook id (from `webhook list`)')
    .action(async (id: string) => {
      const services = await cli.open();
      if (await new WebhookRepository(services.db).remove(id)) console.log(`removed ${id}`);
      else {
        console.error(`WEBHOOK_NOT_FOUND: no webhook ${id}`);
        process.exitCode = 2;
      }
      await services.db.destroy();
    });
  webhook
    .command('secret')
    .description('print the secret webhook signatures are made with (LOUPE_WEBHOOK_SECRET, else generated and kept in the data folder)')
    .action(async () => {
      if (process.env.LOUPE_WEBHOOK_SECRET) return void console.log(process.env.LOUPE_WEBHOOK_SECRET);
      const services = await cli.open();
      console.log(await new WebhookRepository(services.db).secret());
      await services.db.destroy();
    });
}
