import * as Y from 'yjs';
import { annotationsMap } from './annotations.js';
import { mayDelete, type DocWriter } from './doc-schema.js';

/**
 * One member's undo history over the room's drawings. Every local edit goes through `edit` with
 * this page's own origin, the only origin the undo manager tracks, so undo never takes back
 * somebody else's work. Notes are not in it: undo on the picture must not take back a posted note.
 */
export class DrawingHistory {
  /** Origin of this member's own edits. */
  readonly origin = { local: true, history: true };
  /** Local edits the undo manager must not track (erasing someone else's drawing). */
  readonly untrackedOrigin = { local: true, untracked: true };
  readonly manager: Y.UndoManager;

  constructor(readonly doc: Y.Doc) {
    // captureTimeout 0: every gesture is its own step, however fast the next one follows.
    this.manager = new Y.UndoManager(annotationsMap(doc).raw, { trackedOrigins: new Set([this.origin]), captureTimeout: 0 });
  }

  /** One local edit, one transaction, one undo step. */
  edit(fn: () => void): void {
    this.doc.transact(fn, this.origin);
    this.manager.stopCapturing();
  }

  /**
   * Removes drawings (eraser, clear mine). Removing my own is one undoable step. Someone else's
   * (a director moderating: nobody else may, mayDelete) goes in a separate, untracked transaction:
   * the server only accepts values written by their author, so an undo could not put it back for the
   * others. Drawings the writer may not delete are left alone. Returns how many were removed.
   */
  remove(ids: Iterable<string>, writer: DocWriter): number {
    const map = annotationsMap(this.doc);
    const present = [...new Set(ids)].filter((id) => map.has(id));
    const mine = present.filter((id) => map.get(id)!.author.id === writer.id);
    const theirs = present.filter((id) => map.get(id)!.author.id !== writer.id && mayDelete(map.get(id), writer));
    if (mine.length) this.edit(() => mine.forEach((id) => map.delete(id)));
    if (theirs.length) this.doc.transact(() => theirs.forEach((id) => map.delete(id)), this.untrackedOrigin);
    return mine.length + theirs.length;
  }

  undo(): boolean {
    return this.manager.undo() !== null;
  }

  redo(): boolean {
    return this.manager.redo() !== null;
  }

  get undoDepth(): number {
    return this.manager.undoStack.length;
  }

  get redoDepth(): number {
    return this.manager.redoStack.length;
  }

  destroy(): void {
    this.manager.destroy();
  }
}
