/**
 * Short-lived messages at the bottom of the room: refusals from the server, local warnings, and
 * what happened in the room (a decision, a new version), with a link that takes you there.
 */
export interface ToastAction {
  label: string;
  run: () => void;
}

export interface ToastItem {
  id: number;
  kind: 'error' | 'info' | 'event';
  code?: string;
  message: string;
  action?: ToastAction;
}

export class Toasts {
  items = $state<ToastItem[]>([]);
  private next = 1;

  show(kind: ToastItem['kind'], message: string, code?: string, ms = 7000, action?: ToastAction): void {
    // The same refusal twice in a row is one toast, shown afresh.
    const same = this.items.findIndex((t) => t.code === code && t.message === message);
    if (same >= 0) this.items.splice(same, 1);
    const id = this.next++;
    this.items.push({ id, kind, code, message, action });
    if (this.items.length > 4) this.items.shift();
    setTimeout(() => this.dismiss(id), ms);
  }

  /** Something happened in the room (a decision, a new version): longer-lived, with a link there. */
  event(message: string, action?: ToastAction, code?: string): void {
    this.show('event', message, code, 12_000, action);
  }

  error(r: { code?: string; message: string }): void {
    this.show('error', r.message, r.code);
  }

  dismiss(id: number): void {
    const i = this.items.findIndex((t) => t.id === id);
    if (i >= 0) this.items.splice(i, 1);
  }
}
