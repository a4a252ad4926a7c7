import type { Writable } from 'node:stream';
import PDFDocument from 'pdfkit';
import { FixCatalogue, versionLabel, versionMaker, type DecisionRecord, type Version } from '@loupe/shared';
import { editorialCut } from './cut.js';
import type { BlobStore } from '../../store/blob.repository.js';
import type { FrameService } from '../../media/frame.service.js';
import { framePicture } from './picture.js';
import { PdfFonts } from './pdf-fonts.js';
import { SnapshotIndex, type RoomSnapshot } from './snapshot.js';

const COLORS = { text: '#1d1d1f', muted: '#6e6e73', ai: '#b45309', open: '#c62828', resolved: '#2e7d32', rule: '#d2d2d7' };

const when = (iso: string) => iso.replace('T', ' ').replace(/\.\d+Z$/, ' UTC').replace(/Z$/, ' UTC');

/** "AI · learned model (ESRGAN (RDN) network, sha256 …): Upscale ×2 · model esrgan-slim-x2 1.1.0 · cpu", or "Algorithm (guided filter): Denoise · …" */
export function aiLine(v: Version): string | null {
  const maker = versionMaker(v);
  if (!maker) return null;
  const p = v.provenance;
  if (!p) return 'AI-made (no provenance record)';
  const fix = FixCatalogue[p.fix]?.label ?? p.fix;
  return `${maker.label}: ${fix} · model ${p.model.id} ${p.model.version} · provider ${p.provider}`;
}

/**
 * The review report: a cover with the room, the date and every decision of the session, then one
 * page per note with the frame and its drawings, the note, its status, replies and version.
 * Frames are extracted one note at a time and the PDF streams out as it is made.
 */
