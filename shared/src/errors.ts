/** Every refusal a client can meet, with the code it carries on the wire. */
export const ErrorCode = {
  BAD_REQUEST: 'BAD_REQUEST', // payload failed its schema
  TOKEN_MISSING: 'TOKEN_MISSING',
  TOKEN_INVALID: 'TOKEN_INVALID', // bad signature or malformed
  TOKEN_EXPIRED: 'TOKEN_EXPIRED',
  WRONG_ROOM: 'WRONG_ROOM', // token is for another room
  NOT_JOINED: 'NOT_JOINED', // event for a room the socket has not joined
  ROOM_NOT_FOUND: 'ROOM_NOT_FOUND',
  FORBIDDEN_ROLE: 'FORBIDDEN_ROLE', // the member's role may not do this
  VERSION_NOT_FOUND: 'VERSION_NOT_FOUND',
  FRAME_OUT_OF_RANGE: 'FRAME_OUT_OF_RANGE',
  REGION_OUT_OF_FRAME: 'REGION_OUT_OF_FRAME',
  REGION_TOO_LARGE: 'REGION_TOO_LARGE',
  REGION_TOO_SMALL: 'REGION_TOO_SMALL',
  UNKNOWN_FIX: 'UNKNOWN_FIX',
  QUEUE_FULL: 'QUEUE_FULL',
  BAD_YJS_MESSAGE: 'BAD_YJS_MESSAGE',
  MESSAGE_TOO_LARGE: 'MESSAGE_TOO_LARGE',
  INVALID_DECISION: 'INVALID_DECISION',
  UNKNOWN_EVENT: 'UNKNOWN_EVENT',
  FIX_FAILED: 'FIX_FAILED', // the fix ran and failed; no version was made
  NOT_FIXABLE: 'NOT_FIXABLE', // the version has no frames to fix (e.g. an AI still)
  NOT_PRESENTER: 'NOT_PRESENTER', // only the presenter drives playback while control is 'presenter'
  MEMBER_NOT_HERE: 'MEMBER_NOT_HERE', // presentation handed to someone not in the room
  RATE_LIMITED: 'RATE_LIMITED',
  INTERNAL: 'INTERNAL',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

export interface Refusal {
  ok: false;
  code: ErrorCode;
  message: string;
}
export type Ack<T extends object = object> = ({ ok: true } & T) | Refusal;

export function refusal(code: ErrorCode, message: string): Refusal {
  return { ok: false, code, message };
}

/** An error that travels to the client as a Refusal. */
export class LoupeError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'LoupeError';
  }
  toAck(): Refusal {
    return refusal(this.code, this.message);
  }
}
