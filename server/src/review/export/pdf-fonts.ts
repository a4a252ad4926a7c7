import fs from 'node:fs';
import path from 'node:path';
import * as fontkit from 'fontkit';
import type PDFDocument from 'pdfkit';

/**
 * Fonts for the PDF report that cover what members write: DejaVu Sans (Latin, Greek, Cyrillic and
 * symbols), Noto Sans CJK (Japanese, Chinese, Korean) and Noto's per-script fonts (Arabic, Hebrew,
 * Devanagari, Thai ...), from Debian's fonts-dejavu-core, fonts-noto-cjk and fonts-noto-core. Each
 * text gets the first font that has a glyph for every character in it (pdfkit embeds the subset it
 * uses), so nothing prints as an empty box when a font that has it is installed.
 */

interface Candidate {
  file: string;
  /** The font's PostScript name inside a collection (.ttc). */
  ps?: string;
}

const DIRS = ['/usr/share/fonts/truetype/dejavu', '/usr/share/fonts/opentype/noto', '/usr/share/fonts/truetype/noto', '/usr/local/share/fonts', '/Library/Fonts'];
const find = (name: string) => DIRS.map((d) => path.join(d, name)).find((f) => fs.existsSync(f));

function fixedCandidates(bold: boolean): Candidate[] {
  const w = bold ? 'Bold' : 'Regular';
  const list: (Candidate | null)[] = [
    file(bold ? 'DejaVuSans-Bold.ttf' : 'DejaVuSans.ttf'),
    file(`NotoSans-${w}.ttf`),
    file(`NotoSansCJK-${w}.ttc`, `NotoSansCJKjp-${w}`),
  ];
  return list.filter((c): c is Candidate => !!c);
}

function file(name: string, ps?: string): Candidate | null {
  const f = find(name);
  return f ? { file: f, ...(ps ? { ps } : {}) } : null;
}

/** Noto's single-script fonts, looked at only when the fixed ones miss a character. */
function scriptCandidates(bold: boolean): Candidate[] {
  const out: Candidate[] = [];
  for (const dir of ['/usr/share/fonts/truetype/noto']) {
    let names: string[];
    try {
      names = fs.readdirSync(dir);
    } catch {
      continue;
    }
    for (const n of names.filter((n) => /^NotoSans[A-Z][A-Za-z]*-Regular\.ttf$/.test(n) && !/^NotoSans(Display|Mono)-/.test(n)).sort()) {
      const b = n.replace('-Regular', '-Bold');
      out.push({ file: path.join(dir, bold && names.includes(b) ? b : n) });
    }
  }
  return out;
}

type Coverage = { hasGlyphForCodePoint(cp: number): boolean };
/** Opened fonts, kept for the process: a CJK collection takes ~80 ms to open. */
const opened = new Map<string, Coverage | null>();
function coverage(c: Candidate): Coverage | null {
  const key = `${c.file}#${c.ps ?? ''}`;
  if (!opened.has(key)) {
    try {
      opened.set(key, fontkit.openSync(c.file, c.ps) as unknown as Coverage);
    } catch {
      opened.set(key, null);
    }
  }
  return opened.get(key)!;
}

const scripts: { regular?: Candidate[]; bold?: Candidate[] } = {};

export class PdfFonts {
  private readonly registered = new Map<string, string>();
  private readonly picked = new Map<string, string>();

  constructor(private readonly doc: PDFDocument) {}

  /** The name of a font (registered in the document) that draws every character of `text`. */
  pick(text: string, bold = false): string {
    const chars = [...new Set([...text].map((ch) => ch.codePointAt(0)!).filter((cp) => cp > 0x20 && !(cp >= 0x7f && cp < 0xa0)))];
    const key = `${bold ? 'b' : 'r'}:${chars.every((cp) => cp < 0x80) ? 'ascii' : text}`;
    let name = this.picked.get(key);
    if (!name) {
      name = this.choose(chars, bold);
      this.picked.set(key, name);
    }
    return name;
  }

  private choose(chars: number[], bold: boolean): string {
    const fixed = fixedCandidates(bold);
    if (fixed.length === 0) return bold ? 'Helvetica-Bold' : 'Helvetica';
    let best = { c: fixed[0], missing: Infinity };
    const tryAll = (list: Candidate[]) => {
      for (const c of list) {
        const f = coverage(c);
        if (!f) continue;
        const missing = chars.filter((cp) => !f.hasGlyphForCodePoint(cp)).length;
        if (missing < best.missing) best = { c, missing };
        if (missing === 0) return true;
      }
      return false;
    };
    if (!tryAll(fixed)) {
      const w = bold ? 'bold' : 'regular';
      tryAll((scripts[w] ??= scriptCandidates(bold)));
    }
    return this.register(best.c);
  }

  private register(c: Candidate): string {
    const key = `${c.file}#${c.ps ?? ''}`;
    let name = this.registered.get(key);
    if (!name) {
      name = `f${this.registered.size}`;
      this.doc.registerFont(name, c.file, c.ps);
      this.registered.set(key, name);
    }
    return name;
  }
}

