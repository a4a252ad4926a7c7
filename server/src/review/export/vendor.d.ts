// The parts of pdfkit, yazl and fontkit the exports use (none of them ships its own types).

declare module 'pdfkit' {
  import type { Writable } from 'node:stream';
  interface TextOptions {
    width?: number;
    height?: number;
    align?: 'left' | 'center' | 'right' | 'justify';
    continued?: boolean;
    lineGap?: number;
    paragraphGap?: number;
    ellipsis?: boolean | string;
    underline?: boolean;
  }
  interface PdfPage {
    width: number;
    height: number;
    margins: { top: number; bottom: number; left: number; right: number };
  }
  class PDFDocument {
    constructor(opts?: {
      size?: string | [number, number];
      layout?: 'portrait' | 'landscape';
      margin?: number;
      autoFirstPage?: boolean;
      bufferPages?: boolean;
      info?: Record<string, string | Date>;
    });
    page: PdfPage;
    x: number;
    y: number;
    pipe<T extends Writable>(dest: T): T;
    end(): void;
    on(event: string, fn: (...args: unknown[]) => void): this;
    addPage(opts?: object): this;
    /** `family`: the PostScript name of the font to use inside a collection (.ttc). */
    registerFont(name: string, src: string | Buffer, family?: string): this;
    font(name: string, size?: number): this;
    fontSize(size: number): this;
    fillColor(color: string, opacity?: number): this;
    strokeColor(color: string): this;
    lineWidth(w: number): this;
    text(text: string, opts?: TextOptions): this;
    text(text: string, x?: number, y?: number, opts?: TextOptions): this;
    heightOfString(text: string, opts?: TextOptions): number;
    widthOfString(text: string, opts?: TextOptions): number;
    moveDown(lines?: number): this;
    image(src: Buffer | string, x?: number, y?: number, opts?: { width?: number; height?: number; fit?: [number, number]; align?: string; valign?: string }): this;
    rect(x: number, y: number, w: number, h: number): this;
    moveTo(x: number, y: number): this;
    lineTo(x: number, y: number): this;
    fill(color?: string): this;
    stroke(color?: string): this;
    save(): this;
    restore(): this;
  }
  export default PDFDocument;
}

declare module 'yazl' {
  import type { Readable } from 'node:stream';
  interface EntryOptions {
    mtime?: Date;
    mode?: number;
    compress?: boolean;
    forceZip64Format?: boolean;
    size?: number;
  }
  export class ZipFile {
    outputStream: Readable;
    addFile(realPath: string, metadataPath: string, opts?: EntryOptions): void;
    addBuffer(buffer: Buffer, metadataPath: string, opts?: EntryOptions): void;
    addReadStream(stream: Readable, metadataPath: string, opts?: EntryOptions): void;
    end(opts?: { forceZip64Format?: boolean; comment?: string }, finalSizeCallback?: (size: number) => void): void;
  }
}

declare module 'fontkit' {
  interface Font {
    postscriptName: string;
    hasGlyphForCodePoint(codePoint: number): boolean;
  }
  /** A font file; `postscriptName` picks one font of a collection (.ttc). */
  export function openSync(file: string, postscriptName?: string): Font;
}