export async function notesPdf(
  snap: RoomSnapshot,
  deps: { frames: FrameService; blobs: BlobStore },
  out: Writable,
  progress: (line: string) => void = () => {},
): Promise<void> {
  const idx = new SnapshotIndex(snap);
  const doc = new PDFDocument({
    size: 'A4',
    layout: 'landscape',
    margin: 36,
    info: { Title: `Review notes - ${snap.room.name}`, Creator: 'Loupe', CreationDate: new Date(snap.takenAt) },
  });
  const done = new Promise<void>((resolve, reject) => {
    out.once('finish', resolve);
    out.once('close', resolve);
    out.once('error', reject);
  });
  doc.pipe(out);
  const fonts = new PdfFonts(doc);
  /** The font for a text: DejaVu / Noto, whichever draws all of it. */
  const f = { body: (t: string) => fonts.pick(t), bold: (t: string) => fonts.pick(t, true) };
  const m = 36;
  const contentW = doc.page.width - 2 * m;

  // Cover.
  const title = `Review notes — ${snap.room.name}`;
  doc.font(f.bold(title)).fontSize(22).fillColor(COLORS.text).text(title, m, m);
  const exported = `Exported ${when(snap.takenAt)} from Loupe · room ${snap.room.id} · ${snap.threads.length} note${snap.threads.length === 1 ? '' : 's'}`;
  doc.moveDown(0.3).font(f.body(exported)).fontSize(10).fillColor(COLORS.muted).text(exported);
  doc.moveDown(1).font(f.bold('Shots')).fontSize(13).fillColor(COLORS.text).text('Shots');
  doc.fontSize(10);
  // Each shot as the cut holds it: its version's own start timecode and reel.
  const cut = new Map(editorialCut(snap).map((c) => [c.shot.id, c]));
  for (const s of snap.shots) {
    const c = cut.get(s.id);
    const start = c ? `${versionLabel(c.version)} starts at ${c.clock.startTimecode}${c.clock.reel ? ` on reel ${c.clock.reel}` : ''}` : `starts at ${s.startTimecode}`;
    const line = `${s.name} — ${s.fps}${s.dropFrame ? ' DF' : ''} fps, ${s.frameCount} frames, ${s.width}x${s.height}, ${start}`;
    doc.font(f.body(line)).text(line);
  }
  doc.moveDown(1).font(f.bold('Approvals')).fontSize(13).text('Approvals');
  const decisions: { v: Version; d: DecisionRecord }[] = snap.versions.flatMap((v) => v.decisions.map((d) => ({ v, d }))).sort((a, b) => a.d.at.localeCompare(b.d.at));
  if (decisions.length === 0) doc.font(f.body('')).fontSize(10).fillColor(COLORS.muted).text('No decisions in this session yet.');
  else {
    const cols = [
      { title: 'When', w: 120 },
      { title: 'Version', w: 250 },
      { title: 'Decision', w: 100 },
      { title: 'By', w: 110 },
      { title: 'Note', w: contentW - 580 },
    ];
    const row = (cells: string[], font: (t: string) => string, colors: string[] = []) => {
      const y = doc.y;
      const h = Math.max(...cells.map((c, i) => doc.font(font(c)).fontSize(9).heightOfString(c || ' ', { width: cols[i].w - 6 })));
      if (y + h > doc.page.height - m) doc.addPage();
      const top = doc.y;
      let x = m;
      cells.forEach((c, i) => {
        doc.font(font(c)).fontSize(9).fillColor(colors[i] ?? COLORS.text).text(c, x, top, { width: cols[i].w - 6 });
        x += cols[i].w;
      });
      doc.x = m;
      doc.y = top + h + 4;
    };
    doc.moveDown(0.3);
    row(cols.map((c) => c.title), f.bold);
    for (const { v, d } of decisions) {
      const shot = idx.shotOf(v);
      const ai = aiLine(v);
      const color = d.decision === 'approved' ? COLORS.resolved : d.decision === 'changes-requested' ? COLORS.open : COLORS.text;
      row(
        [when(d.at), `${shot?.name ?? ''} ${idx.label(v)}${ai ? `\n${ai}` : ''}`, d.decision, `${d.by.name} (${d.by.role})`, d.note],
        f.body,
        [COLORS.text, COLORS.text, color],
      );
    }
  }

  // One page per note.
  let i = 0;
  for (const t of snap.threads) {
    if (out.destroyed) break;
    i++;
    const { note, replies } = t;
    const v = idx.version(note.versionId);
    const shot = idx.shotOf(v);
    progress(`pdf: note ${i}/${snap.threads.length} (${shot?.name ?? '?'} ${idx.label(v)}, frame ${note.frame})`);
    doc.addPage();
    const range = note.frameEnd > note.frame ? `frames ${note.frame}–${note.frameEnd}` : `frame ${note.frame}`;
    const tc = v ? ` · ${idx.timecode(v, note.frame)}` : '';
    const heading = `${shot?.name ?? 'Unknown shot'} · ${idx.label(v)} · ${range}${tc}`;
    doc.font(f.bold(heading)).fontSize(14).fillColor(COLORS.text).text(heading, m, m);
    const ai = v && aiLine(v);
    if (ai) doc.font(f.bold(ai)).fontSize(10).fillColor(COLORS.ai).text(ai);
    doc.moveDown(0.4);

    const boxH = 330;
    const top = doc.y;
    let pictureH = 0;
    if (v) {
      try {
        const pic = await framePicture(deps, idx, v, note.frame, idx.drawingsFor(note));
        const scale = Math.min(contentW / pic.width, boxH / pic.height);
        pictureH = pic.height * scale;
        doc.image(pic.jpeg, m, top, { width: pic.width * scale, height: pictureH });
      } catch (e) {
        progress(`pdf: note ${i}: no picture (${(e as Error).message})`);
      }
    }
    if (!pictureH) {
      pictureH = 40;
      doc.font(f.body('')).fontSize(10).fillColor(COLORS.muted).text('(the frame could not be read)', m, top + 12);
    }
    doc.x = m;
    doc.y = top + pictureH + 10;
    const status = note.status === 'resolved' ? `RESOLVED${note.resolvedBy ? ` by ${note.resolvedBy.name}` : ''}` : 'OPEN';
    doc.font(f.bold(status)).fontSize(10).fillColor(note.status === 'resolved' ? COLORS.resolved : COLORS.open).text(status, { continued: true });
    const byline = `   ${note.author.name} · ${when(note.createdAt)}`;
    doc.font(f.body(byline)).fillColor(COLORS.muted).text(byline);
    doc.moveDown(0.2).font(f.body(note.text)).fontSize(12).fillColor(COLORS.text).text(note.text, { width: contentW });
    if (replies.length) {
      doc.moveDown(0.4);
      for (const r of replies) {
        doc.font(f.bold(r.author.name)).fontSize(9.5).fillColor(COLORS.text).text(`${r.author.name}`, { continued: true });
        doc.font(f.body('')).fillColor(COLORS.muted).text(` · ${when(r.createdAt)}   `, { continued: true });
        doc.font(f.body(r.text)).fillColor(COLORS.text).text(r.text, { width: contentW });
      }
    }
  }
  doc.end();
  await done;
}
