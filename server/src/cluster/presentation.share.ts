import type { Logger } from '../log.js';
import type { PresentationShare, PresentationSnapshot } from '../playback/presentation.service.js';
import type { RedisLink } from './redis.js';

/**
 * Shares each room's presenter and last playback state between nodes: the newest snapshot is kept
 * in Redis for nodes that load the room later, and announced to the nodes that hold it now. The
 * events to members go through the Socket.IO adapter; this only keeps every node's view the same.
 */
export function redisPresentationShare(redis: RedisLink, log: Logger): PresentationShare {
  const channel = redis.key('presentation');
  const keyOf = (roomId: string) => redis.key('presentation', roomId);
  return {
    publish(roomId, snapshot) {
      const json = JSON.stringify({ node: redis.nodeId, roomId, snapshot });
      void Promise.all([
        redis.command.set(keyOf(roomId), JSON.stringify(snapshot), { expiration: { type: 'EX', value: 24 * 3600 } }),
        redis.publish(channel, json),
      ]).catch((err: Error) => log.error({ room: roomId, err: err.message }, 'could not share the playback state with other nodes'));
    },
    async load(roomId) {
      const raw = await redis.command.get(keyOf(roomId));
      return raw ? (JSON.parse(raw.toString()) as PresentationSnapshot) : null;
    },
    async listen(apply) {
      await redis.subscribe(channel, (message) => {
        const { node, roomId, snapshot } = JSON.parse(message.toString()) as { node: string; roomId: string; snapshot: PresentationSnapshot };
        if (node !== redis.nodeId) apply(roomId, snapshot);
      });
    },
  };
}
