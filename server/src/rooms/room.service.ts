import crypto from 'node:crypto';
import path from 'node:path';
import { Roles, type Role, type Shot, type Version } from '@loupe/shared';
import type { InviteService, Invite } from '../auth/invite.service.js';
import type { BlobStore } from '../store/blob.repository.js';
import type { InviteRepository } from '../store/invite.repository.js';
import type { RoomRepository, RoomRow } from '../store/room.repository.js';
import type { VersionRepository } from '../store/version.repository.js';
import { DEMO, generateDemoShot } from '../media/demo.js';

export interface CreatedRoom {
  room: RoomRow;
  invites: Invite[];
}

const DEMO_SETTING = 'demo_media_sha256';

/** Rooms, their shots and their invites. */
export class RoomService {
  constructor(
    private readonly rooms: RoomRepository,
    private readonly versions: VersionRepository,
    private readonly blobs: BlobStore,
    private readonly invites: InviteService,
    private readonly inviteRows: InviteRepository,
    private readonly opts: { dataDir: string; publicUrl: string; inviteTtlHours: number; log?: (msg: string) => void },
  ) {}

  /**
   * A room with its invites. `demo`: true, the test-pattern demo shot; false, no shot. (The first-start
   * demo room, photographs with grain, a cast and a drone, is made by createDemoRoom.)
   */
  async create(name: string, { demo = true }: { demo?: boolean } = {}): Promise<CreatedRoom> {
    const room: RoomRow = { id: shortId(), name, createdAt: new Date().toISOString() };
    // Generate the demo media before writing anything, so a failure leaves no half room.
    const media = demo ? await this.demoMedia() : null;
    await this.rooms.create(room);
    if (media) await this.addVideoShot(room.id, 'Demo shot (testsrc2)', media.sha256, media.fps, media.width, media.height, media.frameCount);
    return { room, invites: await this.inviteAll(room.id) };
  }

  async addVideoShot(
    roomId: string,
    name: string,
    blob: string,
    fps: number,
    width: number,
    height: number,
    frameCount: number,
    extra: { label?: string; thumbnail?: string } = {},
  ): Promise<{ shot: Shot; version: Version }> {
    const now = new Date().toISOString();
    const shot: Shot = { id: shortId(), name, fps, dropFrame: false, width, height, frameCount, startTimecode: '00:00:00:00' };
    await this.rooms.addShot(roomId, shot, now);
    await this.rooms.grantBlob(roomId, blob);
    if (extra.thumbnail) await this.rooms.grantBlob(roomId, extra.thumbnail);
    const version = await this.versions.insert(
      roomId,
      {
        id: shortId(),
        shotId: shot.id,
        label: extra.label ?? 'Source',
        kind: 'source',
        status: 'pending',
        parentVersionId: null,
        media: { type: 'video', blob, width, height, fps, frameCount, ...(extra.thumbnail ? { thumbnail: extra.thumbnail } : {}) },
        createdBy: { id: 'system', name: 'Loupe' },
        createdAt: now,
        provenance: null,
      },
      null,
    );
    return { shot, version };
  }

  async invite(roomId: string, role: Role, name?: string): Promise<Invite> {
    const ttl = this.opts.inviteTtlHours * 3600;
    const memberName = name ?? role[0].toUpperCase() + role.slice(1);
    const id = crypto.randomUUID();
    const token = await this.invites.sign({ room: roomId, role, name: memberName, sub: id }, ttl);
    const expiresAt = new Date(Date.now() + ttl * 1000).toISOString();
    await this.inviteRows.insert({ id, roomId, role, name: memberName, createdAt: new Date().toISOString(), expiresAt });
    return {
      id,
      role,
      name: memberName,
      token,
      url: `${this.opts.publicUrl}/room/${roomId}?token=${token}`,
      expiresAt,
    };
  }

  async inviteAll(roomId: string): Promise<Invite[]> {
    return Promise.all(Roles.map((r) => this.invite(roomId, r)));
  }

  /** The demo shot's media, generated once per data folder and shared by every demo room. */
  private async demoMedia() {
    let sha = await this.rooms.setting(DEMO_SETTING);
    if (!sha || !(await this.blobs.has(sha))) {
      this.opts.log?.('generating the demo shot (1920x1080, 24 fps) with ffmpeg ...');
      let lastPct = -1;
      const made = await generateDemoShot(this.blobs, path.join(this.opts.dataDir, 'tmp'), (done, total) => {
        const pct = Math.floor((100 * done) / total / 25) * 25;
        if (pct > lastPct) this.opts.log?.(`  demo shot: ${Math.min(100, pct)}%`), (lastPct = pct);
      });
      sha = made.sha256;
      await this.rooms.setSetting(DEMO_SETTING, sha);
    }
    return { sha256: sha, fps: DEMO.fps, width: DEMO.width, height: DEMO.height, frameCount: DEMO.fps * DEMO.seconds };
  }
}

const ID_ALPHABET = 'abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789';

/** A 12-character id of letters and digits: safe in URLs and never mistaken for a CLI option. */
export function shortId(): string {
  const bytes = crypto.randomBytes(12);
  let id = '';
  for (const b of bytes) id += ID_ALPHABET[b % ID_ALPHABET.length];
  return id;
}
